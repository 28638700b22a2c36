"""Run the standard benchmarks and rewrite the measured part of docs/benchmarks.md.

    python -m bench.report

Everything between the `measured` markers of docs/benchmarks.md is
replaced by this run's figures, with the machine, the date and the
command of each; the prose around the markers is kept.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from bench import message_path, persist
from bench.common import machine, today

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- measured -->", "<!-- /measured -->"

PERSIST_RUNS = [
    {"messages": 200_000, "batch": 500, "processes": 1},
    {"messages": 200_000, "batch": 100, "processes": 1},
    {"messages": 200_000, "batch": 500, "processes": 2},
]
PATH_RUNS = [
    {"clients": 100, "room_size": 10, "seconds": 10, "client_procs": 1},
    {"clients": 1000, "room_size": 10, "seconds": 10, "client_procs": 1},
    {"clients": 200, "room_size": 100, "seconds": 10, "client_procs": 1},
]


def _persist_section() -> list[str]:
    lines = [
        "### Persistence by workers",
        "",
        "| Command | Worker processes | Messages per job | Persisted messages/s | `insert_batch` alone, rows/s |",
        "|---|---|---|---|---|",
    ]
    for run in PERSIST_RUNS:
        r = persist.run(**run)
        command = (
            f"`python -m bench.persist --messages {run['messages']} --batch {run['batch']} "
            f"--processes {run['processes']}`"
        )
        lines.append(
            f"| {command} | {r['processes']} | {r['batch']} | {r['rate']:,.0f} | {r['insert_batch_rate']:,.0f} |"
        )
        print(lines[-1], flush=True)
    return lines


def _path_section() -> list[str]:
    lines = [
        "### The message path (one web node, one worker)",
        "",
        "| Command | Clients | Room size | Acknowledged sends/s | Refused | Ack p50 ms | Ack p99 ms | Deliveries/s "
        "| Last delivery after the window, s | Outbox empty after the window, s | Acknowledged = persisted once |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in PATH_RUNS:
        r = message_path.run(**run)
        command = (
            f"`python -m bench.message_path --clients {run['clients']} --room-size {run['room_size']} "
            f"--seconds {run['seconds']} --client-procs {run['client_procs']}`"
        )
        exact = "yes" if r["stored"] == r["acked"] == r["distinct"] else f"NO ({r['stored']} of {r['acked']})"
        lines.append(
            f"| {command} | {r['clients']} | {r['room_size']} | {r['ack_rate']:,.0f} | {r['failed']:,} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['delivery_rate']:,.0f} "
            f"| {r['delivery_seconds'] - r['seconds']:.1f} | {r['drained_after']:.1f} | {exact} |"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    measured = [
        BEGIN,
        f"Measured on {today()} with `python -m bench.report`, on: {machine()}. Web node, worker, Postgres, "
        "Redis and the load clients share these cores.",
        "",
        *_persist_section(),
        "",
        *_path_section(),
        END,
    ]
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        sys.exit(f"{DOC} has no {BEGIN} marker")
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), "\n".join(measured), text, flags=re.S)
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
