"""Messages: sending with idempotency, history pages, and catch-up after a reconnect.

The send path, in order (see docs/architecture.md):
1. check the content, and membership (cached);
2. append to the message log, which takes a token of the sender's quota
   (shared by all nodes), gives the room's next seq, keeps the
   message until it is persisted, remembers (sender, client_ref) and
   publishes it to the room, all at once (so rooms are delivered in seq order);
3. hand the message to the persistence queue (batched, never waits).
The caller acknowledges with the receipt.

Edits and deletes take the same road: kept in the log (with a
time-ordered version) and published in one step, then persisted by the
same workers. Reactions are small toggles written straight to Postgres.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from app.chat import events
from app.chat.access import Access
from app.chat.errors import ChatError, Code
from app.chat.ids import first_id_at
from app.chat.model import Attachment, Change, Message, MessageType, ReactionGroup, Receipt, User
from app.chat.ports import (
    Appended,
    Clock,
    IdGenerator,
    MessageLog,
    PersistQueue,
    Publisher,
    Quota,
    RateLimited,
    ReactionStore,
    SequenceUnknown,
)
from app.chat.rules import Limits, check_client_ref, check_content, check_emoji, check_message_id
from app.chat.timeline import Timeline

USER_TYPES = ("text", "image", "file", "video", "audio")  # `system` messages are made by the service only
CHANGES_MARGIN = timedelta(seconds=10)  # how far behind now a changes cursor stays (clock drift, slow nodes)


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
    changed: list[Message] = field(default_factory=list)
    changes_cursor: int = 0
    changes_more: bool = False


class AttachmentClaims(Protocol):
    async def claim(self, actor: User, attachment_id: str, room_id: str) -> Attachment:
        """The actor's upload, bound to the room the message goes to (raises ATTACHMENT_NOT_FOUND)."""

    def signed(self, attachment: Attachment) -> Attachment:
        """The attachment with a fresh signed download link."""


@dataclass(frozen=True, slots=True)
class Reacted:
    message: Message
    emoji: str
    reacted: bool  # whether the actor's reaction is there now
    changed: bool
    reactions: list[ReactionGroup]


