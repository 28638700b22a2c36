"""Group commit: appended messages leave a node in batches, one RQ job per batch.

`submit` only appends to a list. A flusher task waits up to the linger
time for the batch to fill (or until it is full), then enqueues it from a
thread (RQ's client is synchronous). A batch that fails to enqueue is
logged and left to the outbox redrive: its messages are already safe in
the outbox, and a worker will enqueue them again after REDRIVE_AFTER.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from app.state.keys import change_field, outbox_field

log = logging.getLogger(__name__)

Enqueue = Callable[[Sequence[str]], object]


class PersistBatcher:
    def __init__(self, enqueue: Enqueue, batch_max: int, linger_ms: int) -> None:
        self._enqueue = enqueue
        self._max = batch_max
        self._linger = linger_ms / 1000
        self._pending: list[str] = []
        self._full = asyncio.Event()
        self._flusher: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enqueue")

    def submit(self, room_id: str, seq: int) -> None:
        self._add(outbox_field(room_id, seq))

    def submit_change(self, message_id: str) -> None:
        """Edits and deletes travel in the same jobs as messages: one job applies both, messages first."""
        self._add(change_field(message_id))

    def _add(self, field: str) -> None:
        self._pending.append(field)
        if len(self._pending) >= self._max:
            self._full.set()
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_all(), name="persist-batcher")

    async def _flush_all(self) -> None:
        try:
            while self._pending:
                if len(self._pending) < self._max and self._linger:
                    try:
                        await asyncio.wait_for(self._full.wait(), self._linger)
                    except TimeoutError:
                        pass
                batch, self._pending = self._pending[: self._max], self._pending[self._max :]
                if len(self._pending) < self._max:
                    self._full.clear()
                await self._send(batch)
        finally:
            self._flusher = None

    async def _send(self, batch: list[str]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._enqueue, batch)
        except Exception:
            log.exception("could not enqueue %d messages; the outbox redrive will", len(batch))

    async def flush(self) -> None:
        """Enqueue what is pending now, and from now on without lingering (the node is stopping).
        Messages submitted later still go out, at once; `close` waits for those too."""
        self._linger = 0
        self._full.set()
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def close(self) -> None:
        """Enqueue what is pending without lingering, then stop."""
        await self.flush()
        self._executor.shutdown(wait=True)
