"""Seed 001's dialect (a NestJS gateway on Socket.IO namespace `/chat`), driven by npm `socket.io-client` the way
the document's examples use it: `io(base + '/chat', {query: {userId, token}, transports: ['websocket',
'polling']})` (or the default transports, long-polling first), `socket.emit('join-conversation' |
'leave-conversation' | 'send-message' | 'typing', {...})` with ids as JSON numbers, and `socket.on(...)` for
`joined-conversation`, `message-sent`, `receive-message`, `message-error`, `user-typing`, `user:online`,
`user:offline` and `error`. The token rides in the query string beside the document's `userId` ("host, port
and token aside"). Users are numeric (their ids are JSON numbers on this dialect's wire).

The document's own "Complete Example" and "Connection Lifecycle" code (tests/js/examples/seed001*.js) run
unchanged but for the host and port, the ids and the token, with tests/js/run_example.mjs.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable

import pytest
import socketio

from app.chat import events
from app.chat.events import Event
from app.chat.ids import MAX_ALIAS_ROOM, MAX_SAFE_INTEGER, alias_parts, message_alias
from app.gateways.socketio.nestjs_chat import NestjsDialect
from tests.node import ROOT, require_node
from tests.realtime.conftest import QUIET, WAIT, disable_user, eventually

WEBSOCKET_FIRST = ["websocket", "polling"]  # the document's "Example Connection"
CONVERSATIONS = "/api/chats/conversations"  # seed 001's REST (app/rest/nestjs_seed.py)
UNKNOWN_CONVERSATION = 2_000_000_000  # a conversation id no test creates (the room ids are a small sequence)
RATE_LIMITED = "too many events; slow down"


# -- helpers ------------------------------------------------------------------------------------------------


@pytest.fixture
def numeric() -> Callable[[], str]:
    """Unique numeric user ids (the decimal strings tokens carry), shown as JSON numbers by this dialect."""
    return lambda: str(random.randrange(10**8, 10**9))


def base(node) -> str:
    return node.url.rstrip("/")


async def conversation(node, user: str, other: str) -> int:
    """The two users' conversation, through seed 001's REST: its id, a JSON number."""
    status, body = await node.rest.call(
        "POST", CONVERSATIONS, user, {"sender_id": int(user), "receiver_id": int(other)}
    )
    assert status in (200, 201), body
    assert type(body["id"]) is int, body
    return body["id"]


def pair(*users: str) -> dict:
    """A conversation's `{sender_id, receiver_id}`: the pair in a stable order, the lower id first (the order seed
    001's REST answers with, whoever asks and whoever sends)."""
    low, high = sorted(int(user) for user in users)
    return {"sender_id": low, "receiver_id": high}


async def chat(
    sio_clients, node, user: str, name: str | None = None, transports: list[str] | None = WEBSOCKET_FIRST, **options
):
    """`io(base + '/chat', {query: {userId, token}, transports})`, connected."""
    query = {"userId": int(user), "token": node.token(user)}
    if transports is not None:
        options["transports"] = transports
    socket = await sio_clients.connect(f"{base(node)}/chat", name or f"u{user}", query=query, **options)
    await socket.connected()
    return socket


def message(sender: str, conversation_id: object, content: str, message_type: str = "text") -> dict:
    return {"sender_id": int(sender), "conversation_id": conversation_id, "message_type": message_type,
            "content": content}  # fmt: skip


def shown(
    room: int, seq: int, sender: str, timestamp: str, content: str, conversation_pair: dict, message_type: str = "text"
) -> dict:
    """A message as `message-sent` and `receive-message` show it: ids as JSON numbers, the id its alias."""
    return {
        "id": message_alias(str(room), seq),
        "sender_id": int(sender),
        "conversation_id": room,
        "timestamp": timestamp,
        "message_type": message_type,
        "content": content,
        "conversation": {"id": room, **conversation_pair},
    }


def rows(pg, room: int, content: str) -> list[tuple]:
    return pg("select id::text, seq, sender_id, type from messages where room_id = %s and content = %s",
              (room, content))  # fmt: skip


def sent_by(pg, room: int, sender: str) -> int:
    """How many messages `sender` wrote in the room (the system message of a conversation's start aside)."""
    return pg("select count(*) from messages where room_id = %s and sender_id = %s and type <> 'system'",
              (room, sender))[0][0]  # fmt: skip


def error(message: str, code: str) -> dict:
    return {"message": message, "code": code}


# -- connecting, and every event over each transport -------------------------------------------------------------


