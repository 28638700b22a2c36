"""The AsyncAPI document: served, complete, and true to what the server really sends and accepts.

Every client of the tier is checked against the document when its test ends (see conftest.py); the
tour below makes sure one test meets every documented acknowledgement, success and failure, and
every documented server event, all produced by the real server."""

from __future__ import annotations

import json
import random
import re
from types import SimpleNamespace

import aiohttp

from app.chat import events
from app.chat.errors import ChatError, Code
from app.chat.ids import MAX_SAFE_INTEGER
from app.gateways.socketio import bull_chat, nestjs_chat
from app.gateways.socketio.bull_chat import BullDialect
from app.gateways.socketio.canonical import CanonicalDialect
from app.gateways.socketio.contract import SOCKET
from app.gateways.socketio.nestjs_chat import NestjsDialect
from app.gateways.socketio.seed_contract import CHANNELS as SEED_CHANNELS
from app.gateways.websocket import phoenix
from app.gateways.websocket.contract import CHANNELS
from app.gateways.websocket.django_chat import (
    ConversationDialect,
    ConversationNotificationsDialect,
    NotificationsDialect,
)
from app.gateways.websocket.fastapi_chat import EVENTS, FastapiDialect
from app.gateways.websocket.phoenix import PhoenixDialect
from app.gateways.websocket.phoenix_contract import KEY as PHOENIX_KEY
from app.gateways.websocket.phoenix_contract import PHOENIX
from app.realtime.operations import OPERATIONS
from app.rest.docs_pages import EVENTS_PATH
from app.web import SERVICES, VERSION
from tests.realtime.conftest import contract_violations, disable_user
from tests.realtime.sio_contract import namespace_of, sio_violations
from tests.realtime.ws_contract import _v2, phoenix_socket
from tests.shapes import UNCHANGED_MESSAGE_FIELDS
from tests.sio import SioEmit, SioSocket

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


# -- seed 000's Phoenix Channels (app/gateways/websocket/phoenix_contract.py) -------------------------------


async def test_the_document_has_the_phoenix_channel_at_its_route(node, asyncapi):
    channel = asyncapi["channels"][PHOENIX_KEY]
    routes = {resource.canonical: resource.name for resource in node.app.router.resources()}
    assert channel["address"] == "/socket/websocket" and routes[channel["address"]] == PhoenixDialect.name
    assert "x-frame-key" not in channel and "parameters" not in channel
    query = channel["bindings"]["ws"]["query"]
    assert set(query["properties"]) == {"token", "device_unique_id", "preferred_language", "vsn"}
    assert query["properties"]["vsn"]["enum"] == [phoenix.VSN] and query["required"] == ["token"]
    for text in ("[join_ref, ref, topic, event, payload]", "403", "phx_error", "1009", "1012", "null join_ref"):
        assert text in channel["description"], text
    assert channel["x-topics"]["chat"]["topic"] == "chat:{room_id}"
    # Each message is one whole frame of one topic kind: the five elements, its event fixed, its topic's pattern.
    for message in channel["messages"].values():
        join_ref, ref, topic, event, _payload = message["payload"]["prefixItems"]
        assert {join_ref["title"], ref["title"]} == {"join_ref", "ref"}
        assert event == {"title": "event", "const": message["name"]}
        assert topic["pattern"] == channel["x-topics"][message["x-topic"]]["pattern"]
        assert message["payload"]["items"] is False and message["payload"]["minItems"] == 5
    patterns = {kind: re.compile(topic["pattern"]) for kind, topic in channel["x-topics"].items()}
    for topic, kind in {
        "phoenix": "phoenix",
        "chat:12": "chat",
        "notifications:u-1": "notifications",
        "rooms:lobby": "other",
        "chat:": "other",
        "phoenix:1": "other",
    }.items():
        assert [k for k, pattern in patterns.items() if pattern.search(topic)] == [kind], topic


class _ProbeHub:
    """Just enough of the hub for PhoenixDialect.handle: it performs every operation (recording its name), and
    keeps what is sent."""

    RESULT = {"id": "1", "seq": 1, "created_at": "2026-01-01T00:00:00.000Z", "duplicate": False}

    def __init__(self) -> None:
        self.performed: list[str] = []
        self.sent: list[list] = []

    async def perform(self, session, name, payload, before_release=None, **_options) -> dict:
        self.performed.append(name)
        result = {**self.RESULT, "last_seq": 0, "has_more": False, "messages": []}
        if before_release is not None:
            before_release(result)
        return result

    def reject(self, session, error: ChatError) -> ChatError:
        return error

    def send(self, session, frame: bytes, name: str) -> None:
        self.sent.append(json.loads(frame))

    def spend(self, session) -> None:
        pass

    async def members(self, room_id: str) -> set[str]:
        return set()

    async def pending(self, session) -> tuple[list, int]:
        return [], 0


PROBED_TOPICS = {"phoenix": "phoenix", "chat": "chat:1", "notifications": "notifications:u", "other": "rooms:lobby"}


