"""Events the core announces, the topics they go to, and their payloads.

An event is a name and a JSON-ready dict (snake_case). It is published to a
topic: `room:<id>` reaches the connections that joined the room,
`user:<id>` every connection of that user, `system` every node (cache
invalidation). Gateways render events into their own frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.chat.model import Favorite, Message, Notification, PresenceInfo, ReactionGroup, Room, format_time

MESSAGE_NEW = "message:new"
MESSAGE_UPDATED = "message:updated"
MESSAGE_DELETED = "message:deleted"
REACTION_UPDATE = "reaction:update"
FAVORITES_UPDATE = "favorites:update"
PEOPLE_UPDATE = "people:update"
ROOM_ADDED = "room:added"
ROOM_REMOVED = "room:removed"
ROOM_MEMBERS_CHANGED = "room:members_changed"
ROOM_INVALIDATED = "room:invalidated"
USER_DISABLED = "user:disabled"
USER_ENABLED = "user:enabled"
PRESENCE_UPDATE = "presence:update"
TYPING_UPDATE = "typing:update"
RECEIPT_READ = "receipt:read"
UNREAD_UPDATE = "unread:update"
NOTIFICATION_NEW = "notification:new"
NOTIFICATION_PENDING = "notification:pending"
# Between nodes only: the live notifications of one message, expanded by each node into `notification:new` for
# the recipients' sessions there that do not follow the room (notification_batch).
NOTIFICATION_BATCH = "notification:batch"
VIEWER_JOINED = "viewer:joined"
VIEWER_LEFT = "viewer:left"

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


def presence_update(info: PresenceInfo) -> Event:
    return Event(PRESENCE_UPDATE, info.record())


def typing_update(room_id: str, user_id: str, typing: bool, expires_in: float) -> Event:
    """`expires_in`: seconds after which a receiver should consider the typing over without a refresh."""
    return Event(TYPING_UPDATE, {"room_id": room_id, "user_id": user_id, "typing": typing, "expires_in": expires_in})


def viewer_joined(room_id: str, user_id: str) -> Event:
    """The user started viewing the room (their first live connection with it open)."""
    return Event(VIEWER_JOINED, {"room_id": room_id, "user_id": user_id})


def viewer_left(room_id: str, user_id: str) -> Event:
    """The user stopped viewing the room (their last connection with it open closed or died)."""
    return Event(VIEWER_LEFT, {"room_id": room_id, "user_id": user_id})


def receipt_read(room_id: str, user_id: str, read_seq: int, read_at, message_id: str | None = None) -> Event:
    """`message_id`: the message at `read_seq` (None when there is none, as at seq 0)."""
    return Event(
        RECEIPT_READ,
        {
            "room_id": room_id,
            "user_id": user_id,
            "read_seq": read_seq,
            "message_id": message_id,
            "read_at": format_time(read_at),
        },
    )


def unread_update(room_id: str, read_seq: int, unread_count: int, total_unread: int) -> Event:
    return Event(
        UNREAD_UPDATE,
        {"room_id": room_id, "read_seq": read_seq, "unread_count": unread_count, "total_unread": total_unread},
    )


def notification_batch(notifications: Sequence[tuple[Notification, int]]) -> Event:
    """The notifications of one message (with each recipient's unread count) as one event: what they share once,
    then `[user_id, notification id or None, unread count]` per recipient. On the `system` topic, which every
    node follows; `batched_notification` gives each recipient's `notification:new`."""
    first, _ = notifications[0]
    shared = first.record()
    del shared["id"]
    recipients = [[n.user_id, n.id, count] for n, count in notifications]
    return Event(NOTIFICATION_BATCH, {"notification": shared, "recipients": recipients})


def batched_notification(shared: dict, notification_id: str | None, unread_count: int) -> Event:
    """One recipient's `notification:new` of a `notification:batch`: the notification's record and the unread count."""
    return Event(NOTIFICATION_NEW, {"id": notification_id, **shared, "unread_count": unread_count})


def message_updated(message: Message) -> Event:
    """An edit: the message as it is now."""
    return Event(MESSAGE_UPDATED, {"message": message.record()})


def message_deleted(message: Message) -> Event:
    """A delete: the tombstone's identity; the seq stays taken."""
    return Event(
        MESSAGE_DELETED,
        {
            "id": message.id,
            "room_id": message.room_id,
            "seq": message.seq,
            "deleted_at": format_time(message.deleted_at) if message.deleted_at else None,
            "deleted_by": message.deleted_by,
            "version": str(message.version),
        },
    )


def reaction_update(message: Message, reactions: list[ReactionGroup]) -> Event:
    """A message's reactions after a change: all of them, so a client replaces what it shows."""
    return Event(
        REACTION_UPDATE,
        {
            "room_id": message.room_id,
            "message_id": message.id,
            "seq": message.seq,
            "reactions": [group.record() for group in reactions],
        },
    )


def favorites_update(favorites: list[Favorite]) -> Event:
    return Event(FAVORITES_UPDATE, {"favorites": [f.record() for f in favorites]})


def people_update(added: list[dict], removed: list[str]) -> Event:
    """People who now share a room with the user (with their presence), and those who no longer do."""
    return Event(PEOPLE_UPDATE, {"added": added, "removed": removed})
