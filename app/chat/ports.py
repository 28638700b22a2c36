"""The small interfaces through which the core reaches the outside world.

Adapters implement them: Postgres (`app.storage`), Redis (`app.state`),
RQ (`app.jobs`). Tests of the core use the real adapters; nothing here
knows SQL, Redis or sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from app.chat.events import Event
from app.chat.model import (
    Attachment,
    Change,
    Device,
    DeviceRecord,
    Favorite,
    Member,
    Membership,
    Message,
    Notification,
    Profile,
    ReactionGroup,
    Receipt,
    Room,
    Status,
    User,
)


class SequenceUnknown(Exception):
    """The message log has no sequence counter for the room (new room, or Redis lost it)."""


class RateLimited(Exception):
    """A quota is spent; `retry_after` says in how many seconds a token is back."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Quota:
    """A rate limit enforced together with an operation: `rate` per second and bursts of
    `burst`, counted per (bucket, key) across all nodes."""

    bucket: str
    key: str
    rate: float
    burst: int


class UserStore(Protocol):
    async def upsert(self, profile: Profile, now: datetime) -> User:
        """Create the user or refresh the profile fields the token carries; return the stored row.

        Usernames are unique: a username another user holds moves to this one in the same transaction
        (theirs becomes None), and concurrent upserts claiming one username never fail for it."""

    async def ensure(self, user_ids: Sequence[str], now: datetime) -> None:
        """Create a bare row for each id that has none (users named before they ever connect)."""

    async def last_seen(self, user_ids: Sequence[str]) -> dict[str, datetime]:
        """The persisted last-seen time of each user that has one."""

    async def names(self, user_ids: Sequence[str]) -> dict[str, str | None]:
        """The display name of each user that exists."""

    async def by_username(self, username: str) -> User | None:
        """The user holding `username` (compared exactly), if any."""

    async def profiles(self, user_ids: Sequence[str]) -> dict[str, User]:
        """Id, name, username and is_active of each user among `user_ids` that exists."""

    async def devices(self, user_id: str) -> list[DeviceRecord]:
        """The devices the user connected from, as the presence flush wrote them: most recently seen first
        (then by device id)."""


class RoomStore(Protocol):
    async def create_group(self, name: str, owner_id: str, member_ids: Sequence[str], now: datetime) -> Room: ...

    async def direct(self, a: str, b: str, now: datetime) -> tuple[Room, bool]:
        """The direct room of the pair, created when missing; the flag says whether it was created."""

    async def find_direct(self, a: str, b: str) -> Room | None:
        """The pair's direct room if it exists (never creates it)."""

    async def get(self, room_id: str) -> Room | None: ...

    async def members(self, room_id: str) -> list[Member]: ...

    async def rooms_of(self, user_id: str) -> list[Membership]:
        """Every room the user belongs to, with the user's own membership."""

    async def members_of(self, room_ids: Sequence[str]) -> dict[str, list[Member]]:
        """The members of each room among `room_ids` that exists (as `members` gives them), in one go."""

    async def add_members(self, room_id: str, user_ids: Sequence[str], now: datetime) -> list[str]:
        """Add the users not yet members; return those added."""

    async def remove_member(self, room_id: str, user_id: str) -> tuple[bool, str | None]:
        """Remove a membership. Returns (removed, owner_id after the change); an
        owner who leaves hands the room to the longest-standing member."""

    async def contacts(self, user_id: str) -> list[str]:
        """Everyone who shares at least one room with the user (the user excluded)."""

    async def shares_room(self, a: str, b: str) -> bool: ...

    async def read_positions(self, user_id: str) -> dict[str, int]:
        """room_id -> the persisted read cursor, for every room of the user."""


