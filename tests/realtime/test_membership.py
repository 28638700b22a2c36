"""Membership events: rooms gained and lost reach every connection of the user at once, the room's
followers hear who came and went, and a disabled user's connections are closed."""

from __future__ import annotations

import asyncio

from tests.realtime.conftest import QUIET, disable_user, eventually


async def test_a_removed_member_is_told_on_every_connection_and_stops_receiving_the_room(node, rest, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await rest.create_room(alice, bob, carol, name="Team")
    sentinel = await rest.create_room(alice, bob, name="Sentinel")
    a, c = await node.connect(alice), await node.connect(carol)
    b1, b2 = await node.connect(bob, label="bob-1"), await node.connect(bob, label="bob-2")
    for client in (a, c, b1, b2):
        await client.join(room)
    await b1.join(sentinel)
    await b2.join(sentinel)
    await a.send(room, "before")
    for client in (b1, b2, c):
        await client.wait_message(room, 1)

    await rest.remove_member(alice, room, bob)

    for client in (b1, b2):
        assert await client.next("room:removed") == {"room_id": room, "reason": "removed"}
    for client in (a, c):
        changed = await client.next("room:members_changed")
        assert changed == {"room_id": room, "added": [], "removed": [bob], "owner_id": alice}

    await a.send(room, "after")
    await a.send(sentinel, "sentinel")
    await c.wait_message(room, 2)
    for client in (b1, b2):
        await client.wait_message(sentinel, 1)  # delivered after "after" would have been
        assert client.seqs(room) == [1]
        assert client.all("room:members_changed") == []  # bob follows the room no more
        assert len(client.all("room:removed")) == 1

    rejoin = await b1.ack("room:join", {"room_id": room, "since_seq": 1})
    assert rejoin["ok"] is False and rejoin["error"]["code"] == "not_member"
    sent = await b2.send(room, "let me back", client_ref="back-1")
    assert sent["ok"] is False and sent["error"]["code"] == "not_member"
    await a.send(room, "still private")
    await c.wait_message(room, 3)
    assert b1.seqs(room) == [1] and b2.seqs(room) == [1]


async def test_a_member_who_leaves_is_told_with_reason_left(node, rest, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a, b = await node.connect(alice), await node.connect(bob)
    await a.join(room)
    await b.join(room)
    await rest.leave(bob, room)
    assert await b.next("room:removed") == {"room_id": room, "reason": "left"}
    assert await a.next("room:members_changed") == {"room_id": room, "added": [], "removed": [bob], "owner_id": alice}
    await a.send(room, "bye")
    await a.wait_message(room, 1)
    await asyncio.sleep(QUIET)
    assert b.messages() == []


async def test_an_owner_who_leaves_hands_the_room_on_and_followers_hear_the_new_owner(node, rest, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await rest.create_room(alice, bob, carol)
    b = await node.connect(bob)
    await b.join(room)
    await rest.leave(alice, room)
    changed = await b.next("room:members_changed")
    assert changed["removed"] == [alice] and changed["owner_id"] in (bob, carol)


async def test_added_members_get_room_added_and_followers_get_members_changed(node, rest, user_id):
    alice, bob, dave = user_id("alice"), user_id("bob"), user_id("dave")
    room = await rest.create_room(alice, bob, name="Growing")
    a, b = await node.connect(alice), await node.connect(bob)
    d1, d2 = await node.connect(dave, label="dave-1"), await node.connect(dave, label="dave-2")
    await a.join(room)
    await b.join(room)
    await a.send(room, "before dave")

    await rest.add_members(alice, room, dave)

    for client in (d1, d2):
        added = await client.next("room:added")
        assert added["room"]["id"] == room and added["room"]["name"] == "Growing"
        assert added["room"]["owner_id"] == alice and added["room"]["type"] == "group"
    for client in (a, b):
        changed = await client.next("room:members_changed")
        assert changed == {"room_id": room, "added": [dave], "removed": [], "owner_id": alice}

    # Dave can follow the room now, history included, and hears what comes next.
    data = await d1.join(room, since_seq=0)
    assert [m["content"] for m in data["messages"] if m["type"] != "system"] == ["before dave"]
    await a.send(room, "welcome")  # seq 3: seq 2 is the system message "alice added dave"
    assert (await d1.wait_message(room, 3))["content"] == "welcome"
    assert d2.messages() == []  # not joined

    # Adding someone already a member announces nothing (and adds no system message).
    await rest.add_members(alice, room, dave, bob)
    await a.send(room, "sentinel")
    await b.wait_message(room, 4)
    await d1.wait_message(room, 4)
    assert len(b.all("room:members_changed")) == 1 and len(d1.all("room:added")) == 1


async def test_creating_a_group_announces_it_to_every_connected_participant(node, rest, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    a, b, c = await node.connect(alice), await node.connect(bob), await node.connect(carol)
    room = await rest.create_room(alice, bob, name="Fresh")
    for client in (a, b):
        added = await client.next("room:added")
        assert added["room"]["id"] == room and added["room"]["name"] == "Fresh"
    await asyncio.sleep(QUIET)
    assert c.all("room:added") == []


async def test_disabling_a_user_closes_their_connections_after_an_error_and_spares_others(
    node, rest, settings, user_id
):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a = await node.connect(alice)
    b1, b2 = await node.connect(bob, label="bob-1"), await node.connect(bob, label="bob-2")
    await a.join(room)
    await b1.join(room)
    connections = node.hub.connection_count

    await disable_user(settings, bob)

    for client in (b1, b2):
        await client.wait_gone()
        errors = client.all("error")
        assert errors == [{"code": "user_disabled", "message": errors[0]["message"], "event": None}]
        assert client.received[-1][0] == "error"  # the error came just before the close
        assert not client.connected
    await eventually(lambda: node.hub.connection_count == connections - 2, what="bob's connections to go")

    assert a.connected
    assert (await a.send(room, "bob is gone"))["ok"]
    await a.wait_message(room, 1)
    assert a.all("error") == []
