"""Read cursors and unread counts: `room:read` (and its REST twin) moves a member's cursor forward only,
the room's other followers get `receipt:read`, every connection of the reader (on any node) gets
`unread:update`, and `session:ready` carries the counts after a reconnect."""

from __future__ import annotations

import asyncio

from tests.realtime.conftest import QUIET, WAIT

UNKNOWN_ROOM = "987654321012345"


async def sent(client, room_id: str, count: int, prefix: str = "m") -> int:
    """Send `count` messages; return the last seq."""
    seq = 0
    for i in range(count):
        answer = await client.send(room_id, f"{prefix}{i}")
        assert answer["ok"], answer
        seq = answer["data"]["seq"]
    return seq


async def read(client, room_id: str, seq: int | None = None) -> dict:
    payload: dict = {"room_id": room_id}
    if seq is not None:
        payload["seq"] = seq
    answer = await client.ack("room:read", payload)
    assert answer["ok"], answer
    return answer["data"]


async def unread_of(rest, user: str) -> dict:
    status, body = await rest.call("GET", "/api/v1/me/unread", user)
    assert status == 200, body
    return body


def rooms_of(ready: dict) -> dict[str, int]:
    """room_id -> unread_count, from a `session:ready` payload."""
    return {room["id"]: room["unread_count"] for room in ready["rooms"]}


