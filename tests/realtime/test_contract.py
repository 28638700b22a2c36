"""The AsyncAPI document: served, complete, and true to what the server really sends and accepts.

Every client of the tier is checked against the document when its test ends (see conftest.py); the
tour below makes sure one test meets every documented acknowledgement, success and failure, and
every documented server event, all produced by the real server."""

from __future__ import annotations

import re
from types import SimpleNamespace

from app.chat import events
from app.chat.errors import ChatError, Code
from app.gateways.websocket.contract import CHANNELS
from app.gateways.websocket.django_chat import (
    ConversationDialect,
    ConversationNotificationsDialect,
    NotificationsDialect,
)
from app.gateways.websocket.fastapi_chat import EVENTS, FastapiDialect
from app.realtime.operations import OPERATIONS
from app.web import SERVICES, VERSION
from tests.realtime.conftest import contract_violations, disable_user
from tests.shapes import UNCHANGED_MESSAGE_FIELDS

RESERVED = {"connect", "disconnect", "*"}


async def test_the_asyncapi_document_is_served(node, asyncapi):
    status, document = await node.rest.get_json("/api/v1/asyncapi.json")
    assert status == 200
    assert document == asyncapi
    assert document["asyncapi"] == "3.0.0" and document["info"]["version"] == VERSION
    assert document["channels"]["socket"]["address"] == "/socket.io/"


async def test_every_event_the_gateway_handles_is_documented_and_every_documented_one_is_handled(node, contract):
    handled = set(node.app[SERVICES].socketio.sio.handlers["/"]) - RESERVED
    assert handled == set(contract.client_events)
    assert "*" in node.app[SERVICES].socketio.sio.handlers["/"]  # unknown events are answered too


async def test_every_documented_error_code_is_listed_in_the_description(asyncapi):
    for code in Code:
        assert f"`{code.value}`" in asyncapi["info"]["description"]