async def _probe(topic: str, event: str) -> tuple[bool, list[str]]:
    """Send one frame to a PhoenixDialect whose session has joined chat:1 and notifications:u: whether it was
    taken (answered ok, or refused for another reason than an unknown event or topic), and what it performed."""
    hub = _ProbeHub()
    session = SimpleNamespace(
        user=SimpleNamespace(id="u"),
        transport=SimpleNamespace(after_sent=lambda callback: None),
        state={"channels": {"chat:1": "1", "notifications:u": "2"}, "refs": phoenix.RecentRefs(), "members": {}},
    )
    await PhoenixDialect().handle(hub, session, ["1", "9", topic, event, {"content": "hi"}])
    [reply] = [frame for frame in hub.sent if frame[1] == "9"]
    status, response = reply[4]["status"], reply[4]["response"]
    return status == "ok" or response["code"] != Code.UNKNOWN_EVENT.value, hub.performed


async def test_the_phoenix_contract_and_the_dialect_module_name_the_same_frames():
    """Server frames: the dialect's SERVER_FRAMES (and its `frames`, less the core events it listens to) are the
    documented ones. Client frames: on each kind of topic (chat and notifications joined), the dialect takes
    exactly the documented events among every frame and operation name this project knows, and a documented one
    performs the documented operation (probed through `handle`, with a hub that performs everything)."""
    documented_server = {name for topic in PHOENIX.topics.values() for name in topic.server}
    assert set(phoenix.SERVER_FRAMES) == documented_server
    assert set(PhoenixDialect.frames) - _canonical_events() == documented_server
    assert set(PHOENIX.topics) == set(PROBED_TOPICS)
    assert PHOENIX.address == "/socket/websocket" and PHOENIX.query["properties"]["vsn"]["enum"] == [phoenix.VSN]

    candidates = _canonical_events() | set(OPERATIONS) | {name.replace(":", "_") for name in OPERATIONS}
    candidates |= {name for channel in CHANNELS.values() for name in (*channel.client, *channel.server)}
    candidates |= {name for topic in PHOENIX.topics.values() for name in (*topic.client, *topic.server)}
    candidates |= {"heartbeat", "phx_join", "phx_leave", "new_msg", "shout", "ping", "join", "leave", "message"}
    for kind, topic in PHOENIX.topics.items():
        accepted = set()
        for name in sorted(candidates):
            taken, performed = await _probe(PROBED_TOPICS[kind], name)
            if taken:
                accepted.add(name)
            frame = topic.client.get(name)
            if frame is not None and frame.operation is not None:
                assert performed[-1:] == [frame.operation], (kind, name, performed)
        assert accepted == set(topic.client), kind


async def test_the_phoenix_operations_are_the_dialects():
    """Each operation a documented frame performs is one the dialect declares (its counters are made from
    them: an undeclared one would be counted nowhere)."""
    declared = set(PhoenixDialect.operations)
    for kind, topic in PHOENIX.topics.items():
        for name, frame in topic.client.items():
            assert frame.operation is None or frame.operation in declared, (kind, name, frame.operation)


def _phoenix(frames=(), sent=(), close_code=None) -> SimpleNamespace:
    return _socket("ws://127.0.0.1:1/socket/websocket?token=t&vsn=2.0.0", frames, sent, close_code=close_code)


