"""Job: move a batch of acknowledged messages from the outbox into Postgres.

Idempotent end to end: messages already persisted are gone from the
outbox or skipped by the insert, and the outbox is cleared only after the
commit. A worker killed anywhere in here leaves the messages in the
outbox, where the redrive finds them again.
"""

from __future__ import annotations

from app.storage.messages import insert_batch
from worker.runtime import open_runtime


def run(fields: list[str]) -> dict:
    runtime = open_runtime()
    records = runtime.outbox.take(fields)
    with runtime.database() as db:
        inserted = insert_batch(db, records)
    runtime.outbox.done(fields)
    return {"messages": len(records), "inserted": inserted}
