"""`GET /ready`: 200 with every check `ok`; 503 naming the check that failed and why, within a bounded
time, when Postgres or Redis is gone (a closed port) or hangs; `/health` stays 200 throughout. Real
nodes on real Postgres and Redis, cut off through a TCP proxy (tests/ops/proxy.py)."""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
import pytest

from app.rest import routes
from app.rest.openapi import build_openapi
from app.web import VERSION
from tests.api.conftest import Contract
from tests.system.conftest import free_port

READY_TIMEOUT = 0.5
BOUND = READY_TIMEOUT + 1.5  # the whole answer, with every check failing at once
EVERY_CHECK = {"postgres", "redis", "queues", "persistence", "node"}


@pytest.fixture(scope="module")
def documented() -> Contract:
    return Contract(build_openapi(routes.ROUTES, VERSION))


async def ready(base_url: str) -> tuple[int, dict, float]:
    """(status, body, seconds it took)."""
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(base_url.rstrip("/") + "/ready") as response:
            body = await response.json()
            return response.status, body, time.monotonic() - started


async def health(base_url: str) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(base_url.rstrip("/") + "/health") as response:
            return response.status


async def until_ready(base_url: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body, _took = await ready(base_url)
        if status == 200:
            return body
        assert time.monotonic() < deadline, f"never ready again: {body}"
        await asyncio.sleep(0.1)


def check_documented(documented: Contract, status: int, body: dict) -> None:
    documented.validate(documented.schema_for("/ready", "GET", status), body)


async def test_a_node_with_its_services_up_is_ready(spawn, prefix, documented):
    node = await spawn(REDIS_PREFIX=prefix)  # its own outbox: empty, so persistence is not stalled
    status, body, _took = await ready(node.url)
    assert (status, body) == (200, {"status": "ready", "checks": dict.fromkeys(EVERY_CHECK, "ok")})
    check_documented(documented, status, body)
    assert await health(node.url) == 200


async def test_redis_gone_or_hanging_makes_the_node_unready_with_the_reason(spawn, proxy, services, prefix, documented):
    cut_off, redis_url = proxy(services.redis_url)
    node = await spawn(REDIS_URL=redis_url, REDIS_PREFIX=prefix, READY_TIMEOUT=READY_TIMEOUT)
    assert (await ready(node.url))[0] == 200
    try:
        # A closed port: refused at once.
        cut_off.cut()
        status, body, took = await ready(node.url)
        assert status == 503 and body["status"] == "unready", body
        check_documented(documented, status, body)
        assert body["checks"]["postgres"] == "ok" and body["checks"]["node"] == "ok"
        for check in ("redis", "queues"):  # the pooled connections were dropped...
            assert body["checks"][check].startswith("error: ConnectionError"), body
        assert took < BOUND, took
        status, body, took = await ready(node.url)  # ...and new ones are refused
        assert status == 503 and "Error 111 connecting" in body["checks"]["redis"], body  # ECONNREFUSED
        assert took < BOUND, took
        assert await health(node.url) == 200  # alive all the same

        cut_off.restore()
        await until_ready(node.url)

        # A Redis that accepts but never answers: each check gives up after READY_TIMEOUT.
        cut_off.stall()
        status, body, took = await ready(node.url)
        assert status == 503, body
        assert body["checks"]["redis"] == f"error: no answer within {READY_TIMEOUT:g}s", body
        assert body["checks"]["postgres"] == "ok"
        assert took < BOUND, took
    finally:
        cut_off.restore()
    await until_ready(node.url)


@pytest.mark.system
async def test_postgres_gone_makes_a_node_process_unready_with_the_reason(procs, proxy, services, prefix, documented):
    """A separate process: a node's models are bound to its database process-wide (Peewee), so one pointed
    at a proxy must not be built inside the test session."""
    cut_off, database_url = proxy(services.database_url)
    port = free_port()
    env = services.env(DATABASE_URL=database_url, REDIS_PREFIX=prefix, READY_TIMEOUT=READY_TIMEOUT)
    env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    proc = procs.start("web", ["web", "--port", str(port)], env, port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            if await health(proc.url) == 200:
                break
        except aiohttp.ClientError:
            pass
        assert proc.alive() and time.monotonic() < deadline, proc.tail()
        await asyncio.sleep(0.1)
    assert (await ready(proc.url))[0] == 200
    try:
        cut_off.cut()
        status, body, took = await ready(proc.url)
        assert status == 503 and body["status"] == "unready", body
        check_documented(documented, status, body)
        assert body["checks"]["redis"] == "ok" and body["checks"]["queues"] == "ok", body
        reason = body["checks"]["postgres"]
        assert reason.startswith("error: ChatError: the database is unavailable"), reason
        assert "OperationalError" in reason, reason  # the driver's own words follow
        assert took < BOUND, took
        status, body, took = await ready(proc.url)  # a new connection meets the closed port
        assert status == 503 and "Connection refused" in body["checks"]["postgres"], body
        assert took < BOUND, took
        assert await health(proc.url) == 200
    finally:
        cut_off.restore()
    await until_ready(proc.url)
