"""Seed 002's dialect (a Socket.IO + Redis + Bull service) on namespace `/chat/` (trailing slash kept), driven by
npm `socket.io-client` written the way the document's examples are: `io('ws://host/chat/', {transports:
['websocket'], auth: {token: 'Bearer ' + token, userId}})`, `socket.emit('chat:join', roomId)`,
`socket.emit('chat:send_message', {roomId, content, type})`, `socket.on('chat:message', ...)`. Every wait is
bounded; payloads are compared whole. The document's own usage examples (tests/js/examples/seed002.ts) run
against the server at the end, as seed 000's do (tests/realtime/test_phoenix_example.py)."""

from __future__ import annotations

import asyncio
import json
import random

from app.web import SERVICES
from tests.node import ROOT, require_node
from tests.realtime.conftest import QUIET, WAIT, disable_user, eventually

EXAMPLE = ROOT / "tests" / "js" / "examples" / "seed002.ts"
TYPES = {"text": "TEXT", "system": "SYSTEM", "file": "FILE", "image": "FILE"}


# -- helpers ------------------------------------------------------------------------------------------------


def numeric() -> str:
    """A unique numeric user id (a decimal string, as tokens carry it), for tests that seed 001 joins too."""
    return str(random.randrange(10**9, 10**15))


def auth(node, user: str, **claims) -> dict:
    """The document's `auth`: `{token: 'Bearer <JWT>', userId}`."""
    return {"token": "Bearer " + node.token(user, **claims), "userId": user}


async def bull(node, sio_clients, user: str, name: str, **claims):
    """`io('ws://host/chat/', {transports: ['websocket'], auth: {token: 'Bearer …', userId}})` as `user` (a token
    whose `name` claim is the user's id in capitals unless told), connected, its chat:init_data taken."""
    claims.setdefault("name", user.upper())
    sock = await sio_clients.connect(node.ws("/chat/"), name, transports=["websocket"], auth=auth(node, user, **claims))
    await sock.connected()
    await sock.next("chat:init_data")
    return sock


def message(sent: dict, room: str, room_type: str, content: str, sender: str, kind: str = "TEXT") -> dict:
    """The `chat:message` of a message sent, given its acknowledgement `{id, roomId, seq, timestamp}`."""
    return {
        "id": sent["id"],
        "roomId": room,
        "roomType": room_type,
        "type": kind,
        "content": content,
        "senderId": sender,
        "sender": {"id": sender, "name": sender.upper()},
        "timestamp": sent["timestamp"],
        "seq": sent["seq"],
    }


def stored(pg, room: str) -> list[tuple]:
    return pg("select id::text, sender_id, type, content from messages where room_id = %s order by seq", (int(room),))


async def conversation(node, node_clients, user: str, peer: str):
    """`user`'s seed-003 socket on the direct conversation with `peer` (`/ws/<peer>/`), after its online_user_list."""
    token = node.token(user, name=user.upper(), username=user)
    ws = await node_clients.open(node.ws(f"/ws/{peer}/?token={token}"), name=f"{user}-003")
    await ws.opened()
    await ws.next(type="online_user_list")
    return ws


def chat_message(text: str, peer: str) -> dict:
    """Seed 003's `chat_message` frame of a text, as its client sends one."""
    return {
        "type": "chat_message",
        "message": text,
        "multimedia_url": "",
        "file_identifier": "",
        "multimedia_url_expiration": "",
        "room": peer,
    }


async def rest_lists(node, user: str) -> dict:
    """The user's rooms, people and favorites as the canonical REST API gives them, shown in seed 002's shapes."""
    status, rooms = await node.rest.call("GET", "/api/v1/rooms", user)
    assert status == 200, rooms
    status, people = await node.rest.call("GET", "/api/v1/me/people", user)
    assert status == 200, people
    status, favorites = await node.rest.call("GET", "/api/v1/me/favorites", user)
    assert status == 200, favorites

    def room(view: dict) -> dict:
        peer = view["peer"] or {}
        shown = {
            "id": view["id"],
            "name": view["name"] or peer.get("name") or peer.get("user_id"),
            "type": view["type"].upper(),
            "unreadCount": view["unread_count"],
        }
        last = view["last_message"]
        if last is not None:
            shown["lastMessage"] = {
                "content": last["content"],
                "timestamp": last["created_at"],
                "type": TYPES[last["type"]],
            }
        return shown

    return {
        "rooms": [room(view) for view in rooms["rooms"]],
        "people": [
            {
                "id": p["user_id"],
                "name": p["name"] or p["user_id"],
                "status": p["status"],
                "lastSeen": p["last_seen_at"],
            }
            for p in people["people"]
        ],
        "favorites": [
            {"id": f["id"], "type": f["type"].upper(), "name": f["name"] or f["id"]} for f in favorites["favorites"]
        ],
    }


async def refused(sock) -> dict:
    """The connect_error of a refused socket, once it is clear that it never connected."""
    error = await sock.connect_error()
    await asyncio.sleep(QUIET)
    assert sock.connects == 0 and not sock.is_connected and sock.events == [], sock.reports
    return error


# -- connect ------------------------------------------------------------------------------------------------


