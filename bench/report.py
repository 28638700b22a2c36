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

from bench import message_path, persist, presence
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
# Rooms that mix dialects: canonical members send, seed 004 and seed 003 notification sockets only receive.
MIX_RUNS = [
    {
        "clients": 200,
        "room_size": 10,
        "seconds": 10,
        "client_procs": 1,
        "mix": {"canonical": 4, "fastapi": 3, "django-notifications": 3},
    },
]
PRESENCE_RUN = {
    "users": 200,
    "concurrency": 50,
    "churn_seconds": 10,
    "contacts": (10, 100, 1000),
    "listeners": 100,
    "subjects": 10,
    "seconds": 4,
}


def _persist_section() -> list[str]:
    lines = [
        "### Persistence by workers",
        "",
        "| Command | Worker processes | Messages per job | Persisted messages/s | `insert_batch` alone, rows/s "
        "| Then notified: messages/s | Stored notifications/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in PERSIST_RUNS:
        r = persist.run(**run)
        command = (
            f"`python -m bench.persist --messages {run['messages']} --batch {run['batch']} "
            f"--processes {run['processes']}`"
        )
        lines.append(
            f"| {command} | {r['processes']} | {r['batch']} | {r['rate']:,.0f} | {r['insert_batch_rate']:,.0f} "
            f"| {r['notified_messages_rate']:,.0f} | {r['notifications'] / r['notify_seconds']:,.0f} |"
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
            f"| {command} | {r['clients']} | {r['room_size']} | {r['ack_rate']:,.0f} | {message_path.refusals(r)} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['delivery_rate']:,.0f} "
            f"| {r['delivery_seconds'] - r['seconds']:.1f} | {r['drained_after']:.1f} | {exact} |"
        )
        print(lines[-1], flush=True)
    return lines


def _mix_section() -> list[str]:
    lines = [
        "### Rooms that mix dialects (one web node, one worker)",
        "",
        "Each room's first members send over Socket.IO as above; the others only receive, on seed 004's "
        "`/ws/{user_id}` (`new_message`) or seed 003's `/ws/notifications/` (`new_message_notification`, with an "
        "`unread_count` frame more per message). Deliveries per second are over the same span for every dialect.",
        "",
        "| Command | Clients | Acknowledged sends/s | Refused | Ack p50 ms | Ack p99 ms | Deliveries/s "
        "| By dialect: sockets, deliveries/s (delivered of expected) | Acknowledged = persisted once |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in MIX_RUNS:
        r = message_path.run(**run)
        command = (
            f"`python -m bench.message_path --clients {run['clients']} --seconds {run['seconds']} "
            f"--client-procs {run['client_procs']} --mix {message_path.mix_text(run['mix'])}`"
        )
        per = "; ".join(
            f"{kind}: {d['members']}, {d['rate']:,.0f} ({d['delivered']:,} of {d['expected']:,})"
            for kind, d in r["by_dialect"].items()
        )
        exact = "yes" if message_path.persisted_once(r) else f"NO ({r['stored']} of {r['acked']})"
        lines.append(
            f"| {command} | {r['clients']} | {r['ack_rate']:,.0f} | {message_path.refusals(r)} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['delivery_rate']:,.0f} | {per} | {exact} |"
        )
        print(lines[-1], flush=True)
    return lines


def _presence_section() -> list[str]:
    run = PRESENCE_RUN
    command = (
        f"`python -m bench.presence --users {run['users']} --concurrency {run['concurrency']} "
        f"--churn-seconds {run['churn_seconds']} --contacts {','.join(map(str, run['contacts']))} "
        f"--listeners {run['listeners']} --subjects {run['subjects']} --seconds {run['seconds']}`"
    )
    r = presence.run(**run)
    c = r["churn"]
    offline = (
        f"all, {c['offline_after']:.1f} s after the last close"
        if c["offline"] == c["users"]
        else f"NO: {c['offline']} of {c['users']} after {c['offline_after']:.1f} s"
    )
    churn_row = (
        f"| {c['users']} | {c['concurrency']} | {c['cycle_rate']:,.0f} | {c['failed']:,} | {c['connect_p50_ms']:.1f} "
        f"| {c['connect_p99_ms']:.1f} | {c['cpu']['node']:.0f} | {c['cpu']['rest']:.0f} "
        f"| {c['node_ms_per_cycle']:.1f} | {offline} | {c['live_in_redis'] + c['expiry_entries']} |"
    )
    print(churn_row, flush=True)
    lines = [
        "### Presence (one web node, no worker)",
        "",
        f"Both tables come from one run of {command}. CPU is in percent of one core over the window; "
        '"elsewhere" is what the rest of the machine used meanwhile (anything but the node, the clients, '
        "Redis and this run's Postgres backends).",
        "",
        "Churn: each loop connects one of its users, waits for `session:ready`, closes, and takes the next.",
        "",
        "| Users | Loops | Connect+disconnect cycles/s | Failed | Connect p50 ms | Connect p99 ms "
        "| Node CPU % | Elsewhere CPU % | Node CPU per cycle, ms | Shown offline afterwards (asked over REST) "
        "| Connections left in Redis |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        churn_row,
        "",
        "Fan-out: subjects who share rooms with K contacts change status closed-loop (`presence:set`); "
        f"up to {run['listeners']} of the contacts listen. Latency is to each listener's `presence:update`; "
        "the node publishes before it acknowledges, so the update arrives about when the acknowledgement "
        "does. The last two columns time the steps that grow with K alone, from the benchmark process with the "
        "node's libraries (Peewee; redis-py's asyncio pipeline).",
        "",
        "| Contacts (K) | Listening | Subjects | Status changes/s | Ack p50 ms | Ack p99 ms "
        "| Update after request p50 / p99 ms | Update after ack p50 / p99 ms | Updates delivered/s "
        "| Delivered of expected (wrong status) | Node CPU % | Elsewhere CPU % | Node CPU per change, ms "
        "| Contacts query alone, ms | K + 1 PUBLISH in one pipeline alone, ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in r["fanout"]:
        lines.append(
            f"| {f['contacts']:,} | {f['listeners']} | {f['subjects']} | {f['change_rate']:,.0f} "
            f"| {f['ack_p50_ms']:.1f} | {f['ack_p99_ms']:.1f} "
            f"| {f['after_request_p50_ms']:.1f} / {f['after_request_p99_ms']:.1f} "
            f"| {f['after_ack_p50_ms']:.1f} / {f['after_ack_p99_ms']:.1f} | {f['delivery_rate']:,.0f} "
            f"| {f['delivered']:,} of {f['expected']:,} ({f['wrong']}) | {f['cpu']['node']:.0f} "
            f"| {f['cpu']['rest']:.0f} | {f['node_ms_per_change']:.2f} | {f['contacts_ms']:.2f} "
            f"| {f['publish_ms']:.2f} |"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    # The persistence runs go last: the millions of notification rows they write keep Postgres busy
    # (checkpoints, autovacuum) for a while after, which would slow whatever ran next.
    path, mixed = _path_section(), _mix_section()
    presence_lines, persisted = _presence_section(), _persist_section()
    measured = [
        BEGIN,
        f"Measured on {today()} with `python -m bench.report`, on: {machine()}. Web node, worker, Postgres, "
        "Redis and the load clients share these cores.",
        "",
        *persisted,
        "",
        *path,
        "",
        *mixed,
        "",
        *presence_lines,
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
