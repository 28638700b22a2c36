"""The persistence job and its insert, called in-process against real Redis and Postgres;
and the worker's queue names, checked before it starts."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from app.state.keys import QUEUES
from app.storage.messages import insert_batch
from app.storage.models import MembershipRow, MessageRow
from config import ConfigError
from tests.conftest import ROOT
from tests.worker.conftest import now_ms
from worker.main import queue_names
from worker.persist_messages import run as persist


def stored(room_id: str) -> list[tuple[str, int, str, str, str | None]]:
    rows = MessageRow.select().where(MessageRow.room_id == int(room_id)).order_by(MessageRow.seq)
    return [(str(r.id), r.seq, r.sender_id, r.content, r.client_ref) for r in rows]


def expected(*records: dict) -> list[tuple[str, int, str, str, str | None]]:
    return [(r["id"], r["seq"], r["sender_id"], r["content"], r["client_ref"]) for r in records]


def cursors(room_id: str) -> dict[str, int]:
    rows = MembershipRow.select().where(MembershipRow.room_id == int(room_id))
    return {row.user_id: row.last_read_seq for row in rows}


def test_fields_already_gone_from_the_outbox_are_skipped_and_the_rest_is_persisted(lane, group):
    lane = lane()
    created = now_ms()
    a, gone, c = (lane.put(group.room_id, seq, group.owner, created) for seq in (1, 2, 3))
    records = [lane.record(a), lane.record(c)]
    lane.redis.hdel(lane.keys.outbox, gone)  # persisted and cleared by another job

    assert persist([a, gone, c]) == {"messages": 2, "inserted": 2, "changes": 0}
    assert stored(group.room_id) == expected(*records)
    assert lane.in_outbox() == set()
    assert lane.since() == {}  # the stale `since` entry of the gone field is cleared too


def test_a_job_whose_fields_are_all_gone_does_nothing(lane, group):
    lane = lane()
    assert persist([f"{group.room_id}:1", f"{group.room_id}:2"]) == {"messages": 0, "inserted": 0, "changes": 0}
    assert stored(group.room_id) == []


def test_a_batch_committed_by_a_worker_killed_before_clearing_it_is_only_cleared(lane, group):
    lane = lane()
    fields = [lane.put(group.room_id, seq, group.owner, now_ms()) for seq in (1, 2)]
    records = [lane.record(field) for field in fields]
    with lane.runtime.database() as db:
        assert insert_batch(db, records) == 2  # committed; the outbox still holds both
    assert lane.in_outbox() == set(fields)

    assert persist(fields) == {"messages": 2, "inserted": 0, "changes": 0}
    assert stored(group.room_id) == expected(*records)
    assert lane.in_outbox() == set()


def test_the_insert_moves_each_senders_read_cursor_forward_and_never_back(lane, group):
    lane = lane()
    owner, bob, carol = group.members
    created = now_ms()
    # One batch, out of order: the owner's 3, 1, 2 and bob's 4; carol sent nothing.
    fields = [lane.put(group.room_id, seq, sender, created) for seq, sender in ((3, owner), (1, owner), (2, owner))]
    fields.append(lane.put(group.room_id, 4, bob, created))
    first = [lane.record(field) for field in fields]
    assert persist(fields)["inserted"] == 4
    assert cursors(group.room_id) == {owner: 3, bob: 4, carol: 0}

    # Bob has read further meanwhile; his older message arriving late leaves his cursor alone.
    MembershipRow.update(last_read_seq=10).where(
        (MembershipRow.room_id == int(group.room_id)) & (MembershipRow.user_id == bob)
    ).execute()
    late = [lane.put(group.room_id, 5, bob, created), lane.put(group.room_id, 6, owner, created)]
    assert persist(late)["inserted"] == 2
    assert cursors(group.room_id) == {owner: 6, bob: 10, carol: 0}

    # The first batch again (a duplicated job): nothing is inserted and no cursor goes back.
    with lane.runtime.database() as db:
        assert insert_batch(db, first) == 0
    assert cursors(group.room_id) == {owner: 6, bob: 10, carol: 0}


def test_a_sender_who_left_the_room_is_persisted_without_a_cursor(lane, group):
    lane = lane()
    bob = group.members[1]
    MembershipRow.delete().where(
        (MembershipRow.room_id == int(group.room_id)) & (MembershipRow.user_id == bob)
    ).execute()
    field = lane.put(group.room_id, 1, bob, now_ms())
    record = lane.record(field)
    assert persist([field]) == {"messages": 1, "inserted": 1, "changes": 0}
    assert stored(group.room_id) == expected(record)
    assert bob not in cursors(group.room_id)


def test_overlapping_batches_in_concurrent_workers_neither_deadlock_nor_duplicate(lane, group):
    lane = lane()
    created = now_ms()
    fields = [lane.put(group.room_id, seq, group.members[seq % 3], created) for seq in range(1, 201)]
    records = [lane.record(field) for field in fields]
    db = lane.runtime.db
    errors: list[BaseException] = []
    inserted: list[int] = []
    start = threading.Barrier(4)

    def insert(batch: list[dict]) -> None:
        try:
            start.wait(5)
            with lane.runtime.database():
                inserted.append(insert_batch(db, batch))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            db.close()  # this thread's connection

    # Four "workers": the whole set forwards and backwards, and two overlapping halves.
    batches = [records, records[::-1], records[50:150], records[120:] + records[:30]]
    threads = [threading.Thread(target=insert, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "an insert is stuck (deadlock?)"
    assert errors == []
    assert sum(inserted) == 200
    assert stored(group.room_id) == expected(*records)
    assert cursors(group.room_id) == {group.members[0]: 198, group.members[1]: 199, group.members[2]: 200}


def test_queue_names_are_prefixed_and_unknown_ones_are_refused(settings):
    prefix = settings.redis.redis_prefix
    assert queue_names(settings, list(QUEUES)) == [prefix + name for name in QUEUES]
    with pytest.raises(ConfigError) as refused:
        queue_names(settings, ["messages", "emails", "mesages"])
    message = str(refused.value)
    assert message.startswith("WORKER_QUEUES: unknown queue(s) emails, mesages;")
    assert message.endswith("known: " + ", ".join(QUEUES))


async def test_a_worker_given_an_unknown_queue_exits_with_a_configuration_error(services):
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "run.py"), "worker", "--queues", "messages,emails",
        env=services.env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "configuration error: WORKER_QUEUES: unknown queue(s) emails;" in stderr.decode()
    assert stdout == b""