@pytest.mark.parametrize(
    ("transports", "opened"),
    [
        (WEBSOCKET_FIRST, ["websocket"]),
        (None, ["polling", "websocket"]),  # the default: long-polling first, then the upgrade
        (["polling"], ["polling"]),
    ],
    ids=["websocket", "default-polling-then-upgrade", "polling-only"],
)
async def test_every_event_works_over_each_transport_with_acknowledgements(
    node, sio_clients, numeric, transports, opened
):
    alice, bob = numeric(), numeric()
    room = await conversation(node, alice, bob)
    canonical = await node.connect(bob)
    await canonical.join(str(room))
    peer = await chat(sio_clients, node, bob, "bob")
    socket = await chat(sio_clients, node, alice, "alice", transports=transports)
    if opened == ["polling", "websocket"]:
        assert await socket.upgraded() == "websocket"
    assert socket.transports == opened and socket.transport == opened[-1]
    assert await peer.next("user:online") == {"userId": int(alice)}

    # join-conversation: the event and the acknowledgement
    assert await socket.emit_ack("join-conversation", {"conversationId": room, "userId": int(alice)}) == [
        {"conversationId": room, "success": True}
    ]
    assert await socket.next("joined-conversation") == {"conversationId": room, "success": True}

    # typing, both ways
    typing = {"conversationId": room, "userId": int(alice), "isTyping": True}
    assert await socket.emit_ack("typing", typing) == [{"conversationId": room, "isTyping": True, "success": True}]
    assert await peer.next("user-typing") == typing
    await socket.emit("typing", {**typing, "isTyping": False})  # no callback, as the document emits it
    assert await peer.next("user-typing", isTyping=False) == {**typing, "isTyping": False}

    # send-message: confirmed to the sender (event and acknowledgement), received by the other participant
    [ack] = await socket.emit_ack("send-message", message(alice, room, "over " + (socket.transport or "")))
    live = await canonical.next("message:new")
    expected = shown(room, live["seq"], alice, live["created_at"], live["content"], pair(alice, bob))
    assert ack == expected
    assert await socket.next("message-sent") == expected
    assert await peer.next("receive-message") == expected
    await socket.emit("send-message", message(alice, room, "without a callback"))
    assert (await peer.next("receive-message"))["content"] == "without a callback"
    assert (await socket.next("message-sent"))["content"] == "without a callback"

    # and the other way
    await peer.emit("send-message", message(bob, room, "back to you"))
    back = await socket.next("receive-message")
    assert (back["sender_id"], back["content"], back["conversation"]) == (int(bob), "back to you",
                                                                         {"id": room, **pair(alice, bob)})  # fmt: skip

    # leave-conversation
    assert await socket.emit_ack("leave-conversation", {"conversationId": room}) == [
        {"conversationId": room, "success": True}
    ]
    await peer.emit("send-message", message(bob, room, "after the leave"))
    await peer.next("message-sent", content="after the leave")
    await socket.quiet(QUIET, "receive-message", content="after the leave")

    # an unknown event: `error`, also as the acknowledgement
    unknown = error("There is no handler for event 'chat:send'", "unknown_event")
    assert await socket.emit_ack("chat:send", {"conversationId": room}) == [unknown]
    assert await socket.next("error") == unknown
    assert socket.is_connected and socket.connects == 1 and socket.transport == opened[-1]
    assert socket.received("message-error") == [] and socket.received("error") == [unknown]


# -- join and leave ------------------------------------------------------------------------------------------


async def test_joining_someone_elses_or_an_unknown_conversation_is_refused_with_an_error_event(
    node, sio_clients, numeric
):
    alice, bob, mallory = numeric(), numeric(), numeric()
    room = await conversation(node, alice, bob)
    own = await conversation(node, mallory, alice)
    socket = await chat(sio_clients, node, mallory)

    refused = error("Unauthorized to join this conversation", "not_member")
    assert await socket.emit_ack("join-conversation", {"conversationId": room, "userId": int(mallory)}) == [refused]
    assert await socket.next("error") == refused
    missing = error("Conversation not found", "room_not_found")
    payload = {"conversationId": UNKNOWN_CONVERSATION, "userId": int(mallory)}
    assert await socket.emit_ack("join-conversation", payload) == [missing]
    assert await socket.next("error") == missing
    await socket.emit("join-conversation", {"conversationId": room, "userId": int(mallory)})
    assert await socket.next("error") == refused

    # Refused joins give nothing of the conversation, and the connection keeps serving.
    await socket.emit("join-conversation", {"conversationId": own, "userId": int(mallory)})
    assert await socket.next("joined-conversation") == {"conversationId": own, "success": True}
    await node.rest.send(alice, str(room), "members only")
    await socket.quiet(QUIET, "receive-message")
    assert socket.received("joined-conversation") == [{"conversationId": own, "success": True}]
    assert socket.is_connected and socket.connects == 1


async def test_leave_conversation_stops_its_events_on_that_connection_only_until_it_joins_again(
    node, sio_clients, numeric
):
    alice, bob = numeric(), numeric()
    room = await conversation(node, alice, bob)
    leaving = await chat(sio_clients, node, alice, "leaving")
    staying = await chat(sio_clients, node, alice, "staying")
    peer = await chat(sio_clients, node, bob, "bob")

    assert await leaving.emit_ack("leave-conversation", {"conversationId": room}) == [
        {"conversationId": room, "success": True}
    ]
    await peer.emit("typing", {"conversationId": room, "userId": int(bob), "isTyping": True})
    await peer.emit("send-message", message(bob, room, "after the leave"))
    assert (await staying.next("user-typing"))["userId"] == int(bob)
    assert (await staying.next("receive-message"))["content"] == "after the leave"
    await leaving.quiet(QUIET, "receive-message")
    await leaving.quiet(0, "user-typing")

    assert await leaving.emit_ack("join-conversation", {"conversationId": room, "userId": int(alice)}) == [
        {"conversationId": room, "success": True}
    ]
    await peer.emit("send-message", message(bob, room, "after the join"))
    assert (await leaving.next("receive-message"))["content"] == "after the join"
    assert (await staying.next("receive-message"))["content"] == "after the join"
    assert [m["content"] for m in leaving.received("receive-message")] == ["after the join"]