async def test_the_frame_check_catches_phoenix_frames_the_document_does_not_allow(frame_contract):
    """The checker on the Phoenix channel: frames are named by event and topic kind; a frame off the document,
    either way, is reported; a phx_reply must be the answer documented for the frame it answers."""
    assert frame_contract.channel_of("ws://127.0.0.1:1/socket/websocket?vsn=2.0.0").key == PHOENIX_KEY
    message = {
        "id": "5",
        "chat_id": "2",
        "seq": 3,
        "sender_id": "u2",
        "content": "hi",
        "type": "text",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "client_ref": None,
        "attachment": None,
        "reply_to": None,
    }
    receive = [None, None, "chat:2", "receive_message", message]
    error = {"reason": "unmatched topic", "code": "unknown_event", "message": "m"}
    heartbeat, beat_reply = [None, "4", "phoenix", "heartbeat", {}], [None, "4", "phoenix", "phx_reply"]
    good = [receive, ["1", None, "chat:2", "receive_message", message], [*beat_reply, {"status": "ok", "response": {}}]]
    good.append([None, None, "phoenix", "phx_error", error])
    good.append(["7", "8", "rooms:lobby", "phx_reply", {"status": "error", "response": error}])
    assert frame_contract.violations(_phoenix(good)) == []
    for bad in (
        [None, None, "chat:2", "receive_message", {**message, "extra": 1}],
        [None, None, "chat:2", "receive_message", {**message, "seq": "3"}],
        [None, None, "chat:2", "receive_message", message, None],  # six elements
        [None, 1.5, "chat:2", "receive_message", message],  # a ref that is no ref
        [None, "3", "chat:2", "receive_message", message],  # a push has no ref
        [None, None, "notifications:u", "receive_message", message],  # not on that topic
        [None, None, "phoenix", "phx_error", {**error, "code": "no_such_code"}],
        [None, None, "chat:2", "phx_error", error],  # phx_error is on `phoenix` only
        [None, None, "chat:2", "new_msg", {}],
        {"event": "receive_message", "payload": message},
        [*beat_reply, {"status": "maybe", "response": {}}],
    ):
        assert frame_contract.violations(_phoenix([bad])), bad

    # Replies: each must be what its request gets (a heartbeat's ok is {}, and it is never refused).
    sent = [(0, "json", heartbeat)]
    assert frame_contract.violations(_phoenix([[*beat_reply, {"status": "ok", "response": {}}]], sent)) == []
    joined = {"chat_id": "2", "last_seq": 0, "has_more": False}
    assert frame_contract.violations(_phoenix([[*beat_reply, {"status": "ok", "response": joined}]], sent))
    assert frame_contract.violations(_phoenix([[*beat_reply, {"status": "error", "response": error}]], sent))
    join = ["3", "3", "chat:2", "phx_join", {"since_seq": 1}]
    join_reply = ["3", "3", "chat:2", "phx_reply"]
    sent = [(0, "json", join)]
    assert frame_contract.violations(_phoenix([[*join_reply, {"status": "ok", "response": joined}]], sent)) == []
    assert frame_contract.violations(_phoenix([[*join_reply, {"status": "ok", "response": {}}]], sent))

    # Sent frames: one the document refuses must have been refused, by the reply to its ref, or phx_error.
    refused = [*join_reply, {"status": "error", "response": error}]
    off = ["3", "3", "chat:2", "phx_join", {"since_seq": "one"}]
    assert frame_contract.violations(_phoenix(sent=[(0, "json", join)])) == []
    assert frame_contract.violations(_phoenix([refused], sent=[(0, "json", off)])) == []
    assert frame_contract.violations(_phoenix(sent=[(0, "json", off)]))
    assert frame_contract.violations(_phoenix([refused], sent=[(1, "json", off)]))  # the reply came before
    other = ["3", "4", "chat:2", "phx_join", {"since_seq": "one"}]
    assert frame_contract.violations(_phoenix([refused], sent=[(0, "json", other)]))  # the reply is another's
    phx_error = [None, None, "phoenix", "phx_error", error]
    assert frame_contract.violations(_phoenix([phx_error], sent=[(0, "text", "[no")])) == []
    assert frame_contract.violations(_phoenix([refused], sent=[(0, "text", "[no")]))  # not what answers it
    assert frame_contract.violations(_phoenix(sent=[(0, "json", {"topic": "chat:2"})]))
    assert frame_contract.violations(_phoenix(sent=[(0, "json", ["1", "2", "chat:2", "shout", {}])]))
    assert frame_contract.violations(_phoenix(sent=[(0, "json", ["1", "2", "chat:2", "typing", {"typing": "y"}])]))
    assert frame_contract.violations(_phoenix(sent=[(0, "json", off)], close_code=1009)) == []


