"""The outbox redrive: enqueue again what was acknowledged but is still not persisted.

Covers every way a message can be left behind: a web node that crashed
before enqueueing its batch, a worker killed mid-job, a job that ended in
the failed registry. Any worker may run it; a short Redis lock lets one
scan per interval across the cluster. Jobs are idempotent, so enqueueing
a message twice costs a little work and nothing else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import peewee

from app.jobs.queues import enqueue_persist
from worker.outages import REDIS_DOWN, describe
from worker.runtime import Runtime

log = logging.getLogger(__name__)

SCAN_LIMIT = 50_000


def redrive_once(runtime: Runtime, owner: str, now_ms: int | None = None) -> int:
    """Enqueue the outbox entries that are due; return how many. Does nothing when
    another worker scanned within REDRIVE_INTERVAL."""
    settings = runtime.settings.queue
    if not runtime.redis.set(runtime.keys.redrive_lock, owner, nx=True, px=settings.redrive_interval * 1000):
        return 0
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    due = runtime.outbox.due(now_ms, SCAN_LIMIT)
    if not due:
        return 0
    waiting = runtime.outbox.postpone(due, now_ms, settings.redrive_after * 1000)
    queue = runtime.queue()
    for start in range(0, len(waiting), settings.persist_batch_max):
        batch = waiting[start : start + settings.persist_batch_max]
        enqueue_persist(
            queue,
            batch,
            settings.persist_job_timeout,
            settings.retry_intervals,
            description=f"redrive {len(batch)} messages",
        )
    if waiting:
        log.warning("outbox redrive: enqueued %d messages again", len(waiting))
    return len(waiting)


class Periodic(threading.Thread):
    """A worker process's background duty: runs `duty` every `interval` seconds until stopped. A failure
    is logged and the duty runs again at the next interval. The duties themselves use a Redis lock so that
    one worker of the cluster does the work per interval (see `redrive_once`)."""

    def __init__(self, name: str, interval: float, duty: Callable[[], object]) -> None:
        super().__init__(name=name, daemon=True)
        self._interval = interval
        self._duty = duty
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._duty()
            except (*REDIS_DOWN, peewee.OperationalError, peewee.InterfaceError) as exc:
                # An outage, not a bug: one line, no traceback (the worker logs the outage itself).
                log.warning("%s: %s; trying again in %ss", self.name, describe(exc), self._interval)
            except Exception:
                log.exception("%s failed; trying again in %ss", self.name, self._interval)

    def stop(self) -> None:
        self._stopped.set()


class Redriver(Periodic):
    """Runs `redrive_once` every REDRIVE_INTERVAL seconds until stopped."""

    def __init__(self, runtime: Runtime, owner: str) -> None:
        super().__init__(
            "outbox-redrive", runtime.settings.queue.redrive_interval, lambda: redrive_once(runtime, owner)
        )
