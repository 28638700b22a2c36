"""What is unread, for one's own messages and for system messages (docs/architecture.md, "Read receipts and
unread counts"): messages of others are; one's own never are; a system message (a direct chat started,
members changed) never makes a read room unread, and nobody is notified of it."""

from __future__ import annotations

from datetime import UTC, datetime

from app.chat.model import Message
from app.chat.notifications import plan


async def _unread(api, user: str, room_id: str) -> tuple[int, int]:
    """(the room's unread count, the user's total), as the room list and /me/unread say."""
    listed = next(r for r in await api.rooms(user) if r["id"] == room_id)["unread_count"]
    reply = await api.get("/api/v1/me/unread", user)
    assert reply.status == 200, reply
    rooms = {room["room_id"]: room["unread_count"] for room in reply.body["rooms"]}
    assert rooms[room_id] == listed
    return listed, reply.body["total_unread"]


async def test_a_direct_chat_started_is_not_unread_for_either_member(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = (await api.direct(alice, bob))["id"]
    [started] = (await api.get(f"/api/v1/rooms/{room}/messages", bob)).body["messages"]
    assert started["type"] == "system"  # "Alice started this conversation" is in the timeline
    assert await _unread(api, bob, room) == (0, 0)
    assert await _unread(api, alice, room) == (0, 0)
    await api.send(alice, room, "hello")
    assert await _unread(api, bob, room) == (1, 1)  # only Alice's message
    await api.send(bob, room, "hi")  # one's own message is never unread, and sending reads the room
    assert await _unread(api, bob, room) == (0, 0)
    assert await _unread(api, alice, room) == (1, 1)


async def test_members_changing_does_not_make_a_read_room_unread(api, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = (await api.create_group(alice, "Team", [bob]))["id"]
    await api.send(alice, room, "one")
    await api.send(alice, room, "two")
    read = await api.post(f"/api/v1/rooms/{room}/read", bob, json={})
    assert read.status == 200, read
    assert await _unread(api, bob, room) == (0, 0)
    added = await api.post(f"/api/v1/rooms/{room}/members", alice, json={"user_ids": [carol]})
    assert added.status in (200, 201), added
    history = (await api.get(f"/api/v1/rooms/{room}/messages", bob)).body["messages"]
    assert history[-1]["type"] == "system"  # "Alice added Carol"
    assert await _unread(api, bob, room) == (0, 0)
    assert await _unread(api, alice, room) == (0, 0)
    await api.send(alice, room, "three")
    assert await _unread(api, bob, room) == (1, 1)


def test_nobody_is_notified_of_a_system_message():
    now = datetime.now(UTC)
    system = Message("1", "r", 1, "alice", "system", "Direct chat started", None, now, meta={"event": "direct_started"})
    text = Message("2", "r", 2, "alice", "text", "hello", None, now)
    result = plan([system, text], {"r": ["alice", "bob"]}, set(), {}, {"alice": "Alice"}, 100)
    assert [(n.message_id, n.user_id, count) for n, count in result.store] == [("2", "bob", 2)]


async def test_being_added_to_a_group_is_not_unread_for_the_newcomer(api, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = (await api.create_group(carol, "Later", [bob]))["id"]
    added = await api.post(f"/api/v1/rooms/{room}/members", carol, json={"user_ids": [alice]})
    assert added.status in (200, 201), added
    history = (await api.get(f"/api/v1/rooms/{room}/messages", alice)).body["messages"]
    assert [m["type"] for m in history][-1:] == ["system"], history  # "Carol added Alice"
    assert await _unread(api, alice, room) == (0, 0)
    assert await _unread(api, bob, room) == (0, 0)
