"""Messages: sending with idempotency, history pages, and catch-up after a reconnect.

The send path, in order (see docs/architecture.md):
1. check the content, and membership (cached);
2. append to the message log, which takes a token of the sender's quota
   (shared by all nodes), gives the room's next seq, keeps the
   message until it is persisted, remembers (sender, client_ref) and
   publishes it to the room, all at once (so rooms are delivered in seq order);
3. hand the message to the persistence queue (batched, never waits).
The caller acknowledges with the receipt.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.chat.access import Access
from app.chat.errors import ChatError, Code
from app.chat.model import Message, MessageType, Receipt, User
from app.chat.ports import (
    Clock,
    IdGenerator,
    MessageLog,
    PersistQueue,
    Quota,
    RateLimited,
    SequenceUnknown,
)
from app.chat.rules import Limits, check_client_ref, check_content
from app.chat.timeline import Timeline


@dataclass(frozen=True, slots=True)
class Sent:
    receipt: Receipt
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[Message]
    last_seq: int
    has_more_before: bool
    has_more_after: bool


@dataclass(frozen=True, slots=True)
class CatchUp:
    room_id: str
    last_seq: int
    messages: list[Message]
    has_more: bool


class Messages:
    def __init__(
        self,
        access: Access,
        timeline: Timeline,
        log: MessageLog,
        persist: PersistQueue,
        ids: IdGenerator,
        clock: Clock,
        limits: Limits,
    ) -> None:
        self._access = access
        self._timeline = timeline
        self._log = log
        self._persist = persist
        self._ids = ids
        self._clock = clock
        self._limits = limits

    async def send(
        self, actor: User, room_id: str, content: str, client_ref: str | None = None, type: MessageType = "text"
    ) -> Sent:
        """Store and announce a message. Raises CONTENT_*, INVALID_PAYLOAD, RATE_LIMITED,
        ROOM_NOT_FOUND, NOT_MEMBER or DUPLICATE_CLIENT_REF; nothing is stored when it raises."""
        check_content(content, self._limits.max_message_length)
        check_client_ref(client_ref)
        await self._access.require(room_id, actor.id)
        message = Message(
            id=str(self._ids.next()),
            room_id=room_id,
            seq=0,  # given by the log
            sender_id=actor.id,
            type=type,
            content=content,
            client_ref=client_ref,
            created_at=self._clock.now(),
        )
        quota = Quota("message", actor.id, self._limits.message_rate, self._limits.message_burst)
        try:
            appended = await self._append(message, quota)
        except RateLimited as exc:
            raise ChatError(
                Code.RATE_LIMITED, "too many messages; slow down", {"retry_after": round(exc.retry_after, 3)}
            ) from None
        receipt = appended.receipt
        if appended.duplicate:
            if receipt.room_id != room_id:
                raise ChatError(
                    Code.DUPLICATE_CLIENT_REF,
                    f"client_ref {client_ref!r} was already used for a message in room {receipt.room_id}",
                )
            return Sent(receipt, duplicate=True)
        self._persist.submit(room_id, receipt.seq)
        return Sent(receipt, duplicate=False)

    async def history(
        self, actor: User, room_id: str, *, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> Page:
        """A page of at most `limit` messages, ascending by seq: the newest ones, or those
        after `after` and/or before `before`. Members only."""
        await self._access.require(room_id, actor.id)
        limit = max(1, min(limit, self._limits.history_page_max))
        last = await self._timeline.last_seq(room_id)
        upper = last if before is None else min(before - 1, last)
        if after is not None:
            lo, hi = after + 1, min(upper, after + limit)
        else:
            lo, hi = max(1, upper - limit + 1), upper
        lo = max(lo, 1)
        messages = await self._timeline.read(room_id, lo, hi)
        return Page(messages, last, has_more_before=lo > 1, has_more_after=hi < last)

    async def catch_up(self, actor: User, room_id: str, since_seq: int | None) -> CatchUp:
        """The room's current seq and, given the last seq the client saw, what it missed
        (at most CATCHUP_LIMIT; `has_more` says when to page the rest). Members only."""
        await self._access.require(room_id, actor.id)
        last = await self._timeline.last_seq(room_id)
        if since_seq is None or since_seq >= last:
            return CatchUp(room_id, last, [], False)
        since_seq = max(since_seq, 0)
        hi = min(last, since_seq + self._limits.catchup_limit)
        messages = await self._timeline.read(room_id, since_seq + 1, hi)
        return CatchUp(room_id, last, messages, has_more=hi < last)

    async def _append(self, message: Message, quota: Quota):
        try:
            return await self._log.append(message, self._limits.idempotency_ttl, quota)
        except SequenceUnknown:
            await self._timeline.seed([message.room_id])
            return await self._log.append(message, self._limits.idempotency_ttl, quota)