async def test_a_phoenix_tour_meets_every_documented_frame(
    node, rest, user_id, drain, phoenix_clients, node_clients, frame_contract
):
    """The official client (and a raw `ws` socket for what it never sends) meets every server frame of the
    Phoenix channel, the ok answer of every client frame and the error answer of those a member can get
    wrong; the fixtures then check each frame, both ways, against the document."""
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob, name="Phoenix tour")
    other_room = await rest.create_room(bob, alice, name="Elsewhere")
    await rest.send(bob, room, "while alice is away")
    await drain()  # alice's pending notification is stored
    endpoint = node.ws("/socket")
    a = await phoenix_clients.socket(
        endpoint, {"token": node.token(alice), "device_unique_id": "d-a"}, heartbeatIntervalMs=100, rejoinAfterMs=60_000
    )
    await a.connect()
    await a.opened()
    notes = await a.channel(f"notifications:{alice}")
    assert (await notes.join()).status == "ok"
    await notes.next("pending_notification", content="while alice is away")
    chat = await a.channel(f"chat:{room}", {"since_seq": 0})
    assert (await chat.join()).status == "ok"
    await chat.next("receive_message", seq=1)
    b = await phoenix_clients.socket(endpoint, {"token": node.token(bob), "preferred_language": "en"})
    await b.connect()
    bob_chat = await b.channel(f"chat:{room}")
    assert (await bob_chat.join()).status == "ok"
    await chat.next("presence_update", user_id=bob)

    assert (await chat.push("send_message", {"content": "hello", "mobile_ref_id": "m-1"})).status == "ok"
    await chat.next("message_sent", status="sent")
    assert (await chat.push("send_message", {"content": "hello", "mobile_ref_id": "m-1"})).response["duplicate"]
    assert (await chat.push("send_message", {"content": "", "mobile_ref_id": 7})).status == "error"
    await chat.next("message_sent", status="error")
    message = await bob_chat.next("receive_message", client_ref="m-1")
    assert (await chat.push("typing", {})).status == "ok"
    await bob_chat.next("typing", typing=True)
    assert (await chat.push("typing", {"typing": False})).status == "ok"
    assert (await bob_chat.push("read", {"seq": message["seq"]})).status == "ok"
    await chat.next("read", user_id=bob)
    assert (await bob_chat.push("read", {"seq": 10_000})).status == "error"
    assert (await chat.push("shout", {})).status == "error"
    status, body = await rest.call("PATCH", f"/api/v1/messages/{message['id']}", alice, {"content": "edited"})
    assert status == 200, body
    await bob_chat.next("message_updated", id=message["id"])
    status, body = await rest.call("DELETE", f"/api/v1/messages/{message['id']}", alice)
    assert status in (200, 204), body
    await bob_chat.next("message_deleted", id=message["id"])

    # Refused joins, on each kind of topic; the leave of a topic not served is still ok.
    assert (await (await a.channel(f"chat:{other_room}0")).join()).status == "error"
    assert (await (await a.channel(f"notifications:{bob}")).join()).status == "error"
    lobby = await a.channel("rooms:lobby")
    assert (await lobby.join()).status == "error"
    await lobby.leave()
    await a.next_frame(topic="rooms:lobby", event="phx_reply", payload={"status": "ok", "response": {}})
    # A notification of a room whose chat topic alice has not joined.
    await rest.send(bob, other_room, "elsewhere")
    await drain()
    await notes.next("new_notification", content="elsewhere")
    # Being removed from a room closes its topic; leaving is ok.
    await rest.remove_member(alice, room, bob)
    await b.next_frame(topic=f"chat:{room}", event="phx_close")
    await chat.leave()
    await notes.leave()
    leave_ref = next(frame[1] for _arrived, _kind, frame in reversed(a.sent) if frame[3] == "phx_leave")
    await a.next_frame(topic=f"notifications:{alice}", event="phx_reply", ref=leave_ref)

    # What the official client never sends: frames that are not the V2 array, a leave of `phoenix`, a second
    # join of a joined topic (it leaves the first channel itself), which closes the first join's channel.
    raw = await node_clients.open(node.ws(f"/socket/websocket?token={node.token(alice)}&vsn=2.0.0"))
    await raw.opened()
    await raw.send_text("[not json")
    await raw.send({"topic": "phoenix", "event": "heartbeat"})
    await raw.send([None, "1", "phoenix", "phx_leave", {}])
    await raw.send(["2", "2", f"notifications:{alice}", "phx_join", {}])
    await raw.send(["3", "3", f"notifications:{alice}", "phx_join", {}])
    await raw.send(["3", "4", f"chat:{other_room}", "send_message", {"content": "not joined", "mobile_ref_id": 1}])
    await raw.next(lambda frame: frame[1] == "4")
    events = [frame[3] for frame in raw.frames]
    assert events == ["phx_error", "phx_error", "phx_reply", "phx_reply", "phx_close", "phx_reply", "phx_reply"]
    assert raw.frames[-1][4]["response"]["reason"] == "unmatched topic"  # the bare error, no message_sent

    channel = frame_contract.channel_of(endpoint + "/websocket")
    sockets = [phoenix_socket(a), phoenix_socket(b), raw]
    met = {channel.name_of(frame) for socket in sockets for frame in socket.frames}
    documented = {(kind, name) for kind, topic in PHOENIX.topics.items() for name in topic.server}
    assert documented <= met, documented - met
    answered = set()
    for socket in sockets:
        for _arrived, _kind, sent in socket.sent:
            replies = [f for f in socket.frames if f[3] == "phx_reply" and f[1:3] == sent[1:3]] if _v2(sent) else []
            answered |= {(channel.name_of(sent), reply[4]["status"]) for reply in replies}
    clients = {(kind, name) for kind, topic in PHOENIX.topics.items() for name in topic.client}
    assert {(name, "ok") for name in clients} <= answered, {(name, "ok") for name in clients} - answered
    refused = {("chat", "phx_join"), ("notifications", "phx_join"), ("chat", "send_message"), ("chat", "read")}
    assert {(name, "error") for name in refused} <= answered
    assert [p for socket in sockets for p in frame_contract.violations(socket)] == []


# -- the Socket.IO namespaces of seeds 001 and 002 (app/gateways/socketio/seed_contract.py) -----------------

SIO_CHANNELS = {"socket": "/", "nestjs": "/chat", "bull": "/chat/"}


def _seed_dialects() -> dict[str, object]:
    return {dialect.name: dialect for dialect in (NestjsDialect, BullDialect)}


