"""Job: copy last-seen times, chosen statuses, devices and read cursors that changed into Postgres.

At most one such job is queued at a time (see app/state/presence.py), so
a thousand heartbeats become one batched write, not a thousand.
"""

from __future__ import annotations

from app.state.flush import FlushSource
from app.storage import presence
from worker.runtime import open_runtime

BATCH = 5000
MAX_ROUNDS = 20  # bounded work per job: what is left requests the next one


def run() -> dict:
    runtime = open_runtime()
    source = FlushSource(runtime.redis, runtime.keys)
    source.clear_request()
    totals = {"users": 0, "devices": 0, "reads": 0}
    for _ in range(MAX_ROUNDS):
        taken = source.take(BATCH)
        if not taken:
            break
        users = [(user_id, taken.last_seen.get(user_id), taken.statuses.get(user_id)) for user_id in taken.users]
        try:
            with runtime.database() as db:
                counts = presence.write(db, users, taken.device_rows, taken.read_rows)
        except BaseException:
            source.restore(taken)
            raise
        for name, count in counts.items():
            totals[name] += count
    return totals
