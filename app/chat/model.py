"""Entities of the chat domain and their canonical plain-data shapes.

Ids are strings everywhere: a user is named by the id their identity
provider gives them (a token's `sub`), rooms and messages by decimal
strings of 64-bit integers (JavaScript cannot hold those as numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

RoomKind = Literal["direct", "group"]
Role = Literal["owner", "member"]
MessageType = Literal["text", "image", "file", "video", "audio", "system"]
AttachmentKind = Literal["image", "video", "audio", "file"]
Status = Literal["online", "away", "busy", "offline"]


@dataclass(frozen=True, slots=True)
class Profile:
    """What a verified token says about its user."""

    id: str
    name: str | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str | None = None
    username: str | None = None
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    kind: RoomKind
    name: str | None
    owner_id: str | None
    created_at: datetime

    def record(self) -> dict:
        return {
            "id": self.id,
            "type": self.kind,
            "name": self.name,
            "owner_id": self.owner_id,
            "created_at": format_time(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    role: Role
    joined_at: datetime
    name: str | None = None
    last_read_seq: int = 0

    def record(self) -> dict:
        return {"user_id": self.user_id, "name": self.name, "role": self.role, "joined_at": format_time(self.joined_at)}


@dataclass(frozen=True, slots=True)
class Membership:
    """A room as one of its members sees it in their list."""

    room: Room
    me: Member
    member_count: int
    peer: Member | None = None  # the other member of a direct room


@dataclass(frozen=True, slots=True)
class Attachment:
    """An uploaded file as messages carry it. Its download URL is signed when the message is shown."""

    id: str
    name: str
    content_type: str  # decided by the server from the bytes
    size: int
    kind: AttachmentKind
    url: str | None = None  # a signed, expiring download link, made when the message is shown
    url_expires_at: datetime | None = None

    def description(self) -> dict:
        """What is stored: the file's description, no link."""
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "kind": self.kind,
        }

    def record(self) -> dict:
        return {
            **self.description(),
            "url": self.url,
            "url_expires_at": format_time(self.url_expires_at) if self.url_expires_at else None,
        }

    @classmethod
    def from_record(cls, data: dict) -> Attachment:
        return cls(str(data["id"]), data["name"], data["content_type"], int(data["size"]), data["kind"])


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    room_id: str
    seq: int
    sender_id: str
    type: MessageType
    content: str
    client_ref: str | None
    created_at: datetime
    reply_to: str | None = None  # id of an earlier message of the room
    attachment: Attachment | None = None
    meta: dict | None = None  # system messages: what happened ({"event": ..., "user_ids": [...]})
    edited_at: datetime | None = None
    deleted_at: datetime | None = None  # a tombstone: content and attachment are gone, the seq stays
    deleted_by: str | None = None
    version: int = 0  # time-ordered id of the last edit or delete (0: never changed)
    reactions: tuple[ReactionGroup, ...] = ()  # filled when messages are shown

    def record(self) -> dict:
        """The canonical plain-data form: event payloads, outbox entries and jobs."""
        return {
            "id": self.id,
            "room_id": self.room_id,
            "seq": self.seq,
            "sender_id": self.sender_id,
            "type": self.type,
            "content": self.content,
            "client_ref": self.client_ref,
            "created_at": format_time(self.created_at),
            "reply_to": self.reply_to,
            "attachment": self.attachment.record() if self.attachment else None,
            "meta": self.meta,
            "edited_at": format_time(self.edited_at) if self.edited_at else None,
            "deleted_at": format_time(self.deleted_at) if self.deleted_at else None,
            "deleted_by": self.deleted_by,
            "version": str(self.version),
            "reactions": [group.record() for group in self.reactions],
        }

    @classmethod
    def from_record(cls, data: dict) -> Message:
        attachment = data.get("attachment")
        edited_at, deleted_at = data.get("edited_at"), data.get("deleted_at")
        return cls(
            id=str(data["id"]),
            room_id=str(data["room_id"]),
            seq=int(data["seq"]),
            sender_id=data["sender_id"],
            type=data.get("type", "text"),
            content=data["content"],
            client_ref=data.get("client_ref"),
            created_at=parse_time(data["created_at"]),
            reply_to=data.get("reply_to"),
            attachment=Attachment.from_record(attachment) if attachment else None,
            meta=data.get("meta"),
            edited_at=parse_time(edited_at) if edited_at else None,
            deleted_at=parse_time(deleted_at) if deleted_at else None,
            deleted_by=data.get("deleted_by"),
            version=int(data.get("version") or 0),
        )


