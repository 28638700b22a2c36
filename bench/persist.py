"""Persistence throughput: messages moved from the outbox into Postgres per second.

Fills the outbox with acknowledged messages (as the web node's append
script writes them) and enqueues the persistence jobs (as the web node's
batcher does), then times real worker processes (`run.py worker --burst`)
draining them: first the `messages` queue alone (persistence), then the
`notifications` queue that persistence filled (each room has its owner and
ten senders, all offline: each message stores ten pending notifications).
The start-up of an idle worker is measured and subtracted. Also measures
`insert_batch` alone, the ceiling without RQ and Redis.

    python -m bench.persist [--messages 200000] [--batch 500] [--processes 1] [--persist-only]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import subprocess
import sys
import time
from datetime import UTC, datetime

import orjson
import psycopg2

from app.chat.model import Message
from app.jobs.names import PERSIST_MESSAGES
from app.jobs.queues import open_queue
from app.state.keys import MESSAGES_QUEUE, NOTIFICATIONS_QUEUE, Keys, outbox_field
from app.storage.database import open_database
from app.storage.messages import insert_batch
from app.storage.rooms import add_members, create_group
from app.storage.users import ensure_users
from bench.common import ADMIN_URL, ROOT, Stage

ROOMS = 100
SENDERS_PER_ROOM = 10


def _records(room_ids: list[str], count: int, first_id: int) -> list[dict]:
    now = datetime.now(UTC)
    seqs = dict.fromkeys(room_ids, 0)
    records = []
    for n, room_id in zip(range(count), itertools.cycle(room_ids), strict=False):  # round-robin over rooms
        seqs[room_id] += 1
        sender = f"bench-user-{room_id}-{n % SENDERS_PER_ROOM}"
        message = Message(
            str(first_id + n), room_id, seqs[room_id], sender, "text", f"message {n} " + "x" * 60, None, now
        )
        records.append(message.record())
    return records


def _rooms() -> list[str]:
    """ROOMS group rooms, each with SENDERS_PER_ROOM members who send."""
    now = datetime.now(UTC)
    room_ids = []
    ensure_users(["bench-owner"], now)
    for r in range(ROOMS):
        room = create_group(f"bench {r}", "bench-owner", [], now)
        members = [f"bench-user-{room.id}-{i}" for i in range(SENDERS_PER_ROOM)]
        ensure_users(members, now)
        add_members(room.id, members, now)
        room_ids.append(room.id)
    return room_ids


def fill_outbox(stage: Stage, records: list[dict], batch: int) -> None:
    keys = Keys(stage.prefix)
    connection = stage.redis()
    far = int(time.time() * 1000) + 3_600_000  # no redrive during the run
    fields = []
    with connection.pipeline(transaction=False) as pipe:
        for record in records:
            field = outbox_field(record["room_id"], record["seq"])
            fields.append(field)
            pipe.hset(keys.outbox, field, orjson.dumps(record))
            pipe.zadd(keys.outbox_since, {field: far})
            if len(pipe) >= 10_000:
                pipe.execute()
        pipe.execute()
    queue = open_queue(connection, keys, MESSAGES_QUEUE)
    jobs = [
        queue.prepare_data(PERSIST_MESSAGES, args=[fields[i : i + batch]], result_ttl=0)
        for i in range(0, len(fields), batch)
    ]
    queue.enqueue_many(jobs)


def drain_seconds(stage: Stage, processes: int, queue: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "worker", "--burst", "--processes", str(processes), "--queues", queue],
        env=stage.env,
        check=True,
    )
    return time.perf_counter() - started


def _checkpoint() -> None:
    """Start from clean shared buffers: a previous run (its two million notifications) leaves them full of
    dirty pages, which the next run's inserts would otherwise write out themselves. Needs a superuser."""
    with contextlib.closing(psycopg2.connect(ADMIN_URL)) as connection:
        connection.autocommit = True
        with contextlib.suppress(psycopg2.Error):
            connection.cursor().execute("CHECKPOINT")


def run(messages: int, batch: int, processes: int, notify: bool = True) -> dict:
    _checkpoint()
    stage = Stage()
    try:
        db = open_database(stage.database_url, application_name="bench")
        room_ids = _rooms()
        idle = min(drain_seconds(stage, processes, MESSAGES_QUEUE) for _ in range(3))  # an idle worker's start-up

        records = _records(room_ids, messages, first_id=10**12)
        fill_outbox(stage, records, batch)
        elapsed = drain_seconds(stage, processes, MESSAGES_QUEUE) - idle
        stored = db.execute_sql("SELECT count(*) FROM messages").fetchone()[0]
        left = stage.redis().hlen(Keys(stage.prefix).outbox)
        if stored != messages or left:
            raise RuntimeError(f"persisted {stored} of {messages}, {left} left in the outbox")

        result = {"messages": messages, "batch": batch, "processes": processes, "seconds": elapsed}
        result |= {"rate": messages / elapsed, "idle_worker_seconds": idle}
        if not notify:
            return result
        notify_elapsed = drain_seconds(stage, processes, NOTIFICATIONS_QUEUE) - idle
        notified = db.execute_sql("SELECT count(*) FROM notifications").fetchone()[0]
        if notified != messages * SENDERS_PER_ROOM:  # everyone in the room but the sender
            raise RuntimeError(f"stored {notified} notifications, expected {messages * SENDERS_PER_ROOM}")

        raw = _records(room_ids, 50_000, first_id=2 * 10**12)
        for record in raw:
            record["seq"] += messages  # after the ones above
        started = time.perf_counter()
        for i in range(0, len(raw), batch):
            insert_batch(db, raw[i : i + batch])
        raw_elapsed = time.perf_counter() - started
        db.close()
        return result | {
            "insert_batch_rate": len(raw) / raw_elapsed,
            "notifications": notified,
            "notify_seconds": notify_elapsed,
            "notified_messages_rate": messages / notify_elapsed,
        }
    finally:
        stage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument(
        "--persist-only", action="store_true", help="time persistence alone (no notifications, no insert_batch)"
    )
    args = parser.parse_args()
    result = run(args.messages, args.batch, args.processes, notify=not args.persist_only)
    persisted = (
        f"{result['processes']} worker process(es), {result['batch']} messages per job: "
        f"{result['rate']:,.0f} messages/s persisted ({result['messages']:,} in {result['seconds']:.2f} s; "
        f"idle worker start-up {result['idle_worker_seconds']:.2f} s subtracted)"
    )
    if args.persist_only:
        print(persisted)
        return
    print(
        f"{persisted}; insert_batch alone: {result['insert_batch_rate']:,.0f} rows/s; then notifications for "
        f"{result['notified_messages_rate']:,.0f} messages/s ({result['notifications']:,} stored in "
        f"{result['notify_seconds']:.2f} s)"
    )


if __name__ == "__main__":
    main()
