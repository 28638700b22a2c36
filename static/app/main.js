// The test page: a header (mode, API documents) and one or two panes, each an independent session with
// its own token and its own Socket.IO connection. `#split` in the address opens the side-by-side mode (at load,
// or when the address changes to it in an open tab).

import { API } from "./api.js";
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { Pane } from "./pane.js";
import { Session } from "./session.js";

const body = document.body;
const devMode = body.dataset.devMode === "on";
const version = body.dataset.version || "";

const PANES = [
  { label: "a", title: "User A", defaults: { userId: "alice", name: "Alice" } },
  { label: "b", title: "User B", defaults: { userId: "bob", name: "Bob" } },
];

const panes = new Map();
const paneBox = h("div", { class: "panes", dataset: { mode: "single" } });

function pane(label) {
  if (!panes.has(label)) {
    const spec = PANES.find((p) => p.label === label);
    const created = new Pane(new Session(label), { ...spec, devMode });
    panes.set(label, created);
    paneBox.append(created.root);
    created.renderAll();
    const saved = created.session.saved();
    if (saved && saved.token) {
      created.session.signInToken(saved.token, saved.transport).catch(() => created.session.signOut());
    }
  }
  return panes.get(label);
}

const modeButtons = {
  single: h("button", { type: "button", on: { click: () => setMode("single") } }, "One user"),
  split: h("button", { type: "button", on: { click: () => setMode("split") } }, "Side by side"),
};

function setMode(mode) {
  paneBox.dataset.mode = mode;
  body.dataset.mode = mode;
  for (const [key, button] of Object.entries(modeButtons)) button.setAttribute("aria-pressed", String(key === mode));
  const b = mode === "split" ? pane("b") : panes.get("b");
  if (b) b.root.hidden = mode !== "split";
  history.replaceState(null, "", mode === "split" ? "#split" : location.pathname + location.search);
  for (const p of panes.values()) p.renderNav();
}

const header = h("header", { class: "app-bar" },
  h("div", { class: "brand" },
    h("span", { class: "logo" }, icon("chat")),
    h("h1", {}, "Chat test page"),
    version ? h("span", { class: "pill version" }, `v${version}`) : null,
    devMode ? h("span", { class: "pill dev", title: "DEV_MODE is on: anyone can sign in as anyone" }, "dev mode") : null),
  h("div", { class: "mode-switch", role: "group", "aria-label": "Layout" }, modeButtons.single, modeButtons.split),
  h("details", { class: "docs-menu" },
    h("summary", {}, "API"),
    h("div", { class: "menu" },
      h("a", { href: "/api/docs", target: "_blank", rel: "noopener" }, "API docs viewer"),
      h("a", { href: `${API}/openapi.json`, target: "_blank", rel: "noopener" }, "OpenAPI (REST)"),
      h("a", { href: `${API}/asyncapi.json`, target: "_blank", rel: "noopener" }, "AsyncAPI (real-time)"),
      h("a", { href: "/health", target: "_blank", rel: "noopener" }, "Health"))));

body.replaceChildren(header, paneBox);
pane("a");
setMode(location.hash === "#split" ? "split" : "single");
// The mode follows the address while the page is open too: `#split` typed (or a link followed) in an open tab.
window.addEventListener("hashchange", () => {
  const mode = location.hash === "#split" ? "split" : "single";
  if (paneBox.dataset.mode !== mode) setMode(mode);
});

// Any refused script, style or connection shows in the first pane's log (and the console): the page
// must run under its Content-Security-Policy without one.
document.addEventListener("securitypolicyviolation", (event) => {
  const first = panes.get("a");
  if (first) {
    first.session.log.add("sys", "error", "CSP violation", {
      directive: event.violatedDirective,
      blocked: event.blockedURI,
      source: event.sourceFile,
      line: event.lineNumber,
    });
  }
});

// Re-lay out each pane when its width crosses a breakpoint (the side panel's behaviour depends on it).
new ResizeObserver(() => {
  for (const p of panes.values()) p.renderNav();
}).observe(paneBox);

window.chatTestPage = { panes, setMode }; // for the console and the browser tests