async def test_a_tour_of_every_event_validates_against_the_document(node, rest, contract, settings, user_id, drain):
    alice, bob, carol, dave, erin = user_id("alice"), user_id("bob"), user_id("carol"), user_id("dave"), user_id("erin")
    room = await rest.create_room(alice, bob, carol, erin, name="Tour")
    a, b, c = await node.connect(alice), await node.connect(bob), await node.connect(carol)
    d = await node.connect(dave)
    for client in (a, b, c):
        await client.join(room)

    # Client events, each answered both ways.
    await a.ack("room:join", {"room_id": room, "since_seq": 0})
    await a.ack("room:join", {"room_id": "nope"})
    await a.send(room, "hello", client_ref="t-1")
    await a.send(room, "hello", client_ref="t-1")  # duplicate
    await a.send(room, "hi")  # no client_ref
    await a.send(room, "x" * 5000, client_ref="t-2")
    await a.send("123", "")
    await a.ack("message:send", "not an object")
    await a.ack("sync", {"rooms": [{"room_id": room, "since_seq": 1}, {"room_id": "9999"}]})
    await a.ack("sync", {"rooms": [{"room_id": []}]})
    await a.ack("direct:start", {"user_id": dave})
    await a.ack("direct:start", {"user_id": 7})
    await a.ack("direct:start", {})
    await a.ack("presence:set", {"status": "available"})
    await a.ack("presence:set", {"status": "sleeping"})
    await a.ack("presence:heartbeat")
    await a.ack("presence:heartbeat", "not an object")
    await a.ack("typing:start", {"room_id": room})
    await a.ack("typing:start", {"room_id": "9999"})
    await a.ack("typing:stop", {"room_id": room})
    await a.ack("typing:stop", {})
    await b.ack("room:read", {"room_id": room})
    await b.ack("room:read", {"room_id": room, "seq": 10_000})
    await a.ack("notifications:ack", {"ids": ["1"]})
    await a.ack("notifications:ack", {"ids": []})
    sent = await a.send(room, "to edit", client_ref="t-5")
    await a.ack("message:edit", {"message_id": sent["data"]["id"], "content": "edited"})
    await a.ack("message:edit", {"message_id": sent["data"]["id"]})
    await b.ack("reaction:toggle", {"message_id": sent["data"]["id"], "emoji": "🎉"})
    await b.ack("reaction:toggle", {"message_id": sent["data"]["id"], "emoji": "no"})
    await a.ack("favorite:toggle", {"id": room, "type": "room"})
    await a.ack("favorite:toggle", {"id": room, "type": "galaxy"})
    await a.ack("message:delete", {"message_id": sent["data"]["id"]})
    await a.ack("message:delete", {"message_id": sent["data"]["id"]})
    await a.ack("room:leave", {"room_id": room})
    await a.ack("room:leave", [])
    await a.ack("no:such:event", {"client_ref": "t-3"})
    await a.emit("message:send", {"room_id": "0", "content": "lost", "client_ref": "t-4"})
    await a.emit("no:such:event", {})
    await a.eio.send("2[broken")
    await a.wait_for_count("error", 3)

    # Server events.
    await b.next("message:updated")
    await b.next("reaction:update")
    await b.next("message:deleted")
    await b.next("presence:update")
    await b.next("typing:update")
    await c.next("receipt:read")
    await b.next("unread:update")
    await rest.add_members(alice, room, dave)
    await d.next("room:added")
    await d.next("people:update")
    await rest.send(bob, room, "while erin is away")
    await drain()
    await d.next("notification:new")  # dave is online but does not follow the room
    e = await node.connect(erin)
    await e.next("notification:pending")
    await a.ack("favorite:toggle", {"id": room, "type": "room"})  # off again: alice's other events are done
    await a.next("favorites:update")
    await rest.remove_member(alice, room, carol)
    await c.next("room:removed")
    await b.next("room:members_changed")
    await b.wait_for_count("room:members_changed", 2)
    await disable_user(settings, carol)
    await c.wait_gone()
    await b.wait_message(room, 2)

    refused = await node.refused(auth={"token": "garbage"})
    assert contract.error_object_errors(refused["data"]) == []
    # Last: the node stops (as on SIGTERM) and tells its clients to reconnect elsewhere.
    await node.hub.drain(reconnect_spread_ms=100, close_within=5)
    await b.next("server:shutdown")

    clients = [a, b, c, d, e]
    met_events = {name for client in clients for name, _ in client.received}
    assert met_events == set(contract.server_events), set(contract.server_events) - met_events
    outcomes = {(event, answer["ok"]) for client in clients for event, _, answer in client.acks}
    assert {(event, ok) for event in contract.client_events for ok in (True, False)} <= outcomes
    problems = [problem for client in clients for problem in contract_violations(contract, client)]
    assert problems == []


async def test_the_contract_check_catches_a_payload_the_document_does_not_allow(contract):
    """The checker itself: a payload off the document is reported, so a silent pass means something."""
    message = {
        "id": "1",
        "room_id": "2",
        "seq": 3,
        "sender_id": "u",
        "type": "text",
        "content": "c",
        "client_ref": None,
        "created_at": "2026-01-01T00:00:00.000Z",
        **UNCHANGED_MESSAGE_FIELDS,
    }
    assert contract.server_event_errors("message:new", message) == []
    assert contract.server_event_errors("message:new", {**message, "reactions": [{"emoji": "x"}]})
    assert contract.server_event_errors("message:new", {**message, "seq": "3"})
    assert contract.server_event_errors("message:new", {**message, "created_at": "yesterday"})
    assert contract.server_event_errors("message:new", {**message, "extra": 1})
    assert contract.server_event_errors("room:moved", {})
    assert contract.ack_errors("message:send", {"ok": True, "data": {"status": "sent"}})
    assert contract.ack_errors("room:join", {"ok": False, "error": {"code": "no_such_code", "message": "m"}})
    assert contract.server_event_errors("error", {"code": "unknown_event", "message": "m", "event": 1})


