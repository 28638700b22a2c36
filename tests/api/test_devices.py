"""GET /api/v1/me/devices end to end: real Socket.IO clients connect with `device_unique_id` and
`preferred_language`, a real worker (`run.py worker --burst`) runs the presence flush, and the REST route
shows what it wrote: one's own devices only, most recently seen first.

Every reply is checked against the OpenAPI document by the `api` helper.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import pytest

from app.web import SERVICES
from tests.api.conftest import WIRE_TIME, Api
from tests.conftest import RecordingClient

Connect = Callable[..., Awaitable[RecordingClient]]


@pytest.fixture
async def connect(server, token) -> AsyncIterator[Connect]:
    """connect(user, **auth) -> a real Socket.IO client signed in as `user` with those `auth` fields beside the
    token (or `query`, a query string), after `session:ready`. Disconnected when the test ends."""
    clients: list[RecordingClient] = []

    async def open_client(user: str, query: str = "", **auth: object) -> RecordingClient:
        client = RecordingClient()
        clients.append(client)
        url = str(server.make_url("/")) + query
        await client.connect(url, auth={"token": token(user), **auth}, transports=["websocket"], wait_timeout=5)
        await client.next("session:ready")
        return client

    yield open_client
    for client in clients:
        with contextlib.suppress(Exception):
            await client.disconnect()


async def flushed(api: Api, drain, timeout: float = 5.0) -> None:
    """What the node's connections marked for the flush is in Postgres: the presence flush job the node asked
    for (on a thread) is enqueued, then a real worker runs it."""
    flush = api.app[SERVICES].flush
    flush.request()  # a flag an earlier test left (for FLUSH_FLAG_TTL) would otherwise hold the job back
    deadline = time.monotonic() + timeout
    while flush._tasks:
        assert time.monotonic() < deadline, "the node did not enqueue its flush job within the timeout"
        await asyncio.sleep(0.01)
    await drain()


async def devices(api: Api, user: str) -> list[dict]:
    reply = await api.get("/api/v1/me/devices", user)
    assert reply.status == 200, reply
    assert set(reply.body) == {"devices"}, reply
    for device in reply.body["devices"]:
        assert WIRE_TIME.match(device["first_seen_at"]) and WIRE_TIME.match(device["last_seen_at"]), device
        assert device["first_seen_at"] <= device["last_seen_at"], device
    return reply.body["devices"]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_connected_device_and_its_language_are_listed_once_the_presence_flush_has_run(
    api, connect, drain, user_id
):
    alice = user_id("alice")
    await connect(alice, device_unique_id="phone-1", preferred_language="pt-BR")
    await flushed(api, drain)
    [phone] = await devices(api, alice)
    assert {k: phone[k] for k in ("device_id", "preferred_language")} == {
        "device_id": "phone-1",
        "preferred_language": "pt-BR",
    }
    assert phone["first_seen_at"] == phone["last_seen_at"]  # one connection, one flush


async def test_a_second_device_is_listed_first_and_a_reconnection_moves_only_last_seen(api, connect, drain, user_id):
    alice = user_id("alice")
    await connect(alice, device_unique_id="phone-1", preferred_language="pt-BR")
    await flushed(api, drain)
    # The query string works as well as `auth` (the way some clients send them).
    await connect(alice, query="?device_unique_id=laptop-2&preferred_language=en_GB")
    await flushed(api, drain)
    listed = await devices(api, alice)
    assert [(d["device_id"], d["preferred_language"]) for d in listed] == [("laptop-2", "en_GB"), ("phone-1", "pt-BR")]
    laptop, phone = listed
    assert when(laptop["last_seen_at"]) > when(phone["last_seen_at"])

    # The phone connects again, naming no language: it comes first, its language and first time kept.
    await connect(alice, device_unique_id="phone-1")
    await flushed(api, drain)
    again = await devices(api, alice)
    assert [(d["device_id"], d["preferred_language"]) for d in again] == [("phone-1", "pt-BR"), ("laptop-2", "en_GB")]
    assert again[0]["first_seen_at"] == phone["first_seen_at"]
    assert when(again[0]["last_seen_at"]) > when(laptop["last_seen_at"])
    assert again[1] == laptop


async def test_another_users_devices_are_not_shown(api, connect, drain, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    await api.create_group(alice, "Shared", [bob])  # sharing a room shows nobody's devices either
    await connect(alice, device_unique_id="alice-phone", preferred_language="fr")
    await connect(bob, device_unique_id="bob-tablet", preferred_language="de-AT")
    await flushed(api, drain)
    assert [d["device_id"] for d in await devices(api, alice)] == ["alice-phone"]
    assert [(d["device_id"], d["preferred_language"]) for d in await devices(api, bob)] == [("bob-tablet", "de-AT")]


async def test_no_devices_is_an_empty_list(api, connect, drain, user_id):
    never, bare = user_id("never"), user_id("bare")
    assert await devices(api, never) == []  # never connected
    await connect(bare)  # connected without naming a device: nothing to record
    await flushed(api, drain)
    assert await devices(api, bare) == []


async def test_the_route_needs_a_token(api):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        reply = await api.get("/api/v1/me/devices", headers=headers)
        assert reply.status == 401, reply
        assert reply.code in ("auth_required", "invalid_token"), reply
