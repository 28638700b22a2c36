"""The worker process: RQ's non-forking worker, one or several processes.

Each worker process runs jobs in-process (RQ's `SimpleWorker`: no fork per
job), and the outbox redrive and the sweep of unsent uploads in background
threads. With several processes RQ's `WorkerPool` starts them once and
replaces any that die.
SIGTERM or SIGINT lets the current job finish, then the process exits
(RQ's warm shutdown). A second signal, a second or more later, stops it
at once: the job fails where it stands (its transaction rolls back) and
is retried like any failed job; its messages wait in the outbox, which
the redrive enqueues again anyway.

A Redis that goes away (killed, restarted, answering LOADING while it
reloads its data) does not end the process: every step of RQ's loop that
talks to Redis waits for it with back-off and is tried again (a job cut
off mid-way runs again: jobs are idempotent), see worker/outages.py. A
Postgres that goes away fails the jobs, which are retried and redriven
with back-off (PERSIST_RETRY_INTERVALS, REDRIVE_AFTER). See
docs/operations.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from rq import SimpleWorker
from rq.exceptions import StopRequested
from rq.serializers import JSONSerializer
from rq.worker_pool import WorkerPool

from app.ops.context import JOB_ID
from app.state.keys import QUEUES, Keys
from config import ConfigError, Settings
from worker import runtime, upload_sweep
from worker.outages import (
    POSTGRES_DOWN,
    REDIS_DOWN,
    describe,
    postgres_answers,
    wait_for_postgres,
    wait_for_redis,
)
from worker.redrive import Redriver
from worker.scheduler import ChatScheduler

log = logging.getLogger(__name__)

T = TypeVar("T")
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
# Seconds a worker's registration outlives its last heartbeat is this + 60 (RQ's rule); an idle worker
# heartbeats every WORKER_TTL - 15 s. RQ's 420 would keep a SIGKILLed worker counted (`chat_workers`,
# /ready) for 8 minutes; with 60 its registration is gone within 2.
WORKER_TTL = 60


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
    """A SimpleWorker that opens this process's runtime, runs the outbox redrive and the upload sweep, and
    rides out Redis outages: each Redis-touching step of RQ's work loop (the public methods below, which
    `BaseWorker.work` calls; tests/worker/test_rq_contract.py fails if RQ's loop changes) waits for Redis
    and is tried again instead of ending the process."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        super().__init__(*args, **kwargs)

    # --- riding out Redis -------------------------------------------------------------------------

    def _stopping(self) -> bool:
        return bool(getattr(self, "_stop_requested", False))

    def _wait_for_redis(self, exc: BaseException) -> None:
        """Wait until Redis answers again (StopRequested if the worker is asked to stop meanwhile), then
        register this worker again if Redis came back without its registration (a Redis that lost data)."""
        if not wait_for_redis(self.connection, exc, self.log, f"Worker {self.name}", self._stopping):
            raise StopRequested()
        try:
            if not self.connection.exists(self.key):
                self.register_birth()
                self.log.warning("Worker %s: registered again (Redis came back without its registration)", self.name)
        except REDIS_DOWN:
            pass  # gone again: the next step waits for it

    def _steady(self, step: Callable[..., T], *args, **kwargs) -> T:
        while True:
            try:
                return step(*args, **kwargs)
            except REDIS_DOWN as exc:
                self._wait_for_redis(exc)

    def heartbeat(self, timeout=None, pipeline=None):
        if pipeline is not None:  # only queued on the pipeline: its execute() is the caller's step
            return super().heartbeat(timeout, pipeline)
        return self._steady(super().heartbeat, timeout)

    def check_for_suspension(self, burst: bool) -> None:
        self._steady(super().check_for_suspension, burst)

    def run_maintenance_tasks(self) -> None:
        self._steady(super().run_maintenance_tasks)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        return self._steady(super().dequeue_job_and_maintain_ttl, timeout, max_idle_time)

    def execute_job(self, job, queue) -> None:
        """Run the job; if Redis goes away under it (its bookkeeping, or the job's own reads), wait for
        Redis and run it again. Every job is idempotent, and the outbox redrive covers whatever RQ could
        not record meanwhile."""
        rt = runtime.open_runtime()
        errors = rt.postgres_errors
        while True:
            try:
                super().execute_job(job, queue)
                break
            except REDIS_DOWN as exc:
                self._wait_for_redis(exc)
                self.log.warning("Worker %s: job %s was cut off by the outage; running it again", self.name, job.id)
        if rt.postgres_errors != errors:
            self._check_postgres(rt)

    def _check_postgres(self, rt: runtime.Runtime) -> None:
        """After a job that met a Postgres error: take no further job until Postgres answers (the failed
        job is retried by RQ as usual). A Postgres that answers at once costs one SELECT 1, no log."""
        try:
            postgres_answers(rt.db)
        except POSTGRES_DOWN as exc:
            beats = {"last": time.monotonic()}

            def stopping() -> bool:  # and keep the worker's registration alive meanwhile
                if time.monotonic() - beats["last"] > WORKER_TTL / 2:
                    beats["last"] = time.monotonic()
                    with contextlib.suppress(*REDIS_DOWN):
                        SimpleWorker.heartbeat(self)
                return self._stopping()

            if not wait_for_postgres(rt.db, exc, self.log, f"Worker {self.name}", stopping):
                raise StopRequested() from None

    def teardown(self) -> None:
        try:
            super().teardown()
        except REDIS_DOWN as exc:
            self.log.warning(
                "Worker %s: could not unregister (%s); its registration expires by itself", self.name, describe(exc)
            )

    # --- RQ hooks ---------------------------------------------------------------------------------

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
        try:
            self.connection.ping()  # a worker started while Redis is away waits for it
        except REDIS_DOWN as exc:
            if not wait_for_redis(self.connection, exc, self.log, f"Worker {self.name}"):
                return False
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