async def test_every_refusal_is_a_connect_error_and_the_client_never_sees_connect(node, sio_clients, settings, user_id):
    alice, bob, mallory = user_id("alice"), user_id("bob"), user_id("mallory")
    kept = await bull(node, sio_clients, mallory, "mallory-before")  # known, connected, then disabled
    url = node.ws("/chat/")
    token = node.token(alice)
    cases = {
        "no auth": ({}, "auth_required"),
        "no token": ({"userId": alice}, "auth_required"),
        "a token without Bearer": ({"token": token, "userId": alice}, "invalid_token"),
        "a token as a number": ({"token": 12, "userId": alice}, "invalid_token"),
        "a bad JWT": ({"token": "Bearer not-a-jwt", "userId": alice}, "invalid_token"),
        "an expired JWT": ({"token": "Bearer " + node.token(alice, ttl=-60), "userId": alice}, "token_expired"),
        "no userId": ({"token": "Bearer " + token}, "invalid_payload"),
        "an empty userId": ({"token": "Bearer " + token, "userId": ""}, "invalid_payload"),
        "someone else's userId": ({"token": "Bearer " + token, "userId": bob}, "user_mismatch"),
    }
    sockets = {}
    for label, (given, _code) in cases.items():
        options = {"auth": given} if given else {}
        sockets[label] = await sio_clients.connect(url, label.replace(" ", "-"), transports=["websocket"], **options)
    for label, (_given, code) in cases.items():
        error = await refused(sockets[label])
        assert error["data"]["code"] == code, (label, error)
        assert error["message"] == error["data"]["message"] and error["message"], (label, error)
        assert set(error["data"]) <= {"code", "message", "details"}, (label, error)
    assert node.hub.topics.sessions_of(alice) == []

    # A disabled user: the open connection is told and closed; a new one is refused at connect.
    await disable_user(settings, mallory)
    notice = await kept.next("chat:error")
    assert notice == {"message": notice["message"], "code": "user_disabled"} and notice["message"], notice
    assert await kept.disconnected() == "io server disconnect"
    again = await sio_clients.connect(url, "mallory-after", transports=["websocket"], auth=auth(node, mallory))
    error = await refused(again)
    assert error["data"]["code"] == "user_disabled", error
    await eventually(lambda: node.hub.topics.sessions_of(mallory) == [], what="mallory's sessions to end")


async def test_init_data_is_the_canonical_rest_view_in_the_document_shapes(node, sio_clients, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    await bull(node, sio_clients, bob, "bob")  # bob is online, with a name
    await bull(node, sio_clients, carol, "carol")
    team = await node.rest.create_room(alice, bob, carol, name="Team")
    quiet_room = await node.rest.create_room(alice, carol, name="Quiet")
    await node.rest.send(bob, team, "first")
    await node.rest.send(carol, team, "second")
    status, direct = await node.rest.call("POST", "/api/v1/rooms/direct", alice, {"user_id": bob})
    assert status in (200, 201), direct
    status, body = await node.rest.call("PUT", f"/api/v1/me/favorites/room/{team}", alice)
    assert status in (200, 201, 204), body
    status, body = await node.rest.call("PUT", f"/api/v1/me/favorites/user/{carol}", alice)
    assert status in (200, 201, 204), body

    sock = await sio_clients.connect(node.ws("/chat/"), "alice", transports=["websocket"], auth=auth(node, alice))
    await sock.connected()
    init = await sock.next("chat:init_data")
    assert init == await rest_lists(node, alice)
    rooms = {room["id"]: room for room in init["rooms"]}
    assert rooms[team] == {
        "id": team,
        "name": "Team",
        "type": "GROUP",
        "unreadCount": 2,
        "lastMessage": {"content": "second", "timestamp": rooms[team]["lastMessage"]["timestamp"], "type": "TEXT"},
    }
    assert rooms[quiet_room] == {"id": quiet_room, "name": "Quiet", "type": "GROUP", "unreadCount": 0}
    direct_id = direct["id"]
    assert rooms[direct_id]["type"] == "DIRECT" and rooms[direct_id]["name"] == bob.upper()
    assert rooms[direct_id]["lastMessage"]["type"] == "SYSTEM"
    people = {person["id"]: person for person in init["people"]}
    assert people == {
        user: {"id": user, "name": user.upper(), "status": "online", "lastSeen": people.get(user, {}).get("lastSeen")}
        for user in (bob, carol)
    }
    assert init["favorites"] == [
        {"id": team, "type": "ROOM", "name": "Team"},
        {"id": carol, "type": "USER", "name": carol.upper()},
    ]
    await sock.quiet(QUIET, "chat:init_data")  # once


# -- rooms and messages ------------------------------------------------------------------------------------


async def test_a_message_reaches_every_connection_that_joined_the_senders_too_and_is_stored_once(
    node, sio_clients, user_id, drain, pg
):
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob, name="Joined")
    a1 = await bull(node, sio_clients, alice, "a1")
    a2 = await bull(node, sio_clients, alice, "a2")
    b1 = await bull(node, sio_clients, bob, "b1")
    b2 = await bull(node, sio_clients, bob, "b2")  # never joins
    for sock in (a1, a2, b1):
        assert await sock.emit_ack("chat:join", room) == [{"success": True}]

    [sent] = await a1.emit_ack("chat:send_message", {"roomId": room, "content": "Hello, world!", "type": "TEXT"})
    assert sent == {"id": sent["id"], "roomId": room, "seq": 1, "timestamp": sent["timestamp"]}
    expected = message(sent, room, "GROUP", "Hello, world!", alice)
    for sock in (a1, a2, b1):
        assert await sock.next("chat:message") == expected, sock.name
    [typeless] = await b1.emit_ack("chat:send_message", {"roomId": room, "content": "no type"})
    expected_typeless = message(typeless, room, "GROUP", "no type", bob)
    for sock in (a1, a2, b1):
        assert await sock.next("chat:message") == expected_typeless, sock.name
    await b2.quiet(QUIET, "chat:message")
    for sock in (a1, a2, b1):
        await sock.quiet(0, "chat:message")  # each once

    # chat:leave stops the room's messages on that connection only.
    assert await b1.emit_ack("chat:leave", room) == [{"success": True}]
    [later] = await a1.emit_ack("chat:send_message", {"roomId": room, "content": "after the leave"})
    assert await a2.next("chat:message", id=later["id"]) == message(later, room, "GROUP", "after the leave", alice)
    await b1.quiet(QUIET, "chat:message")
    await b2.quiet(0, "chat:message")

    await drain()
    assert stored(pg, room) == [
        (sent["id"], alice, "text", "Hello, world!"),
        (typeless["id"], bob, "text", "no type"),
        (later["id"], alice, "text", "after the leave"),
    ]
    history = (await node.rest.history(bob, room))["messages"]
    assert [(m["id"], m["seq"], m["created_at"]) for m in history] == [
        (sent["id"], 1, sent["timestamp"]),
        (typeless["id"], 2, typeless["timestamp"]),
        (later["id"], 3, later["timestamp"]),
    ]


