"""`GET /ready`: can this node serve? Postgres, Redis, the queues and persistence, each checked with a short
timeout. `persistence` fails while acknowledged messages are not reaching Postgres (no live worker, or the
oldest waiting longer than PERSISTENCE_STALL_AFTER: app.ops.persistence); it makes the node unready only
with READY_REQUIRES_PERSISTENCE (web nodes still serve while workers are away, and every node would turn
unready at once), else it is reported only.

Checks run concurrently and never on the event loop's time: Redis through the asyncio client,
Postgres (Peewee is synchronous) on the node's database thread pool. A check that does not answer
within READY_TIMEOUT fails as timed out; a Postgres check still stuck in its thread is not started
again until it returns, so probes never take more than one of the pool's threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from rq.queue import Queue

from app.ops.persistence import PersistenceStalled
from app.state.keys import QUEUES, Keys

OK = "ok"
REASON_LENGTH = 300
Check = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Verdict:
    ready: bool
    checks: dict[str, str]  # check -> "ok" or "error: <reason>"

    def body(self) -> dict:
        return {"status": "ready" if self.ready else "unready", "checks": self.checks}


class Readiness:
    """`advisory` checks are run and reported like the others, but do not make the node unready."""

    def __init__(self, checks: dict[str, Check], timeout: float, advisory: frozenset[str] = frozenset()) -> None:
        self._checks = checks
        self._timeout = timeout
        self._advisory = advisory

    async def check(self) -> Verdict:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[name]) for name in names))
        checks = dict(zip(names, results, strict=True))
        return Verdict(all(result == OK for name, result in checks.items() if name not in self._advisory), checks)

    async def _run(self, check: Check) -> str:
        try:
            await asyncio.wait_for(check(), self._timeout)
        except TimeoutError:
            return f"error: no answer within {self._timeout:g}s"
        except Exception as exc:
            return "error: " + " ".join(_describe(exc).split())[:REASON_LENGTH]
        return OK


def _describe(exc: BaseException) -> str:
    """`Type: message`, followed by the cause's when there is one (the driver's own words)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    cause = exc.__cause__
    return f"{text} ({_describe(cause)})" if cause is not None else text


class SingleFlight:
    """Runs `start()` (which returns an awaitable, e.g. a thread-pool future) at most once at a time:
    callers arriving while it runs share its outcome. A caller that gives up (a timeout) leaves it
    running, and the next caller waits for that run rather than starting another."""

    def __init__(self, start: Callable[[], Awaitable[object]]) -> None:
        self._start = start
        self._running: asyncio.Future | None = None

    async def __call__(self) -> object:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._start())
            self._running.add_done_callback(_retrieve)  # its caller may have stopped waiting
        return await asyncio.shield(self._running)


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def postgres_check(run_in_pool: Callable[[Callable[[], object]], Awaitable[object]], db) -> Check:
    """`SELECT 1` on a connection of the node's pool (`AsyncDatabase.run`)."""
    return SingleFlight(lambda: run_in_pool(lambda: db.execute_sql("SELECT 1").fetchone()))


def redis_check(connection: aioredis.Redis) -> Check:
    async def ping() -> None:
        if not await connection.ping():
            raise RuntimeError("PING was not answered with PONG")

    return ping


def queues_check(connection: aioredis.Redis, keys: Keys) -> Check:
    """The RQ queues' keys are readable: each is a list, or absent (an empty queue)."""

    async def read() -> None:
        names = [Queue.redis_queue_namespace_prefix + keys.queue(name) for name in QUEUES]
        async with connection.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.type(name)
            kinds = await pipe.execute()
        wrong = [name for name, kind in zip(names, kinds, strict=True) if kind not in (b"list", b"none")]
        if wrong:
            raise RuntimeError(f"not a queue (a list): {', '.join(wrong)}")

    return read


def persistence_check(read_state: Callable[[], Awaitable[object]]) -> Check:
    """Fails with PersistenceStalled (and its reason) while persistence is stalled. `read_state` is the
    metrics' Redis read (app.ops.metrics), whose `stalled` says why, or is empty."""

    async def check() -> None:
        state = await read_state()
        if state.stalled:
            raise PersistenceStalled(state.stalled)

    return check
