"""Events the core announces, the topics they go to, and their payloads.

An event is a name and a JSON-ready dict (snake_case). It is published to a
topic: `room:<id>` reaches the connections that joined the room,
`user:<id>` every connection of that user, `system` every node (cache
invalidation). Gateways render events into their own frames.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.chat.model import Room

MESSAGE_NEW = "message:new"
ROOM_ADDED = "room:added"
ROOM_REMOVED = "room:removed"
ROOM_MEMBERS_CHANGED = "room:members_changed"
ROOM_INVALIDATED = "room:invalidated"
USER_DISABLED = "user:disabled"
USER_ENABLED = "user:enabled"

SYSTEM_TOPIC = "system"


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    data: dict


def room_topic(room_id: str) -> str:
    return f"room:{room_id}"


def user_topic(user_id: str) -> str:
    return f"user:{user_id}"


def topic_user_id(topic: str) -> str | None:
    return topic.removeprefix("user:") if topic.startswith("user:") else None


def room_added(room: Room) -> Event:
    return Event(ROOM_ADDED, {"room": room.record()})


def room_removed(room_id: str, reason: str) -> Event:
    return Event(ROOM_REMOVED, {"room_id": room_id, "reason": reason})


def members_changed(room_id: str, added: list[str], removed: list[str], owner_id: str | None) -> Event:
    return Event(ROOM_MEMBERS_CHANGED, {"room_id": room_id, "added": added, "removed": removed, "owner_id": owner_id})


def room_invalidated(room_id: str) -> Event:
    return Event(ROOM_INVALIDATED, {"room_id": room_id})


def user_disabled(user_id: str) -> Event:
    return Event(USER_DISABLED, {"user_id": user_id})


def user_enabled(user_id: str) -> Event:
    return Event(USER_ENABLED, {"user_id": user_id})