async def test_the_socketio_channels_are_served_each_on_a_mounted_namespace(node, asyncapi, contract):
    status, document = await node.rest.get_json("/api/v1/asyncapi.json")
    assert (status, document) == (200, asyncapi)
    channels = {key: channel for key, channel in asyncapi["channels"].items() if "x-socketio" in channel}
    assert {key: channel["x-socketio"]["namespace"] for key, channel in channels.items()} == SIO_CHANNELS
    gateway = node.app[SERVICES].socketio
    assert set(gateway.namespaces) == set(SIO_CHANNELS.values())
    for key, channel in channels.items():
        connection = channel["x-socketio"]
        namespace = connection["namespace"]
        assert channel["address"] == connection["path"] == "/socket.io/", key
        assert f"namespace {namespace}" in channel["title"] or key == "socket", key
        bound = gateway.namespaces[namespace]
        assert bound.dialect.name == ("socketio" if key == "socket" else key)
        # Every documented client event has a handler on the namespace, and no other event has one; the rest reach
        # the catch-all and are answered as unknown.
        handled = set(gateway.sio.handlers[namespace]) - RESERVED
        assert handled == set(contract.sio[namespace].client_events), key
        assert "*" in gateway.sio.handlers[namespace]
        assert connection["refusals"] and set(connection["refusals"]) <= set(contract.sio[namespace].server_events)
    async with aiohttp.ClientSession() as session, session.get(node.url.rstrip("/") + EVENTS_PATH) as response:
        html = await response.text()
    for key in SIO_CHANNELS:
        assert f'id="channel-{key}"' in html, key


def test_the_seed_contracts_and_the_dialect_modules_name_the_same_events():
    """Client events: the dialect's `client_events` (each gets a handler of its own). Server events: the dialect's
    SERVER_FRAMES, which are its `frames` less the core events it listens to."""
    modules = {"nestjs": nestjs_chat, "bull": bull_chat}
    assert set(SEED_CHANNELS) == set(_seed_dialects()) == set(modules)
    for key, dialect in _seed_dialects().items():
        channel = SEED_CHANNELS[key]
        assert channel.namespace == dialect.namespace, key
        assert set(channel.client) == set(dialect.client_events), key
        assert set(channel.server) == set(modules[key].SERVER_FRAMES), key
        assert set(dialect.frames) - _canonical_events() == set(channel.server), key
        assert set(channel.refusals) <= set(channel.server), key
    assert SOCKET.namespace == CanonicalDialect.namespace
    assert set(SOCKET.client) == set(CanonicalDialect.client_events)
    assert set(SOCKET.server) == set(CanonicalDialect.frames)


NO_ACK = object()


def _sio(url: str, *steps: tuple, options: dict | None = None, share: str | None = None, connected: bool = True):
    """A SioSocket (tests/sio.py) as a test would leave it, without a driver: it connected (unless not `connected`),
    then met `steps`, in order: ("in", event, args) received; ("out", event, args[, ack]) emitted, acknowledged
    with `ack` when given; ("connect_error", report)."""
    socket = SioSocket(SimpleNamespace(_driver=None), "probe", url, options or {}, share)
    if connected:
        socket._record({"kind": "connect", "sid": "s", "transport": "websocket"})
    for kind, name, *rest in steps:
        if kind == "in":
            socket._record({"kind": "event", "event": name, "args": list(rest[0])})
        elif kind == "out":
            emit_id = f"probe#{len(socket.emitted)}" if rest[1:] else None
            socket.emitted.append(SioEmit(name, list(rest[0]), emit_id, len(socket.events)))
            if emit_id is not None:
                socket._record({"kind": "ack", "emit_id": emit_id, "args": [rest[1]]})
        else:
            socket._record({"kind": "connect_error", **name})
    return socket