@dataclass(frozen=True, slots=True)
class ReactionGroup:
    """One emoji on a message and who reacted with it (in the order they did)."""

    emoji: str
    user_ids: tuple[str, ...]

    def record(self) -> dict:
        return {"emoji": self.emoji, "count": len(self.user_ids), "user_ids": list(self.user_ids)}


@dataclass(frozen=True, slots=True)
class Change:
    """An edit or a delete of a message, kept in Redis until a worker has applied it to Postgres.

    `version` is a time-ordered id: of two edits the later one wins; a delete always wins."""

    message_id: str
    room_id: str
    seq: int
    version: int
    at: datetime
    by: str
    content: str | None = None  # the new content of an edit; None for a delete

    @property
    def deletes(self) -> bool:
        return self.content is None

    def apply(self, message: Message) -> Message:
        """The message after this change (unchanged if it is already deleted or newer)."""
        if message.deleted_at is not None or (not self.deletes and message.version >= self.version):
            return message
        if self.deletes:
            return replace(
                message,
                content="",
                attachment=None,
                deleted_at=self.at,
                deleted_by=self.by,
                version=self.version,
                reactions=(),
            )
        return replace(message, content=self.content, edited_at=self.at, version=self.version)

    def record(self) -> dict:
        return {
            "message_id": self.message_id,
            "room_id": self.room_id,
            "seq": self.seq,
            "version": str(self.version),
            "at": format_time(self.at),
            "by": self.by,
            "content": self.content,
            "created_at": format_time(self.at),  # when it was acknowledged (the redrive's clock)
        }

    @classmethod
    def from_record(cls, data: dict) -> Change:
        return cls(
            message_id=str(data["message_id"]),
            room_id=str(data["room_id"]),
            seq=int(data["seq"]),
            version=int(data["version"]),
            at=parse_time(data["at"]),
            by=data["by"],
            content=data.get("content"),
        )


@dataclass(frozen=True, slots=True)
class Favorite:
    kind: Literal["room", "user"]
    target_id: str
    name: str | None
    created_at: datetime

    def record(self) -> dict:
        return {"type": self.kind, "id": self.target_id, "name": self.name, "created_at": format_time(self.created_at)}


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the sender is told about a stored message: its acknowledgement."""

    room_id: str
    seq: int
    message_id: str
    created_at: datetime
    client_ref: str | None


@dataclass(frozen=True, slots=True)
class Device:
    """What a connection says about where it comes from (both optional)."""

    device_id: str | None = None
    preferred_language: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device a user connected from (its `device_unique_id`), as the presence flush stored it: the language
    it last named, and when it first and last connected (each the user's last-seen time at the flush that
    recorded the connection)."""

    device_id: str
    preferred_language: str | None
    first_seen_at: datetime
    last_seen_at: datetime

    def record(self) -> dict:
        return {
            "device_id": self.device_id,
            "preferred_language": self.preferred_language,
            "first_seen_at": format_time(self.first_seen_at),
            "last_seen_at": format_time(self.last_seen_at),
        }


@dataclass(frozen=True, slots=True)
class PresenceInfo:
    """A user's presence as others see it."""

    user_id: str
    status: Status  # `offline` while no connection is alive (or while the user chose to look offline)
    last_seen_at: datetime | None

    def record(self) -> dict:
        return {
            "user_id": self.user_id,
            "status": self.status,
            "last_seen_at": format_time(self.last_seen_at) if self.last_seen_at else None,
        }


@dataclass(frozen=True, slots=True)
class Notification:
    """A message announced to a member who was not looking at its room."""

    id: str | None  # set once stored (for a member who was offline); live-only notifications have none
    user_id: str
    room_id: str
    message_id: str
    seq: int
    sender_id: str
    sender_name: str | None
    excerpt: str
    created_at: datetime

    def record(self) -> dict:
        return {
            "id": self.id,
            "room_id": self.room_id,
            "message_id": self.message_id,
            "seq": self.seq,
            "sender_id": self.sender_id,
            "sender_name": self.sender_name,
            "excerpt": self.excerpt,
            "created_at": format_time(self.created_at),
        }


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, the one time format on the wire."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def from_ms(ms: int | float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
