"""Entities of the chat domain and their canonical plain-data shapes.

Ids are strings everywhere: a user is named by the id their identity
provider gives them (a token's `sub`), rooms and messages by decimal
strings of 64-bit integers (JavaScript cannot hold those as numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

RoomKind = Literal["direct", "group"]
Role = Literal["owner", "member"]
MessageType = Literal["text"]
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
class Message:
    id: str
    room_id: str
    seq: int
    sender_id: str
    type: MessageType
    content: str
    client_ref: str | None
    created_at: datetime

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
        }

    @classmethod
    def from_record(cls, data: dict) -> Message:
        return cls(
            id=str(data["id"]),
            room_id=str(data["room_id"]),
            seq=int(data["seq"]),
            sender_id=data["sender_id"],
            type=data.get("type", "text"),
            content=data["content"],
            client_ref=data.get("client_ref"),
            created_at=parse_time(data["created_at"]),
        )


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
