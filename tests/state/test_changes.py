"""The change script on real Redis: an edit or delete is kept in the outbox and published in one step; a
pending delete is final, and an edit older than the pending one is refused (nothing stored or published)."""

from __future__ import annotations

from datetime import UTC, datetime

from app.chat import events
from app.chat.events import Event
from app.chat.model import Change
from app.chat.ports import Quota
from app.state.keys import change_field

PLENTY = Quota("message", "changes", rate=1e6, burst=10**6)


async def appended(log, message):
    await log.seed(message.room_id, 0)
    result = await log.append(message, 60, PLENTY)
    return result.receipt


def change(receipt, version: int, content: str | None, by: str = "ann") -> Change:
    now = datetime.now(UTC)
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the wire keeps milliseconds
    return Change(receipt.message_id, receipt.room_id, receipt.seq, version, at, by, content)


async def test_a_change_is_stored_published_and_readable_by_message_id(log, message, keys, redis_client, subscribe):
    receipt = await appended(log, message("71", "ann", "first"))
    pending = await log.pending_by_id(receipt.message_id)
    assert (pending.content, pending.seq) == ("first", receipt.seq)
    assert await log.pending_by_id("999") is None
    listener = await subscribe(keys.channel(events.room_topic("71")))
    edit = change(receipt, 5, "second")
    assert await log.change(edit, Event("message:updated", {"tag": "edit"})) is True
    assert await listener.next() == {"event": "message:updated", "data": {"tag": "edit"}}
    assert await log.changes([receipt.message_id, "999"]) == {receipt.message_id: edit}
    assert await redis_client.zscore(keys.outbox_since, change_field(receipt.message_id)) is not None


async def test_an_older_edit_and_anything_after_a_delete_are_refused(log, message, keys, subscribe):
    receipt = await appended(log, message("72", "ann"))
    listener = await subscribe(keys.channel(events.room_topic("72")))
    assert await log.change(change(receipt, 10, "ten"), Event("e", {"n": 10}))
    assert await log.change(change(receipt, 9, "nine, late"), Event("e", {"n": 9})) is False
    assert await log.change(change(receipt, 11, "eleven"), Event("e", {"n": 11}))
    assert await log.change(change(receipt, 3, None), Event("d", {"n": 3}))  # a delete wins even if older
    assert await log.change(change(receipt, 12, "after"), Event("e", {"n": 12})) is False
    assert await log.change(change(receipt, 13, None), Event("d", {"n": 13})) is False
    assert [(await listener.next())["data"]["n"] for _ in range(3)] == [10, 11, 3]
    assert await listener.next(timeout=0.3) is None
    [(_, kept)] = (await log.changes([receipt.message_id])).items()
    assert kept.deletes and kept.version == 3
