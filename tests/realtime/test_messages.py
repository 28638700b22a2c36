"""Sending and receiving: receipts, fan-out to joined connections, idempotent resends, membership checks."""

from __future__ import annotations

import asyncio

import pytest

from tests.realtime.conftest import QUIET, WAIT
from tests.shapes import UNCHANGED_MESSAGE_FIELDS


@pytest.fixture
async def trio(node, rest, user_id):
    """alice (owner) and bob in a room, carol outside it."""
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await rest.create_room(alice, bob, name="Trio")
    return room, alice, bob, carol


async def test_a_send_is_acknowledged_with_a_receipt(node, trio):
    room, alice, _bob, _carol = trio
    a = await node.connect(alice)
    answer = await a.send(room, "hello", client_ref="ref-1")
    assert answer["ok"] is True and set(answer) == {"ok", "data"}
    receipt = answer["data"]
    assert receipt["status"] == "sent" and receipt["duplicate"] is False
    assert receipt["room_id"] == room and receipt["seq"] == 1 and receipt["client_ref"] == "ref-1"
    assert receipt["id"].isdigit() and receipt["created_at"].endswith("Z")


async def test_seqs_follow_the_order_in_which_one_connection_sent(node, trio):
    room, alice, _bob, _carol = trio
    a = await node.connect(alice)
    answers = [await a.fire("message:send", {"room_id": room, "content": f"m{i}"}) for i in range(20)]
    receipts = [(await asyncio.wait_for(answer, WAIT))["data"] for answer in answers]
    assert [r["seq"] for r in receipts] == list(range(1, 21))
    assert len({r["id"] for r in receipts}) == 20
    ids = [int(r["id"]) for r in receipts]
    assert ids == sorted(ids)  # ids are time-ordered too
    # Sequentially acknowledged sends count on: 21, 22, 23.
    assert [(await a.send(room, f"n{i}"))["data"]["seq"] for i in range(3)] == [21, 22, 23]


async def test_every_joined_connection_of_every_member_gets_a_message_once(node, trio):
    room, alice, bob, _carol = trio
    a1, a2 = await node.connect(alice, label="alice-1"), await node.connect(alice, label="alice-2")
    b1, b2 = await node.connect(bob, label="bob-joined"), await node.connect(bob, label="bob-not-joined")
    for client in (a1, a2, b1):
        await client.join(room)

    receipt = (await a1.send(room, "to everyone", client_ref="c-1"))["data"]
    for client in (a1, a2, b1):
        message = await client.wait_message(room, 1)
        assert message == {
            "id": receipt["id"],
            "room_id": room,
            "seq": 1,
            "sender_id": alice,
            "type": "text",
            "content": "to everyone",
            "client_ref": "c-1",
            "created_at": receipt["created_at"],
            **UNCHANGED_MESSAGE_FIELDS,
        }
    # A later message proves nothing else was on its way: delivery to a connection is in order.
    await b2.join(room)
    await a1.send(room, "second")
    for client in (a1, a2, b1, b2):
        await client.wait_message(room, 2)
    assert [a1.seqs(room), a2.seqs(room), b1.seqs(room), b2.seqs(room)] == [[1, 2], [1, 2], [1, 2], [2]]


async def test_a_connection_that_has_not_joined_gets_no_messages(node, trio):
    room, alice, bob, _carol = trio
    other = await node.rest.create_room(alice, bob, name="Other")
    a, b = await node.connect(alice), await node.connect(bob)
    await a.join(room)
    await b.join(other)  # bob follows another room only
    await a.send(room, "not for bob's socket")
    await a.join(other)
    await a.send(other, "for bob")
    await b.wait_message(other, 1)
    assert b.names() == ["session:ready", "message:new"]
    assert b.messages(room) == []


async def test_sending_does_not_require_having_joined(node, trio):
    room, alice, bob, _carol = trio
    a, b = await node.connect(alice), await node.connect(bob)
    await b.join(room)
    assert (await a.send(room, "fire and forget"))["data"]["seq"] == 1
    assert (await b.wait_message(room, 1))["content"] == "fire and forget"
    assert a.messages() == []


