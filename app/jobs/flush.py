"""The web node's side of the flush: enqueue one flush job when Redis says none is queued."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class FlushRequester:
    """FlushQueue: `request()` enqueues a flush job from a thread (RQ's client is synchronous) and
    returns at once. The caller asks only when its Redis script set `flush:requested`, so jobs do not
    pile up; if enqueueing fails, the flag expires and the next change asks again."""

    def __init__(self, enqueue: Callable[[], object]) -> None:
        self._enqueue = enqueue
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flush-enqueue")
        self._tasks: set[asyncio.Future] = set()

    def request(self) -> None:
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._enqueue)
        self._tasks.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future) -> None:
        self._tasks.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("could not enqueue a presence flush: %s", future.exception())

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=True)
