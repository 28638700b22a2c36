"""The graceful stop of a web node (SIGTERM or SIGINT), within SHUTDOWN_TIMEOUT.

aiohttp's `run_app` closes the listening socket first, so no new connection arrives; then it calls
the application's `on_shutdown` handlers, where `drain_node` runs:

1. the hub refuses new sessions in every dialect (a keep-alive HTTP connection could still ask),
   sends every session its dialect's notice (Socket.IO: `server:shutdown {reason, reconnect_in_ms}`)
   and closes it so that clients reconnect (elsewhere, through the load balancer) by themselves:
   Socket.IO at the Engine.IO level, raw WebSockets with close code 1012 (service restart);
2. the persistence batcher enqueues what it holds at once. Every acknowledged message is already in
   the Redis outbox (the append script put it there before the acknowledgement); this only spares
   it the wait for the outbox redrive (REDRIVE_AFTER).

Then aiohttp waits up to SHUTDOWN_TIMEOUT for requests still running, and the application's cleanup
closes the batcher (enqueueing anything submitted meanwhile), the bus, Redis and Postgres.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

log = logging.getLogger(__name__)


class Sessions(Protocol):
    connection_count: int

    async def drain(self, reconnect_spread_ms: int, close_within: float) -> int: ...


class Batcher(Protocol):
    async def flush(self) -> None: ...


async def drain_node(sessions: Sessions, batcher: Batcher, budget: float, reconnect_spread_ms: int) -> None:
    """Tell and close every connection, then enqueue the pending batch; `budget` seconds at most."""
    started = time.monotonic()
    log.info("stopping: telling %d connections to reconnect elsewhere", sessions.connection_count)
    told = await sessions.drain(reconnect_spread_ms, close_within=budget * 0.8)
    left = max(0.1, budget - (time.monotonic() - started))
    try:
        await asyncio.wait_for(asyncio.shield(batcher.flush()), left)
    except TimeoutError:
        log.warning("stopping: the pending batch was not enqueued within %.1fs; the outbox redrive will", budget)
    except Exception:
        log.exception("stopping: enqueueing the pending batch failed; the outbox redrive will")
    log.info("stopping: %d connections told and closed in %.2fs", told, time.monotonic() - started)
