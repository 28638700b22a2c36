"""Seed 004's dialect (`/ws/{user_id}?token=…`, frames keyed by `event`), driven by npm `ws` clients written
the way the document's example uses `WebSocket`: open with the token in the query string, `send` JSON
text, read `event.data` as JSON, look at the close code."""

from __future__ import annotations

import pytest

from tests.realtime.conftest import disable_user, eventually

pytestmark = pytest.mark.usefixtures("node_clients")


async def open_user(node, node_clients, user: str, token: str | None = None, name: str | None = None):
    """A 004 client of `user`, open (the example's `new WebSocket(wsUrl)` and `onopen`)."""
    token = node.token(user) if token is None else token
    ws = await node_clients.open(node.ws(f"/ws/{user}?token={token}"), name=name or user)
    await ws.opened()
    return ws


async def test_each_refusal_is_an_accepted_socket_closed_with_its_code_after_an_error_frame(
    node, node_clients, settings, user_id
):
    alice, bob, mallory = user_id("alice"), user_id("bob"), user_id("mallory")
    await node.rest.call("GET", "/api/v1/me", mallory)  # known, then disabled
    await disable_user(settings, mallory)
    connections = node.hub.connection_count
    cases = {
        "no token": (node.ws(f"/ws/{alice}"), 4001, "auth_required"),
        "garbage token": (node.ws(f"/ws/{alice}?token=not-a-jwt"), 4001, "invalid_token"),
        "expired token": (node.ws(f"/ws/{alice}?token={node.token(alice, ttl=-60)}"), 4001, "token_expired"),
        "someone else's token": (node.ws(f"/ws/{alice}?token={node.token(bob)}"), 4002, "user_mismatch"),
        "disabled user": (node.ws(f"/ws/{mallory}?token={node.token(mallory)}"), 4003, "user_disabled"),
    }
    for label, (url, code, error) in cases.items():
        ws = await node_clients.open(url, name=label.replace(" ", "-"))
        await ws.opened()  # accepted first: a browser would see only 1006 for an HTTP error
        frame = await ws.next(event="error")
        assert frame["code"] == error and frame["message"], (label, frame)
        closed_code, reason = await ws.closed()
        assert closed_code == code, (label, closed_code, reason)
        assert reason, label
    assert node.hub.connection_count == connections  # refused sessions leave nothing behind


async def test_nothing_is_sent_on_connect_and_heartbeats_are_acknowledged(node, node_clients, user_id):
    bob = user_id("bob")
    ws = await open_user(node, node_clients, bob)
    await ws.quiet(0.3)  # "Nothing is sent unprompted on connect"
    for _ in range(3):
        await ws.send({"event": "heartbeat"})
        assert await ws.next(event="heartbeat_ack") == {"event": "heartbeat_ack"}
    status, presence = await node.rest.call("GET", f"/api/v1/users/{bob}/presence", bob)
    assert (status, presence["status"]) == (200, "online")


async def test_a_status_change_is_acknowledged_and_people_sharing_a_room_see_it_in_their_own_dialect(
    node, node_clients, rest, user_id
):
    alice, bob, stranger = user_id("alice"), user_id("bob"), user_id("stranger")
    await rest.create_room(alice, bob)
    watcher = await open_user(node, node_clients, alice)
    canonical = await node.connect(alice)
    outsider = await open_user(node, node_clients, stranger)
    ws = await open_user(node, node_clients, bob)
    assert await watcher.next(event="user_status_change", userId=bob) == {
        "event": "user_status_change",
        "userId": bob,
        "status": "available",  # online, as this dialect names it
    }

    await ws.send({"event": "status_change", "status": "away"})
    assert await ws.next(event="status_change_ack") == {"event": "status_change_ack", "status": "away"}
    assert (await watcher.next(event="user_status_change", userId=bob))["status"] == "away"
    await eventually(
        lambda: (
            {"user_id": bob, "status": "away"}.items() <= next(iter(canonical.all("presence:update")[-1:]), {}).items()
        ),
        what="the canonical client to see bob away",
    )
    await ws.send({"event": "status_change", "status": "available"})
    assert await ws.next(event="status_change_ack") == {"event": "status_change_ack", "status": "available"}
    assert (await watcher.next(event="user_status_change", userId=bob))["status"] == "available"
    await ws.send({"event": "status_change", "status": "sleeping"})
    refused = await ws.next(event="error")
    assert refused["code"] == "unknown_status"
    await outsider.quiet(0.3, event="user_status_change", userId=bob)  # shares no room with bob