class MessageStore(Protocol):
    """Persisted messages (Postgres)."""

    async def range(self, room_id: str, lo: int, hi: int) -> list[Message]: ...

    async def at(self, keys: Sequence[tuple[str, int]]) -> list[Message]:
        """The persisted messages among (room_id, seq) pairs."""

    async def max_seqs(self, room_ids: Sequence[str]) -> dict[str, int]:
        """Highest persisted seq per room (0 for rooms without messages)."""

    async def by_id(self, message_id: str) -> Message | None: ...

    async def seq_from_id(self, room_id: str, min_id: int) -> int | None:
        """The seq of the room's first persisted message whose id is at least `min_id` (ids are time-ordered:
        the first made at or after the instant `min_id` stands for), None if there is none."""

    async def changed(self, room_id: str, since_version: int, upto_seq: int | None, limit: int) -> list[Message]:
        """The room's persisted messages whose version is above `since_version` (and seq at most `upto_seq`),
        by version ascending, at most `limit`."""


@dataclass(frozen=True, slots=True)
class Appended:
    receipt: Receipt
    duplicate: bool
    flush: bool = False  # readers' cursors moved: a flush of read cursors should be requested


class MessageLog(Protocol):
    """The hot path (Redis): sequence numbers, not-yet-persisted messages, idempotency."""

    async def append(
        self, message: Message, idempotency_ttl: int, quota: Quota, readers: Mapping[str, int] | None = None
    ) -> Appended:
        """Atomically: take a token of `quota`, give `message` the room's next seq, keep it
        until it is persisted, remember its receipt under (sender, client_ref), move the
        sender's read cursor, and publish a MESSAGE_NEW event (the message's record) to
        the room's topic, so every node sees a room's messages in seq order. `readers`
        (user id -> persisted read cursor): each whose cursor was at the message before
        has it moved onto this one in the same step (a system message is never unread).

        A (sender, client_ref) seen before returns the first receipt and does nothing else
        (it spends no quota). Raises RateLimited when the quota is spent and SequenceUnknown
        when the room's counter is missing; then nothing is stored."""

    async def seed(self, room_id: str, last_seq: int) -> None:
        """Create the room's counter at `last_seq` unless it exists."""

    async def last_seqs(self, room_ids: Sequence[str]) -> dict[str, int | None]:
        """Current seq per room; None where the counter is missing."""

    async def pending(self, keys: Sequence[tuple[str, int]]) -> list[Message]:
        """The not-yet-persisted messages among (room_id, seq) pairs."""

    async def read_cursors(self, user_id: str, room_ids: Sequence[str]) -> dict[str, int]: ...

    async def pending_by_id(self, message_id: str) -> Message | None:
        """A not-yet-persisted message, by id."""

    async def change(self, change: Change, event: Event) -> bool:
        """Keep an edit or delete until it is persisted and publish `event` to the room, atomically.
        Returns False, storing nothing, when a pending delete or a later edit of the message is there."""

    async def pending_changes(self, room_id: str) -> list[Change]:
        """The room's edits and deletes not yet in Postgres."""

    async def changes(self, message_ids: Sequence[str]) -> dict[str, Change]:
        """The pending (not yet persisted) change of each message that has one."""

    async def advance_read(self, user_id: str, room_id: str, seq: int) -> tuple[int, bool]:
        """Move the user's read cursor in the room forward to `seq` (never back). Returns the
        cursor before the call and whether a flush to Postgres should be requested."""


@dataclass(frozen=True, slots=True)
class PresenceChange:
    changed: bool  # the user went from no live connection to one, or the reverse
    status: Status  # the status the user chose (shown while connected)
    flush: bool  # presence data waits to be written to Postgres: request a flush


@dataclass(frozen=True, slots=True)
class PresenceRecord:
    chosen: Status
    online: bool
    last_seen_ms: int | None


class Swept(NamedTuple):
    """What one sweep of expired connections did."""

    gone: list[tuple[str, int]]  # users left with no live connection, each with when they were last alive (ms)
    flush: bool  # presence data waits to be written to Postgres: request a flush
    conns: list[tuple[str, str]]  # every connection dropped, (user_id, conn_id), gone users' or not


