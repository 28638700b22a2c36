"""RQ queues and the options every persistence job is enqueued with."""

from __future__ import annotations

from collections.abc import Sequence

import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from app.jobs.names import PERSIST_MESSAGES
from app.state.keys import Keys

FAILURE_TTL = 7 * 24 * 3600  # failed jobs stay in RQ's failed registry for a week


def open_queue(connection: redis.Redis, keys: Keys, name: str) -> Queue:
    """The RQ queue `name` (one of app.state.keys.QUEUES), JSON-serialised."""
    return Queue(keys.queue(name), connection=connection, serializer=JSONSerializer)


def enqueue_persist(
    queue: Queue, fields: Sequence[str], timeout: int, retry_intervals: Sequence[int], description: str = ""
) -> str:
    """Enqueue one persistence job for these outbox fields; return its id.

    A failing job is retried after each interval, then kept in the failed
    registry with its traceback. The result of a successful job is not
    kept: the rows in Postgres are the result.
    """
    retry = Retry(max=len(retry_intervals), interval=list(retry_intervals)) if retry_intervals else None
    job = queue.enqueue(
        PERSIST_MESSAGES,
        list(fields),
        job_timeout=timeout,
        retry=retry,
        result_ttl=0,
        failure_ttl=FAILURE_TTL,
        description=description or f"persist {len(fields)} messages",
    )
    return job.id
