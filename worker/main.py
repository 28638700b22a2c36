"""The worker process: RQ's non-forking worker, one or several processes.

Each worker process runs jobs in-process (RQ's `SimpleWorker`: no fork per
job) and the outbox redrive in a background thread. With several
processes RQ's `WorkerPool` starts them once and replaces any that die.
SIGTERM or SIGINT lets the current job finish, then the process exits.
"""

from __future__ import annotations

import logging
import os

import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.worker_pool import WorkerPool

from app.state.keys import QUEUES, Keys
from config import ConfigError, Settings
from worker import runtime
from worker.redrive import Redriver

log = logging.getLogger(__name__)


class ChatWorker(SimpleWorker):
    """A SimpleWorker that opens this process's runtime and runs the outbox redrive."""

    def work(self, *args, **kwargs) -> bool:
        rt = runtime.open_runtime()
        redriver = Redriver(rt, owner=f"{self.name}:{os.getpid()}")
        redriver.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            redriver.stop()
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