# -- messages ------------------------------------------------------------------------------------------------


async def test_a_message_is_confirmed_to_its_connection_received_by_the_others_and_stored_once(
    node, sio_clients, numeric, drain, pg
):
    bob, alice = sorted((numeric(), numeric()), key=int)  # the sender has the higher id: the pair is (bob, alice)
    room = await conversation(node, bob, alice)
    canonical = await node.connect(bob)
    await canonical.join(str(room))
    sender = await chat(sio_clients, node, alice, "sender")
    other_tab = await chat(sio_clients, node, alice, "other-tab")
    peer = await chat(sio_clients, node, bob, "bob")  # nobody joins: sessions follow every conversation

    await sender.emit("send-message", message(alice, room, "Hello, how are you?"))
    live = await canonical.next("message:new")
    expected = shown(room, live["seq"], alice, live["created_at"], "Hello, how are you?", pair(alice, bob))
    assert expected["id"] == room * 2**32 + live["seq"]
    confirmed = await sender.next("message-sent")
    assert confirmed == expected
    for number in (confirmed["id"], confirmed["sender_id"], confirmed["conversation_id"]):
        assert type(number) is int and number <= MAX_SAFE_INTEGER, confirmed
    assert await peer.next("receive-message") == expected
    assert await other_tab.next("receive-message") == expected  # the sender's other connection
    await sender.quiet(QUIET, "receive-message")  # not to the connection that sent it
    await other_tab.quiet(0, "message-sent")

    # Each message type, with its content as given.
    confirmations = [confirmed]
    for kind, content in (("image", "https://cdn.example.com/cat.png"), ("file", "report.pdf")):
        [ack] = await sender.emit_ack("send-message", message(alice, room, content, kind))
        alias_room, seq = alias_parts(ack["id"])
        live = await canonical.wait_message(alias_room, seq)
        assert (alias_room, live["content"], live["type"]) == (str(room), content, kind)
        typed = shown(room, seq, alice, live["created_at"], content, pair(alice, bob), kind)
        assert ack == typed
        assert await peer.next("receive-message", content=content) == typed
        confirmations.append(ack)

    await drain()
    first = canonical.messages(str(room))[0]
    assert rows(pg, room, "Hello, how are you?") == [(first["id"], first["seq"], alice, "text")]
    assert sent_by(pg, room, alice) == 3

    # Seed 001's REST history shows the same messages with the same fields (its system message left out).
    status, history = await node.rest.call("GET", f"{CONVERSATIONS}/{room}/messages?page=1&limit=20", bob)
    assert (status, history) == (200, confirmations)


async def test_a_bad_message_gets_message_error_in_the_documents_wording_and_nothing_is_stored(
    node, sio_clients, numeric, drain, pg
):
    alice, bob, carol = numeric(), numeric(), numeric()
    room = await conversation(node, alice, bob)
    theirs = await conversation(node, bob, carol)
    socket = await chat(sio_clients, node, alice)
    peer = await chat(sio_clients, node, bob, "bob")
    good = message(alice, room, "bad")
    cases = [
        ({key: value for key, value in good.items() if key != "sender_id"},
         "sender_id should not be empty, sender_id must be an integer number"),
        ({**good, "sender_id": None}, "sender_id should not be empty, sender_id must be an integer number"),
        ({**good, "sender_id": alice}, "sender_id must be an integer number"),  # the right digits, as a string
        ({**good, "sender_id": 1.5}, "sender_id must be an integer number"),
        ({**good, "sender_id": True}, "sender_id must be an integer number"),
        ({**good, "sender_id": 2**53}, f"sender_id must not be greater than {MAX_SAFE_INTEGER}"),
        ({**good, "sender_id": 2**64}, "sender_id must be an integer number"),  # beyond 64 bits: read as a float
        ({**good, "conversation_id": str(room)}, "conversation_id must be an integer number"),
        ({**good, "conversation_id": 2**60}, f"conversation_id must not be greater than "
                                             f"{MAX_SAFE_INTEGER}"),
        ({**good, "conversation_id": UNKNOWN_CONVERSATION}, "Conversation not found"),
        ({**good, "conversation_id": theirs}, "Unauthorized to join this conversation"),
        ({**good, "sender_id": int(bob)}, "sender_id must be your own user id"),
        ({**good, "message_type": "TEXT"}, "message_type must be one of the following values: text, image, file"),
        ({**good, "message_type": "video"}, "message_type must be one of the following values: text, image, file"),
        ({**good, "content": ""}, "content should not be empty"),
        ({key: value for key, value in good.items() if key != "content"}, "content should not be empty"),
        ({**good, "content": 5}, "content must be a string"),
        ({}, "sender_id should not be empty, sender_id must be an integer number, conversation_id should not be "
             "empty, conversation_id must be an integer number, message_type must be one of the following values: "
             "text, image, file, content should not be empty"),
        ("Hello!", "send-message takes an object"),
        ([good], "send-message takes an object"),
    ]  # fmt: skip
    for payload, words in cases:
        assert await socket.emit_ack("send-message", payload) == [{"error": words}], payload
        assert await socket.next("message-error") == {"error": words}, payload
    await socket.emit("send-message")  # no payload at all
    assert await socket.next("message-error") == {"error": "send-message takes an object"}

    # Nothing reached anyone, nothing is stored, and the connection still sends.
    await peer.quiet(QUIET, "receive-message")
    await socket.quiet(0, "message-sent")
    assert socket.is_connected and socket.connects == 1
    [sent] = await socket.emit_ack("send-message", message(alice, room, "still here"))
    assert (sent["content"], sent["sender_id"]) == ("still here", int(alice))
    assert (await peer.next("receive-message"))["content"] == "still here"
    await drain()
    assert sent_by(pg, room, alice) == 1 and sent_by(pg, theirs, alice) == 0
    assert pg("select count(*) from messages where sender_id = %s and type <> 'system'", (alice,))[0][0] == 1