async def test_the_sio_check_catches_events_the_document_does_not_allow(contract):
    """The checker of npm socket.io-client sockets: each namespace is checked against its own channel, both ways,
    acknowledgements, handshakes and refusals included; an emit the document refuses passes only when refused."""
    chat, slash, root = "http://127.0.0.1:1/chat", "ws://127.0.0.1:1/chat/", "http://127.0.0.1:1"
    assert [namespace_of(url) for url in (chat, slash, root, root + "/")] == ["/chat", "/chat/", "/", "/"]
    conversation = {"id": 1, "sender_id": 5, "receiver_id": 6}
    message = {
        "id": 2**32 + 1,
        "sender_id": 5,
        "conversation_id": 1,
        "timestamp": "2026-01-01T00:00:00.000Z",
        "message_type": "text",
        "content": "hi",
        "conversation": conversation,
    }
    group = {**message, "sender_id": "alice", "conversation": {"id": 1, "sender_id": "alice", "receiver_id": None}}
    good = [
        ("in", "receive-message", [message]),
        ("in", "receive-message", [group]),
        ("in", "user:online", [{"userId": 5}]),
    ]
    assert sio_violations(contract, _sio(chat, *good)) == []
    for bad in (
        {**message, "id": str(2**32 + 1)},  # ids are numbers
        {**message, "id": 3},  # not an alias
        {**message, "conversation_id": "1"},
        {**message, "sender_id": "5"},  # a numeric user id goes as a number
        {**message, "message_type": "system"},
        {**message, "message_type": "TEXT"},
        {**message, "timestamp": "2026-01-01"},
        {**message, "extra": 1},
        {**message, "conversation": {**conversation, "receiver_id": "6"}},
    ):
        assert sio_violations(contract, _sio(chat, ("in", "receive-message", [bad]))), bad
    assert sio_violations(contract, _sio(chat, ("in", "chat:message", [message])))  # another namespace's event
    assert sio_violations(contract, _sio(chat, ("in", "receive-message", [message, 1])))  # two arguments
    bull_message = {
        "id": "9",
        "roomId": "1",
        "roomType": "DIRECT",
        "type": "TEXT",
        "content": "c",
        "senderId": "u",
        "sender": {"id": "u", "name": "U"},
        "timestamp": "2026-01-01T00:00:00.000Z",
        "seq": 1,
    }
    assert sio_violations(contract, _sio(slash, ("in", "chat:message", [bull_message]))) == []
    for bad in ({**bull_message, "type": "text"}, {**bull_message, "roomType": "group"}, {**bull_message, "seq": "1"}):
        assert sio_violations(contract, _sio(slash, ("in", "chat:message", [bad]))), bad
    assert sio_violations(contract, _sio(slash, ("in", "chat:favorites_update", [[{"id": "1", "type": "ROOM"}]])))
    assert sio_violations(contract, _sio(root, ("in", "receive-message", [message])))  # `/` is the canonical one
    assert sio_violations(contract, _sio("http://127.0.0.1:1/nowhere", ("in", "x", [{}])))

    # Emits: one the document refuses passes only when the server refused it (its ack, or a refusal event after).
    send = {"sender_id": 5, "conversation_id": 1, "message_type": "text", "content": "hi"}
    off = {**send, "sender_id": "5"}
    refusal = {"error": "sender_id must be an integer number"}
    assert sio_violations(contract, _sio(chat, ("out", "send-message", [send], message))) == []
    assert sio_violations(contract, _sio(chat, ("out", "send-message", [off], refusal))) == []
    assert sio_violations(contract, _sio(chat, ("out", "send-message", [off], message)))  # accepted, undocumented
    assert sio_violations(contract, _sio(chat, ("out", "send-message", [send], {"error": 1})))  # the ack strays
    assert (
        sio_violations(contract, _sio(chat, ("out", "send-message", [off]), ("in", "message-error", [refusal]))) == []
    )
    assert sio_violations(contract, _sio(chat, ("out", "send-message", [off])))  # no refusal came
    assert sio_violations(contract, _sio(chat, ("in", "message-error", [refusal]), ("out", "send-message", [off])))
    # Seed 001 sends the refusal event with the refusing ack: that event is the acked emit's, not the next one's.
    steps = [
        ("out", "send-message", [off], refusal),
        ("in", "message-error", [refusal]),
        ("out", "send-message", [off]),
    ]
    assert sio_violations(contract, _sio(chat, *steps))
    assert sio_violations(contract, _sio(chat, *steps, ("in", "message-error", [refusal]))) == []
    join_error = {"message": "Conversation not found", "code": "room_not_found"}
    assert sio_violations(contract, _sio(chat, ("out", "join-conversation", [{"conversationId": 9}], join_error))) == []
    joined = {"conversationId": "9", "success": True}
    assert sio_violations(contract, _sio(chat, ("out", "join-conversation", [{"conversationId": 9}], joined)))
    unknown = {"message": "There is no handler for event 'nope'", "code": "unknown_event"}
    assert sio_violations(contract, _sio(chat, ("out", "nope", [{}], unknown))) == []
    assert sio_violations(contract, _sio(chat, ("out", "nope", [{}], {"success": True})))
    assert sio_violations(contract, _sio(chat, ("out", "nope", [{}])))  # taken without a refusal
    assert sio_violations(contract, _sio(chat, ("out", "send-message", [off]), connected=False)) == []  # never sent
    # Seed 002: a string or an object, as the event takes; the first argument only.
    ok = {"success": True}
    assert sio_violations(contract, _sio(slash, ("out", "chat:join", ["1", "ignored"], ok))) == []
    assert sio_violations(contract, _sio(slash, ("out", "chat:join", [{"roomId": "1"}], ok)))
    assert sio_violations(contract, _sio(slash, ("out", "chat:typing", [{"roomId": 1, "isTyping": True}], ok)))
    bull_refusal = {"error": "roomId must be a string", "code": "invalid_payload"}
    assert (
        sio_violations(contract, _sio(slash, ("out", "chat:typing", [{"roomId": 1, "isTyping": True}], bull_refusal)))
        == []
    )
    # The canonical namespace, for npm sockets too: its acknowledgement envelope, no refusal event with an ack.
    assert (
        sio_violations(
            contract,
            _sio(
                root,
                (
                    "out",
                    "room:join",
                    [{"room_id": "1"}],
                    {"ok": False, "error": {"code": "room_not_found", "message": "m"}},
                ),
            ),
        )
        == []
    )
    assert sio_violations(contract, _sio(root, ("out", "room:join", [{"room_id": "1"}], {"ok": True, "data": {}})))

    # Handshakes and refusals.
    auth = {"token": "Bearer t", "userId": "u"}
    assert sio_violations(contract, _sio(slash, options={"auth": auth})) == []
    assert sio_violations(contract, _sio(slash, options={"auth": {**auth, "token": "t"}}))
    assert sio_violations(contract, _sio(slash, options={"auth": {**auth, "token": "t"}}, connected=False)) == []
    assert sio_violations(contract, _sio(chat, options={"query": {"userId": 5, "token": "t"}})) == []
    assert sio_violations(contract, _sio(chat + "?userId=5&token=t")) == []
    assert sio_violations(contract, _sio(chat, options={"auth": {"userId": "5"}}))  # a numeric id as a string
    refused = {"message": "userId is required", "data": {"code": "invalid_payload", "message": "userId is required"}}
    assert sio_violations(contract, _sio(chat, ("connect_error", refused), connected=False)) == []
    stray = {"message": "no", "data": {"code": "nope", "message": "no"}}
    assert sio_violations(contract, _sio(chat, ("connect_error", stray), connected=False))
    lost = {"message": "websocket error", "type": "TransportError", "description": "x"}
    assert sio_violations(contract, _sio(chat, ("connect_error", lost), connected=False)) == []


