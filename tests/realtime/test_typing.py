"""Typing indicators: told to the other connections following the room, throttled, cleared on stop, on
expiry and on disconnect, and refused outside one's rooms."""

from __future__ import annotations

import asyncio

import pytest

from tests.realtime.conftest import QUIET, WAIT, eventually


def typing(client, user: str | None = None, room: str | None = None) -> list[dict]:
    """The typing:update events `client` received (about `user`, in `room`), in order."""
    return [
        update
        for update in client.all("typing:update")
        if (user is None or update["user_id"] == user) and (room is None or update["room_id"] == room)
    ]


async def wait_typing(client, user: str, room: str, count: int, timeout: float = WAIT) -> list[dict]:
    """Wait until `client` has `count` typing:update events of `user` in `room`; return them all."""
    await eventually(
        lambda: len(typing(client, user, room)) >= count, timeout, f"{count} typing:update of {user} at {client.label}"
    )
    return typing(client, user, room)


async def start(client, room: str) -> dict:
    return await client.ack("typing:start", {"room_id": room})


async def stop(client, room: str) -> dict:
    return await client.ack("typing:stop", {"room_id": room})


@pytest.fixture
def timeout(settings) -> float:
    """TYPING_TIMEOUT of the test settings (1.5 s)."""
    return settings.presence.typing_timeout


@pytest.fixture
async def trio(rest, user_id):
    """alice (owner), bob and carol in a room."""
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await rest.create_room(alice, bob, carol, name="Trio")
    return room, alice, bob, carol


async def test_start_and_stop_reach_the_other_followers_of_the_room_only(node, rest, trio, timeout):
    room, alice, bob, carol = trio
    other = await rest.create_room(alice, bob, name="Other")
    a1, a2 = await node.connect(alice, label="alice-1"), await node.connect(alice, label="alice-2")
    b = await node.connect(bob, label="bob")
    b_other = await node.connect(bob, label="bob-other-room")
    c = await node.connect(carol, label="carol-not-joined")
    for client in (a1, a2, b):
        await client.join(room)
    await b_other.join(other)

    assert await start(a1, room) == {"ok": True, "data": {"room_id": room, "typing": True, "announced": True}}
    [update] = await wait_typing(b, alice, room, 1)
    assert update == {"room_id": room, "user_id": alice, "typing": True, "expires_in": timeout}
    assert await stop(a1, room) == {"ok": True, "data": {"room_id": room, "typing": False, "announced": True}}
    _, stopped = await wait_typing(b, alice, room, 2)
    assert stopped == {"room_id": room, "user_id": alice, "typing": False, "expires_in": timeout}
    # Nothing left to stop: acknowledged, nobody told.
    assert await stop(a1, room) == {"ok": True, "data": {"room_id": room, "typing": False, "announced": False}}

    # Sentinels: bob typing in the room reaches alice's connections, alice typing in the other room reaches
    # bob's other connection. Each comes after everything above on its topic.
    assert (await start(b, room))["data"]["announced"]
    assert (await start(a2, other))["data"]["announced"]
    for client in (a1, a2):
        await wait_typing(client, bob, room, 1)
    await wait_typing(b_other, alice, other, 1)
    await asyncio.sleep(QUIET)
    assert typing(b, alice, room) == [update, stopped]
    assert typing(a1, alice) == [] and typing(a2, alice) == []  # never one's own
    assert typing(b_other, room=room) == []  # not following that room
    assert typing(c) == []  # a member who does not follow the room
    assert typing(b, room=other) == []


async def test_repeated_starts_are_acknowledged_but_told_once_per_half_timeout(node, trio, timeout):
    room, alice, bob, _carol = trio
    a, b = await node.connect(alice), await node.connect(bob)
    await b.join(room)
    loop = asyncio.get_running_loop()

    assert (await start(a, room))["data"]["announced"] is True
    announced_at = loop.time()
    for _ in range(5):
        answer = await start(a, room)
        assert answer == {"ok": True, "data": {"room_id": room, "typing": True, "announced": False}}
    assert loop.time() - announced_at < timeout / 2  # the repeats were inside the throttle window

    await asyncio.sleep(timeout / 2 + 0.05 - (loop.time() - announced_at))
    assert (await start(a, room))["data"]["announced"] is True
    first, second = await wait_typing(b, alice, room, 2)
    assert first["typing"] and second["typing"]
    assert (await start(a, room))["data"]["announced"] is False

    # A stop ends the throttle: the next start is told at once.
    assert (await stop(a, room))["data"]["announced"] is True
    assert (await start(a, room))["data"]["announced"] is True
    assert [u["typing"] for u in await wait_typing(b, alice, room, 4)] == [True, True, False, True]
    await asyncio.sleep(QUIET)
    assert len(typing(b, alice, room)) == 4


