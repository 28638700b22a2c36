"""Interleaved runs of `bench.message_path` in several source trees, on a quiet machine, with medians.

    python -m bench.before_after --tree before=/tmp/bench-before --tree after=. [--runs 3] \\
        [--max-load 0.7] [--poll 10] [--give-up 600] [--out runs.json] -- --clients 100 --room-size 10 --seconds 10

Each tree runs its own `python -m bench.message_path` (its own app, its own bench, this Python), in
turn: before, after, before, after, ... so that whatever else the machine does falls on both alike.
Before each run it waits until the 1-minute load average is below --max-load (polling every --poll
seconds; after --give-up seconds it runs anyway and says so), and records the load average at the
start and the end. To compare a commit with the working tree without touching git state:

    mkdir -p /tmp/bench-before && git archive HEAD | tar -x -C /tmp/bench-before

With --extra NAME='ARGS', the runs named NAME get ARGS after the common arguments: two names for one
directory then compare two workloads, interleaved alike (e.g. `--tree mix=. --tree canonical=.
--extra mix='--mix canonical:4,fastapi:3,django-notifications:3'`).

It prints each run's figures as it goes, then a Markdown table of every run and the medians per tree.
Runs with phoenix, nestjs or bull members (`--mix canonical:5,phoenix:5`, `--mix phoenix:10`, `--mix
canonical:4,nestjs:3,bull:3`) add, per sending dialect, acknowledged sends/s and ack latency p50 / p99
(columns that appear only when some run has them); for a workload that mixes dialects the medians add
each dialect's deliveries/s per socket and whether each was delivered exactly what it was owed.

Throughput on a shared machine varies with what else runs; the web node's CPU time per acknowledged
message varies much less. So while a run goes, this samples the web node's CPU time (`run.py web`, a
child of the bench, from /proc/<pid>/stat) and the whole machine's, every 0.25 s, and takes the
--seconds long stretch in which the node used the most CPU as the sending window: it reports the
node's CPU in that stretch in percent of a core, its CPU milliseconds per acknowledged message (the
node's CPU spent in the window on acknowledging and delivering, over the messages acknowledged in it),
and the CPU the rest of the machine used meanwhile (everything but the node: the clients, Redis,
Postgres, the worker, and whatever else runs; out of 100 per core).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

LINE = re.compile(
    r"(?P<clients>\d+) clients in rooms of (?P<room_size>\d+), .*?: "
    r"(?P<ack_rate>[\d,]+) acknowledged sends/s \((?P<refused>.*?) refused\), "
    r"ack latency p50 (?P<p50_ms>[\d.]+) ms p99 (?P<p99_ms>[\d.]+) ms, "
    r"(?P<delivery_rate>[\d,]+) deliveries/s \((?P<delivered>[\d,]+) of (?P<expected>[\d,]+) expected, "
    r"the last (?P<delivery_seconds>[\d.]+) s after the start\); "
    r"(?P<stored>[\d,]+) of (?P<acked>[\d,]+) acknowledged messages in Postgres \((?P<distinct>[\d,]+) distinct\)"
)
DIALECT = re.compile(
    r"(?P<kind>[\w-]+) \((?P<members>\d+) sockets\) (?P<rate>[\d,]+)/s \((?P<delivered>[\d,]+) of "
    r"(?P<expected>[\d,]+) expected\)"
)
# A run with phoenix, nestjs or bull members: acknowledged sends and their latency per sending dialect.
SENDS = re.compile(
    r"(?P<kind>[\w-]+) \((?P<senders>\d+) senders\) (?P<ack_rate>[\d,]+) acknowledged/s \((?P<refused>[\d,]+) "
    r"refused\), ack p50 (?P<p50_ms>[\d.]+|nan) ms p99 (?P<p99_ms>[\d.]+|nan) ms"
)


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_quiet(max_load: float, poll: float, give_up: float) -> tuple[float, float, bool]:
    """Wait until the 1-minute load average is below `max_load`: (the load seen, seconds waited, quiet?)."""
    began = time.monotonic()
    while True:
        load = load1()
        waited = time.monotonic() - began
        if load < max_load:
            return load, waited, True
        if waited >= give_up:
            return load, waited, False
        time.sleep(poll)


def number(text: str) -> float:
    return float(text.replace(",", ""))


def parse(line: str) -> dict:
    match = LINE.search(line)
    if match is None:
        raise ValueError(f"not a bench.message_path result: {line!r}")
    figures = {k: (v if k == "refused" else number(v)) for k, v in match.groupdict().items()}
    figures["persisted_once"] = figures["stored"] == figures["acked"] == figures["distinct"]
    figures["by_dialect"] = {
        m["kind"]: {
            "members": int(m["members"]),
            "rate": number(m["rate"]),
            "delivered": number(m["delivered"]),
            "expected": number(m["expected"]),
        }
        for m in DIALECT.finditer(line.partition("deliveries by dialect:")[2])
    }
    figures["sends"] = {
        m["kind"]: {k: number(v) for k, v in m.groupdict().items() if k != "kind"}
        for m in SENDS.finditer(line.partition("; sends by dialect:")[2])
    }
    return figures


TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, ValueError, IndexError):
        return None


def _machine() -> float:
    jiffies = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(jiffies) - jiffies[3] - jiffies[4]) / TICK  # all but idle and iowait


def _web_node(parent: int) -> int | None:
    """The `run.py web` child of the bench process, once started."""
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"run.py") for part in command) and b"web" in command:
            return int(child)
    return None


def window_cpu(samples: list[tuple[float, float, float]], seconds: float) -> dict:
    """The `seconds` long stretch in which the node used the most CPU: its CPU and the machine's there."""
    best = None
    j = 0
    for i, (t, node, machine) in enumerate(samples):
        j = max(j, i)
        while j + 1 < len(samples) and samples[j + 1][0] - t <= seconds:
            j += 1
        span = samples[j][0] - t
        if span < 0.9 * seconds:
            break
        used = samples[j][1] - node
        if best is None or used > best[0]:
            best = (used, span, samples[j][2] - machine)
    if best is None:
        return {}
    used, span, machine = best
    return {"node_cpu_s": used, "node_pct": 100 * used / span, "rest_pct": 100 * (machine - used) / span}