# -- the raw WebSocket dialects' channels (app/gateways/websocket/contract.py) ------------------------------

RAW_CHANNELS = ("fastapi", "django", "django-notifications", "django-conversation-notifications")


async def test_the_document_is_served_with_a_channel_per_raw_socket_each_at_a_route_of_the_app(node, asyncapi):
    for path in ("/api/asyncapi.json", "/api/v1/asyncapi.json"):
        status, document = await node.rest.get_json(path)
        assert (status, document) == (200, asyncapi), path
    assert "every real-time dialect" in asyncapi["info"]["description"].lower()
    routes = {resource.canonical: resource.name for resource in node.app.router.resources()}
    for key in RAW_CHANNELS:
        channel = asyncapi["channels"][key]
        assert routes.get(channel["address"]) == key, (key, channel["address"])  # the route of that very dialect
        named = set(re.findall(r"\{(\w+)\}", channel["address"]))
        assert set(channel.get("parameters", {})) == named, key
        assert channel["x-frame-key"] in ("event", "type")
    assert {"/ws/{user_id}", "/ws/{username}/", "/ws/notifications/", "/ws/notifications/{username}/"} == {
        asyncapi["channels"][key]["address"] for key in RAW_CHANNELS
    }
    # Every operation refers to messages of its own channel, and every reference resolves.
    for operation in asyncapi["operations"].values():
        channel = operation["channel"]["$ref"]
        assert _resolves(asyncapi, channel), channel
        for ref in [*operation["messages"], *operation.get("reply", {}).get("messages", [])]:
            assert ref["$ref"].startswith(channel + "/messages/") and _resolves(asyncapi, ref["$ref"]), ref


def _resolves(document: dict, ref: str) -> bool:
    node: object = document
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _canonical_events() -> set[str]:
    return {value for name, value in vars(events).items() if name.isupper() and isinstance(value, str)}


def _dialects() -> dict[str, object]:
    dialects = [FastapiDialect(), ConversationDialect(None), NotificationsDialect(), ConversationNotificationsDialect()]
    return {dialect.name: dialect for dialect in dialects}


def test_the_contract_and_the_dialect_modules_name_the_same_frames():
    """The contract is written beside the dialect modules, not generated from them: this keeps them in step.
    Server frames: each dialect's `frames` (less the core events it listens to) are the documented ones.
    Client frames: 004's `EVENTS` table is the documented one, field for field; for every dialect, `decode`
    accepts exactly the documented names among every frame and operation name this project knows (003 has no
    table to compare: its decode is probed), and decodes a documented frame into the documented operation."""
    dialects = _dialects()
    assert set(dialects) == set(CHANNELS) == set(RAW_CHANNELS)
    for key, channel in CHANNELS.items():
        dialect = dialects[key]
        assert set(dialect.frames) - _canonical_events() == set(channel.server), key
        assert {frame.operation for frame in channel.client.values()} <= set(dialect.operations), key

    fastapi = CHANNELS["fastapi"]
    assert set(EVENTS) == set(fastapi.client)
    for name, (operation, wire_fields) in EVENTS.items():
        frame = fastapi.client[name]
        assert frame.operation == operation, name
        required = {n for n, f in frame.payload().fields.items() if f.required} - {fastapi.frame_key}
        assert required == set(wire_fields), name

    candidates = _canonical_events() | set(OPERATIONS) | {name.replace(":", "_") for name in OPERATIONS}
    candidates |= {name for channel in CHANNELS.values() for name in (*channel.client, *channel.server)}
    candidates |= {"message", "join", "leave", "ping", "read", "send", "subscribe", "unsubscribe"}
    for key, channel in CHANNELS.items():
        dialect = dialects[key]
        session = SimpleNamespace(state={"room_id": "1"})
        accepted = set()
        for name in candidates:
            try:
                dialect.decode(session, {channel.frame_key: name})
            except ChatError as error:
                if error.code is not Code.UNKNOWN_EVENT:
                    accepted.add(name)  # understood, but the frame lacks a field
            else:
                accepted.add(name)
        assert accepted == set(channel.client), key
        for name, frame in channel.client.items():
            required = [n for n, f in frame.payload().fields.items() if f.required and n != channel.frame_key]
            request = dialect.decode(session, {channel.frame_key: name, **dict.fromkeys(required, "1")})
            assert request.operation == frame.operation, (key, name)


