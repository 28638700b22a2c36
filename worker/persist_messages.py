"""Job: move a batch of acknowledged messages, edits and deletes from the outbox into Postgres.

Idempotent end to end: messages already persisted are gone from the
outbox or skipped by the insert, changes apply only over older versions,
and the outbox is cleared only after the commit. A worker killed anywhere
in here leaves the batch in the outbox, where the redrive finds it again.
"""

from __future__ import annotations

import logging
import time

import orjson

from app.chat.model import Change
from app.chat.rules import excerpt
from app.jobs.queues import enqueue_notify
from app.state.keys import NOTIFICATIONS_QUEUE, is_change_field, outbox_field
from app.storage.messages import apply_changes, insert_messages, max_seqs
from worker.runtime import open_runtime

log = logging.getLogger(__name__)


def run(fields: list[str]) -> dict:
    runtime = open_runtime()
    message_fields = [field for field in fields if not is_change_field(field)]
    records = runtime.outbox.take(message_fields)
    raw_changes = runtime.outbox.take_raw([field for field in fields if is_change_field(field)])
    changes = [Change.from_record(orjson.loads(body)) for body in raw_changes.values()]
    # A change can overtake its message (the message's own job still queued): persist the message first.
    # Its own job still runs, finds it stored, notifies and clears it.
    batch = set(message_fields)
    lagging = [f for f in runtime.outbox.locate([c.message_id for c in changes]) if f not in batch]
    moved: dict[str, dict] = {}
    with runtime.database() as db:
        result = insert_messages(db, records + runtime.outbox.take(lagging))
        if result.collided:
            moved = _resequence(runtime, db, result.collided)
            left = {r["id"] for r in result.collided} - set(moved)
            records = [moved.get(r["id"], r) for r in records if r["id"] not in left]
        present = apply_changes(db, changes)
    retry_intervals = runtime.settings.queue.retry_intervals
    # The follow-up jobs are enqueued and the outbox cleared in one Redis transaction, after the commit: a
    # crash before it leaves the batch in the outbox, and the redrive persists it again (a no-op) and
    # enqueues them again; stored notifications are unique per (user, message).
    with runtime.redis.pipeline(transaction=True) as pipe:
        new = [record for record in records if record.get("type") != "system"]
        if new:
            length = runtime.settings.notifications.notification_excerpt_length
            trimmed = [{**record, "content": excerpt(_shown(record), length)} for record in new]
            enqueue_notify(runtime.queue(NOTIFICATIONS_QUEUE), trimmed, retry_intervals, pipeline=pipe)
        runtime.outbox.done(
            message_fields + [outbox_field(str(r["room_id"]), r["seq"]) for r in moved.values()],
            list({record["id"] for record in records} | set(moved)),
            pipeline=pipe,
        )
        pipe.execute()
    lost = [c.message_id for c in changes if c.message_id not in present]
    if lost:
        log.warning("changes of %d messages found no message to apply to (lost with Redis data?): %s", len(lost), lost)
    runtime.outbox.changes_done(raw_changes)
    return {"messages": len(records), "inserted": result.inserted, "changes": len(changes)}


MAX_RESEQUENCE_TRIES = 3


def _resequence(runtime, db, collided: list[dict]) -> dict[str, dict]:
    """Messages whose seq another message already holds in Postgres (Redis lost writes and its counter
    stepped back, see Outbox.resequence) get the room's next free seq and are stored there: acknowledged,
    so never dropped. Returns those stored, by id, at their new seqs; any other waits in the outbox (at a
    new field, if it moved) for the redrive."""
    due_ms = int(time.time() * 1000) + runtime.settings.queue.redrive_after * 1000
    moved: dict[str, dict] = {}
    pending = collided
    for _ in range(MAX_RESEQUENCE_TRIES):
        floors = max_seqs(list({str(r["room_id"]) for r in pending}))
        log.warning(
            "%d acknowledged messages found their seq taken in Postgres (Redis lost writes?); giving them new seqs",
            len(pending),
        )
        shifted = [
            m
            for r in sorted(pending, key=lambda r: (str(r["room_id"]), r["seq"]))
            if (m := runtime.outbox.resequence(r, floors.get(str(r["room_id"]), 0), due_ms)) is not None
        ]
        pending = insert_messages(db, shifted).collided
        taken = {r["id"] for r in pending}
        moved.update({r["id"]: r for r in shifted if r["id"] not in taken})
        if not pending:
            break
    return moved


def _shown(record: dict) -> str:
    """What a notification quotes: the text, or for a file without a caption, its kind and name."""
    attachment = record.get("attachment")
    if record["content"].strip() or not attachment:
        return record["content"]
    return f"[{attachment['kind']}] {attachment['name']}"