def _refused(contract, namespace: str, event: str, ack: object) -> bool:
    channel = contract.sio[namespace]
    return not contract.errors(channel.ack_refusal(event), ack)


async def test_npm_sockets_on_the_canonical_namespace_are_checked_against_the_socket_channel(
    node, rest, user_id, sio_clients, contract
):
    alice = user_id("alice")
    room = await rest.create_room(alice, user_id("bob"), name="npm")
    socket = await sio_clients.connect(node.url, "alice", transports=["websocket"], auth={"token": node.token(alice)})
    await socket.connected()
    await socket.next("session:ready")
    [joined] = await socket.emit_ack("room:join", {"room_id": room})
    assert joined["ok"], joined
    [refused] = await socket.emit_ack("room:join", {"room_id": "nope"})
    assert not refused["ok"] and _refused(contract, "/", "room:join", refused)
    await socket.emit("message:send", {"room_id": room, "content": 5})  # no ack: refused with an `error` event
    await socket.next("error", event="message:send")
    await socket.emit_ack("message:send", {"room_id": room, "content": "hello"})
    await socket.next("message:new", content="hello")
    assert sio_violations(contract, socket) == []
    assert {event.event for event in socket.events} == {"session:ready", "error", "message:new"}


def _outcomes(contract, namespace: str, sockets) -> set[tuple[str, bool]]:
    """(client event, whether it was refused) of every acknowledged emit of the sockets."""
    found = set()
    for socket in sockets:
        for emitted in socket.emitted:
            answer = socket.acknowledgement(emitted)
            if answer is not None:
                found.add((emitted.event, _refused(contract, namespace, emitted.event, answer[0])))
    return found


def _numeric() -> str:
    return str(random.randrange(10**8, 10**9))


async def test_a_tour_of_seed_001_meets_every_documented_event_and_answer(node, rest, sio_clients, contract):
    """npm socket.io-client on `/chat`, over WebSocket and over polling upgraded: every server event, each client
    event acknowledged both ways, an unknown event and a refused connection; the fixture then checks each of them
    against the document. (Rooms are made before the sockets connect: see the report on system messages.)"""
    alice, bob, carol = _numeric(), _numeric(), _numeric()
    conversations = "/api/chats/conversations"
    status, body = await rest.call("POST", conversations, alice, {"sender_id": int(alice), "receiver_id": int(bob)})
    assert status == 201, body
    conversation = body["id"]
    status, body = await rest.call("POST", conversations, bob, {"sender_id": int(bob), "receiver_id": int(carol)})
    assert status == 201, body
    others = body["id"]
    group = int(await rest.create_room(carol, alice, bob, name="Group"))
    base = node.url.rstrip("/")

    def query(user: str) -> dict:
        return {"userId": int(user), "token": node.token(user)}

    a = await sio_clients.connect(f"{base}/chat", "alice", query=query(alice), transports=["websocket"])
    await a.connected()
    b = await sio_clients.connect(f"{base}/chat", "bob", query=query(bob))  # the default: polling, then upgraded
    await b.connected()
    await a.next("user:online", userId=int(bob))

    join = {"conversationId": conversation, "userId": int(alice)}
    assert await a.emit_ack("join-conversation", join) == [{"conversationId": conversation, "success": True}]
    await a.next("joined-conversation", conversationId=conversation)
    await a.emit_ack("join-conversation", {"conversationId": others})  # bob's and carol's
    await a.emit_ack("join-conversation", {"conversationId": MAX_SAFE_INTEGER})  # none
    await a.emit_ack("leave-conversation", {"conversationId": conversation})
    await a.emit_ack("leave-conversation", {"conversationId": str(conversation)})
    await a.emit_ack("join-conversation", {"conversationId": conversation})
    send = {"sender_id": int(alice), "conversation_id": conversation, "message_type": "text", "content": "hello"}
    [sent] = await a.emit_ack("send-message", send)
    await a.next("message-sent", id=sent["id"])
    await b.next("receive-message", id=sent["id"])
    await a.emit_ack("send-message", {**send, "sender_id": alice})
    await a.emit("send-message", {"conversation_id": conversation})  # no callback
    await a.next("message-error", lambda error: error["error"].startswith("sender_id should not be empty"))
    await a.emit_ack("typing", {"conversationId": conversation, "userId": int(alice), "isTyping": True})
    await b.next("user-typing", conversationId=conversation, isTyping=True)
    await a.emit_ack("typing", {"conversationId": conversation, "isTyping": "yes"})
    await a.emit_ack("no-such-event", {})
    await a.next("error", code="unknown_event")
    await rest.send(carol, str(group), "to the group")
    received = await a.next("receive-message", conversation_id=group)
    assert received["conversation"]["receiver_id"] is None
    await b.disconnect()
    await a.next("user:offline", userId=int(bob))
    refused = await sio_clients.connect(f"{base}/chat", "refused", query={"token": node.token(alice)})
    assert (await refused.connect_error())["data"]["code"] == "invalid_payload"

    met = {event.event for socket in (a, b) for event in socket.events}
    assert met == set(SEED_CHANNELS["nestjs"].server), set(SEED_CHANNELS["nestjs"].server) - met
    outcomes = _outcomes(contract, "/chat", (a, b))
    assert {(event, refused) for event in NestjsDialect.client_events for refused in (True, False)} <= outcomes
    assert ("no-such-event", True) in outcomes
    assert [p for socket in (a, b, refused) for p in sio_violations(contract, socket)] == []