async def test_group_rooms_show_no_receiver_and_ids_beyond_the_alias_range_stay_decimal_strings(
    node, sio_clients, numeric
):
    alice, bob, carol = numeric(), numeric(), numeric()
    group = await node.rest.create_room(alice, bob, carol, name="three of us")
    socket = await chat(sio_clients, node, alice)
    peer = await chat(sio_clients, node, bob, "bob")
    [sent] = await socket.emit_ack("send-message", message(alice, int(group), "to the group"))
    conversation_of_a_group = {"id": int(group), "sender_id": int(alice), "receiver_id": None}
    assert sent["conversation"] == conversation_of_a_group and alias_parts(sent["id"])[0] == group
    assert await peer.next("receive-message", content="to the group") == sent

    # A message that no numeric alias can name (its room beyond 2**21 - 1) keeps its 64-bit id, as a string.
    dialect = NestjsDialect(socketio.AsyncServer(), node.hub)
    record = {"id": "123456789012345678", "room_id": str(MAX_ALIAS_ROOM + 1), "seq": 7, "sender_id": alice,
              "created_at": "2026-01-01T00:00:00.000Z", "type": "text", "content": "far away",
              "client_ref": None}  # fmt: skip
    frame = await dialect.encode(Event(events.MESSAGE_NEW, record))  # an Engine.IO MESSAGE: Socket.IO's EVENT
    assert frame.data.startswith('2/chat,["receive-message",'), frame.data
    assert json.loads(frame.data.removeprefix("2/chat,"))[1] == {
        "id": "123456789012345678",
        "sender_id": int(alice),
        "conversation_id": MAX_ALIAS_ROOM + 1,
        "timestamp": "2026-01-01T00:00:00.000Z",
        "message_type": "text",
        "content": "far away",
        "conversation": {"id": MAX_ALIAS_ROOM + 1, "sender_id": int(alice), "receiver_id": None},
    }


# -- typing and presence -----------------------------------------------------------------------------------------


async def test_typing_reaches_the_others_not_the_typers_own_connections(node, sio_clients, numeric):
    alice, bob, carol = numeric(), numeric(), numeric()
    room = await conversation(node, alice, bob)
    stranger_room = await conversation(node, bob, carol)
    typer = await chat(sio_clients, node, alice, "typer")
    other_tab = await chat(sio_clients, node, alice, "other-tab")
    peer = await chat(sio_clients, node, bob, "bob")
    canonical = await node.connect(bob)
    await canonical.join(str(room))

    start = {"conversationId": room, "userId": int(alice), "isTyping": True}
    assert await typer.emit_ack("typing", start) == [{"conversationId": room, "isTyping": True, "success": True}]
    assert await peer.next("user-typing") == start
    seen = await canonical.next("typing:update")
    assert (seen["room_id"], seen["user_id"], seen["typing"]) == (str(room), alice, True)
    await typer.emit("typing", {**start, "isTyping": False})
    assert await peer.next("user-typing", isTyping=False) == {**start, "isTyping": False}
    await typer.quiet(QUIET, "user-typing")
    await other_tab.quiet(0, "user-typing")

    # The typer is the connection's user, whatever userId the payload claims.
    await typer.emit("typing", {**start, "userId": int(carol)})
    assert await peer.next("user-typing") == start

    # Refusals: `error`, the same as the acknowledgement.
    cases = [
        ({**start, "isTyping": "true"}, error("isTyping must be a boolean value", "invalid_payload")),
        ({**start, "conversationId": str(room)}, error("conversationId must be an integer number", "invalid_payload")),
        ({**start, "conversationId": stranger_room}, error("Unauthorized to join this conversation", "not_member")),
        ({**start, "conversationId": UNKNOWN_CONVERSATION}, error("Conversation not found", "room_not_found")),
    ]
    for payload, refused in cases:
        assert await typer.emit_ack("typing", payload) == [refused], payload
        assert await typer.next("error") == refused
    await peer.quiet(QUIET, "user-typing")