async def test_a_resend_with_the_same_client_ref_returns_the_first_receipt_and_delivers_nothing(node, trio):
    room, alice, bob, _carol = trio
    a, b = await node.connect(alice), await node.connect(bob)
    await a.join(room)
    await b.join(room)
    first = (await a.send(room, "once", client_ref="dup-1"))["data"]
    again = await a.send(room, "once", client_ref="dup-1")
    changed = await a.send(room, "a different text", client_ref="dup-1")
    for answer in (again, changed):
        assert answer["ok"] and answer["data"] == {**first, "duplicate": True}

    # The same client_ref from the user's other device is the same message too.
    a2 = await node.connect(alice, label="alice-2")
    assert (await a2.send(room, "once", client_ref="dup-1"))["data"] == {**first, "duplicate": True}

    assert (await a.send(room, "next", client_ref="dup-2"))["data"]["seq"] == 2
    await b.wait_message(room, 2)
    await a.wait_message(room, 2)
    assert [(m["seq"], m["content"]) for m in b.messages(room)] == [(1, "once"), (2, "next")]
    assert a.seqs(room) == [1, 2]
    history = await node.rest.history(bob, room)
    assert [(m["seq"], m["content"]) for m in history["messages"]] == [(1, "once"), (2, "next")]


async def test_client_refs_belong_to_their_sender(node, trio):
    room, alice, bob, _carol = trio
    a, b = await node.connect(alice), await node.connect(bob)
    first = (await a.send(room, "alice's", client_ref="shared"))["data"]
    other = (await b.send(room, "bob's", client_ref="shared"))["data"]
    assert other["duplicate"] is False and other["seq"] == first["seq"] + 1


async def test_the_same_client_ref_in_another_room_is_refused_and_stores_nothing(node, rest, trio):
    room, alice, bob, _carol = trio
    other = await rest.create_room(alice, bob, name="Other")
    a, b = await node.connect(alice), await node.connect(bob)
    await b.join(other)
    assert (await a.send(room, "first", client_ref="ref-x"))["ok"]
    answer = await a.send(other, "second", client_ref="ref-x")
    assert answer["ok"] is False and answer["status"] == "error" and answer["client_ref"] == "ref-x"
    assert answer["error"]["code"] == "duplicate_client_ref" and room in answer["error"]["message"]
    assert (await rest.history(bob, other))["last_seq"] == 0
    assert (await a.send(other, "third", client_ref="ref-y"))["data"]["seq"] == 1
    await b.wait_message(other, 1)
    assert b.seqs(other) == [1]


async def test_a_non_member_can_neither_join_nor_send_and_members_see_nothing(node, trio):
    room, alice, _bob, carol = trio
    a, c = await node.connect(alice), await node.connect(carol)
    await a.join(room)
    joined = await c.ack("room:join", {"room_id": room})
    assert joined == {"ok": False, "error": {"code": "not_member", "message": joined["error"]["message"]}}
    sent = await c.send(room, "let me in", client_ref="intruder-1")
    assert sent["ok"] is False and sent["error"]["code"] == "not_member"
    assert sent["status"] == "error" and sent["client_ref"] == "intruder-1"
    sync = await c.ack("sync", {"rooms": [{"room_id": room, "since_seq": 0}]})
    assert sync["ok"] and sync["data"]["rooms"][0]["error"]["code"] == "not_member"

    await a.send(room, "members only")
    await a.wait_message(room, 1)
    assert a.seqs(room) == [1]
    assert c.messages() == []
    assert (await node.rest.history(alice, room))["last_seq"] == 1


async def test_an_unknown_room_cannot_be_joined_or_sent_to(node, user_id):
    a = await node.connect(user_id("alice"))
    for room_id in ("999999999999", 999999999999, "no-such-room"):
        joined = await a.ack("room:join", {"room_id": room_id})
        assert joined["ok"] is False and joined["error"]["code"] == "room_not_found"
        sent = await a.send(room_id, "anyone?", client_ref="lost")
        assert sent["error"]["code"] == "room_not_found" and sent["client_ref"] == "lost"
        left = await a.ack("room:leave", {"room_id": room_id})
        assert left == {"ok": True, "data": {"room_id": str(room_id)}}


async def test_leaving_a_room_stops_its_delivery_to_that_connection_only(node, rest, trio):
    room, alice, bob, _carol = trio
    sentinel_room = await rest.create_room(alice, bob, name="Sentinel")
    a = await node.connect(alice)
    b, b2 = await node.connect(bob, label="bob-leaves"), await node.connect(bob, label="bob-stays")
    for client in (b, b2):
        await client.join(room)
        await client.join(sentinel_room)
    await a.send(room, "before")
    await b.wait_message(room, 1)

    assert await b.ack("room:leave", {"room_id": room}) == {"ok": True, "data": {"room_id": room}}
    await a.send(room, "after")
    await a.send(sentinel_room, "sentinel")
    # Both reach bob's other connection; the sentinel reaches this one, "after" does not.
    await b2.wait_message(room, 2)
    await b.wait_message(sentinel_room, 1)
    assert b.seqs(room) == [1] and b2.seqs(room) == [1, 2]

    # Leaving again is harmless; joining again resumes delivery.
    assert (await b.ack("room:leave", {"room_id": room}))["ok"]
    data = await b.join(room, since_seq=1)
    assert [m["content"] for m in data["messages"]] == ["after"]
    await a.send(room, "back")
    await b.wait_message(room, 3)
    assert b.seqs(room) == [1, 3]


