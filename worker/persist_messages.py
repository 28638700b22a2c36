"""Job: move a batch of acknowledged messages from the outbox into Postgres.

Idempotent end to end: messages already persisted are gone from the
outbox or skipped by the insert, and the outbox is cleared only after the
commit. A worker killed anywhere in here leaves the messages in the
outbox, where the redrive finds them again.
"""

from __future__ import annotations

from app.chat.rules import excerpt
from app.jobs.queues import enqueue_notify
from app.state.keys import NOTIFICATIONS_QUEUE
from app.storage.messages import insert_batch
from worker.runtime import open_runtime


def run(fields: list[str]) -> dict:
    runtime = open_runtime()
    records = runtime.outbox.take(fields)
    with runtime.database() as db:
        inserted = insert_batch(db, records)
    if records:
        # Before the outbox is cleared: a crash in between persists (a no-op) and notifies again,
        # and stored notifications are unique per (user, message).
        length = runtime.settings.notifications.notification_excerpt_length
        trimmed = [{**record, "content": excerpt(record["content"], length)} for record in records]
        enqueue_notify(runtime.queue(NOTIFICATIONS_QUEUE), trimmed, runtime.settings.queue.retry_intervals)
    runtime.outbox.done(fields)
    return {"messages": len(records), "inserted": inserted}
