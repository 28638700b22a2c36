"""The worker process: RQ's non-forking worker, one or several processes.

Each worker process runs jobs in-process (RQ's `SimpleWorker`: no fork per
job), and the outbox redrive and the sweep of unsent uploads in background
threads. With several processes RQ's `WorkerPool` starts them once and
replaces any that die.
SIGTERM or SIGINT lets the current job finish, then the process exits
(RQ's warm shutdown). A second signal, a second or more later, stops it
at once: the job fails where it stands (its transaction rolls back) and
is retried like any failed job; its messages wait in the outbox, which
the redrive enqueues again anyway. See docs/operations.md.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import TypeVar

import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.worker_pool import WorkerPool

from app.ops.context import JOB_ID
from app.state.keys import QUEUES, Keys
from config import ConfigError, Settings
from worker import runtime, upload_sweep
from worker.redrive import Redriver
from worker.scheduler import ChatScheduler

log = logging.getLogger(__name__)

T = TypeVar("T")
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _starting_threads_deaf_to_stop_signals(start: Callable[[], T]) -> T:
    """Run `start` with SIGINT and SIGTERM blocked, so the threads it starts inherit the block.

    Python runs signal handlers in the main thread only, and the main thread waits in a
    blocking dequeue (BLMOVE, up to ~400 s). A stop signal the kernel delivers to another
    thread only sets a flag the main thread sees when that dequeue returns: Ctrl-C or SIGTERM
    on the process group (two signals at once with a WorkerPool) could hang for minutes.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class ChatWorker(SimpleWorker):
    """A SimpleWorker that opens this process's runtime and runs the outbox redrive and the upload sweep."""

    def subscribe(self) -> None:
        # RQ's pub/sub thread (commands such as "stop job") must leave stop signals to the main thread.
        _starting_threads_deaf_to_stop_signals(super().subscribe)

    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=None, log_format=None) -> None:
        # RQ's own logic, with a scheduler that dies with this worker (RQ has no hook for the class).
        options = {"date_format": date_format, "log_format": log_format}
        self.scheduler = ChatScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            serializer=self.serializer,
            **{name: value for name, value in options.items() if value is not None},
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def perform_job(self, job, queue, execution) -> bool:
        context = JOB_ID.set(job.id)  # on every line logged while it runs (app.ops.logs)
        try:
            return super().perform_job(job, queue, execution)
        finally:
            JOB_ID.reset(context)

    def work(self, *args, **kwargs) -> bool:
        rt = runtime.open_runtime()
        owner = f"{self.name}:{os.getpid()}"
        duties = [Redriver(rt, owner), upload_sweep.UploadSweeper(rt, owner)]
        for duty in duties:
            _starting_threads_deaf_to_stop_signals(duty.start)
        try:
            return super().work(*args, **kwargs)
        finally:
            for duty in duties:
                duty.stop()
            runtime.close_runtime()


def queue_names(settings: Settings, names: list[str]) -> list[str]:
    """RQ queue names for the operator's queue names; raises ConfigError for unknown ones."""
    unknown = [name for name in names if name not in QUEUES]
    if unknown:
        raise ConfigError(f"WORKER_QUEUES: unknown queue(s) {', '.join(unknown)}; known: {', '.join(QUEUES)}")
    keys = Keys(settings.redis.redis_prefix)
    return [keys.queue(name) for name in names]


def run(settings: Settings, names: list[str], processes: int, burst: bool = False) -> None:
    """Drain `names` with `processes` worker processes until stopped (or, with `burst`, until empty)."""
    queues = queue_names(settings, names)
    upload_sweep.check(settings)
    runtime.configure(settings)
    connection = redis.Redis.from_url(settings.redis.redis_url)
    level = settings.logging.log_level.upper()
    if processes == 1:
        worker = ChatWorker(queues, connection=connection, serializer=JSONSerializer)
        worker.work(burst=burst, with_scheduler=True, logging_level=level)
        return
    pool = WorkerPool(
        queues, connection=connection, num_workers=processes, worker_class=ChatWorker, serializer=JSONSerializer
    )
    pool.start(burst=burst, logging_level=level)
