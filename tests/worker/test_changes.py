"""Edits and deletes through the persistence job, on real Redis and Postgres: applied once, in version
order, a delete final; a change that overtakes its message persists the message first; an edit that
arrives while a job runs is not lost when the job clears what it applied."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from app.chat.model import Change
from app.state.keys import change_field
from app.storage.models import MessageRow
from tests.worker.conftest import now_ms
from worker import persist_messages


def put_change(lane, record: dict, version: int, by: str, content: str | None) -> str:
    """Write a change into the outbox as the web node's change script does."""
    at = datetime.now(UTC)
    change = Change(record["id"], record["room_id"], record["seq"], version, at, by, content)
    field = change_field(record["id"])
    lane.redis.hset(lane.keys.outbox, field, orjson.dumps(change.record()))
    lane.redis.zadd(lane.keys.outbox_since, {field: now_ms() + 60_000})
    return field


def row(record: dict) -> MessageRow:
    return MessageRow.get(MessageRow.id == int(record["id"]))


async def test_edits_and_deletes_are_applied_once_and_leave_the_outbox(lane, group, db):
    lane = lane()
    created = now_ms()
    fields = [lane.put(group.room_id, seq, group.owner, created + seq) for seq in (1, 2, 3)]
    first, second, third = (lane.record(f) for f in fields)
    changes = [
        put_change(lane, first, 10, group.owner, "edited ✓"),
        put_change(lane, second, 11, group.owner, None),
    ]
    result = persist_messages.run(fields + changes)
    assert result == {"messages": 3, "inserted": 3, "changes": 2}
    edited, deleted, untouched = row(first), row(second), row(third)
    assert (edited.content, edited.version, edited.deleted_at) == ("edited ✓", 10, None)
    assert edited.edited_at is not None
    assert (deleted.content, deleted.version, deleted.deleted_by) == ("", 11, group.owner)
    assert deleted.deleted_at is not None
    assert (untouched.content, untouched.version, untouched.edited_at) == (third["content"], 0, None)
    assert lane.in_outbox() == set() and lane.since() == {}
    assert lane.redis.hlen(lane.keys.outbox_ids) == 0
    # Run again (a duplicated job): nothing changes.
    assert persist_messages.run(fields + changes)["inserted"] == 0
    assert row(first).content == "edited ✓" and row(second).content == ""


async def test_an_older_edit_never_overwrites_a_newer_one_and_a_delete_is_final(lane, group, db):
    lane = lane()
    [field] = [lane.put(group.room_id, 1, group.owner, now_ms())]
    record = lane.record(field)
    persist_messages.run([field, put_change(lane, record, 20, group.owner, "newer")])
    persist_messages.run([put_change(lane, record, 19, group.owner, "older, arriving late")])
    assert (row(record).content, row(record).version) == ("newer", 20)
    persist_messages.run([put_change(lane, record, 21, group.owner, None)])
    persist_messages.run([put_change(lane, record, 22, group.owner, "after the delete")])
    assert (row(record).content, row(record).version) == ("", 21)
    assert row(record).deleted_at is not None


async def test_a_change_that_overtakes_its_message_persists_the_message_first(lane, group, db):
    lane = lane()
    field = lane.put(group.room_id, 1, group.owner, now_ms())
    record = lane.record(field)
    change = put_change(lane, record, 30, group.owner, "edited before persisted")
    assert persist_messages.run([change]) == {"messages": 0, "inserted": 1, "changes": 1}
    assert row(record).content == "edited before persisted"
    # The message's own job still runs: it finds the row, and clears the message from the outbox.
    assert lane.in_outbox() == {field}
    assert persist_messages.run([field])["inserted"] == 0
    assert lane.in_outbox() == set() and row(record).content == "edited before persisted"


async def test_an_edit_that_arrives_while_a_job_runs_stays_for_its_own_job(lane, group, db):
    lane = lane()
    field = lane.put(group.room_id, 1, group.owner, now_ms())
    record = lane.record(field)
    change = put_change(lane, record, 40, group.owner, "first edit")
    applied = lane.runtime.outbox.take_raw([change])  # what a job read
    put_change(lane, record, 41, group.owner, "second edit")  # arrives before that job clears
    lane.runtime.outbox.changes_done(applied)
    assert lane.in_outbox() == {field, change}  # the second edit is still waiting
    persist_messages.run([field, change])
    assert (row(record).content, row(record).version) == ("second edit", 41)
    assert lane.in_outbox() == set()