async def test_new_messages_of_every_conversation_arrive_without_a_join(node, node_clients, rest, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    first = await rest.create_room(alice, bob, name="first")
    second = await rest.create_room(carol, bob, name="second")
    ws = await open_user(node, node_clients, bob)
    later = await rest.create_room(alice, bob, name="created after bob connected")
    sender = await node.connect(alice)
    other = await node.connect(carol)

    sent = {}
    for client, room in ((sender, first), (other, second)):
        ack = await client.send(room, f"hello in {room}", client_ref=f"ref-{room}")
        assert ack["ok"], ack
        sent[room] = ack["data"]

    await eventually(lambda: any(later in s.rooms for s in node.hub.topics.sessions_of(bob)), what="the new room")
    ack = await sender.send(later, "and in the new room")
    sent[later] = ack["data"]
    for room, receipt in sent.items():
        frame = await ws.next(event="new_message", conversationId=room)
        assert frame == {
            "event": "new_message",
            "conversationId": room,
            "messageId": receipt["id"],
            "senderId": alice if room != second else carol,
            "content": f"hello in {room}" if room != later else "and in the new room",
            "messageType": "text",
            "timestamp": receipt["created_at"],
        }


async def test_typing_and_read_receipts_reach_the_other_members_only(node, node_clients, rest, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a = await open_user(node, node_clients, alice)
    b = await open_user(node, node_clients, bob)
    canonical = await node.connect(alice)
    await canonical.join(room)

    await b.send({"event": "typing", "conversationId": room})
    assert await a.next(event="typing") == {"event": "typing", "conversationId": room, "userId": bob}
    typing = await canonical.next("typing:update")
    assert (typing["user_id"], typing["typing"]) == (bob, True)
    await b.quiet(0.3, event="typing")  # never to the typer's own connections

    one = await rest.send(alice, room, "one")
    first, second = one["id"], (await rest.send(alice, room, "two"))["id"]
    await b.next(event="new_message", messageId=second)
    await b.send({"event": "message_read", "conversationId": room, "messageId": first})
    assert await a.next(event="message_read") == {
        "event": "message_read",
        "conversationId": room,
        "messageId": first,
        "userId": bob,
    }
    receipt = await canonical.next("receipt:read")
    assert (receipt["user_id"], receipt["read_seq"], receipt["message_id"]) == (bob, one["seq"], first)
    status, unread = await rest.call("GET", "/api/v1/me/unread", bob)
    assert status == 200
    assert {r["room_id"]: r["unread_count"] for r in unread["rooms"]}[room] == 1  # read up to "one", not "two"


async def test_bad_frames_are_answered_with_an_error_and_the_connection_and_the_room_are_untouched(
    node, node_clients, rest, user_id
):
    alice, bob, stranger = user_id("alice"), user_id("bob"), user_id("stranger")
    room = await rest.create_room(alice, bob)
    foreign = await rest.create_room(alice, stranger)
    before = await rest.history(alice, room)
    ws = await open_user(node, node_clients, bob)

    await ws.send_text("{not json")
    assert (await ws.next(event="error"))["code"] == "invalid_payload"
    await ws.send_text("[1, 2, 3]")
    assert (await ws.next(event="error"))["code"] == "invalid_payload"
    await ws.send({"event": "launch_rockets"})
    unknown = await ws.next(event="error")
    assert (unknown["code"], unknown["message"]) == ("unknown_event", "Unknown event: launch_rockets")
    await ws.send({"conversationId": room})
    assert (await ws.next(event="error"))["code"] == "unknown_event"
    await ws.send({"event": "typing"})
    missing = await ws.next(event="error")
    assert (missing["code"], missing["message"]) == ("invalid_payload", "conversationId is required")
    await ws.send({"event": "typing", "conversationId": {"nested": True}})
    wrong = await ws.next(event="error")
    assert wrong["code"] == "invalid_payload" and "conversationId" in wrong["message"]
    assert wrong["conversationId"] == {"nested": True}  # echoed as the client wrote it
    await ws.send({"event": "typing", "conversationId": int(foreign)})
    not_member = await ws.next(event="error")
    assert (not_member["code"], not_member["conversationId"]) == ("not_member", int(foreign))
    await ws.send({"event": "message_read", "conversationId": room, "messageId": "123"})
    assert (await ws.next(event="error"))["code"] == "message_not_found"
    await ws.send({"event": "status_change", "status": 7})
    assert (await ws.next(event="error"))["code"] == "invalid_payload"
    await ws.send_binary(b"\x00\x01binary")
    assert (await ws.next(event="error"))["code"] == "invalid_payload"

    await ws.send({"event": "heartbeat"})
    await ws.next(event="heartbeat_ack")  # still open and serving
    assert ws.is_open
    assert await rest.history(alice, room) == before  # nothing stored


async def test_a_frame_over_the_limit_closes_with_1009_and_the_node_keeps_serving(spawn, node_clients, user_id):
    node = await spawn(MAX_FRAME_BYTES=4096)
    bob = user_id("bob")
    ws = await open_user(node, node_clients, bob)
    await ws.send({"event": "heartbeat", "padding": "x" * 10_000})
    code, _reason = await ws.closed()
    assert code == 1009
    again = await open_user(node, node_clients, bob, name="again")
    await again.send({"event": "heartbeat"})
    await again.next(event="heartbeat_ack")


async def test_a_disabled_user_is_told_and_closed_with_4003(node, node_clients, settings, user_id):
    bob = user_id("bob")
    ws = await open_user(node, node_clients, bob)
    await disable_user(settings, bob)
    assert (await ws.next(event="error"))["code"] == "user_disabled"
    assert (await ws.closed())[0] == 4003
