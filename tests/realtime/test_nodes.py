"""Several web nodes on one Redis and one Postgres: delivery, membership and disabling cross nodes, and a
node follows a topic on the bus only while one of its connections needs it."""

from __future__ import annotations

import asyncio

from app.chat import events
from app.web import SERVICES
from tests.realtime.conftest import QUIET, WAIT, disable_user, eventually


async def test_a_message_sent_on_one_node_reaches_members_on_every_node_once(spawn, user_id):
    one, two = await spawn(), await spawn()
    alice, bob = user_id("alice"), user_id("bob")
    room = await one.rest.create_room(alice, bob)
    a_one, a_two = await one.connect(alice, label="alice@1"), await two.connect(alice, label="alice@2")
    b_two = await two.connect(bob, label="bob@2")
    for client in (a_one, a_two, b_two):
        await client.join(room)

    for i in range(1, 11):
        sender = a_one if i % 2 else b_two
        assert (await sender.send(room, f"m{i}"))["data"]["seq"] == i
    for client in (a_one, a_two, b_two):
        await client.wait_message(room, 10)
    await asyncio.sleep(QUIET)
    for client in (a_one, a_two, b_two):
        assert client.seqs(room) == list(range(1, 11)), client.label


async def test_a_join_on_one_node_during_sends_on_another_misses_nothing(spawn, user_id):
    one, two = await spawn(), await spawn()
    alice, bob = user_id("alice"), user_id("bob")
    room = await one.rest.create_room(alice, bob)
    a = await one.connect(alice)
    b = await two.connect(bob)
    pending = []
    join = None
    for i in range(80):
        pending.append(await a.fire("message:send", {"room_id": room, "content": str(i)}))
        if i == 10:
            join = await b.fire("room:join", {"room_id": room, "since_seq": 0})
    assert all(answer["ok"] for answer in await asyncio.wait_for(asyncio.gather(*pending), WAIT))
    answer = await asyncio.wait_for(join, WAIT)
    caught_up = [m["seq"] for m in answer["data"]["messages"]]
    if answer["data"]["last_seq"] < 80:
        await b.wait_message(room, 80)
    assert caught_up + b.seqs(room) == list(range(1, 81))


async def test_a_member_removed_on_one_node_is_evicted_on_another(spawn, user_id):
    one, two = await spawn(), await spawn()
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await one.rest.create_room(alice, bob, carol)
    a = await one.connect(alice)
    b = await two.connect(bob)
    c = await two.connect(carol)
    for client in (a, b, c):
        await client.join(room)
    assert (await b.send(room, "warm the membership cache on node two"))["ok"]

    await one.rest.remove_member(alice, room, bob)
    assert await b.next("room:removed") == {"room_id": room, "reason": "removed"}
    # Node two dropped its cached member list before telling bob.
    refused = await b.send(room, "still here?")
    assert refused["ok"] is False and refused["error"]["code"] == "not_member"
    await a.send(room, "without bob")
    await c.wait_message(room, 2)
    await asyncio.sleep(QUIET)
    assert b.seqs(room) == [1]


async def test_disabling_a_user_closes_their_connections_on_every_node(spawn, settings, user_id):
    one, two = await spawn(), await spawn()
    dave = user_id("dave")
    d_one, d_two = await one.connect(dave, label="dave@1"), await two.connect(dave, label="dave@2")
    await disable_user(settings, dave)
    for client in (d_one, d_two):
        await client.wait_gone()
        assert [e["code"] for e in client.all("error")] == ["user_disabled"]


async def test_a_node_follows_a_topic_only_while_a_connection_there_needs_it(node, rest, user_id):
    bus = node.app[SERVICES].bus
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await rest.create_room(alice, bob)
    other = await rest.create_room(alice, bob)
    foreign = await rest.create_room(carol)
    topic, other_topic = events.room_topic(room), events.room_topic(other)
    a1, a2 = await node.connect(alice, label="alice-1"), await node.connect(alice, label="alice-2")
    b = await node.connect(bob)
    assert bus.is_subscribed(events.user_topic(alice)) and bus.is_subscribed(events.user_topic(bob))
    assert not bus.is_subscribed(topic)

    await a1.join(room)
    await a1.join(room)  # twice: still one interest
    await a2.join(room)
    failed = await b.ack("sync", {"rooms": [{"room_id": foreign}, {"room_id": other}]})
    assert [r["ok"] for r in failed["data"]["rooms"]] == [False, True]
    assert bus.is_subscribed(topic) and bus.is_subscribed(other_topic)
    assert not bus.is_subscribed(events.room_topic(foreign))

    await a1.ack("room:leave", {"room_id": room})
    assert bus.is_subscribed(topic)  # alice-2 still follows it
    await a2.disconnect()
    await eventually(lambda: not bus.is_subscribed(topic), WAIT, "the room topic to be left")
    assert bus.is_subscribed(events.user_topic(alice))  # alice-1 is still here

    await rest.remove_member(alice, other, bob)
    await b.next("room:removed")
    await eventually(lambda: not bus.is_subscribed(other_topic), WAIT, "the evicted room's topic to be left")

    await a1.disconnect()
    await b.disconnect()
    await eventually(
        lambda: not bus.is_subscribed(events.user_topic(alice)) and not bus.is_subscribed(events.user_topic(bob)),
        WAIT,
        "the user topics to be left",
    )
