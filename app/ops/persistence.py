"""Is persistence stalled? The rule `/ready` and `chat_persistence_stalled` share.

Persistence is stalled when acknowledged messages (or edits, deletes) wait in the outbox and either

- no live worker listens on the messages queue (none registered with RQ, or only registrations that
  have expired: a worker's lapses at most 2 minutes after its last heartbeat), so nothing will
  persist them: stalled at once; or
- the oldest of them has waited longer than PERSISTENCE_STALL_AFTER: workers run, but fail (Postgres
  unreachable, every job failing) or cannot keep up.

An empty outbox is never stalled, with or without workers: a deployment at rest, or whose workers are
restarting, is fine. Both inputs come from Redis (app.ops.metrics.RedisState), so every node answers
alike; if Redis does not answer, the `redis` check of `/ready` fails instead.
"""

from __future__ import annotations


class PersistenceStalled(RuntimeError):
    """Raised by the `persistence` check of `/ready`; its message is the reason."""


def stall_reason(entries: int, oldest_age: float, workers: int, stall_after: float) -> str:
    """Why persistence is stalled, or "" when it is not."""
    if entries <= 0:
        return ""
    waiting = f"{entries} acknowledged message{'s' if entries != 1 else ''} (or changes) wait in the outbox"
    if workers <= 0:
        return f"no worker is running: {waiting}, the oldest for {oldest_age:.0f}s"
    if oldest_age > stall_after:
        return f"{waiting}, the oldest for {oldest_age:.0f}s (over PERSISTENCE_STALL_AFTER, {stall_after:g}s)"
    return ""