async def test_online_and_offline_reach_the_people_sharing_a_conversation_once_all_connections_are_gone(
    node, sio_clients, numeric
):
    alice, bob, stranger = numeric(), numeric(), numeric()
    await conversation(node, alice, bob)
    peer = await chat(sio_clients, node, bob, "bob")
    outsider = await chat(sio_clients, node, stranger, "stranger")

    first = await chat(sio_clients, node, alice, "first")
    assert await peer.next("user:online") == {"userId": int(alice)}
    second = await chat(sio_clients, node, alice, "second")
    await first.quiet(QUIET, "user:online", userId=int(alice))  # never one's own
    await first.disconnect()
    await first.disconnected()
    await peer.quiet(QUIET, "user:offline")  # she is still online on her other connection
    await second.disconnect()
    assert await peer.next("user:offline") == {"userId": int(alice)}
    await outsider.quiet(QUIET, "user:online")
    assert outsider.received("user:offline") == []
    assert peer.received("user:online") == [{"userId": int(alice)}]


# -- refusals at connect -----------------------------------------------------------------------------------------


async def test_connections_without_a_matching_valid_token_are_refused_with_connect_error(
    node, sio_clients, numeric, settings
):
    alice, bob, disabled = numeric(), numeric(), numeric()
    await node.rest.call("GET", "/api/v1/me", disabled)  # known, then disabled
    await disable_user(settings, disabled)
    connections = node.hub.connection_count
    cases = {
        "no userId": ({"token": node.token(alice)}, "invalid_payload"),
        "someone else's userId": ({"userId": int(bob), "token": node.token(alice)}, "user_mismatch"),
        "no token": ({"userId": int(alice)}, "auth_required"),
        "not a token": ({"userId": int(alice), "token": "not-a-jwt"}, "invalid_token"),
        "expired token": ({"userId": int(alice), "token": node.token(alice, ttl=-60)}, "token_expired"),
        "disabled user": ({"userId": int(disabled), "token": node.token(disabled)}, "user_disabled"),
    }
    for transports in (WEBSOCKET_FIRST, None):
        for label, (query, code) in cases.items():
            options = {"transports": transports} if transports else {}
            name = f"{label} over {(transports or ['polling'])[0]}".replace(" ", "-")
            socket = await sio_clients.connect(f"{base(node)}/chat", name, query=query, **options)
            refused = await socket.connect_error()
            assert refused["data"]["code"] == code, (name, refused)
            assert refused["message"] and refused["message"] == refused["data"]["message"], (name, refused)
            assert socket.connects == 0 and socket.finished, name  # the client does not retry a refusal
    assert node.hub.connection_count == connections  # refused connections leave nothing behind
    for case in ("no userId", "someone else's userId"):
        assert sio_clients.sockets[f"{case} over websocket".replace(" ", "-")].events == []

    # The same user, with the right query, connects.
    socket = await chat(sio_clients, node, alice, "alice")
    assert socket.is_connected


async def test_a_disabled_user_is_disconnected_with_an_error_event(node, sio_clients, numeric, settings):
    alice, bob = numeric(), numeric()
    await conversation(node, alice, bob)
    peer = await chat(sio_clients, node, bob, "bob")
    socket = await chat(sio_clients, node, alice, "alice")
    assert await peer.next("user:online") == {"userId": int(alice)}
    await disable_user(settings, alice)
    ended = await socket.next("error")
    assert ended["code"] == "user_disabled" and ended["message"], ended
    assert await socket.disconnected() == "io server disconnect"
    assert await peer.next("user:offline") == {"userId": int(alice)}


# -- one room, every dialect -------------------------------------------------------------------------------------


