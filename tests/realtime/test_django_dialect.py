"""Seed 003's dialect (a Django Channels service), driven by npm `ws` clients written the way the document's
client is: a plain `new WebSocket(url)` with the token in the query string, `ws.send(JSON.stringify(...))`
of frames keyed by `type`, `JSON.parse(event.data)` of what comes back, and a look at the close code.

Three sockets: `/ws/<username>/` (one direct conversation), `/ws/notifications/` (every conversation's
unread count) and `/ws/notifications/<username>/` (one conversation's). People are addressed by username;
here each user's username is their id, carried by the `username` claim of their tokens."""

from __future__ import annotations

import asyncio
import struct
import zlib
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from tests.realtime.conftest import QUIET, WAIT, disable_user, eventually

pytestmark = pytest.mark.usefixtures("node_clients")

ERROR_KEYS = {"type", "code", "message"}


# -- helpers ------------------------------------------------------------------------------------------------


def text_message(message: str, room: str) -> dict:
    """A `chat_message` as the document's client sends a text: the three multimedia fields empty."""
    return {
        "type": "chat_message",
        "message": message,
        "multimedia_url": "",
        "file_identifier": "",
        "multimedia_url_expiration": "",
        "room": room,
    }


def png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x80\x00"))
        + chunk(b"IEND", b"")
    )


async def named(node, *users: str) -> None:
    """Give each user their username (their id): sign in once with a token carrying it."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as http:
        for user in users:
            headers = {"Authorization": f"Bearer {node.token(user, username=user)}"}
            async with http.get(node.url + "api/v1/me", headers=headers) as response:
                body = await response.json()
                assert response.status == 200, body
                assert body.get("username", user) == user, body


async def opened(node, node_clients, path: str, user: str, name: str):
    """`new WebSocket("ws://host<path>?token=…")` as `user` (a token with their username), once open."""
    ws = await node_clients.open(node.ws(f"{path}?token={node.token(user, username=user)}"), name=name)
    await ws.opened()
    return ws


async def conversation(node, node_clients, user: str, peer: str, name: str | None = None):
    """`user`'s conversation socket with `peer` (`/ws/<peer>/`), open; its online_user_list not taken."""
    return await opened(node, node_clients, f"/ws/{peer}/", user, name or f"{user}-with-{peer}")


async def unread(node, user: str) -> tuple[int, dict[str, int]]:
    """The user's unread total and count per room, as REST says (`GET /api/v1/me/unread`)."""
    status, body = await node.rest.call("GET", "/api/v1/me/unread", user)
    assert status == 200, body
    return body["total_unread"], {room["room_id"]: room["unread_count"] for room in body["rooms"]}


