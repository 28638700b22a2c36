"""RQ's scheduler, tied to the life of the worker that forked it.

The scheduler moves jobs whose retry interval has passed back into their
queues. RQ forks it from a worker and never checks on its parent, so a
worker killed on its own (the OOM killer, `kill -9` of one pid) would
leave it running. On Linux the forked scheduler asks the kernel to send
it SIGTERM when its parent dies; elsewhere it behaves as RQ's does.

RQ's scheduler process also dies on the first Redis error, and its worker
starts another only at its next maintenance (10 minutes on): retries
waiting for their interval would wait that long. This one waits for Redis
with back-off (worker/outages.py) and carries on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal

from rq.scheduler import RQScheduler

from worker.outages import REDIS_DOWN, wait_for_redis

PR_SET_PDEATHSIG = 1


def die_with(parent_pid: int) -> None:
    """Have SIGTERM sent to this process when `parent_pid`, its parent, is gone."""
    library = ctypes.util.find_library("c")
    try:
        prctl = ctypes.CDLL(library, use_errno=True).prctl if library else None
    except (OSError, AttributeError):
        prctl = None
    if prctl is None:
        return
    prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


class ChatScheduler(RQScheduler):
    def start(self):
        self._parent_pid = os.getpid()
        return super().start()

    def work(self):
        die_with(self._parent_pid)
        while True:
            try:
                return super().work()  # returns once asked to stop (SIGTERM)
            except REDIS_DOWN as exc:
                lost, back = "lost Redis", "Redis is back"  # not the worker's phrases: one of each per outage
                if not wait_for_redis(self.connection, exc, self.log, "Scheduler", self._stopping, lost, back):
                    return None

    def _stopping(self) -> bool:
        return bool(getattr(self, "_stop_requested", False))