def run_once(tree: Path, args: list[str], seconds: float) -> tuple[str, dict]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.message_path", *args],
        cwd=tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Read the pipes in threads, so that a full pipe never stalls the bench while it is sampled.
    out: dict[str, str] = {}
    readers = [
        threading.Thread(target=lambda name=name, pipe=pipe: out.__setitem__(name, pipe.read()))
        for name, pipe in (("stdout", process.stdout), ("stderr", process.stderr))
    ]
    for reader in readers:
        reader.start()
    node = None
    samples: list[tuple[float, float, float]] = []
    while process.poll() is None:
        if node is None:
            node = _web_node(process.pid)
        if node is not None:
            used = _cpu(node)
            if used is not None:
                samples.append((time.monotonic(), used, _machine()))
        time.sleep(0.25)
    for reader in readers:
        reader.join()
    if process.returncode:
        raise RuntimeError(f"exit {process.returncode}: {out.get('stderr', '').strip()[-2000:]}")
    return out["stdout"].strip().splitlines()[-1], window_cpu(samples, seconds)


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def table(runs: list[dict]) -> list[str]:
    kinds = sorted({kind for r in runs for kind in r.get("by_dialect", {})})
    senders = sorted({kind for r in runs for kind in r.get("sends", {})})  # only runs with other senders have any
    head = "| # | Tree | Started (UTC) | Load at start (waited) | Acknowledged sends/s | Ack p50 ms | Ack p99 ms "
    head += "| Deliveries/s | " + "".join(f"{k} deliveries/s | " for k in kinds)
    head += "".join(f"{k} acknowledged sends/s | {k} ack p50 / p99 ms | " for k in senders)
    head += "Delivered of expected | Acknowledged = persisted once | Load at end "
    head += "| Node CPU in the window, % of a core | Node CPU per acknowledged message, ms | Rest of the machine, % |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for i, r in enumerate(runs, 1):
        wait = f"{r['load_start']:.2f} ({r['waited']:.0f} s{'' if r['quiet'] else ', gave up waiting'})"
        if "error" in r:
            lines.append(f"| {i} | {r['tree']} | {r['started']} | {wait} | failed: {r['error'][:200]} |")
            continue
        per = "".join(f"{r['by_dialect'][k]['rate']:,.0f} | " if k in r["by_dialect"] else "| " for k in kinds)
        sent = r.get("sends", {})
        per += "".join(
            f"{sent[k]['ack_rate']:,.0f} | {sent[k]['p50_ms']:.1f} / {sent[k]['p99_ms']:.1f} | "
            if k in sent
            else "| | "
            for k in senders
        )
        lines.append(
            f"| {i} | {r['tree']} | {r['started']} | {wait} | {r['ack_rate']:,.0f} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['delivery_rate']:,.0f} | {per}{r['delivered']:,.0f} of {r['expected']:,.0f} "
            f"| {'yes' if r['persisted_once'] else 'NO'} | {r['load_end']:.2f} "
            + (
                f"| {r['node_pct']:.0f} | {r['node_ms_per_ack']:.3f} | {r['rest_pct']:.0f} |"
                if "node_pct" in r
                else "| | | |"
            )
        )
    return lines