def _socket(url: str, frames=(), sent=(), texts=(), close_code=None) -> SimpleNamespace:
    return SimpleNamespace(
        name="ws1", url=url, frames=list(frames), texts=list(texts), binaries=[], sent=list(sent), close_code=close_code
    )


async def test_the_frame_check_catches_frames_the_document_does_not_allow(frame_contract):
    """The checker itself: each socket is matched to its channel by path, and a frame off the document, either
    way, is reported, so a silent pass means something."""
    base = "ws://127.0.0.1:1"
    for path, key in {
        "/ws/u1?token=t": "fastapi",
        "/ws/alice/?token=t": "django",
        "/ws/notifications/?token=t": "django-notifications",
        "/ws/notifications/alice/": "django-conversation-notifications",
    }.items():
        assert frame_contract.channel_of(base + path).key == key, path
    assert frame_contract.channel_of(base + "/ws/a/b/c") is None

    fastapi = base + "/ws/u1?token=t"
    new = {
        "event": "new_message",
        "conversationId": "2",
        "messageId": "3",
        "senderId": "u2",
        "content": "hi",
        "messageType": "text",
        "timestamp": "2026-01-01T00:00:00.000Z",
    }
    error = {"event": "error", "message": "m", "code": "not_member", "conversationId": 7}
    assert frame_contract.violations(_socket(fastapi, [new, error, {"event": "heartbeat_ack"}])) == []
    for bad in (
        {**new, "extra": 1},
        {**new, "messageId": 3},
        {**new, "timestamp": "yesterday"},
        {**new, "messageType": "TEXT"},
        {**error, "code": "no_such_code"},
        {"event": "launch"},
        {"type": "new_message"},
        [new],
    ):
        assert frame_contract.violations(_socket(fastapi, [bad])), bad
    assert frame_contract.violations(_socket(fastapi, texts=["not json"]))
    chat = {
        "type": "chat_message",
        "message": "hi",
        "multimedia_url": "",
        "date_added": "2026-01-01T00:00:00.000Z",
        "from_user": {"username": "bob"},
        "room": "2",
    }
    django = base + "/ws/bob/?token=t"
    assert frame_contract.violations(_socket(django, [chat, {"type": "user_join", "user": "bob"}])) == []
    assert frame_contract.violations(_socket(django, [{**chat, "from_user": {}}]))
    assert frame_contract.violations(_socket(django, [new]))  # another dialect's frame
    assert frame_contract.violations(_socket(base + "/ws/notifications/", [chat]))  # another socket's frame

    # Sent frames: one the document refuses must have been refused (an error after it, or a close with 1009).
    good, off = {"event": "typing", "conversationId": "2"}, {"event": "typing", "conversationId": {"x": 1}}
    assert frame_contract.violations(_socket(fastapi, sent=[(0, "json", good)])) == []
    assert frame_contract.violations(_socket(fastapi, [error], sent=[(0, "json", off)])) == []
    assert frame_contract.violations(_socket(fastapi, sent=[(0, "json", off)]))
    assert frame_contract.violations(_socket(fastapi, [error], sent=[(1, "json", off)]))  # the error came before
    assert frame_contract.violations(_socket(fastapi, [error], sent=[(0, "json", off), (0, "text", "{no")]))
    assert frame_contract.violations(_socket(fastapi, sent=[(0, "json", off)], close_code=1009)) == []
    assert frame_contract.violations(_socket(django, sent=[(0, "json", {"type": "chat_message", "message": 5})]))
