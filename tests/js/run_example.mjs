// Runs a document's example as a client application would: `node tests/js/run_example.mjs <file>`, with
// EXAMPLE_REPLACE a JSON object of literal text -> replacement (the host and port, the token, ids: what a
// user changes to point the example at their server). TypeScript annotations are stripped with
// `typescript`'s transpileModule (ES module in, ES module out); nothing else of the example changes.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";

const [file] = process.argv.slice(2);
let source = readFileSync(file, "utf8");
for (const [literal, replacement] of Object.entries(JSON.parse(process.env.EXAMPLE_REPLACE || "{}"))) {
  if (!source.includes(literal)) {
    console.error(`run_example: "${literal}" is not in ${file}`);
    process.exit(2);
  }
  source = source.split(literal).join(replacement);
}
const { outputText } = ts.transpileModule(source, {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
});
// Written beside node_modules' parent, so that the example's bare imports ("phoenix", "ws") resolve.
const dir = mkdtempSync(join(resolve("tests/js"), ".example-"));
const out = join(dir, "example.mjs");
writeFileSync(out, outputText);
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
await import(pathToFileURL(out).href);
