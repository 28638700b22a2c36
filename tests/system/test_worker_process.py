"""The worker process itself: it stops promptly on SIGINT (Ctrl-C) or SIGTERM sent to its whole
process group, as a terminal or a container runtime sends them, with one or several processes.

Python runs signal handlers in the main thread only. A worker's main thread waits in a blocking
dequeue (BLMOVE, up to about 400 s); a stop signal the kernel hands to one of its other threads
(RQ's pub/sub thread, the outbox redrive) merely sets a flag the main thread sees when that
dequeue returns, minutes later. So those threads must block SIGINT and SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.system.conftest import wait_until

pytestmark = pytest.mark.system

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_TIMEOUT = 15.0


def blocked_signals(pid: int, tid: int) -> set[int]:
    status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
    return {sig for sig in STOP_SIGNALS if mask & (1 << (sig - 1))}


def threads(pid: int) -> list[tuple[int, str, set[int]]]:
    """(thread id, name, which of SIGINT/SIGTERM it blocks) of each thread of `pid`."""
    tasks = sorted(Path(f"/proc/{pid}/task").iterdir())
    return [(int(t.name), (t / "comm").read_text().strip(), blocked_signals(pid, int(t.name))) for t in tasks]


def worker_pids(cluster, proc) -> set[int]:
    from rq import Worker

    group = {p.pid for p in proc.group()}
    return {w.pid for w in Worker.all(queue=cluster.queue()) if w.pid in group}


@pytest.mark.parametrize("processes", [1, 2])
async def test_only_the_main_thread_of_a_worker_takes_stop_signals(cluster, processes):
    proc = cluster.worker(processes=processes)
    await wait_until(lambda: len(worker_pids(cluster, proc)) == processes, 20, "workers never registered", proc)
    pids = worker_pids(cluster, proc)

    def threads_started() -> bool:  # the main thread, RQ's pub/sub thread and the redrive thread
        return all(len(threads(pid)) >= 3 for pid in pids)

    await wait_until(threads_started, 10, "the worker threads never started", proc)
    for pid in pids:
        for tid, name, blocked in threads(pid):
            if tid == pid:
                assert blocked == set(), "the main thread must take SIGINT and SIGTERM"
            else:
                assert blocked == set(STOP_SIGNALS), (
                    f"thread {tid} ({name}) of worker {pid} can take SIGINT/SIGTERM away from the main thread"
                )


@pytest.mark.parametrize(
    ("processes", "sig"),
    [(1, signal.SIGINT), (2, signal.SIGINT), (2, signal.SIGTERM)],
    ids=["1-INT", "2-INT", "2-TERM"],
)
async def test_a_worker_stops_promptly_when_its_process_group_is_signalled(cluster, processes, sig):
    proc = cluster.worker(processes=processes)
    await wait_until(lambda: len(worker_pids(cluster, proc)) == processes, 20, "workers never registered", proc)
    await asyncio.sleep(0.5)  # let the redrive threads start too
    sent = time.monotonic()
    cluster.procs.signal(proc, sig)
    await wait_until(lambda: not proc.alive(), STOP_TIMEOUT, f"the worker ignored {sig.name}", proc)
    took = time.monotonic() - sent
    await wait_until(lambda: not proc.group(), 5, "the worker left processes behind", proc)
    assert proc.popen.returncode == 0, proc.tail()
    assert took < STOP_TIMEOUT


async def test_a_worker_killed_alone_leaves_no_process_behind(cluster, services):
    """RQ forks the scheduler with no parent-death check; ours asks the kernel to stop it with its worker
    (the OOM killer, or `kill -9` of one pid, kills the worker alone)."""
    # Its own prefix, so no scheduler lock left by an earlier test keeps it from starting its scheduler.
    proc = cluster.worker(REDIS_PREFIX=f"{services.prefix}sys-alone-{uuid.uuid4().hex[:6]}:")
    await wait_until(lambda: len(proc.group()) >= 2, 20, "the worker never started its scheduler", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.popen.wait(5)
    await wait_until(lambda: not proc.group(), 10, "processes of a worker outlived it", proc)
