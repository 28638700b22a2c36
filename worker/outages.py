"""Riding out a Redis or a Postgres that goes away: wait for it with back-off instead of dying or churning.

RQ's work loop treats almost any Redis error as fatal ("found an unhandled exception, quitting..."): a
Redis killed mid-job, or answering `LOADING` while it reloads its append-only file after a restart, ends
the worker process and persistence stops. The worker (worker.main.ChatWorker) and its scheduler
(worker.scheduler.ChatScheduler) run each Redis-touching step of their loops through `wait_for_redis`
instead: one WARNING when Redis stops answering, PINGs with back-off (FIRST_WAIT doubling up to
MAX_WAIT) until it answers again and has loaded its data, one WARNING when it is back, then the step is
tried again. Operators grep for the two phrases `REDIS_UNREACHABLE` and `REDIS_BACK` (docs/operations.md).

A job that loses Postgres fails as any failed job does (RQ retries it, the outbox redrive covers it). The
worker then takes no further job until Postgres answers `SELECT 1` again (`wait_for_postgres`, the same
back-off and the phrases `POSTGRES_UNREACHABLE` / `POSTGRES_BACK`), rather than failing every queued job
through all its retries into the failed registry while Postgres is away.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

import peewee
import redis

# BusyLoadingError (Redis answering LOADING while it reads its data set back) is a ConnectionError.
REDIS_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
FIRST_WAIT = 0.2  # seconds before the first PING, doubled after each failed one...
MAX_WAIT = 2.0  # ...up to this: a Redis back is seen within MAX_WAIT seconds
REDIS_UNREACHABLE = "Redis is unreachable"
REDIS_BACK = "Redis answers again"
POSTGRES_DOWN: tuple[type[Exception], ...] = (peewee.OperationalError, peewee.InterfaceError)
POSTGRES_UNREACHABLE = "Postgres is unreachable"
POSTGRES_BACK = "Postgres answers again"


def describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def wait_for_redis(
    connection: redis.Redis,
    exc: BaseException,
    log: logging.Logger,
    who: str,
    stopping: Callable[[], bool] = lambda: False,
    unreachable: str = REDIS_UNREACHABLE,
    back: str = REDIS_BACK,
) -> bool:
    """Block until `connection` answers PING (not LOADING), logging the outage and the recovery once each.
    Returns False, without waiting further, once `stopping()` is true (the process was asked to stop)."""
    return _wait(connection.ping, REDIS_DOWN, exc, log, who, stopping, unreachable, back)


def postgres_answers(db: peewee.Database) -> None:
    """SELECT 1 on a fresh connection (the one a failed job left is dropped first)."""
    with contextlib.suppress(peewee.PeeweeException):
        db.close()
    db.execute_sql("SELECT 1").fetchone()


def wait_for_postgres(
    db: peewee.Database, exc: BaseException, log: logging.Logger, who: str, stopping: Callable[[], bool]
) -> bool:
    """As `wait_for_redis`, for Postgres: until `SELECT 1` is answered on a new connection."""
    return _wait(
        lambda: postgres_answers(db), POSTGRES_DOWN, exc, log, who, stopping, POSTGRES_UNREACHABLE, POSTGRES_BACK
    )


def _wait(
    probe: Callable[[], object],
    errors: tuple[type[Exception], ...],
    exc: BaseException,
    log: logging.Logger,
    who: str,
    stopping: Callable[[], bool],
    unreachable: str,
    back: str,
) -> bool:
    started = time.monotonic()
    log.warning(
        "%s: %s (%s); waiting for it, trying again every %g-%gs", who, unreachable, describe(exc), FIRST_WAIT, MAX_WAIT
    )
    delay = FIRST_WAIT
    while True:
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if stopping():
                return False
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        try:
            probe()
        except errors:
            delay = min(delay * 2, MAX_WAIT)
            continue
        log.warning("%s: %s after %.1fs; resuming", who, back, time.monotonic() - started)
        return True