async def test_typing_not_refreshed_within_the_timeout_is_cleared(node, trio, timeout):
    room, alice, bob, _carol = trio
    a, b = await node.connect(alice), await node.connect(bob)
    await b.join(room)
    loop = asyncio.get_running_loop()

    assert (await start(a, room))["data"]["announced"] is True
    await wait_typing(b, alice, room, 1)
    await asyncio.sleep(timeout * 0.4)
    refreshed_at = loop.time()
    assert (await start(a, room))["data"]["announced"] is False  # a throttled repeat still refreshes

    _, cleared = await wait_typing(b, alice, room, 2, timeout=timeout + WAIT)
    elapsed = loop.time() - refreshed_at
    assert cleared == {"room_id": room, "user_id": alice, "typing": False, "expires_in": timeout}
    assert elapsed >= timeout, f"cleared {elapsed:.2f}s after the refresh, before the timeout"
    assert elapsed < timeout + 1.0, f"cleared only {elapsed:.2f}s after the refresh"
    # Cleared means gone: a stop has nothing to stop, and a start is told again.
    assert (await stop(a, room))["data"]["announced"] is False
    assert (await start(a, room))["data"]["announced"] is True
    assert [u["typing"] for u in await wait_typing(b, alice, room, 3)] == [True, False, True]


async def test_disconnecting_while_typing_clears_each_room_at_once(node, rest, trio, timeout):
    room, alice, bob, _carol = trio
    other = await rest.create_room(alice, bob, name="Other")
    a = await node.connect(alice, label="alice-typing")
    a_idle = await node.connect(alice, label="alice-idle")
    b = await node.connect(bob)
    for joined in (room, other):
        await b.join(joined)
        assert (await start(a, joined))["data"]["announced"] is True
        await wait_typing(b, alice, joined, 1)

    loop = asyncio.get_running_loop()
    closed_at = loop.time()
    await a.disconnect()
    for joined in (room, other):
        _, cleared = await wait_typing(b, alice, joined, 2)
        assert cleared == {"room_id": joined, "user_id": alice, "typing": False, "expires_in": timeout}
    assert loop.time() - closed_at < timeout / 2  # not the expiry: the disconnect
    await asyncio.sleep(QUIET)
    assert len(typing(b, alice)) == 4
    # alice's other connection never typed and is still here; it was not told of her own typing.
    assert typing(a_idle) == []
    assert (await stop(a_idle, room))["data"]["announced"] is False


async def test_typing_outside_ones_rooms_is_refused_and_tells_nobody(node, rest, trio, user_id):
    room, alice, bob, _carol = trio
    dave = user_id("dave")
    elsewhere = await rest.create_room(dave, name="Elsewhere")
    a, b, d = await node.connect(alice), await node.connect(bob), await node.connect(dave)
    await b.join(room)
    await d.join(elsewhere)

    for event in ("typing:start", "typing:stop"):
        answer = await d.ack(event, {"room_id": room})
        assert answer["ok"] is False and answer["error"]["code"] == "not_member", (event, answer)
        answer = await a.ack(event, {"room_id": elsewhere})
        assert answer["ok"] is False and answer["error"]["code"] == "not_member", (event, answer)
        for unknown in ("999999999999", 999999999999, "no-such-room"):
            answer = await a.ack(event, {"room_id": unknown})
            assert answer["ok"] is False and answer["error"]["code"] == "room_not_found", (event, unknown, answer)
        for payload in ({}, {"room_id": None}, {"room_id": ""}, {"room_id": ["x"]}, "room", None):
            answer = await a.ack(event, payload)
            assert answer["ok"] is False and answer["error"]["code"] == "invalid_payload", (event, payload, answer)

    # A member's typing afterwards reaches bob: everything refused before it told him nothing.
    assert (await start(a, room))["data"]["announced"] is True
    await wait_typing(b, alice, room, 1)
    await asyncio.sleep(QUIET)
    assert typing(b) == typing(b, alice, room) and len(typing(b)) == 1
    assert typing(d) == [] and typing(a) == []


async def test_a_former_member_can_no_longer_type_in_the_room(node, rest, trio):
    room, alice, bob, carol = trio
    b, c = await node.connect(bob), await node.connect(carol)
    await b.join(room)
    assert (await start(c, room))["data"]["announced"] is True
    await wait_typing(b, carol, room, 1)

    await rest.remove_member(alice, room, carol)
    await c.next("room:removed")
    answer = await start(c, room)
    assert answer["ok"] is False and answer["error"]["code"] == "not_member", answer
    # The indicator she left behind is still cleared for the others.
    await c.disconnect()
    _, cleared = await wait_typing(b, carol, room, 2)
    assert cleared["typing"] is False


async def test_typing_crosses_nodes_and_skips_the_typers_connections_everywhere(spawn, user_id):
    one, two = await spawn(), await spawn()
    alice, bob = user_id("alice"), user_id("bob")
    room = await one.rest.create_room(alice, bob)
    a_one, a_two = await one.connect(alice, label="alice@1"), await two.connect(alice, label="alice@2")
    b_two = await two.connect(bob, label="bob@2")
    for client in (a_one, a_two, b_two):
        await client.join(room)

    assert (await start(a_one, room))["data"]["announced"] is True
    assert [u["typing"] for u in await wait_typing(b_two, alice, room, 1)] == [True]
    assert (await stop(a_one, room))["data"]["announced"] is True
    assert [u["typing"] for u in await wait_typing(b_two, alice, room, 2)] == [True, False]
    assert (await start(b_two, room))["data"]["announced"] is True  # the sentinel, on the same topic
    for client in (a_one, a_two):
        await wait_typing(client, bob, room, 1)
    await asyncio.sleep(QUIET)
    assert typing(a_one, alice) == [] and typing(a_two, alice) == [] and typing(b_two, bob) == []