async def test_typing_goes_to_the_others_and_presence_to_people_sharing_a_room_not_strangers(
    node, sio_clients, user_id
):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await node.rest.create_room(alice, bob, name="Chatty")
    await node.rest.create_room(carol, name="Alone")
    a1 = await bull(node, sio_clients, alice, "a1")
    a2 = await bull(node, sio_clients, alice, "a2")
    b = await bull(node, sio_clients, bob, "b")
    stranger = await bull(node, sio_clients, carol, "carol")
    for sock in (a1, a2, b):
        await sock.emit_ack("chat:join", room)

    await a1.emit("chat:typing", {"roomId": room, "isTyping": True})
    assert await b.next("chat:typing_status") == {"userId": alice, "roomId": room, "isTyping": True}
    await a1.emit("chat:typing", {"roomId": room, "isTyping": False})
    assert await b.next("chat:typing_status") == {"userId": alice, "roomId": room, "isTyping": False}
    await b.emit("chat:typing", {"roomId": room, "isTyping": True})
    assert await a2.next("chat:typing_status") == {"userId": bob, "roomId": room, "isTyping": True}
    assert await a1.next("chat:typing_status") == {"userId": bob, "roomId": room, "isTyping": True}
    for sock in (a1, a2):
        await sock.quiet(QUIET, "chat:typing_status", userId=alice)  # not to oneself
    await b.quiet(0, "chat:typing_status", userId=bob)
    await stranger.quiet(0, "chat:typing_status")

    assert await a1.emit_ack("chat:presence", "away") == [{"status": "away"}]
    assert await b.next("chat:presence_update", userId=alice, status="away") == {"userId": alice, "status": "away"}
    assert await a2.next("chat:presence_update", userId=alice, status="away") == {"userId": alice, "status": "away"}
    await a1.emit("chat:presence", "online")
    assert await b.next("chat:presence_update", userId=alice, status="online") == {"userId": alice, "status": "online"}
    await stranger.quiet(QUIET, "chat:presence_update", userId=alice)
    await stranger.quiet(0, "chat:presence_update", userId=bob)


async def test_updates_and_deletes_reach_the_room_and_someone_elses_message_is_refused(
    node, sio_clients, user_id, drain, pg
):
    alice, bob, owner = user_id("alice"), user_id("bob"), user_id("owner")
    room = await node.rest.create_room(owner, alice, bob, name="Edits")  # the owner may delete any message
    a = await bull(node, sio_clients, alice, "a")
    b = await bull(node, sio_clients, bob, "b")
    for sock in (a, b):
        await sock.emit_ack("chat:join", room)
    [sent] = await b.emit_ack("chat:send_message", {"roomId": room, "content": "tpyo"})
    await a.next("chat:message", id=sent["id"])

    [updated] = await b.emit_ack("chat:update_message", {"messageId": sent["id"], "content": "typo"})
    expected = message(sent, room, "GROUP", "typo", bob)
    assert updated == expected
    for sock in (a, b):
        assert await sock.next("chat:message_update") == {"roomId": room, "message": expected}, sock.name

    await drain()
    assert pg("select content, edited_at is not null from messages where id = %s", (int(sent["id"]),)) == [
        ("typo", True)
    ]

    # Someone else's message: refused, to the one who tried only; nothing changes.
    for event, args in (
        ("chat:update_message", ({"messageId": sent["id"], "content": "hijacked"},)),
        ("chat:delete_message", (sent["id"],)),
    ):
        [answer] = await a.emit_ack(event, *args)
        assert answer == {"error": answer.get("error"), "code": "not_sender"} and answer["error"], (event, answer)
        assert await a.next("chat:error") == {"message": answer["error"], "code": "not_sender"}
    await b.quiet(QUIET, "chat:error")
    await a.quiet(0, "chat:message_update")
    await a.quiet(0, "chat:message_delete")

    assert await b.emit_ack("chat:delete_message", sent["id"]) == [{"roomId": room, "messageId": sent["id"]}]
    for sock in (a, b):
        assert await sock.next("chat:message_delete") == {"roomId": room, "messageId": sent["id"]}, sock.name
    [again] = await b.emit_ack("chat:delete_message", sent["id"])
    assert again["code"] == "message_deleted", again
    await drain()
    [(deleted,)] = pg("select deleted_at is not null from messages where id = %s", (int(sent["id"]),))
    assert deleted


