"""Seed 000's dialect (Phoenix Channels, V2 JSON, at `/socket/websocket`), driven by the official npm `phoenix`
client the way the document's example uses it: `new Socket("ws://host/socket", {params: {token,
device_unique_id, preferred_language}, transport: WS})`, `socket.channel("chat:<id>")`, `join()`,
`push("send_message", {content, mobile_ref_id})`, `on("message_sent" | "receive_message" | ...)`, and
`notifications:<user_id>` with `new_notification` / `pending_notification`. Malformed frames, which that client
cannot send, go through npm `ws` as raw text.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from app.web import SERVICES
from tests.phoenix import Frame, Reply
from tests.realtime.conftest import QUIET, WAIT, disable_user, eventually

NEVER = 60_000  # ms: a reconnection or rejoin delay no test waits for


# -- helpers ------------------------------------------------------------------------------------------------


async def phoenix(node, phoenix_clients, user: str, params: dict | None = None, name: str | None = None, **options):
    """`new Socket(node's /socket, {params: {token, ...params}})`, connected and open."""
    socket = await phoenix_clients.socket(
        node.ws("/socket"), {"token": node.token(user), **(params or {})}, name=name, **options
    )
    await socket.connect()
    await socket.opened()
    return socket


async def joined(socket, topic: str, last_seq: bool = False):
    """`socket.channel(topic)` joined: the channel and the join's response. (The client hands a message to its
    channel before its socket's onMessage: the join's reply frame is awaited too, for `join_ref`.)"""
    channel = await socket.channel(topic, last_seq=last_seq)
    reply = await channel.join()
    assert reply.status == "ok", reply
    await socket.next_frame(lambda frame: frame.ref == frame.join_ref, topic=topic, event="phx_reply")
    return channel, reply.response


async def refused_join(socket, topic: str) -> dict:
    """Join `topic` (the socket must not rejoin by itself soon: rejoinAfterMs=NEVER); the error response."""
    channel = await socket.channel(topic)
    reply = await channel.join()
    assert reply.status == "error", reply
    return reply.response


def join_ref(socket, topic: str) -> str:
    """The join_ref of the channel's current join: the ref of the last join reply (a join's ref is its join_ref)."""
    joins = [f for f in socket.received_frames(topic=topic, event="phx_reply") if f.ref == f.join_ref]
    assert joins, f"no join reply on {topic}"
    return joins[-1].join_ref


def rows_with(pg, room: str, content: str) -> list[tuple]:
    return pg("select id::text, sender_id, client_ref from messages where room_id = %s and content = %s",
              (int(room), content))  # fmt: skip


async def stored_count(pg, drain, room: str) -> int:
    await drain()
    return pg("select count(*) from messages where room_id = %s", (int(room),))[0][0]


def phoenix_sessions(node, user: str) -> list:
    return [s for s in node.hub.topics.sessions_of(user) if s.dialect.name == "phoenix"]


async def raw_socket(node, node_clients, user: str, name: str = "raw"):
    ws = await node_clients.open(node.ws(f"/socket/websocket?token={node.token(user)}&vsn=2.0.0"), name=name)
    await ws.opened()
    return ws


# -- connect, join, send ------------------------------------------------------------------------------------


async def test_a_send_is_confirmed_to_the_sender_and_received_by_the_others_joined_and_stored_once(
    node, phoenix_clients, user_id, drain, pg
):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await node.rest.create_room(alice, bob, carol)
    sender = await phoenix(node, phoenix_clients, alice, name="alice")
    other = await phoenix(node, phoenix_clients, bob, name="bob")
    chat, joined_as = await joined(sender, f"chat:{room}")
    assert joined_as == {"chat_id": room, "last_seq": 0, "has_more": False}
    bob_chat, _ = await joined(other, f"chat:{room}")
    canonical = await node.connect(carol)
    await canonical.join(room)

    reply = await chat.push("send_message", {"content": "Hey, i'm fine! and you?", "mobile_ref_id": "123124"})
    assert reply.status == "ok", reply
    sent = await chat.next("message_sent", mobile_ref_id="123124")
    assert sent == {
        "mobile_ref_id": "123124",
        "status": "sent",
        "chat_id": room,
        "id": sent["id"],
        "seq": 1,
        "timestamp": sent["timestamp"],
        "duplicate": False,
    }
    assert reply.response == sent
    frame = await sender.next_frame(event="message_sent")
    assert frame == Frame(join_ref(sender, f"chat:{room}"), None, f"chat:{room}", "message_sent", sent)

    received = await bob_chat.next("receive_message", id=sent["id"])
    assert received == {
        "id": sent["id"],
        "chat_id": room,
        "seq": 1,
        "sender_id": alice,
        "content": "Hey, i'm fine! and you?",
        "type": "text",
        "timestamp": sent["timestamp"],
        "client_ref": "123124",
        "attachment": None,
        "reply_to": None,
    }
    live = await canonical.wait_message(room, 1)
    assert (live["id"], live["content"], live["sender_id"]) == (sent["id"], "Hey, i'm fine! and you?", alice)

    # A number is echoed as a number.
    reply = await chat.push("send_message", {"content": "numbered", "mobile_ref_id": 77})
    assert reply.status == "ok", reply
    numbered = await chat.next("message_sent", mobile_ref_id=77)
    assert type(numbered["mobile_ref_id"]) is int and (numbered["status"], numbered["chat_id"]) == ("sent", room)
    assert (await bob_chat.next("receive_message", seq=2))["content"] == "numbered"

    # The sending connection does not get its own messages back.
    await chat.quiet(QUIET, "receive_message")

    # A resend is confirmed again, and stored once.
    reply = await chat.push("send_message", {"content": "Hey, i'm fine! and you?", "mobile_ref_id": "123124"})
    assert reply.status == "ok", reply
    again = await chat.next("message_sent", mobile_ref_id="123124")
    assert {**again, "duplicate": False} == sent and again["duplicate"] is True
    reply = await chat.push("send_message", {"content": "numbered", "mobile_ref_id": 77})
    again = await chat.next("message_sent", mobile_ref_id=77)
    assert (again["id"], again["duplicate"], type(again["mobile_ref_id"])) == (numbered["id"], True, int)
    await bob_chat.quiet(QUIET, "receive_message")
    assert len(bob_chat.received("receive_message")) == 2
    assert await stored_count(pg, drain, room) == 2
    assert rows_with(pg, room, "Hey, i'm fine! and you?") == [(sent["id"], alice, "123124")]
    assert rows_with(pg, room, "numbered") == [(numbered["id"], alice, "77")]
    history = {m["id"]: m for m in (await node.rest.history(alice, room))["messages"]}
    assert (history[sent["id"]]["seq"], history[sent["id"]]["created_at"]) == (1, sent["timestamp"])


async def test_joins_of_rooms_one_is_not_in_of_unknown_rooms_and_of_others_notifications_are_refused(
    node, phoenix_clients, user_id, pg, drain
):
    alice, bob, mallory = user_id("alice"), user_id("bob"), user_id("mallory")
    room = await node.rest.create_room(alice, bob)
    socket = await phoenix(node, phoenix_clients, mallory, rejoinAfterMs=NEVER)

    refused = await refused_join(socket, f"chat:{room}")
    assert (refused["reason"], refused["code"]) == ("not_member", "not_member") and refused["message"], refused
    unknown = await refused_join(socket, "chat:987654321987")
    assert (unknown["reason"], unknown["code"]) == ("room_not_found", "room_not_found") and unknown["message"], unknown
    others = await refused_join(socket, f"notifications:{bob}")
    assert (others["reason"], others["code"]) == ("unauthorized", "user_mismatch"), others
    for topic in ("lobby:1", "chat:"):
        unmatched = await refused_join(socket, topic)
        assert (unmatched["reason"], unmatched["code"]) == ("unmatched topic", "unknown_event"), (topic, unmatched)

    # Nothing of the room reaches the refused connection, which keeps serving.
    await node.rest.send(alice, room, "members only")
    await drain()
    await joined(socket, f"notifications:{mallory}")
    await asyncio.sleep(QUIET)
    assert not socket.received_frames(topic=f"chat:{room}", event="receive_message")
    assert not socket.received_frames(event="new_notification")
    assert socket.is_open and socket.opens == 1
    assert pg("select count(*) from messages where room_id = %s", (int(room),))[0][0] == 1


# -- notifications ------------------------------------------------------------------------------------------


def notified(payload: dict) -> dict:
    """The fields of a notification the seed names, and the message it is about."""
    return {key: payload[key] for key in ("chat_id", "sender_id", "content", "timestamp", "message_id", "seq")}


async def test_new_notifications_reach_connections_not_joined_to_the_chat_topic_and_again_after_leaving_it(
    node, phoenix_clients, user_id, drain
):
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    watcher = await phoenix(node, phoenix_clients, bob, name="watcher")
    reader = await phoenix(node, phoenix_clients, bob, name="reader")
    idle = await phoenix(node, phoenix_clients, bob, name="idle")  # joined to nothing
    watching, _ = await joined(watcher, f"notifications:{bob}")
    reading, _ = await joined(reader, f"notifications:{bob}")
    chat, _ = await joined(reader, f"chat:{room}")

    first = await node.rest.send(alice, room, "first")
    await drain()  # the notify job
    notification = await watching.next("new_notification", message_id=first["id"])
    assert notified(notification) == {
        "chat_id": room,
        "sender_id": alice,
        "content": "first",
        "timestamp": first["created_at"],
        "message_id": first["id"],
        "seq": first["seq"],
    }
    frame = await watcher.next_frame(event="new_notification")
    assert (frame.join_ref, frame.ref, frame.topic) == (join_ref(watcher, f"notifications:{bob}"), None,
                                                        f"notifications:{bob}")  # fmt: skip
    assert (await chat.next("receive_message", id=first["id"]))["content"] == "first"
    await reading.quiet(QUIET, "new_notification")  # it shows the message itself

    await chat.leave()
    await reader.next_frame(topic=f"chat:{room}", event="phx_reply", payload={"status": "ok", "response": {}})
    second = await node.rest.send(alice, room, "second")
    await drain()
    assert notified(await reading.next("new_notification", message_id=second["id"]))["content"] == "second"
    assert notified(await watching.next("new_notification", message_id=second["id"]))["content"] == "second"
    # The message was broadcast before the worker notified it: a connection still following would have it.
    assert [f.payload["id"] for f in reader.received_frames(event="receive_message")] == [first["id"]]
    await watching.quiet(QUIET, "new_notification")  # one each
    await reading.quiet(0, "new_notification")
    assert idle.frames == [] and idle.is_open


async def test_pending_notifications_arrive_on_join_once_each_and_are_then_delivered(
    node, phoenix_clients, user_id, drain
):
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    one = await node.rest.send(alice, room, "one while bob was offline")
    two = await node.rest.send(alice, room, "two while bob was offline")
    await drain()  # stored for bob, who has no connection
    status, pending = await node.rest.call("GET", "/api/v1/notifications", bob)
    assert status == 200 and pending["total"] == 2, pending

    socket = await phoenix(node, phoenix_clients, bob, name="first")
    topic = f"notifications:{bob}"
    channel, response = await joined(socket, topic)
    assert response == {}
    first = await channel.next("pending_notification", message_id=one["id"])
    second = await channel.next("pending_notification", message_id=two["id"])
    assert notified(first) == {
        "chat_id": room,
        "sender_id": alice,
        "content": "one while bob was offline",
        "timestamp": one["created_at"],
        "message_id": one["id"],
        "seq": one["seq"],
    }
    assert notified(second)["content"] == "two while bob was offline"
    assert first["id"] and second["id"] and first["id"] != second["id"]
    await socket.next_frame(lambda frame: frame.payload["message_id"] == two["id"], event="pending_notification")
    frames = [f for f in socket.frames if f.topic == topic]
    assert [f.event for f in frames] == ["phx_reply", "pending_notification", "pending_notification"]
    assert all(f.join_ref == frames[0].join_ref and f.ref is None for f in frames[1:])

    async def delivered() -> bool:
        status, body = await node.rest.call("GET", "/api/v1/notifications", bob)
        assert status == 200, body
        return body == {"notifications": [], "total": 0}

    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not await delivered():
        assert loop.time() < deadline, "the pending notifications were not marked delivered"
        await asyncio.sleep(0.05)

    later = await phoenix(node, phoenix_clients, bob, name="later")
    again, _ = await joined(later, topic)
    await again.quiet(QUIET, "pending_notification")
    await channel.quiet(0, "pending_notification")
    # Bob is online now: a new message is notified live, to both, and nothing is stored.
    three = await node.rest.send(alice, room, "three")
    await drain()
    assert (await again.next("new_notification", message_id=three["id"]))["content"] == "three"
    assert (await channel.next("new_notification", message_id=three["id"]))["content"] == "three"
    assert await delivered()


# -- connecting ---------------------------------------------------------------------------------------------


async def test_bad_expired_missing_tokens_a_disabled_user_and_another_vsn_fail_the_upgrade_with_403(
    node, phoenix_clients, node_clients, settings, user_id
):
    alice, mallory = user_id("alice"), user_id("mallory")
    await node.rest.call("GET", "/api/v1/me", mallory)  # known, then disabled
    await disable_user(settings, mallory)
    connections = node.hub.connection_count
    cases = {
        "garbage": ({"token": "not-a-jwt"}, {}, "invalid_token"),
        "expired": ({"token": node.token(alice, ttl=-60)}, {}, "token_expired"),
        "missing": ({}, {}, "auth_required"),
        "disabled": ({"token": node.token(mallory)}, {}, "user_disabled"),
        "vsn": ({"token": node.token(alice)}, {"vsn": "1.0.0"}, "invalid_payload"),
    }
    for label, (params, options, code) in cases.items():
        socket = await phoenix_clients.socket(node.ws("/socket"), params, name=label, reconnectAfterMs=NEVER,
                                              **options)  # fmt: skip
        await socket.connect()
        assert await socket.refused() == 403, label
        await socket.closed()
        assert socket.opens == 0 and socket.frames == [], label
        # The body says why (a browser's WebSocket cannot read it; ws can).
        query = "&".join(f"{k}={v}" for k, v in {**params, "vsn": options.get("vsn", "2.0.0")}.items())
        raw = await node_clients.open(node.ws(f"/socket/websocket?{query}"), name=f"raw-{label}")
        assert await raw.refused() == 403, label
        assert raw.refused_body is not None and f'"code":"{code}"' in raw.refused_body.replace(" ", ""), (
            label,
            raw.refused_body,
        )
    assert node.hub.connection_count == connections  # refused sessions leave nothing behind
    assert not node.hub.topics.sessions_of(alice) and not node.hub.topics.sessions_of(mallory)


async def test_a_user_disabled_while_connected_is_told_closed_and_refused_on_reconnect(
    node, phoenix_clients, settings, user_id
):
    bob = user_id("bob")
    socket = await phoenix(node, phoenix_clients, bob, reconnectAfterMs=200)
    await disable_user(settings, bob)
    error = await socket.next_frame(topic="phoenix", event="phx_error")
    assert (error.join_ref, error.ref, error.payload["reason"]) == (None, None, "user_disabled")
    assert (await socket.closed()).code == 1008
    # The client reconnects by itself, and is refused.
    await eventually(lambda: socket.refused_status == 403, what="bob's reconnection to be refused with 403")
    await socket.disconnect()
    await eventually(lambda: not node.hub.topics.sessions_of(bob), what="bob's session to end")


async def test_heartbeats_are_answered_and_keep_the_connection_open_past_two_intervals(node, phoenix_clients, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    socket = await phoenix(node, phoenix_clients, alice, heartbeatIntervalMs=200)
    chat, _ = await joined(socket, f"chat:{room}")
    started = time.monotonic()
    replies = [await socket.next_frame(topic="phoenix", event="phx_reply") for _ in range(4)]
    assert time.monotonic() - started > 0.4  # past two intervals
    for reply in replies:
        assert reply == Frame(None, reply.ref, "phoenix", "phx_reply", {"status": "ok", "response": {}})
        assert isinstance(reply.ref, str)
    assert len({reply.ref for reply in replies}) == 4
    assert socket.is_open and socket.opens == 1 and socket.closes == []
    assert not chat.errored
    reply = await chat.push("send_message", {"content": "still here", "mobile_ref_id": "hb-1"})
    assert (reply.status, reply.response["status"]) == ("ok", "sent")
    status, presence = await node.rest.call("GET", f"/api/v1/users/{alice}/presence", bob)
    assert (status, presence["status"]) == (200, "online")


async def test_device_params_are_recorded_for_the_users_devices(node, phoenix_clients, user_id, drain):
    alice = user_id("alice")
    socket = await phoenix(
        node, phoenix_clients, alice, {"device_unique_id": "somerandontoken", "preferred_language": "EN"}
    )
    flush = node.app[SERVICES].flush
    # The connect asked for a flush job unless the flag says one is due already; an earlier test's node may have
    # left that flag (it expires after FLUSH_FLAG_TTL) with its job gone, so this test asks for one itself.
    flush.request()
    await eventually(lambda: not flush._tasks, what="the node to enqueue its presence flush")
    await drain()
    status, body = await node.rest.call("GET", "/api/v1/me/devices", alice)
    assert status == 200, body
    assert [(d["device_id"], d["preferred_language"]) for d in body["devices"]] == [("somerandontoken", "EN")]
    assert socket.is_open

    # A device id the core refuses fails the upgrade like a bad token.
    bad = await phoenix_clients.socket(node.ws("/socket"), {"token": node.token(alice), "device_unique_id": "x" * 201},
                                       name="bad-device", reconnectAfterMs=NEVER)  # fmt: skip
    await bad.connect()
    assert await bad.refused() == 403


# -- reconnecting -------------------------------------------------------------------------------------------


async def until_all(channel, ids: list[str]) -> list[dict]:
    """Wait for a receive_message of each id; every receive_message the channel got, in arrival order."""
    for message_id in ids:
        await channel.next("receive_message", id=message_id)
    return channel.received("receive_message")


@pytest.mark.parametrize("how", ["client disconnects", "server aborts", "server closes"])
async def test_after_a_reconnection_the_rejoin_brings_every_missed_message_once_in_order(
    node, phoenix_clients, user_id, how
):
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(bob, alice)
    socket = await phoenix(node, phoenix_clients, alice, reconnectAfterMs=1000)
    chat, _ = await joined(socket, f"chat:{room}", last_seq=True)
    canonical = await node.connect(bob)
    before = (await canonical.send(room, "before"))["data"]
    await chat.next("receive_message", id=before["id"])

    if how == "client disconnects":
        await socket.disconnect()
    else:
        [session] = phoenix_sessions(node, alice)
        if how == "server aborts":
            session.transport.cut()  # the connection drops: what a dead peer or a network cut looks like
        else:
            await session.transport.shutdown(None)  # closed with 1012
    await socket.closed()
    await eventually(lambda: not phoenix_sessions(node, alice), what="the node to end alice's session")
    missed = []
    for n in range(3):
        missed.append((await canonical.send(room, f"missed {n}"))["data"])
        missed.append(await node.rest.send(bob, room, f"missed by REST {n}"))
    assert not socket.is_open and socket.opens == 1, "the messages were to be sent while alice was away"
    if how == "client disconnects":
        await socket.connect()
    await socket.opened(2)
    rejoin = await chat.next_join()
    assert rejoin == Reply("ok", {"chat_id": room, "last_seq": missed[-1]["seq"], "has_more": False})
    after = (await canonical.send(room, "after"))["data"]

    received = await until_all(chat, [m["id"] for m in [*missed, after]])
    await chat.quiet(QUIET, "receive_message")
    ids = [m["id"] for m in [before, *missed, after]]
    assert [m["id"] for m in received] == ids  # each once, in seq order
    assert [m["seq"] for m in received] == list(range(1, 9))
    # On the wire: the rejoin's reply, then the missed messages, then the live one.
    topic = f"chat:{room}"
    await socket.next_frame(lambda frame: frame.payload["id"] == after["id"], topic=topic, event="receive_message")
    frames = [f for f in socket.frames if f.topic == topic and f.event in ("phx_reply", "receive_message")]
    second_join = next(i for i, f in enumerate(frames) if f.event == "phx_reply" and i > 0)
    assert [f.payload["id"] for f in frames[second_join + 1 :]] == [m["id"] for m in [*missed, after]]
    assert frames[second_join].join_ref != frames[0].join_ref  # a new join


# -- what happens in the room -------------------------------------------------------------------------------


async def test_typing_presence_reads_edits_and_deletes_reach_phoenix_clients_and_their_pushes_reach_others(
    node, phoenix_clients, user_id
):
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    socket = await phoenix(node, phoenix_clients, alice)
    chat, _ = await joined(socket, f"chat:{room}")
    canonical = await node.connect(bob)
    await canonical.join(room)

    assert (await canonical.ack("typing:start", {"room_id": room}))["ok"]
    typing = await chat.next("typing", user_id=bob)
    assert {k: typing[k] for k in ("room_id", "user_id", "typing")} == {"room_id": room, "user_id": bob, "typing": True}

    assert (await canonical.ack("presence:set", {"status": "away"}))["ok"]
    presence = await chat.next("presence_update", user_id=bob, status="away")
    assert {k: presence[k] for k in ("user_id", "status")} == {"user_id": bob, "status": "away"}
    frame = await socket.next_frame(event="presence_update", payload=presence)
    assert frame.join_ref == join_ref(socket, f"chat:{room}")
    # A member added after the join is shown too.
    carol = user_id("carol")
    await node.rest.add_members(alice, room, carol)
    await node.connect(carol)
    assert (await chat.next("presence_update", user_id=carol))["status"] == "online"

    # Alice's messages, read by bob.
    for n, content in enumerate(("one", "two"), 1):
        reply = await chat.push("send_message", {"content": content, "mobile_ref_id": f"m-{n}"})
        assert reply.status == "ok", reply
    one, two = [(await chat.next("message_sent", mobile_ref_id=f"m-{n}")) for n in (1, 2)]
    await canonical.wait_message(room, two["seq"])
    assert (await canonical.ack("room:read", {"room_id": room, "seq": one["seq"]}))["ok"]
    read = await chat.next("read", user_id=bob)
    assert {k: read[k] for k in ("room_id", "user_id", "read_seq", "message_id")} == {
        "room_id": room,
        "user_id": bob,
        "read_seq": one["seq"],
        "message_id": one["id"],
    }

    # Bob's message, read by alice, edited, deleted.
    three = (await canonical.send(room, "three"))["data"]
    await chat.next("receive_message", id=three["id"])
    reply = await chat.push("read", {"message_id": three["id"]})
    assert reply.status == "ok" and reply.response["read_seq"] == three["seq"], reply
    receipt = await canonical.next("receipt:read")
    assert (receipt["user_id"], receipt["read_seq"], receipt["message_id"]) == (alice, three["seq"], three["id"])
    assert (await canonical.ack("message:edit", {"message_id": three["id"], "content": "three, edited"}))["ok"]
    updated = await chat.next("message_updated", id=three["id"])
    assert (updated["content"], updated["room_id"], updated["seq"]) == ("three, edited", room, three["seq"])
    assert (await canonical.ack("message:delete", {"message_id": three["id"]}))["ok"]
    deleted = await chat.next("message_deleted", id=three["id"])
    assert (deleted["room_id"], deleted["seq"], deleted["deleted_by"]) == (room, three["seq"], bob)

    # Alice typing reaches the canonical client.
    reply = await chat.push("typing", {})
    assert reply.status == "ok" and reply.response["typing"] is True, reply
    started = await canonical.next("typing:update")
    assert (started["user_id"], started["room_id"], started["typing"]) == (alice, room, True)
    reply = await chat.push("typing", {"typing": False})
    assert reply.status == "ok" and reply.response["typing"] is False, reply
    await eventually(
        lambda: any(t["user_id"] == alice and t["typing"] is False for t in canonical.all("typing:update")),
        what="the canonical client to see alice stop typing",
    )
    await chat.quiet(QUIET, "typing", user_id=alice)  # never to the actor
    await chat.quiet(0, "read", user_id=alice)


@pytest.mark.parametrize("how", ["removed", "left"])
async def test_a_member_removed_from_the_room_or_leaving_it_has_its_channel_closed(node, phoenix_clients, user_id, how):
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    socket = await phoenix(node, phoenix_clients, bob, rejoinAfterMs=NEVER)
    chat, _ = await joined(socket, f"chat:{room}")
    topic = f"chat:{room}"
    ref = join_ref(socket, topic)
    if how == "removed":
        await node.rest.remove_member(alice, room, bob)
    else:
        await node.rest.leave(bob, room)
    assert await chat.wait_closed() == {}
    assert not chat.errored
    assert await socket.next_frame(topic=topic, event="phx_close") == Frame(ref, ref, topic, "phx_close", {})

    await node.rest.send(alice, room, "after bob went")
    await asyncio.sleep(QUIET)
    assert not socket.received_frames(topic=topic, event="receive_message")
    assert (await refused_join(socket, topic))["reason"] == "not_member"
    assert socket.is_open


# -- across dialects and nodes ------------------------------------------------------------------------------


async def test_messages_cross_between_phoenix_canonical_and_seed_004_clients_with_one_id(
    node, phoenix_clients, node_clients, user_id, drain, pg
):
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    socket = await phoenix(node, phoenix_clients, bob)
    chat, _ = await joined(socket, f"chat:{room}")
    canonical = await node.connect(alice)
    await canonical.join(room)
    fastapi = await node_clients.open(node.ws(f"/ws/{alice}?token={node.token(alice)}"), name="alice-004")
    await fastapi.opened()

    ack = await canonical.send(room, "from socket.io", client_ref="sio-1")
    receipt = ack["data"]
    received = await chat.next("receive_message", id=receipt["id"])
    assert (received["seq"], received["content"], received["sender_id"], received["chat_id"]) == (
        receipt["seq"],
        "from socket.io",
        alice,
        room,
    )
    assert received["timestamp"] == receipt["created_at"]

    reply = await chat.push("send_message", {"content": "from phoenix", "mobile_ref_id": "phx-1"})
    sent = await chat.next("message_sent", mobile_ref_id="phx-1")
    assert reply == Reply("ok", sent)
    live = await canonical.wait_message(room, sent["seq"])
    assert (live["id"], live["content"], live["sender_id"], live["client_ref"]) == (
        sent["id"],
        "from phoenix",
        bob,
        "phx-1",
    )
    assert await fastapi.next(event="new_message", messageId=sent["id"]) == {
        "event": "new_message",
        "conversationId": room,
        "messageId": sent["id"],
        "senderId": bob,
        "content": "from phoenix",
        "messageType": "text",
        "timestamp": sent["timestamp"],
    }
    await drain()
    assert rows_with(pg, room, "from phoenix") == [(sent["id"], bob, "phx-1")]
    assert rows_with(pg, room, "from socket.io") == [(receipt["id"], alice, "sio-1")]


async def test_a_phoenix_client_and_a_canonical_one_on_two_nodes_exchange_messages(spawn, phoenix_clients, user_id):
    first, second = await spawn(), await spawn()
    alice, bob = user_id("alice"), user_id("bob")
    room = await first.rest.create_room(alice, bob)
    socket = await phoenix(first, phoenix_clients, bob)
    chat, _ = await joined(socket, f"chat:{room}")
    canonical = await second.connect(alice)
    await canonical.join(room)

    receipt = (await canonical.send(room, "from the second node"))["data"]
    received = await chat.next("receive_message", id=receipt["id"])
    assert (received["content"], received["sender_id"]) == ("from the second node", alice)

    reply = await chat.push("send_message", {"content": "from the first node", "mobile_ref_id": 1})
    assert reply.status == "ok" and reply.response["mobile_ref_id"] == 1, reply
    live = await canonical.wait_message(room, reply.response["seq"])
    assert (live["id"], live["content"], live["sender_id"]) == (reply.response["id"], "from the first node", bob)

    await chat.push("typing", {})
    typing = await canonical.next("typing:update")
    assert (typing["user_id"], typing["typing"]) == (bob, True)


# -- bad input ----------------------------------------------------------------------------------------------


async def test_frames_that_are_not_v2_arrays_get_phx_error_and_bad_requests_an_error_reply(
    node, node_clients, user_id, settings
):
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    other = await node.rest.create_room(alice, bob, name="not joined")
    before = await node.rest.history(alice, room)
    ws = await raw_socket(node, node_clients, bob)
    topic = f"chat:{room}"

    def answer(ref):
        return lambda frame: isinstance(frame, list) and frame[1] == ref and frame[3] in ("phx_reply", "phx_close")

    await ws.send(["1", "1", topic, "phx_join", {}])
    joined_reply = {"status": "ok", "response": {"chat_id": room, "last_seq": 0, "has_more": False}}
    assert await ws.next(answer("1")) == ["1", "1", topic, "phx_reply", joined_reply]

    # Not the V2 array: phx_error on the `phoenix` topic, nothing else.
    for text in (
        "not json{",
        '{"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "2"}',
        '[null, "2", "phoenix", "heartbeat"]',
        '[null, "2", 5, "phx_join", {}]',
        f'["1", "2", "{topic}", 7, {{}}]',
        '[null, true, "phoenix", "heartbeat", {}]',
        '[null, {"ref": 2}, "phoenix", "heartbeat", {}]',
    ):
        await ws.send_text(text)
        error = await ws.next(lambda frame: isinstance(frame, list) and frame[3] == "phx_error")
        assert error[:3] == [None, None, "phoenix"], (text, error)
        assert (error[4]["reason"], error[4]["code"]) == ("invalid_payload", "invalid_payload"), (text, error)
        assert error[4]["message"], text
    await ws.send_binary(b"\x00\x01")
    error = await ws.next(lambda frame: isinstance(frame, list) and frame[3] == "phx_error")
    assert error[4]["code"] == "invalid_payload"

    # A ref is echoed as it was sent.
    await ws.send([None, 3, "phoenix", "heartbeat", {}])
    assert await ws.next(answer(3)) == [None, 3, "phoenix", "phx_reply", {"status": "ok", "response": {}}]

    # Unknown topics, and events on a topic not joined.
    await ws.send(["4", "4", "lobby:1", "phx_join", {}])
    reply = await ws.next(answer("4"))
    assert reply[:4] == ["4", "4", "lobby:1", "phx_reply"] and reply[4]["status"] == "error"
    assert reply[4]["response"]["reason"] == "unmatched topic"
    await ws.send([None, "5", f"chat:{other}", "send_message", {"content": "sneaky", "mobile_ref_id": "s-1"}])
    reply = await ws.next(answer("5"))
    assert reply[:4] == [None, "5", f"chat:{other}", "phx_reply"]
    assert (reply[4]["status"], reply[4]["response"]["reason"]) == ("error", "unmatched topic")
    await ws.send([None, "6", "phoenix", "launch", {}])
    assert (await ws.next(answer("6")))[4]["response"]["reason"] == "unmatched topic"
    await ws.send(["1", "7", topic, "launch_rockets", {}])
    reply = await ws.next(answer("7"))
    assert reply[:4] == ["1", "7", topic, "phx_reply"]
    assert (reply[4]["status"], reply[4]["response"]["reason"]) == ("error", "unknown_event")
    await ws.send(["8", "8", f"notifications:{bob}", "phx_join", {}])
    assert (await ws.next(answer("8")))[4] == {"status": "ok", "response": {}}
    await ws.send(["8", "9", f"notifications:{bob}", "send_message", {"content": "x"}])
    assert (await ws.next(answer("9")))[4]["response"]["reason"] == "unknown_event"

    # Payloads of the wrong shape, and content too long: an error reply and message_sent with status error.
    too_long = "x" * (settings.limits.max_message_length + 1)
    cases = [
        ({"content": 5, "mobile_ref_id": "w-1"}, "invalid_payload"),
        ({"mobile_ref_id": "w-2"}, "invalid_payload"),
        ({"content": "ok", "mobile_ref_id": {"nested": True}}, "invalid_payload"),
        ({"content": "ok", "mobile_ref_id": True}, "invalid_payload"),
        ({"content": too_long, "mobile_ref_id": "w-3"}, "content_too_long"),
        ({"content": "", "mobile_ref_id": "w-4"}, "content_empty"),
    ]
    for n, (payload, code) in enumerate(cases):
        ref = f"w{n}"
        await ws.send(["1", ref, topic, "send_message", payload])
        reply = await ws.next(answer(ref))
        assert reply[:4] == ["1", ref, topic, "phx_reply"] and reply[4]["status"] == "error", (payload, reply)
        response = reply[4]["response"]
        assert (response["status"], response["chat_id"], response["code"]) == ("error", room, code), (payload, reply)
        assert response["mobile_ref_id"] == payload.get("mobile_ref_id"), (payload, reply)
        sent = await ws.next(lambda f, p=payload: isinstance(f, list) and f[3] == "message_sent"
                             and f[4]["mobile_ref_id"] == p.get("mobile_ref_id"))  # fmt: skip
        assert sent == ["1", None, topic, "message_sent", response], (payload, sent)
    await ws.send(["1", "w-list", topic, "send_message", ["not", "an", "object"]])
    reply = await ws.next(answer("w-list"))
    assert (reply[4]["status"], reply[4]["response"]["code"]) == ("error", "invalid_payload")
    # A mobile_ref_id is the message's id on the device: used for a message of another room, it is refused.
    await ws.send(["12", "12", f"chat:{other}", "phx_join", {}])
    assert (await ws.next(answer("12")))[4]["status"] == "ok"
    await ws.send(["12", "13", f"chat:{other}", "send_message", {"content": "first", "mobile_ref_id": "dup"}])
    assert (await ws.next(answer("13")))[4]["response"]["status"] == "sent"
    await ws.send(["1", "14", topic, "send_message", {"content": "second", "mobile_ref_id": "dup"}])
    reply = await ws.next(answer("14"))
    assert (reply[4]["status"], reply[4]["response"]["code"]) == ("error", "duplicate_client_ref"), reply

    assert ws.is_open
    assert await node.rest.history(alice, room) == before  # nothing stored
    assert [m["content"] for m in (await node.rest.history(alice, other))["messages"]] == ["first"]

    # A second join: the old channel is closed with its join_ref, then the new join is answered.
    await ws.send(["10", "10", topic, "phx_join", {}])
    close = await ws.next(answer("1"))
    assert close == ["1", "1", topic, "phx_close", {}]
    assert await ws.next(answer("10")) == ["10", "10", topic, "phx_reply", joined_reply]
    assert ws.frames.index(close) < ws.frames.index(["10", "10", topic, "phx_reply", joined_reply])

    # And a valid send still works, under the new join.
    await ws.send(["10", "11", topic, "send_message", {"content": "valid at last", "mobile_ref_id": "v-1"}])
    reply = await ws.next(answer("11"))
    assert reply[4]["status"] == "ok" and reply[4]["response"]["status"] == "sent", reply
    sent = await ws.next(lambda f: isinstance(f, list) and f[3] == "message_sent" and f[4]["mobile_ref_id"] == "v-1")
    assert sent[:3] == ["10", None, topic]
    history = await node.rest.history(alice, room)
    assert [m["content"] for m in history["messages"]] == ["valid at last"]


async def test_a_frame_over_the_limit_closes_the_socket_with_1009_and_the_client_reconnects(
    spawn, phoenix_clients, user_id
):
    node = await spawn(MAX_FRAME_BYTES=4096)
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    socket = await phoenix(node, phoenix_clients, bob, reconnectAfterMs=100)
    chat, _ = await joined(socket, f"chat:{room}", last_seq=True)

    await chat.push_nowait("send_message", {"content": "x" * 5000, "mobile_ref_id": "big"})
    assert (await socket.closed()).code == 1009
    await socket.opened(2)
    assert (await chat.next_join()).status == "ok"
    reply = await chat.push("send_message", {"content": "small", "mobile_ref_id": "small"})
    assert reply.status == "ok" and reply.response["status"] == "sent", reply
    history = await node.rest.history(alice, room)
    assert [m["content"] for m in history["messages"]] == ["small"]
    assert not chat.received("message_sent", mobile_ref_id="big")