async def test_joining_twice_does_not_deliver_twice(node, trio):
    room, alice, bob, _carol = trio
    a, b = await node.connect(alice), await node.connect(bob)
    await b.join(room)
    await b.join(room)
    await a.send(room, "one")
    await a.send(room, "two")
    await b.wait_message(room, 2)
    await asyncio.sleep(QUIET)
    assert b.seqs(room) == [1, 2]


async def test_messages_without_client_ref_are_never_deduplicated(node, trio):
    room, alice, _bob, _carol = trio
    a = await node.connect(alice)
    first, second = (await a.send(room, "same")), (await a.send(room, "same"))
    assert first["data"]["client_ref"] is None and second["data"]["client_ref"] is None
    assert [first["data"]["seq"], second["data"]["seq"]] == [1, 2]
    assert not first["data"]["duplicate"] and not second["data"]["duplicate"]


@pytest.mark.parametrize(
    ("content", "code"),
    [("", "content_empty"), ("   \n\t ", "content_empty"), ("nul\x00byte", "content_invalid")],
    ids=["empty", "blank", "nul"],
)
async def test_content_that_cannot_be_a_message_is_refused_and_stores_nothing(node, trio, content, code):
    room, alice, _bob, _carol = trio
    a = await node.connect(alice)
    answer = await a.send(room, content, client_ref="bad-content")
    assert answer["ok"] is False and answer["error"]["code"] == code
    assert answer["status"] == "error" and answer["client_ref"] == "bad-content"
    assert (await node.rest.history(alice, room))["last_seq"] == 0
    # The client_ref was not spent on the refused message.
    retry = (await a.send(room, "fine", client_ref="bad-content"))["data"]
    assert retry["duplicate"] is False and retry["seq"] == 1


async def test_unicode_content_arrives_unchanged(node, trio):
    room, alice, bob, _carol = trio
    a, b = await node.connect(alice), await node.connect(bob)
    await b.join(room)
    text = 'héllo 👋 — 日本語 \u200b line\nbreak "quotes" \\ </script>'
    assert (await a.send(room, text))["ok"]
    assert (await b.wait_message(room, 1))["content"] == text


async def test_direct_start_creates_the_direct_room_once_and_announces_it(node, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    a, b = await node.connect(alice), await node.connect(bob)
    started = await a.ack("direct:start", {"user_id": bob})
    assert started["ok"] and started["data"]["created"] is True
    room = started["data"]["room"]
    assert room["type"] == "direct" and room["name"] is None and room["owner_id"] is None
    assert room["peer"]["user_id"] == bob and room["member_count"] == 2
    for client in (a, b):
        added = await client.next("room:added")
        assert added["room"]["id"] == room["id"] and added["room"]["type"] == "direct"

    again = await b.ack("direct:start", {"user_id": alice})
    assert again["ok"] and again["data"]["created"] is False and again["data"]["room"]["id"] == room["id"]
    assert again["data"]["room"]["peer"]["user_id"] == alice

    await b.join(room["id"])
    # Seq 1 is the system message "Direct chat started"; the first message is seq 2.
    assert (await a.send(room["id"], "psst"))["data"]["seq"] == 2
    assert (await b.wait_message(room["id"], 2))["content"] == "psst"
    await asyncio.sleep(QUIET)
    assert len(a.all("room:added")) == 1 and len(b.all("room:added")) == 1


async def test_direct_start_with_an_invalid_user_id_is_refused(node, user_id):
    a = await node.connect(user_id("alice"))
    for bad in (" padded ", "tab\there"):
        answer = await a.ack("direct:start", {"user_id": bad})
        assert answer["ok"] is False and answer["error"]["code"] == "invalid_payload"


async def test_more_concurrent_sends_than_redis_connections_all_succeed(spawn, user_id):
    # A small pool makes the burst exceed it: sends must wait for a connection, not fail.
    node = await spawn(REDIS_POOL_SIZE=4)
    owner = user_id("owner")
    senders = [user_id("sender") for _ in range(12)]
    room_id = await node.rest.create_room(owner, *senders)
    clients = [await node.connect(sender) for sender in senders]
    acks = await asyncio.gather(
        *(client.send(room_id, f"burst {n}-{k}") for n, client in enumerate(clients) for k in range(5))
    )
    assert all(ack["ok"] for ack in acks), [ack for ack in acks if not ack["ok"]][:3]
    assert sorted(ack["data"]["seq"] for ack in acks) == list(range(1, 61))
