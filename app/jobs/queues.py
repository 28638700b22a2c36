"""RQ queues and the options each kind of job is enqueued with."""

from __future__ import annotations

from collections.abc import Sequence

import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from app.jobs.names import DELIVER_WEBHOOK, FLUSH_PRESENCE, NOTIFY, PERSIST_MESSAGES
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
    job = queue.enqueue(
        PERSIST_MESSAGES,
        list(fields),
        job_timeout=timeout,
        retry=_retry(retry_intervals),
        result_ttl=0,
        failure_ttl=FAILURE_TTL,
        description=description or f"persist {len(fields)} messages",
    )
    return job.id


def _retry(intervals: Sequence[int]) -> Retry | None:
    return Retry(max=len(intervals), interval=list(intervals)) if intervals else None


def enqueue_flush(queue: Queue) -> str:
    """One job that copies waiting presence data and read cursors to Postgres (retried: it is idempotent)."""
    job = queue.enqueue(
        FLUSH_PRESENCE,
        job_timeout=120,
        retry=_retry([1, 5, 15]),
        result_ttl=0,
        failure_ttl=FAILURE_TTL,
        description="flush presence and read cursors",
    )
    return job.id


def enqueue_notify(
    queue: Queue, records: Sequence[dict], retry_intervals: Sequence[int], pipeline: redis.client.Pipeline
) -> str:
    """Queue on `pipeline` (a transaction the caller executes) one job that notifies the members of the rooms of
    these (persisted) messages; return its id."""
    job = queue.prepare_data(
        NOTIFY,
        args=[list(records)],
        timeout=120,
        retry=_retry(retry_intervals),
        result_ttl=0,
        failure_ttl=FAILURE_TTL,
        description=f"notify about {len(records)} messages",
    )
    (enqueued,) = queue.enqueue_many([job], pipeline=pipeline)
    return enqueued.id


def enqueue_webhook(queue: Queue, payload: dict, retry_intervals: Sequence[int], timeout: float) -> str:
    """One POST of notifications to the push webhook, retried after each interval, then kept in the
    failed registry with the reason."""
    job = queue.enqueue(
        DELIVER_WEBHOOK,
        payload,
        job_timeout=int(timeout) + 30,
        retry=_retry(retry_intervals),
        result_ttl=0,
        failure_ttl=FAILURE_TTL,
        description=f"push {len(payload.get('notifications', []))} notifications to the webhook",
    )
    return job.id