class Messages:
    def __init__(
        self,
        access: Access,
        timeline: Timeline,
        log: MessageLog,
        persist: PersistQueue,
        reactions: ReactionStore,
        attachments: AttachmentClaims,
        bus: Publisher,
        ids: IdGenerator,
        clock: Clock,
        limits: Limits,
        is_emoji: Callable[[str], bool],
    ) -> None:
        self._access = access
        self._timeline = timeline
        self._log = log
        self._persist = persist
        self._reactions = reactions
        self._bus = bus
        self._ids = ids
        self._clock = clock
        self._limits = limits
        self._is_emoji = is_emoji
        self._attachments = attachments

    async def send(
        self,
        actor: User,
        room_id: str,
        content: str | None,
        client_ref: str | None = None,
        type: MessageType = "text",
        reply_to: str | None = None,
        attachment_id: str | None = None,
    ) -> Sent:
        """Store and announce a message. Raises CONTENT_*, INVALID_PAYLOAD, RATE_LIMITED, ROOM_NOT_FOUND,
        NOT_MEMBER, DUPLICATE_CLIENT_REF, UNKNOWN_MESSAGE_TYPE, REPLY_NOT_FOUND or ATTACHMENT_NOT_FOUND;
        nothing is stored when it raises. With an attachment the content is an optional caption and
        the type is the file's kind, as the server found it."""
        if type not in USER_TYPES:
            raise ChatError(Code.UNKNOWN_MESSAGE_TYPE, f"messages of type {type!r} cannot be sent")
        if content is None:
            if attachment_id is None:
                raise ChatError(
                    Code.INVALID_PAYLOAD,
                    "content is required",
                    {"fields": {"content": ["Missing data for required field."]}},
                )
            content = ""
        if attachment_id is None or content:
            check_content(content, self._limits.max_message_length)
        check_client_ref(client_ref)
        await self._access.require(room_id, actor.id)
        if reply_to is not None:
            await self._replied(actor, room_id, reply_to)
        attachment = None
        if attachment_id is not None:
            attachment = self._attachments.signed(await self._attachments.claim(actor, attachment_id, room_id))
            type = attachment.kind
        message = Message(
            id=str(self._ids.next()),
            room_id=room_id,
            seq=0,  # given by the log
            sender_id=actor.id,
            type=type,
            content=content,
            client_ref=client_ref,
            created_at=self._clock.now(),
            reply_to=reply_to,
            attachment=attachment,
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

    async def announce(
        self, room_id: str, actor_id: str, content: str, meta: dict, readers: Mapping[str, int]
    ) -> Appended:
        """A system message (a direct chat started, members added or removed) in the room's timeline,
        so every member sees it in order with the messages; it spends no one's quota. It is not unread:
        each of `readers` (the members, with their persisted read cursors) who had read the room up to the
        message before has read it too, moved in the same step as the append (app/chat/reads.py)."""
        message = Message(
            id=str(self._ids.next()),
            room_id=room_id,
            seq=0,
            sender_id=actor_id,
            type="system",
            content=content,
            client_ref=None,
            created_at=self._clock.now(),
            meta=meta,
        )
        quota = Quota("system", room_id, 1000.0, 1000)
        appended = await self._append(message, quota, readers)
        self._persist.submit(room_id, appended.receipt.seq)
        return appended

    async def edit(self, actor: User, message_id: str, content: str) -> Message:
        """Replace the content of one's own message. Raises MESSAGE_NOT_FOUND, NOT_SENDER,
        MESSAGE_DELETED, SYSTEM_MESSAGE or CONTENT_*."""
        message = await self.find(actor, message_id)
        if message.type == "system":
            raise ChatError(Code.SYSTEM_MESSAGE, "system messages cannot be edited")
        if message.sender_id != actor.id:
            raise ChatError(Code.NOT_SENDER, "only the sender may edit a message")
        if message.attachment is None or content:
            check_content(content, self._limits.max_message_length)
        return await self._change(message, Change(message.id, message.room_id, message.seq, self._ids.next(),
                                                  self._clock.now(), actor.id, content))  # fmt: skip

    async def delete(self, actor: User, message_id: str) -> Message:
        """Delete a message, leaving a tombstone (the seq stays). The sender may delete it, and the
        room's owner any message of the room. Raises MESSAGE_NOT_FOUND, NOT_SENDER or MESSAGE_DELETED."""
        message = await self.find(actor, message_id)
        if message.sender_id != actor.id:
            room = (await self._access.require(message.room_id, actor.id)).room
            if room.owner_id != actor.id:
                raise ChatError(Code.NOT_SENDER, "only the sender or the room's owner may delete a message")
        change = Change(message.id, message.room_id, message.seq, self._ids.next(), self._clock.now(), actor.id)
        return await self._change(message, change)

    async def react(self, actor: User, message_id: str, emoji: str, on: bool | None = None) -> Reacted:
        """Add (`on`), remove (not `on`) or toggle (None) the actor's reaction. Raises INVALID_EMOJI,
        MESSAGE_NOT_FOUND or MESSAGE_DELETED."""
        emoji = check_emoji(emoji, self._is_emoji)
        message = await self.find(actor, message_id)
        if message.deleted_at is not None:
            raise ChatError(Code.MESSAGE_DELETED, "a deleted message cannot be reacted to")
        if on is None:
            changed = await self._reactions.add(message, actor.id, emoji, self._clock.now())
            if not changed:
                changed = await self._reactions.remove(message.id, actor.id, emoji)
        elif on:
            changed = await self._reactions.add(message, actor.id, emoji, self._clock.now())
        else:
            changed = await self._reactions.remove(message.id, actor.id, emoji)
        reactions = (await self._reactions.of_messages([message.id])).get(message.id, [])
        if changed:
            await self._bus.publish(events.room_topic(message.room_id), events.reaction_update(message, reactions))
        reacted = any(group.emoji == emoji and actor.id in group.user_ids for group in reactions)
        return Reacted(message, emoji, reacted, changed, reactions)

    async def find(self, actor: User, message_id: str) -> Message:
        """A message of a room the actor belongs to, as it is now. Raises MESSAGE_NOT_FOUND (also for
        rooms the actor is not in: whether a message exists there is not theirs to know)."""
        check_message_id(message_id)
        message = await self._timeline.by_id(message_id)
        access = await self._access.get(message.room_id) if message is not None else None
        if message is None or access is None or actor.id not in access.member_ids:
            raise ChatError(Code.MESSAGE_NOT_FOUND, f"no message {message_id} in your rooms")
        return message

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
        messages = await self.present(await self._timeline.read(room_id, lo, hi))
        return Page(messages, last, has_more_before=lo > 1, has_more_after=hi < last)

    @property
    def page_max(self) -> int:
        """The most messages one history page holds (HISTORY_PAGE_MAX)."""
        return self._limits.history_page_max

    async def seq_at(self, actor: User, room_id: str, when: datetime) -> int:
        """A `before` for `history` that pages the messages made before `when`: the seq of the room's first
        persisted message made at or after it (ids are time-ordered: `first_id_at(when)` is the smallest id
        made then), or the last seq + 1. Below it, every persisted message was made before `when`; a message
        still in the log (the newest) may have been made later, so a reader keeps those with
        `created_at < when`. Members only."""
        await self._access.require(room_id, actor.id)
        return await self._timeline.seq_from_id(room_id, first_id_at(when))

    @property
    def catchup_limit(self) -> int:
        """The most missed messages one catch-up holds (CATCHUP_LIMIT), and the most changed ones."""
        return self._limits.catchup_limit

    async def catch_up(
        self,
        actor: User,
        room_id: str,
        since_seq: int | None,
        changes_since: int | None = None,
        *,
        limit: int | None = None,
        changes_limit: int | None = None,
    ) -> CatchUp:
        """The room's current seq and, given the last seq the client saw, what it missed (at most `limit`,
        CATCHUP_LIMIT by default and at most; `has_more` says when to page the rest). Given the changes cursor
        of its last catch-up, also the messages up to `since_seq` edited or deleted since (see `changes`; at
        most `changes_limit`, likewise). A limit of 0 reads none, and still says whether there are any.
        Members only."""
        await self._access.require(room_id, actor.id)
        limit = self._bounded(limit)
        last = await self._timeline.last_seq(room_id)
        changes = await self._changes(room_id, changes_since, since_seq, self._bounded(changes_limit))
        if since_seq is None or since_seq >= last:
            return CatchUp(room_id, last, [], False, *changes)
        since_seq = max(since_seq, 0)
        hi = min(last, since_seq + limit)
        messages = await self.present(await self._timeline.read(room_id, since_seq + 1, hi))
        return CatchUp(room_id, last, messages, hi < last, *changes)

    async def missed(self, actor: User, wanted: Sequence[tuple[str, int | None]]) -> list[int]:
        """For each (room, since_seq), how many messages came after since_seq (0 without one), from one read of
        the rooms' current seqs: what catch-ups of them would hold without a limit, to share one out fairly.
        A room the actor may not read counts 0 (its catch-up will say why). Members only."""
        readable: set[str] = set()
        for room_id in {room_id for room_id, since in wanted if since is not None}:
            try:
                await self._access.require(room_id, actor.id)
            except ChatError:
                continue
            readable.add(room_id)
        last = await self._timeline.last_seqs(sorted(readable))  # never a counter for a room that is not there
        return [
            max(0, last[room_id] - max(since, 0)) if room_id in last and since is not None else 0
            for room_id, since in wanted
        ]

    async def changes(self, actor: User, room_id: str, since: int | None) -> tuple[list[Message], int, bool]:
        """The room's messages edited or deleted after the cursor `since`, as they are now, oldest change
        first (at most CATCHUP_LIMIT), the cursor to ask with next time, and whether there are more.
        Without `since`: none, and a cursor to start from. Members only."""
        await self._access.require(room_id, actor.id)
        return await self._changes(room_id, since, None, self._limits.catchup_limit)

    def _bounded(self, limit: int | None) -> int:
        return self._limits.catchup_limit if limit is None else max(0, min(limit, self._limits.catchup_limit))

    async def _changes(
        self, room_id: str, since: int | None, upto_seq: int | None, limit: int
    ) -> tuple[list[Message], int, bool]:
        # A cursor never moves past CHANGES_MARGIN ago: a change stored late (a node's clock behind, or a
        # slow node between taking a version and storing the change) is still found next time.
        # Changes inside the margin may come twice; clients keep the higher version.
        settled = first_id_at(self._clock.now() - CHANGES_MARGIN)
        if since is None:
            return [], settled, False
        if limit <= 0:  # none fit: whether there are any, and the same cursor to ask from again
            page = await self._timeline.changed(room_id, since, upto_seq, 1)
            return [], since, bool(page.messages) or page.through is not None
        page = await self._timeline.changed(room_id, since, upto_seq, limit)
        messages = await self.present(page.messages)
        if page.through is not None:
            return messages, page.through, True
        newest = messages[-1].version if messages else since
        return messages, max(since, min(newest, settled)), False

    async def present(self, messages: list[Message]) -> list[Message]:
        """Messages as clients see them: with their reactions, and fresh links to their attachments."""
        reactions = await self._reactions.of_messages([m.id for m in messages if m.deleted_at is None])
        return [
            replace(
                m,
                reactions=tuple(reactions.get(m.id, ())),
                attachment=self._attachments.signed(m.attachment) if m.attachment is not None else None,
            )
            for m in messages
        ]

    async def _replied(self, actor: User, room_id: str, reply_to: str) -> None:
        check_message_id(reply_to, "reply_to")
        target = await self._timeline.by_id(reply_to)
        if target is None or target.room_id != room_id:
            raise ChatError(Code.REPLY_NOT_FOUND, f"no message {reply_to} in room {room_id}")

    async def _change(self, message: Message, change: Change) -> Message:
        if message.deleted_at is not None:
            raise ChatError(Code.MESSAGE_DELETED, f"message {message.id} was deleted")
        changed = change.apply(message)
        event = (
            events.message_deleted(changed)
            if change.deletes
            else events.message_updated((await self.present([changed]))[0])
        )
        if not await self._log.change(change, event):
            raise ChatError(Code.MESSAGE_DELETED, f"message {message.id} was deleted or changed meanwhile")
        self._persist.submit_change(message.id)
        return changed

    async def _append(self, message: Message, quota: Quota, readers: Mapping[str, int] | None = None) -> Appended:
        try:
            return await self._log.append(message, self._limits.idempotency_ttl, quota, readers)
        except SequenceUnknown:
            await self._timeline.seed([message.room_id])
            return await self._log.append(message, self._limits.idempotency_ttl, quota, readers)