async def until_unread(node, user: str, check, what: str) -> tuple[int, dict[str, int]]:
    """Poll REST until `check(total, per_room)` holds, at most WAIT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        total, rooms = await unread(node, user)
        if check(total, rooms):
            return total, rooms
        assert loop.time() < deadline, f"timed out waiting for {what}: total {total}, rooms {rooms}"
        await asyncio.sleep(0.05)


async def upload(node, user: str, data: bytes, filename: str = "dot.png", content_type: str = "image/png") -> dict:
    """`POST /api/rooms/upload` with the file in `myFile`, as the document's FormData does."""
    form = aiohttp.FormData()
    form.add_field("myFile", data, filename=filename, content_type=content_type)
    headers = {"Authorization": f"Bearer {node.token(user)}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as http:
        async with http.post(node.url + "api/rooms/upload", data=form, headers=headers) as response:
            body = await response.json()
            assert response.status == 201, body
    assert {"file_location", "file_identifier", "expiration_time"} <= body.keys(), body
    return body


async def download(node, url: str) -> tuple[int, bytes]:
    """GET a multimedia_url (relative or absolute) with no token, as an `<img src>` does."""
    absolute = url if url.startswith("http") else node.url.rstrip("/") + url
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as http:
        async with http.get(absolute) as response:
            return response.status, await response.read()


def direct_room(canonical_answer: dict) -> str:
    assert canonical_answer["ok"], canonical_answer
    return canonical_answer["data"]["room"]["id"]


def assert_error(frame: dict, code: str) -> None:
    assert frame.keys() == ERROR_KEYS, frame
    assert frame["code"] == code, frame
    assert isinstance(frame["message"], str) and frame["message"], frame


def assert_recent(timestamp: str) -> None:
    at = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    assert at.tzinfo is not None, timestamp
    assert abs(datetime.now(UTC) - at) < timedelta(minutes=1), timestamp


def session_of(node, user: str, dialect: str):
    [session] = [s for s in node.hub.topics.sessions_of(user) if s.dialect.name == dialect]
    return session


# -- 1. the conversation socket: who is there ------------------------------------------------------------------


async def test_online_user_list_user_join_and_user_leave_follow_the_conversation_sockets(node, node_clients, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    await named(node, alice, bob)

    a = await conversation(node, node_clients, alice, bob)
    assert await a.next() == {"type": "online_user_list", "users": [alice]}  # the first frame

    b1 = await conversation(node, node_clients, bob, alice, name="bob-1")
    assert await b1.next() == {"type": "online_user_list", "users": [alice, bob]}
    assert await a.next(type="user_join") == {"type": "user_join", "user": bob}
    await b1.quiet(QUIET, type="user_join")  # not about himself
    await a.quiet(0, type="user_join")  # nor about alice to alice

    b2 = await conversation(node, node_clients, bob, alice, name="bob-2")
    assert await b2.next() == {"type": "online_user_list", "users": [alice, bob]}
    await a.quiet(QUIET, type="user_join")  # bob had it open already: nothing new
    await b2.quiet(0, type="user_join")

    sessions = node.hub.connection_count
    await b1.close()
    await b1.closed()
    await eventually(lambda: node.hub.connection_count == sessions - 1, what="bob-1's session to end")
    await a.quiet(QUIET, type="user_leave")  # bob still has it open on bob-2

    await b2.close()
    await b2.closed()
    assert await a.next(type="user_leave") == {"type": "user_leave", "user": bob}
    await a.quiet(QUIET, type="user_leave")  # once

    b3 = await conversation(node, node_clients, bob, alice, name="bob-3")  # back: announced again
    assert await b3.next() == {"type": "online_user_list", "users": [alice, bob]}
    assert await a.next(type="user_join") == {"type": "user_join", "user": bob}


async def test_user_join_and_user_leave_follow_the_conversation_socket_not_presence_elsewhere(
    node, node_clients, user_id
):
    alice, bob = user_id("alice"), user_id("bob")
    await named(node, alice, bob)
    a = await conversation(node, node_clients, alice, bob)
    await a.next(type="online_user_list")

    canonical = await node.connect(bob)  # online, but without the conversation open
    notifications = await opened(node, node_clients, f"/ws/notifications/{alice}/", bob, "bob-notes")
    await notifications.next(type="single_conversation_unread_count")
    await a.quiet(QUIET, type="user_join")
    await canonical.disconnect()
    await notifications.close()
    await notifications.closed()
    await a.quiet(QUIET, type="user_leave")

    b = await conversation(node, node_clients, bob, alice)
    assert await b.next() == {"type": "online_user_list", "users": [alice, bob]}
    assert await a.next(type="user_join") == {"type": "user_join", "user": bob}


# -- 2. and 3. chat_message ------------------------------------------------------------------------------------


async def test_a_chat_message_reaches_both_sides_in_the_documents_shape_and_is_stored_once(
    node, node_clients, user_id, drain, pg
):
    alice, bob = user_id("alice"), user_id("bob")
    await named(node, alice, bob)
    a = await conversation(node, node_clients, alice, bob)
    await a.next(type="online_user_list")
    b = await conversation(node, node_clients, bob, alice)
    await b.next(type="online_user_list")

    # The conversation is the pair's one direct room, whichever protocol starts it.
    canonical = await node.connect(alice)
    started = await canonical.ack("direct:start", {"user_id": bob})
    room = direct_room(started)
    assert started["data"]["created"] is False  # alice's socket created it

    await a.send(text_message("hello bob", bob))
    mine, theirs = await a.next(type="chat_message"), await b.next(type="chat_message")
    assert mine == theirs
    assert mine == {
        "type": "chat_message",
        "message": "hello bob",
        "multimedia_url": "",
        "date_added": mine["date_added"],
        "from_user": {"username": alice},
        "room": room,
    }
    assert_recent(mine["date_added"])

    await b.send(text_message("hello alice", alice))
    answer = await a.next(type="chat_message", message="hello alice")
    assert (answer["from_user"], answer["room"]) == ({"username": bob}, room)
    await a.quiet(QUIET, type="chat_message")  # each message once
    await b.quiet(0, type="chat_message", message="hello bob")

    await drain()
    assert pg("select count(*) from messages where room_id = %s and content = %s", (int(room), "hello bob")) == [(1,)]
    assert pg("select sender_id from messages where room_id = %s and content = %s", (int(room), "hello alice")) == [
        (bob,)
    ]


async def test_usernames_not_user_ids_are_shown_when_they_differ(node, node_clients, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    alice_name, bob_name = f"Alice.{alice[-8:]}", f"bob_{bob[-8:]}"
    a_token = node.token(alice, username=alice_name)
    b_token = node.token(bob, username=bob_name)
    ignored = await node_clients.open(node.ws(f"/ws/notifications/?token={b_token}"), name="bob-signs-in")
    await ignored.opened()  # bob now holds bob_name

    a = await node_clients.open(node.ws(f"/ws/{bob_name}/?token={a_token}"), name="alice")
    await a.opened()
    assert await a.next() == {"type": "online_user_list", "users": [alice_name]}
    b = await node_clients.open(node.ws(f"/ws/{alice_name}/?token={b_token}"), name="bob")
    await b.opened()
    assert await b.next() == {"type": "online_user_list", "users": [alice_name, bob_name]}
    assert await a.next(type="user_join") == {"type": "user_join", "user": bob_name}
    await a.send(text_message("by name", bob_name))
    assert (await b.next(type="chat_message"))["from_user"] == {"username": alice_name}

    by_id = await node_clients.open(node.ws(f"/ws/{bob}/?token={a_token}"), name="by-id")
    await by_id.opened()
    assert_error(await by_id.next(type="error"), "user_not_found")  # people are addressed by username
    assert (await by_id.closed())[0] == 4004


async def test_a_multimedia_message_gives_the_receiver_a_link_that_downloads_the_file(node, node_clients, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    await named(node, alice, bob)
    a = await conversation(node, node_clients, alice, bob)
    b = await conversation(node, node_clients, bob, alice)
    await b.next(type="online_user_list")
    picture = png()
    uploaded = await upload(node, alice, picture)

    await a.send(
        {
            "type": "chat_message",
            "message": "a picture",
            "multimedia_url": uploaded["file_location"],
            "file_identifier": uploaded["file_identifier"],
            "multimedia_url_expiration": uploaded["expiration_time"],
            "room": bob,
        }
    )
    frame = await b.next(type="chat_message")
    assert frame.keys() == {"type", "message", "multimedia_url", "date_added", "from_user", "room"}
    assert (frame["message"], frame["from_user"]) == ("a picture", {"username": alice})
    assert isinstance(frame["multimedia_url"], str) and frame["multimedia_url"], frame
    assert (await a.next(type="chat_message"))["multimedia_url"], "the sender sees the file too"
    status, body = await download(node, frame["multimedia_url"])
    assert (status, body) == (200, picture)

    # A file alone (no text) is a message too.
    second = await upload(node, alice, picture, filename="again.png")
    await a.send({**text_message("", bob), "file_identifier": second["file_identifier"]})
    alone = await b.next(type="chat_message", message="")
    status, body = await download(node, alone["multimedia_url"])
    assert (status, body) == (200, picture)


# -- 4. reads ---------------------------------------------------------------------------------------------------


async def test_only_read_messages_marks_the_conversation_read(node, node_clients, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    await named(node, alice, bob)
    a = await conversation(node, node_clients, alice, bob)
    b = await conversation(node, node_clients, bob, alice)
    await b.send(text_message("one", alice))
    await b.send(text_message("two", alice))
    room = (await a.next(type="chat_message", message="one"))["room"]
    await a.next(type="chat_message", message="two")

    # alice has the conversation open and has seen both frames: still unread until she says so.
    await asyncio.sleep(QUIET)
    _total, rooms = await unread(node, alice)
    assert rooms[room] == 2
    assert (await unread(node, bob))[1][room] == 0  # one's own messages are read

    await a.send({"type": "read_messages"})
    await until_unread(node, alice, lambda _t, rooms: rooms[room] == 0, "alice's conversation to be read")
    await a.quiet(QUIET, type="error")

    await b.send(text_message("three", alice))
    await a.next(type="chat_message", message="three")
    await asyncio.sleep(QUIET)
    assert (await unread(node, alice))[1][room] == 1  # open, shown, and still unread


# -- 5. the notification sockets -------------------------------------------------------------------------------


async def test_the_notifications_socket_counts_every_conversation(node, node_clients, rest, user_id):
    alice, bob, carol, dave = user_id("alice"), user_id("bob"), user_id("carol"), user_id("dave")
    await named(node, alice, bob, carol)
    a = await conversation(node, node_clients, alice, bob)  # the direct room of alice and bob
    await a.next(type="online_user_list")
    group = await rest.create_room(carol, bob, name="carol's")
    await rest.send(carol, group, "c1")
    await rest.send(carol, group, "c2")
    room = direct_room(await (await node.connect(bob)).ack("direct:start", {"user_id": alice}))

    total, rooms = await unread(node, bob)
    assert rooms[group] == 2
    n = await opened(node, node_clients, "/ws/notifications/", bob, "bob-notes")
    assert await n.next() == {"type": "unread_count", "unread_count": total}  # the first frame: the total

    # A message from someone else: a notification, then the new total.
    await a.send(text_message("hi", bob))
    assert await n.next() == {"type": "new_message_notification"}
    assert await n.next() == {"type": "unread_count", "unread_count": total + 1}
    await rest.send(carol, group, "c3")
    assert await n.next() == {"type": "new_message_notification"}
    assert await n.next() == {"type": "unread_count", "unread_count": total + 2}
    assert (await unread(node, bob))[0] == total + 2
    await n.quiet(QUIET)

    # Reading: read_messages on the conversation socket, then the canonical room:read.
    b = await conversation(node, node_clients, bob, alice)
    await b.send({"type": "read_messages"})
    assert await n.next() == {"type": "unread_count", "unread_count": total + 2 - rooms[room] - 1}
    canonical = await node.connect(bob, label="bob-reader")
    assert (await canonical.ack("room:read", {"room_id": group}))["ok"]
    assert await n.next() == {"type": "unread_count", "unread_count": 0}
    assert (await unread(node, bob))[0] == 0
    await n.quiet(QUIET)

    # One's own messages, in a room read to the end: nothing at all.
    await b.send(text_message("mine", alice))
    await rest.send(bob, group, "mine too")
    await n.quiet(QUIET)

    # A room bob is added to after he connected counts too.
    added = await rest.create_room(dave, bob, name="later")
    await eventually(
        lambda: added in session_of(node, bob, "django-notifications").rooms, what="bob's socket to follow the room"
    )
    await rest.send(dave, added, "d1")
    expected = (await unread(node, bob))[0]
    assert expected >= 1
    assert await n.next(type="unread_count", unread_count=expected) == {
        "type": "unread_count",
        "unread_count": expected,
    }
    assert n.frames[-2:] == [{"type": "new_message_notification"}, {"type": "unread_count", "unread_count": expected}]


async def test_ones_own_message_that_reads_a_room_updates_the_total(node, node_clients, rest, user_id):
    """Sending moves the sender's read cursor (the core's rule): the unread total changes, and the socket
    that shows it says so."""
    bob, carol = user_id("bob"), user_id("carol")
    group = await rest.create_room(carol, bob)
    await rest.send(carol, group, "c1")
    await rest.send(carol, group, "c2")
    total, rooms = await unread(node, bob)
    assert rooms[group] == 2
    n = await opened(node, node_clients, "/ws/notifications/", bob, "bob-notes")
    assert await n.next() == {"type": "unread_count", "unread_count": total}

    await rest.send(bob, group, "answering carol")
    after, rooms = await unread(node, bob)
    assert rooms[group] == 0
    assert await n.next(type="unread_count") == {"type": "unread_count", "unread_count": after}
    assert n.received(type="new_message_notification") == []


async def test_the_conversation_notifications_socket_counts_that_conversation_only(node, node_clients, rest, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    await named(node, alice, bob, carol)
    a = await conversation(node, node_clients, alice, bob)
    await a.send(text_message("before", bob))
    room = (await a.next(type="chat_message"))["room"]
    group = await rest.create_room(carol, bob)
    await rest.send(carol, group, "elsewhere")
    _total, rooms = await unread(node, bob)
    count = rooms[room]
    assert count >= 1

    n = await opened(node, node_clients, f"/ws/notifications/{alice}/", bob, "bob-alice-notes")
    assert await n.next() == {"type": "single_conversation_unread_count", "unread_count": count}
    everything = await opened(node, node_clients, "/ws/notifications/", bob, "bob-all-notes")
    await everything.next(type="unread_count")

    await a.send(text_message("hi", bob))
    assert await n.next() == {"type": "single_conversation_new_message_notification"}
    assert await n.next() == {"type": "single_conversation_unread_count", "unread_count": count + 1}
    assert (await unread(node, bob))[1][room] == count + 1

    # Other rooms: silent here (the all-conversations socket sees them).
    await rest.send(carol, group, "still elsewhere")
    await everything.next(type="new_message_notification")
    await everything.next(type="unread_count")
    carols = direct_room(await (await node.connect(carol)).ack("direct:start", {"user_id": bob}))
    await rest.send(carol, carols, "in carol's direct room")
    canonical = await node.connect(bob)
    assert (await canonical.ack("room:read", {"room_id": group}))["ok"]
    await everything.next(type="unread_count", unread_count=(await unread(node, bob))[0])
    await n.quiet(QUIET)

    # Reading this conversation.
    b = await conversation(node, node_clients, bob, alice)
    await b.send({"type": "read_messages"})
    assert await n.next() == {"type": "single_conversation_unread_count", "unread_count": 0}
    await b.send(text_message("mine", alice))  # one's own: nothing
    await n.quiet(QUIET)
    await a.send(text_message("again", bob))
    assert await n.next() == {"type": "single_conversation_new_message_notification"}
    assert await n.next() == {"type": "single_conversation_unread_count", "unread_count": 1}


async def test_a_conversation_notifications_socket_opens_a_conversation_not_started_yet(node, node_clients, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    await named(node, alice, bob)
    n = await opened(node, node_clients, f"/ws/notifications/{alice}/", bob, "bob-alice-notes")
    _total, rooms = await unread(node, bob)
    [(room, count)] = rooms.items()  # the direct room, started by opening the socket
    assert await n.next() == {"type": "single_conversation_unread_count", "unread_count": count}
    a = await conversation(node, node_clients, alice, bob)
    await a.send(text_message("first", bob))
    assert (await a.next(type="chat_message"))["room"] == room
    assert await n.next(type="single_conversation_new_message_notification") == {
        "type": "single_conversation_new_message_notification"
    }
    assert await n.next(type="single_conversation_unread_count") == {
        "type": "single_conversation_unread_count",
        "unread_count": (await unread(node, bob))[1][room],
    }


@pytest.mark.parametrize(
    ("path", "count_type", "notice_type"),
    [
        ("/ws/notifications/", "unread_count", "new_message_notification"),
        (
            "/ws/notifications/{peer}/",
            "single_conversation_unread_count",
            "single_conversation_new_message_notification",
        ),
    ],
)
async def test_a_message_delivered_while_a_notification_socket_opens_is_not_lost(
    node, node_clients, rest, user_id, path, count_type, notice_type
):
    """The counts are read on opening; a message delivered after they were read but before the socket keeps
    them must still be counted and notified (not dropped, leaving a stale total until the next change)."""
    alice, bob = user_id("alice"), user_id("bob")
    await named(node, alice, bob)
    witness = await node.connect(alice)  # sees the message when this node delivers it
    room = direct_room(await witness.ack("direct:start", {"user_id": bob}))
    await witness.join(room)
    _total, rooms = await unread(node, bob)
    before = rooms[room]
    hub = node.hub
    read_counts = hub.unread
    counts_read, go_on = asyncio.Event(), asyncio.Event()

    async def slow_unread(session):
        counts = await read_counts(session)
        counts_read.set()
        await go_on.wait()  # what a slow Postgres or Redis does between the read and its answer
        return counts

    hub.unread = slow_unread
    try:
        url = node.ws(f"{path.format(peer=alice)}?token={node.token(bob, username=bob)}")
        n = await node_clients.open(url, name="bob-notes")
        await asyncio.wait_for(counts_read.wait(), WAIT)
        sent = await rest.send(alice, room, "meanwhile")
        await witness.wait_message(room, sent["seq"])  # delivered on this node while bob's socket opens
        go_on.set()
        await n.opened()
    finally:
        del hub.unread  # the class's own again
    assert (await unread(node, bob))[1][room] == before + 1
    assert await n.next() == {"type": count_type, "unread_count": before}  # the counts read on opening
    assert await n.next() == {"type": notice_type}
    assert await n.next() == {"type": count_type, "unread_count": before + 1}
    await n.quiet(QUIET)


# -- 6. refusals -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("socket", ["/ws/{peer}/", "/ws/notifications/{peer}/"])
async def test_refusals_are_accepted_sockets_closed_with_their_code_after_an_error_frame(
    node, node_clients, settings, user_id, socket
):
    alice, bob, mallory, eve = user_id("alice"), user_id("bob"), user_id("mallory"), user_id("eve")
    await named(node, alice, bob, mallory, eve)
    await disable_user(settings, mallory)  # named, then disabled
    watching = await conversation(node, node_clients, bob, alice, name="bob-watching")  # bob views alice's chat
    await watching.next(type="online_user_list")
    sessions = node.hub.connection_count

    def url(peer: str, token: str | None) -> str:
        path = socket.format(peer=peer)
        return node.ws(path if token is None else f"{path}?token={token}")

    cases = {
        "no token": (url(bob, None), 4001, "auth_required"),
        "empty token": (url(bob, ""), 4001, "auth_required"),
        "garbage token": (url(bob, "not-a-jwt"), 4001, "invalid_token"),
        "expired token": (url(bob, node.token(alice, username=alice, ttl=-60)), 4001, "token_expired"),
        "unknown username": (url(f"nobody-{alice}", node.token(alice, username=alice)), 4004, "user_not_found"),
        "oneself": (url(alice, node.token(alice, username=alice)), 4000, "invalid_payload"),
        "the named user disabled": (url(mallory, node.token(alice, username=alice)), 4003, "user_disabled"),
        "the connecting user disabled": (url(bob, node.token(mallory, username=mallory)), 4003, "user_disabled"),
    }
    for label, (address, code, error) in cases.items():
        ws = await node_clients.open(address, name=label.replace(" ", "-"))
        await ws.opened()  # accepted first: a browser sees only 1006 for an HTTP error
        assert_error(await ws.next(), error)
        closed, reason = await ws.closed()
        assert closed == code, (label, closed, reason)
        assert reason, label
        assert ws.frames == [ws.frames[0]], (label, ws.frames)  # the error frame and nothing else
    assert node.hub.connection_count == sessions  # refused sessions leave nothing behind
    await watching.quiet(QUIET, type="user_join")  # and announce nothing to the peer
    await watching.quiet(0, type="user_leave")

    # The same user, with a good token, is let in (the refusals were about the attempts, not about alice).
    welcome = await opened(node, node_clients, socket.format(peer=bob), alice, "alice-at-last")
    assert (await welcome.next())["type"] in ("online_user_list", "single_conversation_unread_count")


async def test_the_notifications_socket_refuses_bad_tokens_and_disabled_users(node, node_clients, settings, user_id):
    mallory = user_id("mallory")
    await named(node, mallory)
    await disable_user(settings, mallory)
    sessions = node.hub.connection_count
    cases = {
        "no token": (node.ws("/ws/notifications/"), 4001, "auth_required"),
        "garbage token": (node.ws("/ws/notifications/?token=x.y.z"), 4001, "invalid_token"),
        "disabled": (node.ws(f"/ws/notifications/?token={node.token(mallory)}"), 4003, "user_disabled"),
    }
    for label, (address, code, error) in cases.items():
        ws = await node_clients.open(address, name=label.replace(" ", "-"))
        await ws.opened()
        assert_error(await ws.next(), error)
        assert (await ws.closed())[0] == code, label
    assert node.hub.connection_count == sessions


# -- 7. bad input ----------------------------------------------------------------------------------------------


async def test_bad_frames_on_the_conversation_socket_are_answered_and_nothing_is_stored(
    node, node_clients, rest, settings, user_id
):
    alice, bob = user_id("alice"), user_id("bob")
    await named(node, alice, bob)
    a = await conversation(node, node_clients, alice, bob)
    b = await conversation(node, node_clients, bob, alice)
    await b.next(type="online_user_list")
    room = direct_room(await (await node.connect(alice)).ack("direct:start", {"user_id": bob}))
    before = await rest.history(alice, room)
    bobs_upload = await upload(node, bob, png())
    too_long = "x" * (settings.limits.max_message_length + 1)

    cases = [
        ("not JSON", "{not json", "invalid_payload"),
        ("a JSON array", '[{"type": "chat_message", "message": "hi"}]', "invalid_payload"),
        ("a JSON string", '"chat_message"', "invalid_payload"),
        ("no type", {"message": "hi", "room": bob}, "invalid_payload"),
        ("a type that is not a string", {"type": 7, "message": "hi"}, "invalid_payload"),
        ("an unknown type", {"type": "launch_rockets"}, "unknown_event"),
        ("a server frame's type", {"type": "user_join", "user": alice}, "unknown_event"),
        ("message not a string", {**text_message("", bob), "message": 42}, "invalid_payload"),
        ("message null", {**text_message("", bob), "message": None}, "invalid_payload"),
        ("an empty message without a file", text_message("", bob), "content_empty"),
        ("only white space", text_message("   ", bob), "content_empty"),
        ("no message at all", {"type": "chat_message", "room": bob}, "content_empty"),
        ("over MAX_MESSAGE_LENGTH", text_message(too_long, bob), "content_too_long"),
        (
            "a file that is no upload",
            {**text_message("x", bob), "file_identifier": "123456789"},
            "attachment_not_found",
        ),
        (
            "someone else's upload",
            {**text_message("x", bob), "file_identifier": bobs_upload["file_identifier"]},
            "attachment_not_found",
        ),
        (
            "a file_identifier that is an object",
            {**text_message("x", bob), "file_identifier": {"a": 1}},
            "invalid_payload",
        ),
    ]
    for label, data, code in cases:
        if isinstance(data, str):
            await a.send_text(data)
        else:
            await a.send(data)
        frame = await a.next(type="error")
        assert frame["code"] == code, (label, frame)
        assert_error(frame, code)
    await a.send_binary(b"\x00\x01binary")
    assert_error(await a.next(type="error"), "invalid_payload")

    assert a.is_open
    await b.quiet(QUIET, type="chat_message")  # nothing reached the peer
    assert b.received(type="error") == []
    await a.send(text_message("still here", bob))
    assert (await b.next(type="chat_message"))["message"] == "still here"
    assert [m["message"] for m in a.received(type="chat_message")] == ["still here"]
    after = await rest.history(alice, room)
    assert [m["content"] for m in after["messages"]] == [m["content"] for m in before["messages"]] + ["still here"]


@pytest.mark.parametrize("path", ["/ws/notifications/", "/ws/notifications/{peer}/"])
async def test_the_notification_sockets_answer_any_frame_with_an_error_and_stay_open(node, node_clients, user_id, path):
    alice, bob = user_id("alice"), user_id("bob")
    await named(node, alice, bob)
    a = await conversation(node, node_clients, alice, bob)
    n = await opened(node, node_clients, path.format(peer=alice), bob, "bob-notes")
    first = await n.next()
    count_type = first["type"]
    frames = [
        ("text", "{not json", "invalid_payload"),
        ("text", "[]", "invalid_payload"),
        ("json", {"unread": True}, "invalid_payload"),
        ("json", {"type": "read_messages"}, "unknown_event"),
        ("json", text_message("hi", alice), "unknown_event"),
    ]
    for kind, data, code in frames:
        await (n.send_text(data) if kind == "text" else n.send(data))
        assert_error(await n.next(type="error"), code)
    await n.send_binary(b"\x01")
    assert_error(await n.next(type="error"), "invalid_payload")
    assert n.is_open

    await a.send(text_message("still counting", bob))
    assert (await n.next(type=count_type))["unread_count"] == first["unread_count"] + 1


# -- 8. a user disabled while connected ----------------------------------------------------------------------


async def test_a_user_disabled_while_connected_is_told_and_closed_with_4003(node, node_clients, settings, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    await named(node, alice, bob)
    a = await conversation(node, node_clients, alice, bob)
    await a.next(type="online_user_list")
    sockets = [
        await conversation(node, node_clients, bob, alice),
        await opened(node, node_clients, "/ws/notifications/", bob, "bob-notes"),
        await opened(node, node_clients, f"/ws/notifications/{alice}/", bob, "bob-alice-notes"),
    ]
    await a.next(type="user_join", user=bob)

    await disable_user(settings, bob)
    for ws in sockets:
        assert_error(await ws.next(type="error"), "user_disabled")
        assert (await ws.closed())[0] == 4003, ws.name
    assert await a.next(type="user_leave") == {"type": "user_leave", "user": bob}
    assert a.is_open
    await eventually(lambda: not node.hub.topics.sessions_of(bob), what="bob's sessions to end")

    again = await node_clients.open(node.ws(f"/ws/{alice}/?token={node.token(bob, username=bob)}"), name="bob-again")
    await again.opened()
    assert_error(await again.next(), "user_disabled")
    assert (await again.closed())[0] == 4003


async def test_a_frame_over_the_limit_closes_with_1009_and_the_peer_sees_the_user_leave(spawn, node_clients, user_id):
    node = await spawn(MAX_FRAME_BYTES=4096)
    alice, bob = user_id("alice"), user_id("bob")
    await named(node, alice, bob)
    a = await conversation(node, node_clients, alice, bob)
    b = await conversation(node, node_clients, bob, alice)
    await a.next(type="user_join", user=bob)
    await b.send(text_message("x" * 10_000, alice))
    assert (await b.closed())[0] == 1009
    assert await a.next(type="user_leave") == {"type": "user_leave", "user": bob}
    await a.quiet(QUIET, type="chat_message")
    again = await conversation(node, node_clients, bob, alice, name="bob-again")
    await again.send(text_message("short", alice))
    assert (await a.next(type="chat_message"))["message"] == "short"
