"""Notifications, produced by a real worker process (`drain`): a member with a live connection gets
`notification:new` on the connections that do not follow the room; a member with none gets a stored
notification, sent as `notification:pending` on the next connect and kept pending until the client
acknowledges it (the event's callback, `notifications:ack`, or REST). Members who already read the
message, and its sender, get nothing."""

from __future__ import annotations

import asyncio
import json
import re

from app.chat.rules import excerpt
from tests.realtime.conftest import QUIET

PENDING_FRAME = re.compile(r"42(\d*)(\[.*)", re.S)


async def gone_offline(rest, asker: str, user: str) -> None:
    """Wait until the server has recorded that `user` has no live connection (seen by `asker`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while True:
        status, presence = await rest.call("GET", f"/api/v1/users/{user}/presence", asker)
        assert status == 200, presence
        if presence["status"] == "offline":
            return
        assert loop.time() < deadline, f"{user} still shown {presence['status']}"
        await asyncio.sleep(0.05)


async def stored(rest, user: str, limit: int | None = None) -> dict:
    path = "/api/v1/notifications" + (f"?limit={limit}" if limit is not None else "")
    status, body = await rest.call("GET", path, user)
    assert status == 200, body
    return body


async def raw_pending(raw) -> tuple[int | None, dict]:
    """The next `notification:pending` on a raw socket: its ack id and payload, not acknowledged."""
    while True:
        frame = await raw.frame()
        match = PENDING_FRAME.match(frame)
        if match:
            event, *args = json.loads(match.group(2))
            if event == "notification:pending":
                return (int(match.group(1)) if match.group(1) else None), args[0]


async def no_more_pending(client) -> None:
    """`notification:pending` follows `session:ready` at once when there is one: watch a while."""
    await asyncio.sleep(QUIET)
    assert client.all("notification:pending") == [], client.all("notification:pending")


async def test_an_online_member_is_notified_only_on_connections_that_do_not_follow_the_room(node, rest, drain, user_id):
    alice, bob, carol, dave = user_id("alice"), user_id("bob"), user_id("carol"), user_id("dave")
    room = await rest.create_room(alice, bob, carol, dave)
    a_follow, a_free = await node.connect(alice, label="alice following"), await node.connect(alice, label="alice")
    b_follow, b_free = await node.connect(bob, label="bob following"), await node.connect(bob, label="bob")
    c_free = await node.connect(carol, label="carol")
    for client in (a_follow, b_follow):
        await client.join(room)

    first = await a_follow.send(room, "hello   there,\n  bob")
    second = await a_follow.send(room, "second")
    assert first["ok"] and second["ok"], (first, second)
    # carol (online) and dave (offline) read everything before the worker runs: neither hears of it.
    for reader in (carol, dave):
        status, state = await rest.call("POST", f"/api/v1/rooms/{room}/read", reader, {})
        assert status == 200 and state["read_seq"] == 2, state
    await b_follow.wait_message(room, 2)
    await drain()

    notes = await b_free.wait_for_count("notification:new", 2)
    name = a_free.all("session:ready")[0]["user"]["name"]
    created = {m["seq"]: m["created_at"] for m in b_follow.messages(room)}
    assert sorted(notes, key=lambda n: n["seq"]) == [
        {
            "id": None,
            "room_id": room,
            "message_id": first["data"]["id"],
            "seq": 1,
            "sender_id": alice,
            "sender_name": name,
            "excerpt": "hello there, bob",
            "created_at": created[1],
            "unread_count": 1,
        },
        {
            "id": None,
            "room_id": room,
            "message_id": second["data"]["id"],
            "seq": 2,
            "sender_id": alice,
            "sender_name": name,
            "excerpt": "second",
            "created_at": created[2],
            "unread_count": 2,
        },
    ]
    await asyncio.sleep(QUIET)
    assert len(b_free.all("notification:new")) == 2  # once each
    assert b_follow.all("notification:new") == []  # it shows the message itself
    assert a_follow.all("notification:new") == [] and a_free.all("notification:new") == []  # the sender
    assert c_free.all("notification:new") == []  # read already
    # Live notifications are not stored; nothing is stored for the reader who was offline either.
    for user in (alice, bob, carol, dave):
        assert (await stored(rest, user))["total"] == 0, user


async def test_a_messages_notifications_cross_as_one_event_and_nothing_is_built_for_members_who_follow_the_room(
    spawn, rest, drain, user_id
):
    """The worker publishes one `notification:batch` per message for all its recipients; a node builds and encodes
    `notification:new` only for a recipient with a session there that does not follow the room."""
    node = await spawn()
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await rest.create_room(alice, bob, carol)
    sender, b, c = [await node.connect(u, label=u) for u in (alice, bob, carol)]
    for client in (sender, b, c):
        await client.join(room)
    stats = node.hub.stats.dialects["socketio"]
    assert (await sender.send(room, "everyone follows"))["ok"]
    await drain()
    await c.wait_message(room, 1)
    await asyncio.sleep(QUIET)
    assert stats.encoded.get("notification:new", 0) == 0
    carol_elsewhere = await node.connect(carol, label="carol elsewhere")  # not in the room
    assert (await sender.send(room, "carol is elsewhere too"))["ok"]
    await drain()
    note = await carol_elsewhere.next("notification:new")
    assert (note["seq"], note["unread_count"], note["id"]) == (2, 2, None)
    await asyncio.sleep(QUIET)
    assert stats.encoded["notification:new"] == 1  # carol's one session that does not follow; not bob's
    assert b.all("notification:new") == [] and c.all("notification:new") == []


async def test_a_notification_stored_while_offline_is_sent_on_connect_until_acknowledged(node, rest, drain, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    b = await node.connect(bob)
    await b.disconnect()
    await gone_offline(rest, alice, bob)
    a = await node.connect(alice)
    sent = await a.send(room, "while you were away")
    assert sent["ok"], sent
    await drain()

    again = await node.connect(bob, label="bob again")
    pending = await again.next("notification:pending")
    assert pending["total"] == 1
    [note] = pending["notifications"]
    assert note["id"] is not None
    assert {k: v for k, v in note.items() if k not in ("id", "sender_name", "created_at")} == {
        "room_id": room,
        "message_id": sent["data"]["id"],
        "seq": 1,
        "sender_id": alice,
        "excerpt": "while you were away",
    }
    assert note["created_at"] == sent["data"]["created_at"]
    order = [name for name, _ in again.received]
    assert order.index("session:ready") < order.index("notification:pending")
    # The client acknowledged the event (python-socketio answers every event that asks for it):
    # the notification is delivered, and the next connection gets no list.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (await stored(rest, bob))["total"] != 0:
        assert loop.time() < deadline, "the acknowledged notification is still pending"
        await asyncio.sleep(0.05)
    await again.disconnect()
    last = await node.connect(bob, label="bob last")
    await no_more_pending(last)
    assert a.all("notification:new") == [] and a.all("notification:pending") == []


async def test_an_unacknowledged_pending_list_comes_again_and_notifications_ack_clears_it(
    node, rest, drain, raw_socket, user_id
):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    for content in ("one", "two"):
        await rest.send(alice, room, content)
    await drain()

    first = await raw_socket(node, bob)
    ack_id, pending = await raw_pending(first)
    assert ack_id is not None, "the list asks for an acknowledgement"
    assert pending["total"] == 2 and [n["seq"] for n in pending["notifications"]] == [1, 2]
    ids = [n["id"] for n in pending["notifications"]]
    await first.close()  # gone without acknowledging

    second = await raw_socket(node, bob)
    _, pending = await raw_pending(second)
    assert [n["id"] for n in pending["notifications"]] == ids and pending["total"] == 2
    # notifications:ack over the socket, for one of them (a foreign or bogus id is ignored).
    await second.send("420" + json.dumps(["notifications:ack", {"ids": [ids[0], "nonsense", "999999999999"]}]))
    assert await second.ack(0) == {"ok": True, "data": {"acknowledged": 1}}
    await second.send("421" + json.dumps(["notifications:ack", {"ids": [ids[0]]}]))
    assert await second.ack(1) == {"ok": True, "data": {"acknowledged": 0}}  # delivered already
    await second.send("422" + json.dumps(["notifications:ack", {"ids": []}]))
    refused = await second.ack(2)
    assert refused["ok"] is False and refused["error"]["code"] == "invalid_payload", refused
    await second.close()

    third = await node.connect(bob, label="bob third")
    pending = await third.next("notification:pending")
    assert [n["id"] for n in pending["notifications"]] == ids[1:] and pending["total"] == 1


async def test_pending_notifications_over_rest_newest_first_within_the_limit(node, rest, drain, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await rest.create_room(alice, bob, carol)
    sent = [await rest.send(alice, room, f"note {i}") for i in range(1, 4)]
    await drain()

    listed = await stored(rest, bob)
    assert listed["total"] == 3
    assert [(n["seq"], n["message_id"], n["excerpt"]) for n in listed["notifications"]] == [
        (m["seq"], m["id"], f"note {m['seq']}") for m in sent
    ]
    assert all(n["room_id"] == room and n["sender_id"] == alice for n in listed["notifications"])
    ids = [n["id"] for n in listed["notifications"]]
    assert len(set(ids)) == 3 and None not in ids
    newest = await stored(rest, bob, limit=2)
    assert newest["total"] == 3 and [n["id"] for n in newest["notifications"]] == ids[1:]
    assert (await stored(rest, alice))["total"] == 0  # the sender gets none
    assert (await stored(rest, carol))["total"] == 3  # carol has her own
    # Listing delivers nothing; an ack of someone else's ids changes nothing.
    status, body = await rest.call("POST", "/api/v1/notifications/ack", carol, {"ids": ids})
    assert status == 200 and body == {"acknowledged": 0}, body
    assert (await stored(rest, bob))["total"] == 3

    status, body = await rest.call("POST", "/api/v1/notifications/ack", bob, {"ids": [ids[0], ids[0], "x"]})
    assert status == 200 and body == {"acknowledged": 1}, body
    status, body = await rest.call("POST", "/api/v1/notifications/ack", bob, {"ids": [ids[0]]})
    assert status == 200 and body == {"acknowledged": 0}, body
    status, body = await rest.call("POST", "/api/v1/notifications/ack", bob, {"ids": []})
    assert status == 400 and body["code"] == "invalid_payload", body
    status, body = await rest.call("GET", "/api/v1/notifications?limit=0", bob)
    assert status == 400 and body["code"] == "invalid_payload", body
    listed = await stored(rest, bob)
    assert listed["total"] == 2 and [n["id"] for n in listed["notifications"]] == ids[1:]

    b = await node.connect(bob)
    pending = await b.next("notification:pending")
    assert [n["id"] for n in pending["notifications"]] == ids[1:] and pending["total"] == 2


async def test_the_connect_list_holds_the_newest_and_the_rest_comes_later(spawn, drain, user_id):
    small = await spawn(PENDING_NOTIFICATIONS_MAX=2)
    alice, bob = user_id("alice"), user_id("bob")
    room = await small.rest.create_room(alice, bob)
    for i in range(1, 4):
        await small.rest.send(alice, room, f"n{i}")
    await drain()

    b = await small.connect(bob)
    pending = await b.next("notification:pending")
    assert [n["seq"] for n in pending["notifications"]] == [2, 3] and pending["total"] == 3
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (left := await stored(small.rest, bob))["total"] != 1:
        assert loop.time() < deadline, left
        await asyncio.sleep(0.05)
    assert [n["seq"] for n in left["notifications"]] == [1]
    await b.disconnect()
    again = await small.connect(bob, label="bob again")
    pending = await again.next("notification:pending")
    assert [n["seq"] for n in pending["notifications"]] == [1] and pending["total"] == 1


async def test_a_member_who_connects_after_the_worker_stored_it_is_not_notified_twice(node, rest, drain, user_id):
    """Offline at notify time: stored (and published to nobody); on connect it comes once, as pending."""
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    await rest.send(alice, room, "hi")
    await drain()
    b = await node.connect(bob)
    pending = await b.next("notification:pending")
    assert [n["seq"] for n in pending["notifications"]] == [1]
    await drain()  # nothing left to do: no job notifies again
    await asyncio.sleep(QUIET)
    assert b.all("notification:new") == [] and len(b.all("notification:pending")) == 1


async def test_the_excerpt_is_the_start_of_the_whole_message_however_much_white_space_it_holds(
    node, rest, drain, settings, user_id
):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    length = settings.notifications.notification_excerpt_length
    contents = [" " * (4 * length + 40) + "the actual text", "word" + " " * (4 * length + 40) + "later words"]
    for content in contents:
        await rest.send(alice, room, content)
    await drain()
    listed = await stored(rest, bob)
    assert [n["excerpt"] for n in listed["notifications"]] == [excerpt(content, length) for content in contents]