async def test_a_tour_of_seed_002_meets_every_documented_event_and_answer(node, rest, user_id, sio_clients, contract):
    """npm socket.io-client on `/chat/`: every server event, each client event acknowledged both ways, an unknown
    event and a refused connection; the fixture then checks each of them against the document."""
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await rest.create_room(alice, bob, name="Tour")
    await rest.send(bob, room, "before")
    url = node.ws("/chat/")

    def auth(user: str) -> dict:
        return {"token": "Bearer " + node.token(user), "userId": user}

    a = await sio_clients.connect(url, "alice", transports=["websocket"], auth=auth(alice))
    b = await sio_clients.connect(url, "bob", auth=auth(bob))  # the default transports
    for socket in (a, b):
        await socket.connected()
        await socket.next("chat:init_data")

    await a.emit_ack("chat:join", room)
    await b.emit_ack("chat:join", room)
    await a.emit_ack("chat:join", "nope")
    await a.emit_ack("chat:leave", room)
    await a.emit_ack("chat:leave", 5)
    await a.emit_ack("chat:join", room)
    [sent] = await a.emit_ack("chat:send_message", {"roomId": room, "content": "hello"})
    await b.next("chat:message", id=sent["id"])
    await a.emit_ack("chat:send_message", {"roomId": room, "content": "x", "type": "POLL"})
    await a.emit_ack("chat:typing", {"roomId": room, "isTyping": True})
    await b.next("chat:typing_status", userId=alice, isTyping=True)
    await a.emit_ack("chat:typing", {"roomId": room})
    await a.emit_ack("chat:presence", "away")
    await b.next("chat:presence_update", userId=alice, status="away")
    await a.emit_ack("chat:presence", "asleep")
    await a.emit_ack("chat:update_message", {"messageId": sent["id"], "content": "edited"})
    await b.next("chat:message_update", roomId=room)
    await b.emit_ack("chat:update_message", {"messageId": sent["id"], "content": "not mine"})
    await a.emit_ack("chat:delete_message", sent["id"])
    await b.next("chat:message_delete", messageId=sent["id"])
    await b.emit_ack("chat:delete_message", sent["id"])
    await a.emit_ack("chat:start_direct", bob)
    await a.next("chat:message", type="SYSTEM", roomType="DIRECT")
    await a.emit_ack("chat:start_direct", {"userId": bob})
    await a.emit_ack("chat:toggle_favorite", {"id": room, "type": "ROOM"})
    await a.next("chat:favorites_update")
    await a.emit_ack("chat:toggle_favorite", {"id": room, "type": "GALAXY"})
    await a.emit_ack("chat:nope", {})
    await a.next("chat:error", code="unknown_event")
    await rest.create_room(carol, alice, name="Later")
    await a.next("chat:room_list_update")
    await a.next("chat:people_list_update", lambda people: any(person["id"] == carol for person in people))
    refused = await sio_clients.connect(url, "refused", transports=["websocket"], auth={**auth(alice), "token": "t"})
    assert (await refused.connect_error())["data"]["code"] == "invalid_token"

    met = {event.event for socket in (a, b) for event in socket.events}
    assert met == set(SEED_CHANNELS["bull"].server), set(SEED_CHANNELS["bull"].server) - met
    outcomes = _outcomes(contract, "/chat/", (a, b))
    assert {(event, refused) for event in BullDialect.client_events for refused in (True, False)} <= outcomes
    assert ("chat:nope", True) in outcomes
    assert [p for socket in (a, b, refused) for p in sio_violations(contract, socket)] == []