async def test_one_conversation_across_001_canonical_004_and_phoenix_clients(
    node, sio_clients, node_clients, phoenix_clients, numeric
):
    bob, alice = sorted((numeric(), numeric()), key=int)  # the 001 sender has the higher id
    room = await conversation(node, alice, bob)
    nest = await chat(sio_clients, node, alice, "alice-001")
    canonical = await node.connect(bob)
    await canonical.join(str(room))
    fastapi = await node_clients.open(node.ws(f"/ws/{bob}?token={node.token(bob)}"), name="bob-004")
    await fastapi.opened()
    phoenix = await phoenix_clients.socket(node.ws("/socket"), {"token": node.token(bob)}, name="bob-phoenix")
    await phoenix.connect()
    await phoenix.opened()
    channel = await phoenix.channel(f"chat:{room}")
    joined = await channel.join()
    assert joined.status == "ok", joined

    # 001 -> canonical, 004, Phoenix: the same message in each shape.
    [sent] = await nest.emit_ack("send-message", message(alice, room, "from the nest gateway"))
    alias_room, seq = alias_parts(sent["id"])
    live = await canonical.wait_message(str(room), seq)
    assert alias_room == str(room)
    assert (live["room_id"], live["sender_id"], live["content"], live["type"]) == (
        str(room),
        alice,
        "from the nest gateway",
        "text",
    )
    assert sent == shown(room, seq, alice, live["created_at"], "from the nest gateway", pair(alice, bob))
    assert await fastapi.next(event="new_message", messageId=live["id"]) == {
        "event": "new_message",
        "conversationId": str(room),
        "messageId": live["id"],
        "senderId": alice,
        "content": "from the nest gateway",
        "messageType": "text",
        "timestamp": live["created_at"],
    }
    pushed = await channel.next("receive_message", id=live["id"])
    assert pushed == {
        "id": live["id"],
        "chat_id": str(room),
        "seq": seq,
        "sender_id": alice,
        "content": "from the nest gateway",
        "type": "text",
        "timestamp": live["created_at"],
        "client_ref": live["client_ref"],
        "attachment": None,
        "reply_to": None,
    }

    # canonical -> 001, and Phoenix -> 001, as receive-message with the alias of the canonical id.
    ack = await canonical.send(str(room), "from socket.io", client_ref="c-1")
    assert ack["ok"], ack
    receipt = ack["data"]
    assert await nest.next("receive-message", content="from socket.io") == shown(
        room, receipt["seq"], bob, receipt["created_at"], "from socket.io", pair(alice, bob)
    )
    reply = await channel.push("send_message", {"content": "from phoenix", "mobile_ref_id": "m-1"})
    assert reply.status == "ok", reply
    from_phoenix = await nest.next("receive-message", content="from phoenix")
    confirmed = await channel.next("message_sent", mobile_ref_id="m-1")
    assert from_phoenix == shown(room, confirmed["seq"], bob, confirmed["timestamp"], "from phoenix", pair(alice, bob))
    assert alias_parts(from_phoenix["id"]) == (str(room), confirmed["seq"])
    live = await canonical.wait_message(str(room), confirmed["seq"])
    assert live["id"] == confirmed["id"]
    await nest.quiet(QUIET, "message-error")


# -- two web nodes -----------------------------------------------------------------------------------------------


async def test_001_clients_on_two_web_nodes_exchange_messages_typing_and_presence(spawn, sio_clients, numeric):
    first, second = await spawn(), await spawn()
    alice, bob = numeric(), numeric()
    room = await conversation(first, alice, bob)
    here = await chat(sio_clients, first, alice, "alice-on-first")
    there = await chat(sio_clients, second, bob, "bob-on-second")
    assert await here.next("user:online") == {"userId": int(bob)}

    [sent] = await here.emit_ack("send-message", message(alice, room, "across nodes"))
    assert await there.next("receive-message", content="across nodes") == sent
    await there.emit("send-message", message(bob, room, "and back"))
    back = await there.next("message-sent", content="and back")
    assert await here.next("receive-message", content="and back") == back
    assert alias_parts(back["id"]) == (str(room), alias_parts(sent["id"])[1] + 1)

    await there.emit("typing", {"conversationId": room, "userId": int(bob), "isTyping": True})
    assert await here.next("user-typing") == {"conversationId": room, "userId": int(bob), "isTyping": True}
    await there.disconnect()
    assert await here.next("user:offline") == {"userId": int(bob)}


# -- bad input ---------------------------------------------------------------------------------------------------


async def test_bad_input_gets_an_error_event_the_connection_stays_and_nothing_changes(
    node, sio_clients, numeric, drain, pg
):
    alice, bob = numeric(), numeric()
    room = await conversation(node, alice, bob)
    socket = await chat(sio_clients, node, alice)
    peer = await chat(sio_clients, node, bob, "bob")

    invalid = "invalid_payload"
    empty = "conversationId should not be empty, conversationId must be an integer number"
    too_big = f"conversationId must not be greater than {MAX_SAFE_INTEGER}"
    binary = "binary attachments are not accepted: no event of this namespace takes any"  # issue 14 #1
    cases = [
        ("join-conversation", [{"conversationId": str(room), "userId": int(alice)}],
         error("conversationId must be an integer number", invalid)),
        ("join-conversation", [{"userId": int(alice)}], error(empty, invalid)),
        ("join-conversation", [{"conversationId": None}], error(empty, invalid)),
        ("join-conversation", [{"conversationId": room + 0.5}], error("conversationId must be an integer number",
                                                                      invalid)),
        ("join-conversation", [{"conversationId": 0}], error("conversationId must not be less than 1", invalid)),
        ("join-conversation", [{"conversationId": -room}], error("conversationId must not be less than 1", invalid)),
        ("join-conversation", [{"conversationId": 2**53}], error(too_big, invalid)),
        ("join-conversation", [str(room)], error("join-conversation takes an object", invalid)),
        ("join-conversation", [], error("join-conversation takes an object", invalid)),
        ("leave-conversation", [[room]], error("leave-conversation takes an object", invalid)),
        ("leave-conversation", [{"conversationId": True}], error("conversationId must be an integer number",
                                                                  invalid)),
        ("typing", [{"conversationId": room, "isTyping": 1}], error("isTyping must be a boolean value", invalid)),
        ("typing", [b"\x00\x01"], error(binary, invalid)),
        ("message", [{"conversation_id": room, "content": "hi"}],
         error("There is no handler for event 'message'", "unknown_event")),
        ("sendMessage", [], error("There is no handler for event 'sendMessage'", "unknown_event")),
    ]  # fmt: skip
    for event, args, refused in cases:
        assert await socket.emit_ack(event, *args) == [refused], (event, args)
        assert await socket.next("error") == refused, (event, args)
    await socket.emit("send-message", b"\x00\x01")
    assert await socket.next("message-error") == {"error": binary}

    await peer.quiet(QUIET)  # none of it reached anyone
    assert socket.received("joined-conversation") == [] and socket.is_connected and socket.connects == 1
    assert await socket.emit_ack("join-conversation", {"conversationId": room, "userId": int(alice)}) == [
        {"conversationId": room, "success": True}
    ]
    await drain()
    assert sent_by(pg, room, alice) == 0


