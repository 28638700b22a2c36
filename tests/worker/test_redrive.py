"""The outbox redrive, run in-process against real Redis (and, end to end, a real worker and Postgres).

`redrive_once` takes a fake "now": the outbox's clock is the message's created_at, so moving
"now" forward is how a test lets time pass without sleeping. Between two scans that stand for
different moments the test deletes the redrive lock, as its expiry (REDRIVE_INTERVAL) would.
"""

from __future__ import annotations

import threading
import time

import orjson

from app.jobs.names import PERSIST_MESSAGES
from app.state.outbox import MAX_REDRIVE_DELAY_MS
from app.storage.models import MessageRow
from tests.worker.conftest import now_ms
from worker.persist_messages import run as persist
from worker.redrive import redrive_once

DAY_MS = 24 * 3600 * 1000


def queued(lane) -> list:
    return lane.runtime.queue().get_jobs()


def batches(lane) -> list[list[str]]:
    """The outbox fields of each queued persistence job, in queue order."""
    jobs = queued(lane)
    assert all(len(job.args) == 1 and not job.kwargs for job in jobs)
    return [list(job.args[0]) for job in jobs]


def test_due_entries_are_enqueued_again_in_batches_and_the_rest_is_left_alone(lane):
    lane = lane(PERSIST_BATCH_MAX=2, PERSIST_JOB_TIMEOUT=45, PERSIST_RETRY_INTERVALS="3,7")
    created = now_ms() - 10_000
    a, b, c = (lane.put("1001", seq, "u", created + seq) for seq in (1, 2, 3))
    gone = lane.put("1001", 4, "u", created + 4)
    lane.redis.hdel(lane.keys.outbox, gone)  # persisted meanwhile: its `since` entry is stale
    later = lane.put("1002", 1, "u", created)
    far = created + 30 * DAY_MS
    lane.redis.zadd(lane.keys.outbox_since, {later: far + 1})  # not due yet, even at the fake now
    bodies = {field: lane.record(field) for field in (a, b, c, later)}

    now = now_ms() + DAY_MS
    assert redrive_once(lane.runtime, "w1", now_ms=now) == 3

    jobs = queued(lane)
    assert batches(lane) == [[a, b], [c]]  # oldest first, PERSIST_BATCH_MAX per job
    for job in jobs:
        assert job.func_name == PERSIST_MESSAGES
        assert job.timeout == 45
        assert job.retries_left == 2 and job.retry_intervals == [3, 7]
        assert job.description == f"redrive {len(job.args[0])} messages"
    since = lane.since()
    # A day-old message is retried at most hourly; the stale field is forgotten; the others are untouched.
    assert since == {a: now + MAX_REDRIVE_DELAY_MS, b: now + MAX_REDRIVE_DELAY_MS, c: now + MAX_REDRIVE_DELAY_MS,
                     later: far + 1}  # fmt: skip
    # The redrive never removes a body: only a worker that committed it does.
    assert lane.in_outbox() == {a, b, c, later}
    assert {field: lane.record(field) for field in bodies} == bodies


def test_a_message_that_stays_stuck_is_redriven_less_and_less_often(lane):
    lane = lane()  # REDRIVE_AFTER=2
    created = now_ms() - 3_600_000
    field = lane.put("2001", 1, "u", created)
    assert lane.since()[field] == created + 2_000

    def scan_at(moment: int) -> int:
        lane.redis.delete(lane.keys.redrive_lock)  # REDRIVE_INTERVAL has passed
        return redrive_once(lane.runtime, "w1", now_ms=moment)

    assert scan_at(created + 1_999) == 0  # not due before REDRIVE_AFTER
    due_at, delays = created + 2_000, []
    for _ in range(4):
        assert scan_at(due_at - 1) == 0
        assert scan_at(due_at) == 1
        next_due = lane.since()[field]
        delays.append(next_due - due_at)
        due_at = next_due
    # The first wait is REDRIVE_AFTER, then each is the message's age: 2 s, 4 s, 8 s, 16 s.
    assert delays == [2_000, 4_000, 8_000, 16_000]
    assert scan_at(created + 30 * DAY_MS) == 1
    assert lane.since()[field] == created + 30 * DAY_MS + MAX_REDRIVE_DELAY_MS
    assert batches(lane) == [[field]] * 5


def test_a_fresh_message_waits_at_least_redrive_after_before_its_next_redrive(lane):
    lane = lane(REDRIVE_AFTER=5)
    created = now_ms()
    field = lane.put("2002", 1, "u", created)
    assert lane.since()[field] == created + 5_000
    assert redrive_once(lane.runtime, "w1", now_ms=created + 5_000) == 1
    assert lane.since()[field] == created + 10_000


def test_only_one_worker_scans_per_interval(lane):
    lane = lane()  # REDRIVE_INTERVAL=1
    created = now_ms() - 60_000
    fields = [lane.put("3001", seq, "u", created) for seq in range(1, 6)]
    now = now_ms() + DAY_MS
    start = threading.Barrier(8)
    results: dict[str, int] = {}

    def scan(owner: str) -> None:
        start.wait(5)
        results[owner] = redrive_once(lane.runtime, owner, now_ms=now)

    threads = [threading.Thread(target=scan, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 8, "a scan did not finish"
    winners = [owner for owner, count in results.items() if count]
    assert len(winners) == 1 and results[winners[0]] == 5, results
    assert batches(lane) == [fields]
    assert lane.redis.get(lane.keys.redrive_lock).decode() == winners[0]
    assert 0 < lane.redis.pttl(lane.keys.redrive_lock) <= 1_000

    # Due again (a much later "now"), but the lock is still held: another worker does nothing ...
    much_later = now + 2 * DAY_MS
    loser = next(owner for owner in results if owner != winners[0])
    assert redrive_once(lane.runtime, loser, now_ms=much_later) == 0
    assert len(queued(lane)) == 1
    # ... until the lock expires after REDRIVE_INTERVAL.
    deadline = time.monotonic() + 5
    while lane.redis.exists(lane.keys.redrive_lock):
        assert time.monotonic() < deadline, "the redrive lock never expired"
        time.sleep(0.05)
    assert redrive_once(lane.runtime, loser, now_ms=much_later) == 5
    assert len(queued(lane)) == 2


def test_nothing_due_enqueues_nothing(lane):
    lane = lane()
    field = lane.put("4001", 1, "u", now_ms())
    assert redrive_once(lane.runtime, "w1") == 0
    assert queued(lane) == []
    assert field in lane.since()


async def test_redriven_messages_reach_postgres_once_through_a_real_worker(lane, group, drain):
    lane = lane()
    created = now_ms() - 10_000
    fields = [lane.put(group.room_id, seq, group.members[seq % 3], created + seq) for seq in range(1, 8)]
    records = {field: lane.record(field) for field in fields}
    # Seq 1 was committed by a worker killed before it could clear the outbox.
    persist([fields[0]])
    lane.redis.hset(lane.keys.outbox, fields[0], orjson.dumps(records[fields[0]]))
    lane.redis.zadd(lane.keys.outbox_since, {fields[0]: created + 2_000})

    assert redrive_once(lane.runtime, "w1", now_ms=now_ms()) == 7
    await drain(**lane.env)

    rows = list(MessageRow.select().where(MessageRow.room_id == int(group.room_id)).order_by(MessageRow.seq))
    assert [(str(r.id), r.seq, r.sender_id, r.content) for r in rows] == [
        (rec["id"], rec["seq"], rec["sender_id"], rec["content"]) for rec in records.values()
    ]
    assert lane.in_outbox() == set() and lane.since() == {}
    assert queued(lane) == []
