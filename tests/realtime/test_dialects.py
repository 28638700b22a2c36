"""One room, every dialect: a message sent in any dialect reaches the room's members in every other, each in
its own shape, with one id and one seq, persisted once; and dialect frames cross web nodes like any event.

Clients: python-socketio for the canonical protocol; npm `ws` for seed 003 (`/ws/<username>/`, frames keyed
by `type`) and seed 004 (`/ws/{user_id}`, frames keyed by `event`). Users are named by their id, which is
also their username (their tokens carry it)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("node_clients")


async def conversation(node, node_clients, user: str, peer: str, name: str | None = None):
    """`user`'s seed-003 socket on the conversation with `peer`, after its online_user_list."""
    token = node.token(user, username=user)
    ws = await node_clients.open(node.ws(f"/ws/{peer}/?token={token}"), name=name or f"{user}-003")
    await ws.opened()
    await ws.next(type="online_user_list")
    return ws


async def user_socket(node, node_clients, user: str, name: str | None = None):
    """`user`'s seed-004 socket."""
    ws = await node_clients.open(node.ws(f"/ws/{user}?token={node.token(user, username=user)}"), name=name)
    await ws.opened()
    return ws


async def signed_in(node, node_clients, *users: str) -> None:
    """Give each user their username, as their first connection with a token carrying it does."""
    for user in users:
        ws = await user_socket(node, node_clients, user, name=f"{user}-sign-in")
        await ws.close()
        await ws.closed()


async def test_a_canonical_message_reaches_003_and_004_clients_each_in_its_own_shape(node, node_clients, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    await signed_in(node, node_clients, alice, bob)
    canonical = await node.connect(alice)
    started = await canonical.ack("direct:start", {"user_id": bob})
    room = started["data"]["room"]["id"]
    await canonical.join(room)
    django = await conversation(node, node_clients, bob, alice)
    fastapi = await user_socket(node, node_clients, bob, name="bob-004")

    ack = await canonical.send(room, "hello from socket.io", client_ref="x-1")
    assert ack["ok"], ack
    receipt = ack["data"]
    live = await canonical.wait_message(room, receipt["seq"])
    assert live["id"] == receipt["id"]
    assert await django.next(type="chat_message", message="hello from socket.io") == {
        "type": "chat_message",
        "message": "hello from socket.io",
        "multimedia_url": "",
        "date_added": receipt["created_at"],
        "from_user": {"username": alice},
        "room": room,
    }
    assert await fastapi.next(event="new_message", messageId=receipt["id"]) == {
        "event": "new_message",
        "conversationId": room,
        "messageId": receipt["id"],
        "senderId": alice,
        "content": "hello from socket.io",
        "messageType": "text",
        "timestamp": receipt["created_at"],
    }


async def test_a_003_message_reaches_canonical_and_004_clients_with_one_id_and_is_stored_once(
    node, node_clients, user_id, drain, pg
):
    alice, bob = user_id("alice"), user_id("bob")
    await signed_in(node, node_clients, alice, bob)
    django = await conversation(node, node_clients, bob, alice)
    canonical = await node.connect(alice)
    room = (await canonical.ack("direct:start", {"user_id": bob}))["data"]["room"]["id"]
    joined = await canonical.join(room)
    fastapi = await user_socket(node, node_clients, alice, name="alice-004")

    await django.send(
        {
            "type": "chat_message",
            "message": "hello from django",
            "multimedia_url": "",
            "file_identifier": "",
            "multimedia_url_expiration": "",
            "room": alice,
        }
    )
    echoed = await django.next(type="chat_message", message="hello from django")
    assert (echoed["from_user"], echoed["room"]) == ({"username": bob}, room)
    live = await canonical.wait_message(room, joined["last_seq"] + 1)
    assert (live["content"], live["sender_id"], live["room_id"]) == ("hello from django", bob, room)
    assert live["created_at"] == echoed["date_added"]
    frame = await fastapi.next(event="new_message", conversationId=room)
    assert (frame["messageId"], frame["senderId"], frame["content"]) == (live["id"], bob, "hello from django")

    await drain()
    rows = pg(
        "select id::text, seq from messages where room_id = %s and content = %s", (int(room), "hello from django")
    )
    assert rows == [(live["id"], live["seq"])]


async def test_dialect_frames_cross_web_nodes(spawn, node_clients, user_id):
    first, second = await spawn(), await spawn()
    alice, bob = user_id("alice"), user_id("bob")
    await signed_in(first, node_clients, alice, bob)
    at_first = await conversation(first, node_clients, alice, bob)
    at_second = await conversation(second, node_clients, bob, alice)
    bob_004 = await user_socket(second, node_clients, bob, name="bob-004")
    assert await at_first.next(type="user_join") == {"type": "user_join", "user": bob}

    await at_first.send(
        {
            "type": "chat_message",
            "message": "across nodes",
            "multimedia_url": "",
            "file_identifier": "",
            "multimedia_url_expiration": "",
            "room": bob,
        }
    )
    crossed = await at_second.next(type="chat_message", message="across nodes")
    assert crossed["from_user"] == {"username": alice}
    assert (await bob_004.next(event="new_message", content="across nodes"))["senderId"] == alice

    await bob_004.send({"event": "status_change", "status": "busy"})
    await bob_004.next(event="status_change_ack")
    alice_004 = await user_socket(first, node_clients, alice, name="alice-004")
    await alice_004.send({"event": "typing", "conversationId": crossed["room"]})
    assert await bob_004.next(event="typing") == {"event": "typing", "conversationId": crossed["room"], "userId": alice}

    await at_second.close()
    assert await at_first.next(type="user_leave") == {"type": "user_leave", "user": bob}
