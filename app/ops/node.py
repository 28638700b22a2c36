"""The operations side of a web node, wired once by `app/web.py`: readiness, metrics, graceful stop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from app.ops.metrics import NodeMetrics, RedisState
from app.ops.readiness import Readiness, persistence_check, postgres_check, queues_check, redis_check
from app.ops.shutdown import drain_node

SCRAPE_TIMEOUT = 2.0  # seconds the Redis reads of one scrape may take


@dataclass(frozen=True)
class Ops:
    readiness: Readiness
    metrics: NodeMetrics


OPS = web.AppKey("ops", Ops)


def setup(app: web.Application, services: Any) -> None:
    """Mount readiness and metrics (served by app.rest.ops) and the graceful stop on `app`, from the
    node's `Services` (app.web): its hub of real-time sessions, database pool, asyncio Redis client, keys,
    batcher, settings."""
    settings = services.settings
    hub = services.hub

    async def node() -> None:
        if hub.draining:
            raise RuntimeError("this node is stopping")

    queue = settings.queue
    metrics = NodeMetrics(
        hub.stats,
        lambda: hub.draining,
        RedisState(services.redis, services.keys, queue.redrive_after, queue.persistence_stall_after),
        SCRAPE_TIMEOUT,
    )
    readiness = Readiness(
        {
            "postgres": postgres_check(services.db.run, services.db.db),
            "redis": redis_check(services.redis),
            "queues": queues_check(services.redis, services.keys),
            "persistence": persistence_check(metrics.read_state),
            "node": node,
        },
        settings.server.ready_timeout,
        advisory=frozenset() if settings.server.ready_requires_persistence else frozenset({"persistence"}),
    )
    app[OPS] = Ops(readiness, metrics)

    async def drain(_app: web.Application) -> None:
        server = settings.server
        await drain_node(hub, services.batcher, server.shutdown_timeout, server.reconnect_spread_ms)

    app.on_shutdown.append(drain)