async def test_the_cursor_only_moves_forward_and_the_counts_follow_it(node, rest, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a = await node.connect(alice)
    assert await sent(a, room, 5) == 5
    b = await node.connect(bob)
    ready = b.all("session:ready")[0]
    assert ready["total_unread"] == 5
    assert rooms_of(ready)[room] == 5
    # Sending moved the sender's own cursor: alice has nothing unread.
    unread = await unread_of(rest, alice)
    assert unread["total_unread"] == 0, unread

    assert await read(b, room, 3) == {"room_id": room, "read_seq": 3, "unread_count": 2, "total_unread": 2}
    assert await b.next("unread:update") == {"room_id": room, "read_seq": 3, "unread_count": 2, "total_unread": 2}
    # Reading an earlier seq (or the same) keeps the cursor where it is, and tells no one.
    assert await read(b, room, 1) == {"room_id": room, "read_seq": 3, "unread_count": 2, "total_unread": 2}
    assert await read(b, room, 3) == {"room_id": room, "read_seq": 3, "unread_count": 2, "total_unread": 2}
    assert await read(b, room, 0) == {"room_id": room, "read_seq": 3, "unread_count": 2, "total_unread": 2}
    await asyncio.sleep(QUIET)
    assert len(b.all("unread:update")) == 1

    unread = await unread_of(rest, bob)
    assert unread["total_unread"] == 2
    assert [r for r in unread["rooms"] if r["room_id"] == room] == [
        {"room_id": room, "last_seq": 5, "read_seq": 3, "unread_count": 2}
    ]

    # No seq: up to the room's last message.
    assert await read(b, room) == {"room_id": room, "read_seq": 5, "unread_count": 0, "total_unread": 0}
    assert await sent(a, room, 2) == 7
    unread = await unread_of(rest, bob)
    assert unread["total_unread"] == 2 and unread["rooms"][0]["read_seq"] == 5, unread
    # The REST twin moves the same cursor, forward only.
    status, state = await rest.call("POST", f"/api/v1/rooms/{room}/read", bob, {"seq": 6})
    assert status == 200 and state == {"room_id": room, "read_seq": 6, "unread_count": 1, "total_unread": 1}, state
    status, state = await rest.call("POST", f"/api/v1/rooms/{room}/read", bob, {"seq": 2})
    assert status == 200 and state == {"room_id": room, "read_seq": 6, "unread_count": 1, "total_unread": 1}, state
    status, state = await rest.call("POST", f"/api/v1/rooms/{room}/read", bob, {})
    assert status == 200 and state == {"room_id": room, "read_seq": 7, "unread_count": 0, "total_unread": 0}, state


async def test_a_receipt_reaches_the_rooms_other_followers_and_none_of_the_readers_connections(node, rest, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await rest.create_room(alice, bob, carol)
    a = await node.connect(alice)
    b1, b2 = await node.connect(bob, label="bob-1"), await node.connect(bob, label="bob-2")
    c = await node.connect(carol)  # a member connected, but not following the room
    for client in (a, b1, b2):
        await client.join(room)
    assert await sent(a, room, 4) == 4
    await b2.wait_message(room, 4)

    assert (await read(b1, room, 2))["read_seq"] == 2
    receipt = await a.next("receipt:read")
    assert receipt["room_id"] == room and receipt["user_id"] == bob and receipt["read_seq"] == 2
    assert receipt["read_at"].endswith("Z")
    for client in (b1, b2):
        update = await client.next("unread:update")
        assert update == {"room_id": room, "read_seq": 2, "unread_count": 2, "total_unread": 2}, client.label

    # A read that does not move the cursor tells no one; the next one that does is seen once.
    await read(b2, room, 1)
    assert (await read(b2, room, 4))["read_seq"] == 4
    await a.wait_for_count("receipt:read", 2)
    for client in (b1, b2):
        await client.wait_for_count("unread:update", 2)
    await asyncio.sleep(QUIET)
    assert [(r["user_id"], r["read_seq"]) for r in a.all("receipt:read")] == [(bob, 2), (bob, 4)]
    for client in (b1, b2):
        assert client.all("receipt:read") == [], client.label
        assert [(u["read_seq"], u["unread_count"], u["total_unread"]) for u in client.all("unread:update")] == [
            (2, 2, 2),
            (4, 0, 0),
        ], client.label
    assert c.all("receipt:read") == []  # carol does not follow the room
    assert a.all("unread:update") == []  # alice did not read


async def test_a_read_over_rest_is_announced_like_one_over_the_socket(node, rest, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a, b = await node.connect(alice), await node.connect(bob)
    for client in (a, b):
        await client.join(room)
    await sent(a, room, 3)
    status, state = await rest.call("POST", f"/api/v1/rooms/{room}/read", bob, {"seq": 2})
    assert status == 200 and state["read_seq"] == 2, state
    receipt = await a.next("receipt:read")
    assert (receipt["user_id"], receipt["read_seq"]) == (bob, 2)
    assert await b.next("unread:update") == {"room_id": room, "read_seq": 2, "unread_count": 1, "total_unread": 1}
    await asyncio.sleep(QUIET)
    assert b.all("receipt:read") == []


async def test_unread_counts_stay_right_across_two_devices_and_several_rooms(node, rest, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    one = await rest.create_room(alice, bob, name="one")
    two = await rest.create_room(alice, bob, name="two")
    a = await node.connect(alice)
    await sent(a, one, 3)
    await sent(a, two, 2)
    phone, laptop = await node.connect(bob, label="phone"), await node.connect(bob, label="laptop")
    for client in (phone, laptop):
        ready = client.all("session:ready")[0]
        assert ready["total_unread"] == 5, client.label
        assert {r: n for r, n in rooms_of(ready).items() if r in (one, two)} == {one: 3, two: 2}

    # Neither device follows the rooms: unread:update still reaches both.
    assert await read(phone, one) == {"room_id": one, "read_seq": 3, "unread_count": 0, "total_unread": 2}
    for client in (phone, laptop):
        assert await client.next("unread:update") == {
            "room_id": one,
            "read_seq": 3,
            "unread_count": 0,
            "total_unread": 2,
        }, client.label
    assert await read(laptop, two, 1) == {"room_id": two, "read_seq": 1, "unread_count": 1, "total_unread": 1}
    for client in (phone, laptop):
        updates = await client.wait_for_count("unread:update", 2)
        assert updates[1] == {"room_id": two, "read_seq": 1, "unread_count": 1, "total_unread": 1}, client.label

    # A new message makes the count grow again; the other device reading it brings it back.
    await sent(a, one, 1)
    unread = await unread_of(rest, bob)
    assert unread["total_unread"] == 2, unread
    assert {r["room_id"]: r["unread_count"] for r in unread["rooms"]} == {one: 1, two: 1}
    assert await read(laptop, one) == {"room_id": one, "read_seq": 4, "unread_count": 0, "total_unread": 1}
    await phone.wait_for_count("unread:update", 3)
    assert phone.all("unread:update")[2] == {"room_id": one, "read_seq": 4, "unread_count": 0, "total_unread": 1}


async def test_reads_and_receipts_cross_nodes(spawn, user_id):
    one, two = await spawn(), await spawn()
    alice, bob = user_id("alice"), user_id("bob")
    room = await one.rest.create_room(alice, bob)
    a = await two.connect(alice, label="alice@2")
    b1, b2 = await one.connect(bob, label="bob@1"), await two.connect(bob, label="bob@2")
    for client in (a, b1, b2):
        await client.join(room)
    await sent(a, room, 3)
    await b1.wait_message(room, 3)

    assert await read(b1, room, 2) == {"room_id": room, "read_seq": 2, "unread_count": 1, "total_unread": 1}
    receipt = await a.next("receipt:read")
    assert (receipt["user_id"], receipt["read_seq"]) == (bob, 2)
    for client in (b1, b2):
        assert await client.next("unread:update") == {
            "room_id": room,
            "read_seq": 2,
            "unread_count": 1,
            "total_unread": 1,
        }, client.label
    # The reader's device on the other node does not get a receipt of its own read either.
    await asyncio.sleep(QUIET)
    assert b1.all("receipt:read") == [] and b2.all("receipt:read") == []

    # The cursor is shared: the other node sees it, and does not go back.
    assert await read(b2, room, 1) == {"room_id": room, "read_seq": 2, "unread_count": 1, "total_unread": 1}
    assert await read(b2, room) == {"room_id": room, "read_seq": 3, "unread_count": 0, "total_unread": 0}
    await b1.wait_for_count("unread:update", 2)
    assert b1.all("unread:update")[1]["read_seq"] == 3


async def test_session_ready_carries_the_unread_counts_after_a_reconnect(spawn, user_id):
    one, two = await spawn(), await spawn()
    alice, bob = user_id("alice"), user_id("bob")
    room = await one.rest.create_room(alice, bob)
    other = await one.rest.create_room(alice, bob, name="other")
    a = await one.connect(alice)
    await sent(a, room, 4)
    b = await one.connect(bob)
    assert b.all("session:ready")[0]["total_unread"] == 4
    await read(b, room, 3)
    await b.disconnect()

    await sent(a, room, 2)  # seqs 5, 6
    await sent(a, other, 1)
    again = await two.connect(bob, label="bob again")  # on the other node
    ready = again.all("session:ready")[0]
    assert ready["total_unread"] == 4
    assert {r: n for r, n in rooms_of(ready).items() if r in (room, other)} == {room: 3, other: 1}
    assert sum(rooms_of(ready).values()) == ready["total_unread"]

    await read(again, other)
    await again.disconnect()
    last = await one.connect(bob, label="bob last")
    ready = last.all("session:ready")[0]
    assert ready["total_unread"] == 3
    assert rooms_of(ready)[other] == 0


async def test_reading_past_the_end_outside_the_room_or_an_unknown_room_is_refused(node, rest, user_id):
    alice, bob, mallory = user_id("alice"), user_id("bob"), user_id("mallory")
    room = await rest.create_room(alice, bob)
    a, b, m = await node.connect(alice), await node.connect(bob), await node.connect(mallory)
    await a.join(room)
    await sent(a, room, 2)

    beyond = await b.ack("room:read", {"room_id": room, "seq": 3})
    assert beyond["ok"] is False and beyond["error"]["code"] == "read_beyond_last", beyond
    assert beyond["error"]["details"]["last_seq"] == 2
    outsider = await m.ack("room:read", {"room_id": room, "seq": 1})
    assert outsider["ok"] is False and outsider["error"]["code"] == "not_member", outsider
    outsider = await m.ack("room:read", {"room_id": room})
    assert outsider["ok"] is False and outsider["error"]["code"] == "not_member", outsider
    unknown = await b.ack("room:read", {"room_id": UNKNOWN_ROOM})
    assert unknown["ok"] is False and unknown["error"]["code"] == "room_not_found", unknown
    negative = await b.ack("room:read", {"room_id": room, "seq": -1})
    assert negative["ok"] is False and negative["error"]["code"] == "invalid_payload", negative

    status, body = await rest.call("POST", f"/api/v1/rooms/{room}/read", bob, {"seq": 99})
    assert status == 409 and body["code"] == "read_beyond_last" and body["details"]["last_seq"] == 2, body
    status, body = await rest.call("POST", f"/api/v1/rooms/{room}/read", mallory, {})
    assert status == 403 and body["code"] == "not_member", body
    status, body = await rest.call("POST", f"/api/v1/rooms/{UNKNOWN_ROOM}/read", bob, {})
    assert status == 404 and body["code"] == "room_not_found", body

    # None of the refusals moved anything or told anyone.
    await asyncio.sleep(QUIET)
    assert a.all("receipt:read") == [] and b.all("unread:update") == []
    unread = await unread_of(rest, bob)
    assert unread["total_unread"] == 2, unread
    # The refused reader can still read what exists.
    assert await read(b, room, 2) == {"room_id": room, "read_seq": 2, "unread_count": 0, "total_unread": 0}
    assert (await asyncio.wait_for(a.next("receipt:read"), WAIT))["read_seq"] == 2
