"""Presence across real processes: a web node SIGKILLed with a user connected, whose contacts on another
node must see them go offline through the sweep, within PRESENCE_TTL + PRESENCE_SWEEP_INTERVAL; and
last-seen times reaching Postgres through the presence queue, however many heartbeats arrive, in one job.

Why the kill's bounds: a node pushes its connections' expiry to now + TTL every TTL/3 (app/web.py
`_housekeeping`), so when it dies the last push was at most TTL/3 earlier and the connection expires
between TTL - TTL/3 and TTL after the kill. Every live node sweeps every PRESENCE_SWEEP_INTERVAL, so the
offline announcement comes at most one interval after the expiry. Nothing else can announce it: the
killed node never runs its disconnect handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

import pytest

from app.chat.model import parse_time
from app.jobs.queues import open_queue
from app.state.keys import PRESENCE_QUEUE
from tests.conftest import RecordingClient
from tests.system.conftest import create_room, wait_until

pytestmark = pytest.mark.system

DELIVERY_MARGIN = 1.0  # seconds for the sweep's publish to reach the client, on a loaded machine
HEARTBEATS = 50


def presence_of(client: RecordingClient, user: str, status: str | None = None) -> list[dict]:
    return [
        data
        for name, data in client.received
        if name == "presence:update" and data["user_id"] == user and (status is None or data["status"] == status)
    ]


async def first_arrival(client: RecordingClient, user: str, status: str, timeout: float) -> tuple[dict, float]:
    """The first presence:update of `user` with `status`, and the monotonic time it was seen (10 ms steps)."""
    deadline = time.monotonic() + timeout
    while True:
        found = presence_of(client, user, status)
        if found:
            return found[0], time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"no presence:update {user} {status} within {timeout}s: {client.received}")
        await asyncio.sleep(0.01)


async def get_presence(http, node, token: str, user: str) -> dict:
    async with http.get(f"{node.url}/api/v1/users/{user}/presence", headers={"Authorization": f"Bearer {token}"}) as r:
        body = await r.json()
        assert r.status == 200, body
        return body


async def test_a_user_on_a_killed_node_goes_offline_for_contacts_on_another_node_within_ttl_plus_sweep(
    cluster, http, sio, sys_token, user_id
):
    env = cluster.env()
    ttl, sweep_interval = float(env["PRESENCE_TTL"]), float(env["PRESENCE_SWEEP_INTERVAL"])
    refresh = ttl / 3
    node_a, node_b = cluster.web("web-a"), cluster.web("web-b")
    alice, bob = user_id("alice"), user_id("bob")
    await create_room(http, node_b, sys_token(alice), "Presence", [bob])

    watcher = await sio(node_b, bob)
    await sio(node_a, alice)
    online, _ = await first_arrival(watcher, alice, "online", timeout=10)
    assert online["last_seen_at"] is not None

    # Alive past her first expiry: node A's keep-alive pushes it forward, so nobody sweeps her.
    await asyncio.sleep(ttl + 1)
    assert presence_of(watcher, alice, "offline") == [], watcher.received
    assert (await get_presence(http, node_b, sys_token(bob), alice))["status"] == "online"

    killed_wall = datetime.now(UTC)
    killed = time.monotonic()
    cluster.procs.kill(node_a)
    upper = ttl + sweep_interval + DELIVERY_MARGIN
    lower = ttl - refresh - 0.5  # the expiry was pushed at most TTL/3 (plus scheduling) before the kill
    offline, arrived = await first_arrival(watcher, alice, "offline", timeout=upper + 10)
    delay = arrived - killed
    print(f"alice offline for bob {delay:.3f}s after node A was killed (bounds {lower:.2f}..{upper:.2f}s)")
    assert lower <= delay <= upper, f"offline {delay:.2f}s after the kill; expected between {lower} and {upper}"

    # The last-seen time is when node A last pushed her expiry: at most TTL/3 (and a little) before the kill.
    last_seen = parse_time(offline["last_seen_at"])
    assert (killed_wall - last_seen).total_seconds() <= refresh + 0.5, (killed_wall, last_seen)
    assert last_seen <= killed_wall
    # Announced once, though every node sweeps; and the REST view agrees.
    await asyncio.sleep(2 * sweep_interval + 0.5)
    assert presence_of(watcher, alice, "offline") == [offline], watcher.received
    assert await get_presence(http, node_b, sys_token(bob), alice) == offline
    assert not cluster.redis.exists(cluster.keys.presence_conns(alice))


async def test_heartbeats_enqueue_one_flush_job_that_writes_last_seen_and_the_device_to_postgres(
    cluster, http, sys_token, user_id, pg
):
    node = cluster.nodes[0]
    queue = open_queue(cluster.redis, cluster.keys, PRESENCE_QUEUE)
    alice, bob = user_id("alice"), user_id("bob")
    await create_room(http, node, sys_token(alice), "Seen", [bob])

    async def drain() -> None:
        proc = cluster.procs.start("flush", ["worker", "--burst", "--queues", PRESENCE_QUEUE], cluster.env())
        await wait_until(lambda: not proc.alive(), 60, "the burst worker never finished", proc)
        assert proc.popen.returncode == 0, proc.tail()

    await drain()  # whatever earlier tests left queued; the flush job clears the flag
    # An earlier test on this prefix may have lost its flush job (its worker was killed mid-job): its
    # request flag then stands until FLUSH_FLAG_TTL. Start from no request, as a fresh deployment does.
    cluster.redis.delete(cluster.keys.flush_requested)
    assert queue.count == 0
    assert pg("SELECT last_seen_at FROM users WHERE id = %s", (alice,)) == [(None,)]

    client = RecordingClient()
    try:
        auth = {"token": sys_token(alice), "device_unique_id": "phone-7", "preferred_language": "pt-BR"}
        await client.connect(node.url, auth=auth, transports=["websocket"], wait_timeout=10)
        await client.next("session:ready", timeout=10)
        seen_jobs: set[str] = set()
        lengths = []
        for _ in range(HEARTBEATS):
            sent = datetime.now(UTC)
            ack = await client.ack("presence:heartbeat", {}, timeout=10)
            acked = datetime.now(UTC)
            assert ack["ok"] and ack["data"]["status"] == "online", ack
            ids = queue.job_ids
            lengths.append(len(ids))
            seen_jobs.update(ids)
        # The enqueue runs on a thread of the web node: let it land.
        await wait_until(lambda: queue.count >= 1, 10, "no flush job was enqueued")
        seen_jobs.update(queue.job_ids)
        assert max(lengths) <= 1 and queue.count == 1, lengths
        assert len(seen_jobs) == 1, f"{HEARTBEATS} heartbeats and a connect enqueued {len(seen_jobs)} jobs"
        assert pg("SELECT last_seen_at FROM users WHERE id = %s", (alice,)) == [(None,)]  # not yet flushed

        await drain()
        assert queue.count == 0
        [(stored,)] = pg("SELECT last_seen_at FROM users WHERE id = %s", (alice,))
        assert stored is not None
        # The last heartbeat's time (ms, stored by the node between our send and its ack).
        tolerance = 0.05
        assert (sent - stored).total_seconds() <= tolerance and (stored - acked).total_seconds() <= tolerance, (
            sent,
            stored,
            acked,
        )
        devices = pg("SELECT device_id, preferred_language, last_seen_at FROM devices WHERE user_id = %s", (alice,))
        assert [(d, lang) for d, lang, _ in devices] == [("phone-7", "pt-BR")]
        assert pg("SELECT preferred_language FROM users WHERE id = %s", (alice,)) == [("pt-BR",)]

        # Another round of activity after the flush asks for one job again, and last_seen moves on.
        await asyncio.sleep(0.05)
        for _ in range(5):
            await client.ack("presence:heartbeat", {}, timeout=10)
        await wait_until(lambda: queue.count == 1, 10, "activity after a flush enqueued no new job")
        await drain()
        [(later,)] = pg("SELECT last_seen_at FROM users WHERE id = %s", (alice,))
        assert later > stored
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 5)