def medians(runs: list[dict], trees: list[str]) -> list[str]:
    lines = []
    for tree in trees:
        ok = [r for r in runs if r["tree"] == tree and "error" not in r]
        if not ok:
            continue
        spread = {key: (min(r[key] for r in ok), max(r[key] for r in ok)) for key in ("ack_rate", "delivery_rate")}
        kinds = sorted({k for r in ok for k in r["by_dialect"]})
        per = "".join(
            f", {k} {statistics.median(r['by_dialect'][k]['rate'] for r in ok):,.0f} deliveries/s" for k in kinds
        )
        senders = sorted({k for r in ok for k in r.get("sends", {})})
        per += "".join(
            f", {k} sends {statistics.median(r['sends'][k]['ack_rate'] for r in ok):,.0f} acknowledged/s "
            f"(p50 {statistics.median(r['sends'][k]['p50_ms'] for r in ok):.1f} ms, "
            f"p99 {statistics.median(r['sends'][k]['p99_ms'] for r in ok):.1f} ms)"
            for k in senders
        )
        timed = [r for r in ok if "node_ms_per_ack" in r]
        cpu = (
            f"; node CPU per acknowledged message {median(timed, 'node_ms_per_ack'):.3f} ms "
            f"(runs {min(r['node_ms_per_ack'] for r in timed):.3f} to {max(r['node_ms_per_ack'] for r in timed):.3f}), "
            f"node at {median(timed, 'node_pct'):.0f}% of a core"
            if timed
            else ""
        )
        lines.append(
            f"- {tree} (median of {len(ok)}): {median(ok, 'ack_rate'):,.0f} acknowledged sends/s "
            f"(runs {spread['ack_rate'][0]:,.0f} to {spread['ack_rate'][1]:,.0f}), p50 {median(ok, 'p50_ms'):.1f} ms, "
            f"p99 {median(ok, 'p99_ms'):.1f} ms, {median(ok, 'delivery_rate'):,.0f} deliveries/s "
            f"(runs {spread['delivery_rate'][0]:,.0f} to {spread['delivery_rate'][1]:,.0f}){per}{cpu}"
        )
        if len(kinds) > 1:  # a mix: each dialect's deliveries per socket, to compare within the run
            each = ", ".join(
                f"{k} {statistics.median(r['by_dialect'][k]['rate'] / r['by_dialect'][k]['members'] for r in ok):,.1f}"
                f" (runs {min(r['by_dialect'][k]['rate'] / r['by_dialect'][k]['members'] for r in ok):,.1f} to "
                f"{max(r['by_dialect'][k]['rate'] / r['by_dialect'][k]['members'] for r in ok):,.1f})"
                for k in kinds
            )
            owed = all(d["delivered"] == d["expected"] for r in ok for d in r["by_dialect"].values())
            lines.append(
                f"  - {tree}, deliveries/s per socket by dialect (median): {each}; every dialect delivered exactly "
                f"what it was owed in every run: {'yes' if owed else 'NO'}"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", required=True, help="name=directory, in the order to interleave")
    parser.add_argument("--extra", action="append", default=[], help="name=arguments added for that name's runs")
    parser.add_argument("--runs", type=int, default=3, help="runs per tree")
    parser.add_argument("--max-load", type=float, default=0.7)
    parser.add_argument("--poll", type=float, default=10)
    parser.add_argument("--give-up", type=float, default=600)
    parser.add_argument("--out", type=Path, help="also write every run as JSON here")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="-- then bench.message_path's arguments")
    args = parser.parse_args()
    bench_args = args.bench_args[1:] if args.bench_args[:1] == ["--"] else args.bench_args
    seconds = float(bench_args[bench_args.index("--seconds") + 1]) if "--seconds" in bench_args else 10.0
    trees = [(name, Path(path).resolve()) for name, _, path in (t.partition("=") for t in args.tree)]
    extra = {name: shlex.split(more) for name, _, more in (e.partition("=") for e in args.extra)}
    print(
        f"python -m bench.message_path {' '.join(bench_args)}, trees: "
        + ", ".join(f"{n}={p}" + (f" (adding {shlex.join(extra[n])})" if n in extra else "") for n, p in trees)
    )
    runs: list[dict] = []
    for round_ in range(args.runs):
        for name, path in trees:
            load, waited, quiet = wait_quiet(args.max_load, args.poll, args.give_up)
            record: dict = {
                "tree": name,
                "round": round_ + 1,
                "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                "load_start": load,
                "loadavg_start": Path("/proc/loadavg").read_text().strip(),
                "waited": waited,
                "quiet": quiet,
            }
            try:
                line, cpu = run_once(path, [*bench_args, *extra.get(name, [])], seconds)
                record.update(parse(line), line=line, **cpu)
                if cpu:
                    record["node_ms_per_ack"] = 1000 * cpu["node_cpu_s"] / (record["ack_rate"] * seconds)
            except Exception as exc:  # noted in the table; the other runs go on
                record["error"] = f"{type(exc).__name__}: {exc}"
            record["load_end"] = load1()
            runs.append(record)
            waited_note = f"waited {waited:.0f} s" + ("" if quiet else ", GAVE UP waiting")
            cpu_note = (
                f"; node CPU in the window {record['node_pct']:.0f}% of a core, "
                f"{record['node_ms_per_ack']:.3f} ms per acknowledged message, rest of the machine "
                f"{record['rest_pct']:.0f}%"
                if "node_pct" in record
                else ""
            )
            print(
                f"[{record['started']} {name} round {round_ + 1}, load {load:.2f}, {waited_note}, "
                f"load at end {record['load_end']:.2f}] " + record.get("line", record.get("error", "")) + cpu_note,
                flush=True,
            )
            if args.out:
                args.out.write_text(json.dumps(runs, indent=1))
    print()
    print("\n".join(table(runs)))
    print()
    print("\n".join(medians(runs, [name for name, _ in trees])))


if __name__ == "__main__":
    main()