async def test_start_direct_confirms_every_call_with_the_pairs_one_room_whichever_dialect_made_it(
    node, sio_clients, node_clients, user_id, drain, pg
):
    alice, bob = user_id("alice"), user_id("bob")
    b = await bull(node, sio_clients, bob, "bob", username=bob)
    a = await bull(node, sio_clients, alice, "alice", username=alice)

    [first] = await a.emit_ack("chat:start_direct", bob)
    started = await a.next("chat:message")
    room = started["roomId"]
    assert started == {
        "id": started["id"],
        "roomId": room,
        "roomType": "DIRECT",
        "type": "SYSTEM",
        "content": "Direct chat started",
        "senderId": alice,
        "sender": {"id": alice, "name": alice.upper()},
        "timestamp": started["timestamp"],
        "seq": 1,
    }
    assert first == started
    [second] = await a.emit_ack("chat:start_direct", bob)  # the room exists: confirmed again, the same room
    again = await a.next("chat:message")
    assert again == second and (again["type"], again["content"], again["roomId"], again["roomType"]) == (
        "SYSTEM",
        "Direct chat started",
        room,
        "DIRECT",
    )
    await a.quiet(QUIET, "chat:message")  # one confirmation per call
    [from_bob] = await b.emit_ack("chat:start_direct", alice)
    assert (await b.next("chat:message", type="SYSTEM"))["roomId"] == from_bob["roomId"] == room

    canonical = await node.connect(alice)
    canonical_start = await canonical.ack("direct:start", {"user_id": bob})
    assert canonical_start["ok"] and canonical_start["data"]["room"]["id"] == room, canonical_start

    # Seed 003's conversation of the pair (alice opens /ws/<bob>/) is that room too: its message reaches the
    # 002 connections, which follow the room since chat:start_direct.
    django = await conversation(node, node_clients, alice, bob)
    await django.send(chat_message("from django", bob))
    echoed = await django.next(type="chat_message", message="from django")
    assert echoed["room"] == room
    for sock in (a, b):
        live = await sock.next("chat:message", content="from django")
        assert (live["roomId"], live["roomType"], live["senderId"], live["type"]) == (room, "DIRECT", alice, "TEXT")

    # A pair whose room seed 003 made, with a message since: chat:start_direct names that room, and confirms.
    carol, dave = user_id("carol"), user_id("dave")
    d = await bull(node, sio_clients, dave, "dave", username=dave)
    opened = await conversation(node, node_clients, carol, dave)
    await opened.send(chat_message("before the 002 call", dave))
    theirs = (await opened.next(type="chat_message", message="before the 002 call"))["room"]
    [confirmed] = await d.emit_ack("chat:start_direct", carol)
    assert await d.next("chat:message") == confirmed
    assert (confirmed["type"], confirmed["content"], confirmed["roomId"], confirmed["roomType"]) == (
        "SYSTEM",
        "Direct chat started",
        theirs,
        "DIRECT",
    )
    await opened.send(chat_message("after the 002 call", dave))
    assert (await d.next("chat:message", content="after the 002 call"))["roomId"] == theirs

    await drain()
    rows = pg("select type, content from messages where room_id = %s order by seq", (int(room),))
    assert rows == [("system", "Direct chat started"), ("text", "from django")]  # one room, started once
    rows = pg("select type, content from messages where room_id = %s order by seq", (int(theirs),))
    assert rows == [
        ("system", "Direct chat started"),
        ("text", "before the 002 call"),
        ("text", "after the 002 call"),
    ]