async def test_a_flood_beyond_the_event_budget_is_refused_as_rate_limited_and_the_connection_stays(
    spawn, sio_clients, numeric, drain, pg
):
    node = await spawn(EVENT_RATE=5, EVENT_BURST=5)
    alice, bob = numeric(), numeric()
    room = await conversation(node, alice, bob)
    socket = await chat(sio_clients, node, alice)
    peer = await chat(sio_clients, node, bob, "bob")

    flood = 15
    for n in range(flood):
        await socket.emit("send-message", message(alice, room, f"flood {n}"))
    await eventually(
        lambda: len(socket.received("message-sent")) + len(socket.received("message-error")) == flood,
        what="an answer to every send",
    )
    sent, refused = socket.received("message-sent"), socket.received("message-error")
    assert 5 <= len(sent) < flood and refused, (len(sent), refused)
    assert refused == [{"error": RATE_LIMITED}] * len(refused)
    payload = {"conversationId": room, "userId": int(alice), "isTyping": True}
    for event in ("typing", "join-conversation", "no-such-event"):
        answers = await asyncio.gather(*(socket.emit_ack(event, payload) for _ in range(10)))
        assert [error(RATE_LIMITED, "rate_limited")] in answers, (event, answers)

    # The connection stays: once the budget refills, events are served again.
    await asyncio.sleep(1.5)
    [confirmed] = await socket.emit_ack("send-message", message(alice, room, "after the flood"))
    assert confirmed["content"] == "after the flood" and socket.is_connected and socket.connects == 1
    assert (await peer.next("receive-message", content="after the flood"))["id"] == confirmed["id"]
    received = [m["content"] for m in peer.received("receive-message")]
    assert received == [m["content"] for m in sent] + ["after the flood"]
    await drain()
    assert sent_by(pg, room, alice) == len(sent) + 1


# -- the document's own example code -----------------------------------------------------------------------------

EXAMPLES = ROOT / "tests" / "js" / "examples"
# What the page running the examples defines: the Socket.IO client's `io` (a <script> tag in a browser) and the
# UI functions their handlers call, which print what they are given.
PRELUDE = """import { io } from "socket.io-client";
function addMessageToUI(data) { console.log("addMessageToUI " + JSON.stringify(data)); }
function displayMessage(data) { console.log("displayMessage " + JSON.stringify(data)); }
function showTypingIndicator(what) { console.log("showTypingIndicator " + JSON.stringify(what)); }
function hideTypingIndicator() { console.log("hideTypingIndicator"); }
function updateUserStatus(userId, status) { console.log("updateUserStatus " + JSON.stringify([userId, status])); }
function alert(text) { console.log("alert " + JSON.stringify(text)); }
"""