class PresenceState(Protocol):
    """Live connections per user, each alive until an expiry its node keeps pushing forward (Redis)."""

    async def connect(
        self, user_id: str, conn_id: str, device: Device, now_ms: int, expires_ms: int
    ) -> PresenceChange: ...

    async def touch(self, user_id: str, conn_id: str, now_ms: int, expires_ms: int) -> PresenceChange:
        """A sign of life from one connection (a heartbeat): extend it and record last seen."""

    async def disconnect(self, user_id: str, conn_id: str, now_ms: int) -> PresenceChange: ...

    async def keep_alive(self, conns: Sequence[tuple[str, str]], now_ms: int, expires_ms: int) -> list[str]:
        """Extend (user_id, conn_id) connections; return the users who had been swept offline meanwhile."""

    async def sweep(self, now_ms: int, ttl_ms: int, limit: int) -> Swept:
        """Drop up to `limit` expired connections; return the users left with none (each with when they
        were last alive), whether to request a flush, and every connection dropped."""

    async def choose(self, user_id: str, status: Status, now_ms: int) -> tuple[Status, bool, bool]:
        """Set the chosen status; return (the one before, whether the user is connected, flush)."""

    async def lookup(self, user_ids: Sequence[str], now_ms: int) -> dict[str, PresenceRecord]: ...


@dataclass(frozen=True, slots=True)
class Opened:
    """What opening a room on a connection did (see ViewerState.open)."""

    live: bool  # the connection is alive in presence; when not, nothing was recorded
    joined: bool  # the user was not shown viewing the room before: announce that they are
    viewers: list[str]  # the users viewing the room now, each once, in the order they started viewing
    left: list[tuple[str, str]]  # (room_id, user_id) whose viewing ended meanwhile: announce each


class ViewerState(Protocol):
    """Which connections have which room open (Redis). A connection views at most one room, and counts
    only while it is alive in presence (PresenceState); a user is shown viewing a room from their first
    counted connection until none is left, each change reported once across nodes. Every call settles
    the rooms it touches: users shown viewing with no connection counted any more are reported as left."""

    async def open(self, room_id: str, user_id: str, conn_id: str, now_ms: int) -> Opened:
        """The connection now views the room (leaving the room it viewed before, if another one)."""

    async def close(self, room_id: str, user_id: str, conn_id: str, now_ms: int) -> list[str]:
        """The connection no longer views the room; return the users of the room who left (each once)."""

    async def gone(self, conns: Sequence[tuple[str, str]], now_ms: int) -> list[tuple[str, str]]:
        """Dead (user_id, conn_id) connections: close the room each viewed; return (room_id, user_id) of
        the users who left."""

    async def keep_alive(self, conns: Sequence[tuple[str, str]]) -> None:
        """Push forward the key expiry of the (user_id, conn_id) connections' viewing and their rooms."""

    async def viewing(self, room_id: str, now_ms: int) -> list[str]:
        """The users viewing the room now, each once, in the order they started viewing (changes nothing)."""


class NotificationStore(Protocol):
    async def pending(self, user_id: str, limit: int) -> tuple[list[Notification], int]:
        """The newest `limit` pending notifications, oldest first, and how many are pending in all."""

    async def acknowledge(self, user_id: str, ids: Sequence[str], now: datetime) -> int:
        """Mark the user's notifications delivered; return how many were pending."""


class FlushQueue(Protocol):
    def request(self) -> None:
        """Have a worker write waiting presence data and read cursors to Postgres (never blocks)."""


class Publisher(Protocol):
    async def publish(self, topic: str, event: Event) -> None: ...

    async def publish_many(self, topics: Sequence[str], event: Event) -> None:
        """The same event to many topics, in one round trip."""


class PersistQueue(Protocol):
    def submit(self, room_id: str, seq: int) -> None:
        """Hand an appended message to the persistence workers (batched; never blocks)."""

    def submit_change(self, message_id: str) -> None:
        """Hand a stored change (edit or delete) to the persistence workers (batched; never blocks)."""