async def test_favorites_and_list_updates_reach_every_connection_of_the_user(node, sio_clients, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await node.rest.create_room(alice, bob, name="Favorite")
    await bull(node, sio_clients, bob, "bob")
    await bull(node, sio_clients, carol, "carol")
    a1 = await bull(node, sio_clients, alice, "a1")
    a2 = await bull(node, sio_clients, alice, "a2")

    [listed] = await a1.emit_ack("chat:toggle_favorite", {"id": room, "type": "ROOM"})
    assert listed == [{"id": room, "type": "ROOM", "name": "Favorite"}]
    for sock in (a1, a2):
        assert await sock.next("chat:favorites_update") == listed, sock.name
    [listed] = await a2.emit_ack("chat:toggle_favorite", {"id": bob, "type": "USER"})
    assert listed == [
        {"id": room, "type": "ROOM", "name": "Favorite"},
        {"id": bob, "type": "USER", "name": bob.upper()},
    ]
    for sock in (a1, a2):
        assert await sock.next("chat:favorites_update") == listed, sock.name
    [listed] = await a1.emit_ack("chat:toggle_favorite", {"id": room, "type": "ROOM"})  # toggled off
    assert listed == [{"id": bob, "type": "USER", "name": bob.upper()}]
    for sock in (a1, a2):
        assert await sock.next("chat:favorites_update") == listed, sock.name
    assert (await rest_lists(node, alice))["favorites"] == listed

    # Added to a room over REST: the whole room list again, and the people list with the new people.
    later = await node.rest.create_room(carol, bob, name="Later")
    await node.rest.add_members(carol, later, alice)
    for sock in (a1, a2):
        rooms = await sock.next("chat:room_list_update", lambda rooms: any(r["id"] == later for r in rooms))
        assert rooms == (await rest_lists(node, alice))["rooms"], sock.name
        assert next(r for r in rooms if r["id"] == later)["type"] == "GROUP"
        people = await sock.next("chat:people_list_update", lambda people: any(p["id"] == carol for p in people))
        assert sorted(p["id"] for p in people) == sorted([bob, carol]), sock.name
        assert people == (await rest_lists(node, alice))["people"], sock.name

    # Removed: the room leaves the list.
    await node.rest.remove_member(carol, later, alice)
    for sock in (a1, a2):
        rooms = await sock.next("chat:room_list_update", lambda rooms: all(r["id"] != later for r in rooms))
        assert [r["id"] for r in rooms] == [r["id"] for r in (await rest_lists(node, alice))["rooms"]]


# -- acknowledgements and errors ----------------------------------------------------------------------------


async def test_every_event_is_acknowledged_errors_too(node, sio_clients, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    await bull(node, sio_clients, bob, "bob")
    room = await node.rest.create_room(alice, bob, name="Acks")
    a = await bull(node, sio_clients, alice, "alice")

    assert await a.emit_ack("chat:join", room) == [{"success": True}]
    [sent] = await a.emit_ack("chat:send_message", {"roomId": room, "content": "acked"})
    assert set(sent) == {"id", "roomId", "seq", "timestamp"} and sent["roomId"] == room
    assert await a.emit_ack("chat:typing", {"roomId": room, "isTyping": True}) == [{"success": True}]
    assert await a.emit_ack("chat:presence", "away") == [{"status": "away"}]
    [updated] = await a.emit_ack("chat:update_message", {"messageId": sent["id"], "content": "acked!"})
    assert (updated["id"], updated["content"]) == (sent["id"], "acked!")
    assert await a.emit_ack("chat:delete_message", sent["id"]) == [{"roomId": room, "messageId": sent["id"]}]
    [direct] = await a.emit_ack("chat:start_direct", bob)
    assert (direct["type"], direct["content"], direct["roomType"]) == ("SYSTEM", "Direct chat started", "DIRECT")
    assert await a.emit_ack("chat:toggle_favorite", {"id": bob, "type": "USER"}) == [
        [{"id": bob, "type": "USER", "name": bob.upper()}]
    ]
    assert await a.emit_ack("chat:leave", room) == [{"success": True}]
    await a.quiet(QUIET, "chat:error")

    for event, args, code in (
        ("chat:join", ("987654321987",), "room_not_found"),
        ("chat:leave", (None,), "invalid_payload"),
        ("chat:send_message", ({"roomId": room},), "invalid_payload"),
        ("chat:typing", ({"roomId": room, "isTyping": "yes"},), "invalid_payload"),
        ("chat:presence", ("asleep",), "unknown_status"),
        ("chat:update_message", ({"messageId": "987654321987", "content": "x"},), "message_not_found"),
        ("chat:delete_message", ("987654321987",), "message_not_found"),
        ("chat:start_direct", ({"userId": bob},), "invalid_payload"),
        ("chat:toggle_favorite", ({"id": room, "type": "GROUP"},), "invalid_payload"),
        ("chat:unknown", ("x",), "unknown_event"),
    ):
        [answer] = await a.emit_ack(event, *args)
        assert answer == {"error": answer.get("error"), "code": code} and answer["error"], (event, answer)
        assert await a.next("chat:error") == {"message": answer["error"], "code": code}, event
    assert a.is_connected


async def test_bad_input_is_a_chat_error_the_connection_stays_and_nothing_is_stored(
    node, sio_clients, settings, user_id, drain, pg
):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await node.rest.create_room(alice, bob, name="Mine")
    others = await node.rest.create_room(bob, carol, name="Theirs")
    a = await bull(node, sio_clients, alice, "alice")
    await a.emit_ack("chat:join", room)
    too_long = "x" * (settings.limits.max_message_length + 1)

    def typed(kind: str) -> dict:
        return {"roomId": room, "content": "x", "type": kind}

    cases = [
        ("an unknown room", "chat:join", ("987654321987",), "room_not_found"),
        ("a room of others", "chat:join", (others,), "not_member"),
        ("sending to a room of others", "chat:send_message", ({"roomId": others, "content": "x"},), "not_member"),
        ("typing in a room of others", "chat:typing", ({"roomId": others, "isTyping": True},), "not_member"),
        ("a number for a room id", "chat:join", (int(room),), "invalid_payload"),
        ("an object for chat:join", "chat:join", ({"roomId": room},), "invalid_payload"),
        ("a number for roomId", "chat:send_message", ({"roomId": int(room), "content": "number"},), "invalid_payload"),
        ("a number for content", "chat:send_message", ({"roomId": room, "content": 5},), "invalid_payload"),
        ("a number for typing's roomId", "chat:typing", ({"roomId": int(room), "isTyping": True},), "invalid_payload"),
        ("a string for isTyping", "chat:typing", ({"roomId": room, "isTyping": "yes"},), "invalid_payload"),
        ("a number for messageId", "chat:update_message", ({"messageId": 5, "content": "x"},), "invalid_payload"),
        ("a number for the status", "chat:presence", (1,), "invalid_payload"),
        ("a number for a user id", "chat:start_direct", (5,), "invalid_payload"),
        ("a number for the favorite", "chat:toggle_favorite", ({"id": int(room), "type": "ROOM"},), "invalid_payload"),
        ("no roomId", "chat:send_message", ({"content": "x"},), "invalid_payload"),
        ("no content", "chat:send_message", ({"roomId": room},), "invalid_payload"),
        ("null content", "chat:send_message", ({"roomId": room, "content": None},), "invalid_payload"),
        ("no payload", "chat:send_message", (), "invalid_payload"),
        ("a string payload", "chat:send_message", ("hello",), "invalid_payload"),
        ("blank content", "chat:send_message", ({"roomId": room, "content": "   "},), "content_empty"),
        ("oversized content", "chat:send_message", ({"roomId": room, "content": too_long},), "content_too_long"),
        ("a SYSTEM message", "chat:send_message", (typed("SYSTEM"),), "unknown_message_type"),
        ("an unknown type", "chat:send_message", (typed("POLL"),), "unknown_message_type"),
        ("a lower-case type", "chat:send_message", (typed("text"),), "unknown_message_type"),
        ("no isTyping", "chat:typing", ({"roomId": room},), "invalid_payload"),
        ("an unknown status", "chat:presence", ("asleep",), "unknown_status"),
        ("no messageId", "chat:update_message", ({"content": "x"},), "invalid_payload"),
        ("an unknown message", "chat:delete_message", ("987654321987",), "message_not_found"),
        ("an unknown favorite type", "chat:toggle_favorite", ({"id": room, "type": "GROUP"},), "invalid_payload"),
        ("an unknown event", "chat:shout", ({"roomId": room, "content": "x"},), "unknown_event"),
        ("a canonical event", "message:send", ({"room_id": room, "content": "x"},), "unknown_event"),
    ]
    for label, event, args, code in cases:
        # As the document's clients emit: no callback; the answer is chat:error.
        await a.emit(event, *args)
        error = await a.next("chat:error")
        assert error == {"message": error.get("message"), "code": code} and error["message"], (label, error)
    await a.quiet(QUIET, "chat:message")
    assert a.is_connected and a.connects == 1 and a.disconnects == []

    [sent] = await a.emit_ack("chat:send_message", {"roomId": room, "content": "still here"})
    assert (await a.next("chat:message"))["id"] == sent["id"]
    await drain()
    assert stored(pg, room) == [(sent["id"], alice, "text", "still here")]
    assert stored(pg, others) == []


async def test_a_flood_beyond_the_event_budget_is_refused_and_the_connection_stays(
    spawn, sio_clients, user_id, drain, pg
):
    node = await spawn(EVENT_RATE=5, EVENT_BURST=5)
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob, name="Flood")
    a = await bull(node, sio_clients, alice, "alice")
    # Undecodable and unknown events spend the budget like any event.
    await a.emit("chat:join", {"roomId": room})
    await a.emit("chat:shout", "x")
    flood = 15
    answers = await asyncio.gather(  # emitted at once, in order; each asks for an acknowledgement
        *(a.emit_ack("chat:send_message", {"roomId": room, "content": f"flood {n}"}) for n in range(flood))
    )
    errors = [await a.next("chat:error") for _ in range(2)]
    assert [e["code"] for e in errors] == ["invalid_payload", "unknown_event"], errors
    accepted = [answer for [answer] in answers if "error" not in answer]
    limited = [answer for [answer] in answers if "error" in answer]
    assert 3 <= len(accepted) < flood, answers  # the burst of 5, less the two events above, passes
    assert [answer for [answer] in answers[:3]] == accepted[:3]
    for answer in limited:
        assert answer == {"error": answer["error"], "code": "rate_limited"} and answer["error"], answer
        assert await a.next("chat:error") == {"message": answer["error"], "code": "rate_limited"}
    await a.quiet(QUIET, "chat:error")
    assert a.is_connected and a.disconnects == []

    await asyncio.sleep(1.2)  # the budget refills
    assert await a.emit_ack("chat:join", room) == [{"success": True}]
    [sent] = await a.emit_ack("chat:send_message", {"roomId": room, "content": "after the flood"})
    assert (await a.next("chat:message", id=sent["id"]))["content"] == "after the flood"
    await drain()
    assert [row[0] for row in stored(pg, room)] == [answer["id"] for answer in accepted] + [sent["id"]]


# -- with the other dialects ---------------------------------------------------------------------------------


async def test_one_room_across_002_canonical_004_phoenix_and_001_with_one_id(
    node, sio_clients, node_clients, phoenix_clients, drain, pg
):
    alice, bob, carol, dave, erin = (numeric() for _ in range(5))
    for user in (bob, carol, dave, erin):
        status, body = await node.rest.call("GET", "/api/v1/me", user)
        assert status == 200, body
    room = await node.rest.create_room(alice, bob, carol, dave, erin, name="Everyone")
    bull_socket = await bull(node, sio_clients, alice, "alice-002")
    await bull_socket.emit_ack("chat:join", room)
    canonical = await node.connect(bob)
    await canonical.join(room)
    fastapi = await node_clients.open(node.ws(f"/ws/{carol}?token={node.token(carol)}"), name="carol-004")
    await fastapi.opened()
    phoenix = await phoenix_clients.socket(node.ws("/socket"), {"token": node.token(dave)}, name="dave-000")
    await phoenix.connect()
    await phoenix.opened()
    channel = await phoenix.channel(f"chat:{room}")
    assert (await channel.join()).status == "ok"
    nest = await sio_clients.connect(
        node.url.rstrip("/") + "/chat", "erin-001", query={"userId": int(erin), "token": node.token(erin)}
    )
    await nest.connected()

    [sent] = await bull_socket.emit_ack("chat:send_message", {"roomId": room, "content": "to everyone"})
    assert await bull_socket.next("chat:message") == message(sent, room, "GROUP", "to everyone", alice)
    live = await canonical.wait_message(room, sent["seq"])
    assert (live["id"], live["room_id"], live["sender_id"], live["content"], live["created_at"]) == (
        sent["id"],
        room,
        alice,
        "to everyone",
        sent["timestamp"],
    )
    assert await fastapi.next(event="new_message", messageId=sent["id"]) == {
        "event": "new_message",
        "conversationId": room,
        "messageId": sent["id"],
        "senderId": alice,
        "content": "to everyone",
        "messageType": "text",
        "timestamp": sent["timestamp"],
    }
    received = await channel.next("receive_message", id=sent["id"])
    assert (received["chat_id"], received["sender_id"], received["content"], received["seq"]) == (
        room,
        alice,
        "to everyone",
        sent["seq"],
    )
    nested = await nest.next("receive-message", content="to everyone")
    assert nested["id"] == int(room) * 2**32 + sent["seq"]  # 001's numeric alias of the same message
    assert (nested["sender_id"], nested["conversation_id"], nested["message_type"]) == (int(alice), int(room), "text")
    assert nested["timestamp"] == sent["timestamp"]

    ack = await canonical.send(room, "from socket.io")
    assert ack["ok"], ack
    receipt = ack["data"]
    assert await bull_socket.next("chat:message", id=receipt["id"]) == {
        "id": receipt["id"],
        "roomId": room,
        "roomType": "GROUP",
        "type": "TEXT",
        "content": "from socket.io",
        "senderId": bob,
        "sender": {"id": bob, "name": bob},  # bob's tokens carry no name
        "timestamp": receipt["created_at"],
        "seq": receipt["seq"],
    }
    await nest.emit(
        "send-message",
        {"sender_id": int(erin), "conversation_id": int(room), "message_type": "text", "content": "from nest"},
    )
    from_nest = await bull_socket.next("chat:message", content="from nest")
    assert (from_nest["senderId"], from_nest["roomId"], from_nest["seq"]) == (erin, room, receipt["seq"] + 1)
    await bull_socket.quiet(QUIET, "chat:message")

    await drain()
    rows = stored(pg, room)
    assert rows == [
        (sent["id"], alice, "text", "to everyone"),
        (receipt["id"], bob, "text", "from socket.io"),
        (from_nest["id"], erin, "text", "from nest"),
    ]


async def test_001_and_002_share_one_manager_each_namespace_a_session_of_its_own(node, sio_clients, drain, pg):
    user, peer = numeric(), numeric()
    room = await node.rest.create_room(peer, user, name="Shared")
    nest = await sio_clients.connect(
        node.url.rstrip("/") + "/chat",
        "nest",
        query={"userId": int(user), "token": node.token(user, name=user.upper())},
        transports=["websocket"],
    )
    slash = await sio_clients.connect(node.ws("/chat/"), "slash", share="nest", auth=auth(node, user))
    await nest.connected()
    await slash.connected()
    assert await slash.next("chat:init_data")
    sio = node.app[SERVICES].socketio.sio
    assert nest.sid != slash.sid
    assert sio.manager.eio_sid_from_sid(nest.sid, "/chat") == sio.manager.eio_sid_from_sid(slash.sid, "/chat/")
    sessions = {s.dialect.name: s.id for s in node.hub.topics.sessions_of(user)}
    assert sessions == {"nestjs": nest.sid, "bull": slash.sid}

    await slash.emit_ack("chat:join", room)
    [sent] = await slash.emit_ack("chat:send_message", {"roomId": room, "content": "one connection"})
    assert (await slash.next("chat:message"))["id"] == sent["id"]
    other = await nest.next("receive-message", content="one connection")  # the sender's other connection
    assert other["id"] == int(room) * 2**32 + sent["seq"]
    await nest.quiet(QUIET, "chat:message")
    await nest.quiet(0, "chat:init_data")
    await slash.quiet(0, "receive-message")

    # Leaving one namespace keeps the other's session, on the same Engine.IO connection.
    await slash.disconnect()
    await eventually(lambda: [s.dialect.name for s in node.hub.topics.sessions_of(user)] == ["nestjs"])
    await node.rest.send(peer, room, "still connected")
    assert (await nest.next("receive-message", content="still connected"))["sender_id"] == int(peer)
    assert nest.is_connected and nest.disconnects == []
    await drain()
    assert [content for *_, content in stored(pg, room)] == ["one connection", "still connected"]


async def test_002_clients_on_two_nodes_exchange_messages(spawn, sio_clients, user_id):
    first, second = await spawn(), await spawn()
    alice, bob = user_id("alice"), user_id("bob")
    room = await first.rest.create_room(alice, bob, name="Two nodes")
    a = await bull(first, sio_clients, alice, "alice-first")
    b = await bull(second, sio_clients, bob, "bob-second")
    for sock in (a, b):
        await sock.emit_ack("chat:join", room)

    [there] = await a.emit_ack("chat:send_message", {"roomId": room, "content": "to the second node"})
    assert await b.next("chat:message") == message(there, room, "GROUP", "to the second node", alice)
    [back] = await b.emit_ack("chat:send_message", {"roomId": room, "content": "to the first node"})
    assert await a.next("chat:message", id=back["id"]) == message(back, room, "GROUP", "to the first node", bob)
    await b.emit("chat:typing", {"roomId": room, "isTyping": True})
    assert await a.next("chat:typing_status") == {"userId": bob, "roomId": room, "isTyping": True}
    await b.emit("chat:presence", "away")
    assert await a.next("chat:presence_update", userId=bob, status="away") == {"userId": bob, "status": "away"}


# -- the document's own examples ---------------------------------------------------------------------------


async def run_example(replace: dict[str, str], run_for: float = 3.0) -> str:
    """tests/js/examples/seed002.ts run as a client application would (tests/js/run_example.mjs), for
    `run_for` seconds (its socket stays connected); what it printed (stdout and stderr)."""
    require_node("run_example.mjs", "socket.io-client", "typescript")
    process = await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "tests" / "js" / "run_example.mjs"),
        str(EXAMPLE),
        cwd=ROOT,
        env={"EXAMPLE_REPLACE": json.dumps(replace), "PATH": "/usr/local/bin:/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    reading = asyncio.create_task(process.stdout.read())
    try:
        await asyncio.wait_for(process.wait(), run_for)
    except TimeoutError:
        process.terminate()
    output = await asyncio.wait_for(reading, WAIT)
    await asyncio.wait_for(process.wait(), WAIT)
    return output.decode()


async def test_the_documents_examples_run_unchanged_against_the_server(node, sio_clients, user_id, drain, pg):
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(bob, alice, name="Example")
    watcher = await bull(node, sio_clients, bob, "bob")
    await watcher.emit_ack("chat:join", room)

    printed = await run_example(
        {
            "ws://localhost:3003/chat/": node.ws("/chat/"),
            "Bearer your_jwt_token": "Bearer " + node.token(alice, name=alice.upper()),
            "'user_id'": json.dumps(alice),
            "'room_id'": json.dumps(room),
            "'target_user_id'": json.dumps(bob),
        }
    )
    # The Error Handling example prints what the server refused: the two placeholders left for the reader.
    assert printed.splitlines() == [
        "Chat error: room direct_room_id does not exist",
        "Chat error: room room_or_user_id does not exist",
    ], printed

    # What the examples did, as bob saw it.
    assert await watcher.next("chat:presence_update", userId=alice) == {"userId": alice, "status": "online"}
    hello = await watcher.next("chat:message", content="Hello, world!")
    assert hello == {
        "id": hello["id"],
        "roomId": room,
        "roomType": "GROUP",
        "type": "TEXT",
        "content": "Hello, world!",
        "senderId": alice,
        "sender": {"id": alice, "name": alice.upper()},
        "timestamp": hello["timestamp"],
        "seq": 1,
    }
    assert await watcher.next("chat:typing_status") == {"userId": alice, "roomId": room, "isTyping": True}
    assert await watcher.next("chat:typing_status") == {"userId": alice, "roomId": room, "isTyping": False}

    # And what was stored: the message once; the direct room of the pair, started once; nothing else.
    await drain()
    assert stored(pg, room) == [(hello["id"], alice, "text", "Hello, world!")]
    status, listed = await node.rest.call("GET", "/api/v1/rooms", alice)
    assert status == 200, listed
    direct = [r for r in listed["rooms"] if r["type"] == "direct"]
    assert [(r["peer"]["user_id"], r["last_message"]["content"]) for r in direct] == [(bob, "Direct chat started")]
    assert stored(pg, direct[0]["id"]) == [(direct[0]["last_message"]["id"], alice, "system", "Direct chat started")]
    assert pg("select count(*) from messages where sender_id = %s", (alice,)) == [(2,)]
    status, favorites = await node.rest.call("GET", "/api/v1/me/favorites", alice)
    assert (status, favorites) == (200, {"favorites": []})