class Example:
    """A document's example running in Node (tests/js/run_example.mjs) behind PRELUDE, until stop()."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._reading = asyncio.create_task(process.stdout.read())  # kept whole: a cancelled read loses it

    @classmethod
    async def start(cls, name: str, replace: dict[str, str], tmp_path) -> Example:
        require_node("run_example.mjs", "socket.io-client", "typescript")
        source = tmp_path / name
        source.write_text(PRELUDE + (EXAMPLES / name).read_text(encoding="utf-8"), encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            "node",
            str(ROOT / "tests" / "js" / "run_example.mjs"),
            str(source),
            cwd=ROOT,
            env={"EXAMPLE_REPLACE": json.dumps(replace), "PATH": "/usr/local/bin:/usr/bin:/bin"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(process)

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def stop(self) -> str:
        """End it if it still runs (it exits by itself only once the server has ended its session: the client
        does not reconnect then, and nothing else keeps Node running); everything it printed."""
        if self.running:
            self.process.terminate()
        output = (await asyncio.wait_for(self._reading, WAIT)).decode()
        await asyncio.wait_for(self.process.wait(), WAIT)
        return output


def pointed_at(node, user: str, room: int) -> dict[str, str]:
    """What a user of the examples changes: the host and port, the ids, and the token beside the userId."""
    return {
        "http://localhost:3000": base(node),
        "userId: 1": f"userId: {user}",
        f"query: {{ userId: {user} }}": f"query: {{ userId: {user}, token: {json.dumps(node.token(user))} }}",
        "conversationId: 1": f"conversationId: {room}",
        "sender_id: 1": f"sender_id: {user}",
        "conversation_id: 1": f"conversation_id: {room}",
    }


def printed(output: str, function: str) -> list:
    """The arguments each call of a PRELUDE function printed, in order."""
    prefix = function + " "
    return [json.loads(line[len(prefix) :]) for line in output.splitlines() if line.startswith(prefix)]


async def test_the_documents_complete_example_runs_unchanged_against_the_server(
    node, sio_clients, numeric, settings, drain, pg, tmp_path
):
    alice, bob = numeric(), numeric()
    room = await conversation(node, bob, alice)
    peer = await chat(sio_clients, node, bob, "bob")
    example = await Example.start("seed001.js", pointed_at(node, alice, room), tmp_path)
    try:
        # What it does by itself: connect (with the default transports), join, send, type for a second.
        assert await peer.next("user:online") == {"userId": int(alice)}
        hello = await peer.next("receive-message", content="Hello, World!")
        expected_hello = {**hello, "sender_id": int(alice), "conversation_id": room, "message_type": "text",
                          "conversation": {"id": room, **pair(alice, bob)}}  # fmt: skip
        assert hello == expected_hello and alias_parts(hello["id"])[0] == str(room)
        typing = {"conversationId": room, "userId": int(alice)}
        assert await peer.next("user-typing") == {**typing, "isTyping": True}
        assert await peer.next("user-typing", timeout=WAIT + 1) == {**typing, "isTyping": False}  # "after 1s"

        # What it shows of the others: a message, typing, presence; and the server ending the session.
        [answer] = await peer.emit_ack("send-message", message(bob, room, "Hi alice!"))
        await peer.emit("typing", {"conversationId": room, "userId": int(bob), "isTyping": True})
        await peer.emit("typing", {"conversationId": room, "userId": int(bob), "isTyping": False})
        await peer.disconnect()
        again = await chat(sio_clients, node, bob, "bob-again")
        await asyncio.sleep(0.5)
        assert example.running  # its socket stays connected
        await disable_user(settings, alice)
        assert await again.next("user:offline") == {"userId": int(alice)}
        await asyncio.wait_for(example.process.wait(), WAIT)  # ended by the server, it does not reconnect
    finally:
        output = await example.stop()

    lines = output.splitlines()
    assert lines.count("âœ… Connected to chat server") == 1, output  # the document's text, emoji as it has them
    assert f"ğŸ“¥ Joined conversation: {room}" in lines, output
    sent = output.split("âœ… Message sent successfully: ", 1)[1]
    assert f"id: {hello['id']}," in sent and "content: 'Hello, World!'" in sent, output
    assert output.count("ğŸ“¨ New message: ") == 1 and "content: 'Hi alice!'" in output, output
    assert printed(output, "addMessageToUI") == [answer], output
    assert printed(output, "showTypingIndicator") == [f"User {bob} is typing..."], output
    assert output.count("\nhideTypingIndicator\n") == 1, output
    assert printed(output, "updateUserStatus") == [[int(bob), "offline"], [int(bob), "online"]], output
    assert "âŒ Error: " in output and "âŒ Disconnected from chat server" in output, output  # disabled
    assert "Message error" not in output and "alert " not in output, output
    await drain()
    [(_id, seq, sender, kind)] = rows(pg, room, "Hello, World!")
    assert (seq, sender, kind) == (alias_parts(hello["id"])[1], alice, "text")
    assert sent_by(pg, room, alice) == 1


async def test_the_documents_connection_lifecycle_runs_unchanged_against_the_server(
    node, sio_clients, numeric, settings, drain, pg, tmp_path
):
    alice, bob = numeric(), numeric()
    room = await conversation(node, alice, bob)
    peer = await chat(sio_clients, node, bob, "bob")
    example = await Example.start("seed001_lifecycle.js", pointed_at(node, alice, room), tmp_path)
    try:
        hello = await peer.next("receive-message", content="Hello!")
        assert (hello["sender_id"], hello["conversation_id"]) == (int(alice), room)
        assert await peer.next("user-typing") == {"conversationId": room, "userId": int(alice), "isTyping": True}
        [answer] = await peer.emit_ack("send-message", message(bob, room, "Hello to you"))
        await peer.emit("typing", {"conversationId": room, "userId": int(bob), "isTyping": True})
        await asyncio.sleep(0.5)
        assert example.running  # its socket stays connected
        await disable_user(settings, alice)
        assert await peer.next("user:offline") == {"userId": int(alice)}
        await asyncio.wait_for(example.process.wait(), WAIT)  # ended by the server, it does not reconnect
    finally:
        output = await example.stop()

    lines = output.splitlines()
    assert lines.count("Connected to chat server") == 1, output
    assert f"Joined conversation: {room}" in lines, output
    assert printed(output, "displayMessage") == [answer], output
    assert printed(output, "showTypingIndicator") == [int(bob)], output
    assert lines[-1] == "Disconnected from chat server", output
    await drain()
    assert [(sender, kind) for _id, _seq, sender, kind in rows(pg, room, "Hello!")] == [(alice, "text")]
    assert sent_by(pg, room, alice) == 1
