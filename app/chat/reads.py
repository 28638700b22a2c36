"""Read receipts and unread counts.

A member's read cursor in a room is the highest seq they have read; it
only moves forward, and sending a message moves it too. Seqs have no
gaps, so a room's unread count is its last seq minus the cursor, and a
user's total is the sum over their rooms: no message is ever counted.
The cursor lives in Redis (moved atomically) and is copied to Postgres by
the flush job; readers take the larger of the two, so a Redis that lost
its data never makes read messages unread again.

What counts as unread (docs/architecture.md, "Read receipts and unread
counts"): messages of others. One's own messages are never unread (sending
moves the sender's cursor to the message). A system message (a direct chat
started, members changed) is not unread either: a member who had read the
room up to the message before it has read it too. Their cursor is moved
onto it in the same step as the append (`MessageLog.append`'s readers, from
the core's `announce`), so no room list read in between counts it; no
receipt goes out, since nobody read anything, and nobody is notified of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.chat import events
from app.chat.access import Access
from app.chat.errors import ChatError, Code
from app.chat.model import User
from app.chat.ports import Clock, FlushQueue, MessageLog, Publisher, RoomStore
from app.chat.rules import check_message_id
from app.chat.timeline import Timeline


@dataclass(frozen=True, slots=True)
class RoomUnread:
    room_id: str
    last_seq: int
    read_seq: int

    @property
    def unread(self) -> int:
        return max(0, self.last_seq - self.read_seq)


@dataclass(frozen=True, slots=True)
class Unread:
    rooms: dict[str, RoomUnread]

    @property
    def total(self) -> int:
        return sum(room.unread for room in self.rooms.values())


@dataclass(frozen=True, slots=True)
class ReadState:
    room_id: str
    read_seq: int
    unread_count: int
    total_unread: int
    moved: bool


class Reads:
    def __init__(
        self,
        access: Access,
        rooms: RoomStore,
        timeline: Timeline,
        log: MessageLog,
        bus: Publisher,
        flush: FlushQueue,
        clock: Clock,
    ) -> None:
        self._access = access
        self._rooms = rooms
        self._timeline = timeline
        self._log = log
        self._bus = bus
        self._flush = flush
        self._clock = clock

    async def mark(self, actor: User, room_id: str, seq: int | None = None, message_id: str | None = None) -> ReadState:
        """Mark the room read up to `seq`, or up to the message `message_id` of the room (default: its last
        message). Raises ROOM_NOT_FOUND, NOT_MEMBER, READ_BEYOND_LAST or MESSAGE_NOT_FOUND (an id that is not
        a message of the room). The room's other followers get a receipt (with the id of the message at the
        cursor) and the reader's connections the new unread counts, when the cursor moved."""
        await self._access.require(room_id, actor.id)
        if message_id is not None:
            check_message_id(message_id)
            message = await self._timeline.by_id(message_id)
            if message is None or message.room_id != room_id:
                raise ChatError(Code.MESSAGE_NOT_FOUND, f"no message {message_id} in room {room_id}")
            seq = message.seq
        last = await self._timeline.last_seq(room_id)
        if seq is None:
            seq = last
        if seq > last:
            raise ChatError(
                Code.READ_BEYOND_LAST,
                f"seq {seq} is past the room's last message ({last})",
                {"last_seq": last, "seq": seq},
            )
        before, flush = await self._log.advance_read(actor.id, room_id, seq)
        if flush:
            self._flush.request()
        unread = await self.unread(actor)
        room = unread.rooms.get(room_id) or RoomUnread(room_id, last, max(before, seq))
        moved = seq > before and room.read_seq == seq
        state = ReadState(room_id, room.read_seq, room.unread, unread.total, moved)
        if moved:
            now = self._clock.now()
            if message_id is None:
                at = await self._timeline.at([(room_id, seq)])
                message_id = at[(room_id, seq)].id if (room_id, seq) in at else None
            receipt = events.receipt_read(room_id, actor.id, seq, now, message_id)
            await self._bus.publish(events.room_topic(room_id), receipt)
            await self._bus.publish(
                events.user_topic(actor.id),
                events.unread_update(room_id, state.read_seq, state.unread_count, state.total_unread),
            )
        return state

    async def unread(self, actor: User) -> Unread:
        """The actor's unread count in each of their rooms."""
        persisted = await self._rooms.read_positions(actor.id)
        room_ids = list(persisted)
        last_seqs = await self._timeline.last_seqs(room_ids)
        cursors = await self._log.read_cursors(actor.id, room_ids)
        return Unread(
            {
                room_id: RoomUnread(room_id, last_seqs[room_id], max(persisted[room_id], cursors.get(room_id, 0)))
                for room_id in room_ids
            }
        )
