"""RQ's scheduler, tied to the life of the worker that forked it.

The scheduler moves jobs whose retry interval has passed back into their
queues. RQ forks it from a worker and never checks on its parent, so a
worker killed on its own (the OOM killer, `kill -9` of one pid) would
leave it running. On Linux the forked scheduler asks the kernel to send
it SIGTERM when its parent dies; elsewhere it behaves as RQ's does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal

from rq.scheduler import RQScheduler

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
        super().work()