class ReactionStore(Protocol):
    async def add(self, message: Message, user_id: str, emoji: str, now: datetime) -> bool:
        """Record the reaction; False if it was there already."""

    async def remove(self, message_id: str, user_id: str, emoji: str) -> bool:
        """Drop the reaction; False if there was none."""

    async def of_messages(self, message_ids: Sequence[str]) -> dict[str, list[ReactionGroup]]:
        """Each message's reactions grouped by emoji, in the order each emoji first appeared."""


class FavoriteStore(Protocol):
    async def set(self, user_id: str, kind: str, target_id: str, on: bool, now: datetime) -> bool:
        """Mark or unmark; return whether anything changed."""

    async def of_user(self, user_id: str) -> list[Favorite]:
        """The user's favorites, oldest first, with the name of each room or person."""

    async def exists(self, kind: str, target_id: str) -> bool:
        """Whether the room or user exists."""


class RateLimiter(Protocol):
    async def acquire(self, bucket: str, key: str, rate: float, burst: int) -> float:
        """Take one token; return 0 when allowed, else the seconds to wait."""


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def next(self) -> int: ...


class BlobNotFound(Exception):
    """The blob store holds nothing under the key."""


class Blob(Protocol):
    """An open stored file: its size, and its bytes (those of the part opened) as an async iterator of
    chunks. Close it (`aclose`) when done, whether or not it was read to the end."""

    size: int  # the whole file's, even when only a part of it was opened

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class BlobStore(Protocol):
    """Where uploaded files live, by key. Keys are made by the server (never from a file name).

    The default is local disk (`app.files.local`). An S3-compatible store implements the same four
    calls: `put` as a multipart upload (aborted on failure, so nothing partial stays), `open` as a
    streamed GET (a part as a GET with `Range: bytes=<start>-<stop - 1>`), `delete` as DELETE, `exists`
    as HEAD."""

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the chunks under `key` and return how many bytes were written. Atomic: until it
        returns, nothing is visible under `key`; if it fails or `chunks` raises, nothing stays
        behind (no partial or temporary file)."""

    async def open(self, key: str, start: int = 0, stop: int | None = None) -> Blob:
        """The stored file, opened for reading its bytes from `start` up to `stop` (exclusive; None or past
        the end: to the end). Raises BlobNotFound."""

    async def delete(self, key: str) -> None:
        """Remove the file; a missing key is not an error."""

    async def exists(self, key: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class StoredFile:
    """An uploaded file as the attachment store keeps it."""

    attachment: Attachment
    uploader_id: str
    room_id: str | None  # set when a message first carries it; it may then be sent only in that room
    storage_key: str
    created_at: datetime


class AttachmentStore(Protocol):
    """Uploaded files' records (Postgres)."""

    async def insert(self, stored: StoredFile) -> None: ...

    async def get(self, attachment_id: str) -> StoredFile | None: ...

    async def bind(self, attachment_id: str, uploader_id: str, room_id: str) -> StoredFile | None:
        """Atomically give the uploader's attachment its room, unless it has another one already.
        Returns the record when it is the uploader's and now belongs to `room_id`, else None."""

    async def delete(self, attachment_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SearchWord:
    """A word of a search as the index holds it (folded), and whether it matches words it begins."""

    text: str
    prefix: bool


@dataclass(frozen=True, slots=True)
class SearchMatch:
    message: Message
    rank: float


@dataclass(frozen=True, slots=True)
class SearchMatches:
    words: tuple[SearchWord, ...]  # the query's words, as the index matched them
    matches: list[SearchMatch]


class SearchIndex(Protocol):
    """Full-text search over persisted messages (Postgres)."""

    async def search(
        self, user_id: str, query: str, room_id: str | None, after: tuple[float, str] | None, limit: int
    ) -> SearchMatches:
        """At most `limit` persisted messages of the rooms `user_id` belongs to (of `room_id` only, when
        given) that hold every word of `query`, leaving out deleted and system messages: by rank, then
        message id, both descending, and only those after `after` = (rank, message id) in that order.
        Raises SEARCH_TOO_BROAD when ranking the matches takes too long."""
