"""Which sessions follow which topic, and delivery of the core's events to them.

Every session follows its user's topic; it follows a room's topic after joining it (`room:join`,
`sync`), or from the start in a dialect that follows every room. The node subscribes to a topic on
the bus while at least one of its sessions follows it (the bus counts references).

Delivery encodes an event once per dialect that has sessions on the topic (not once per recipient; and once
for all the topics an event is delivered to in a row, as the bus hands a fan-out to many topics) and
puts the frame on each recipient's transport queue: no task, no write per recipient here. A session
more than MAX_PENDING_FRAMES behind is cut off rather than buffered for without bound; it reconnects
and catches up by seq. The rules of who does not get an event are the same for every dialect:

- `message:new`: sessions whose join is in progress hold it back, and those whose catch-up already
  held it skip it (the fences, app.realtime.fences);
- `typing:update`, `receipt:read`: never to the acting user's own sessions;
- `notification:new`: not to the user's sessions that follow the room (they show the message itself);
- `room:removed`: the user's sessions stop following the room; `room:added`: those of dialects that
  follow every room start following it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from app.chat import events, payloads
from app.chat.errors import ChatError
from app.chat.service import Chat
from app.realtime.fences import Fences
from app.realtime.session import Dialect, Session
from app.realtime.stats import SessionStats

log = logging.getLogger(__name__)


class Subscriptions(Protocol):
    async def subscribe(self, topic: str) -> None: ...

    async def unsubscribe(self, topic: str) -> None: ...


def error_record(exc: ChatError) -> dict:
    error = {"code": exc.code.value, "message": exc.message}
    if exc.details:
        error["details"] = exc.details
    return error


def _distinct(rooms: list[dict]) -> list[dict]:
    """The entries of a sync without verbatim repeats, each where it first stood."""
    first: dict[tuple, dict] = {}
    for room in rooms:
        first.setdefault((room["room_id"], room["since_seq"], room["changes_since"]), room)
    return list(first.values())


def share_out(budget: int, wants: Sequence[int]) -> list[int]:
    """Split `budget` among `wants` max-min fairly: each gets what it wants, or an equal part of what the smaller
    wants left if that is less (the largest wants take the remainder). All of it is given when they want it."""
    shares = [0] * len(wants)
    left = budget
    order = sorted(range(len(wants)), key=wants.__getitem__)
    for place, index in enumerate(order):
        shares[index] = min(wants[index], left // (len(order) - place))
        left -= shares[index]
    return shares


class Topics:
    def __init__(self, chat: Chat, subscriptions: Subscriptions, stats: SessionStats, max_pending: int) -> None:
        self._chat = chat
        self._subscriptions = subscriptions
        self._stats = stats
        self._max_pending = max_pending
        self._fences = Fences()
        # topic -> dialect -> session id -> session: delivery walks one dialect's sessions after encoding once.
        self._followers: dict[str, dict[Dialect, dict[str, Session]]] = {}
        self._by_user: dict[str, dict[str, Session]] = {}
        self._tasks: set[asyncio.Task] = set()  # follows started by deliveries (see _follow_added)
        # dialect -> (the event it encoded last, its frame): one event delivered to many topics in a row (the bus's
        # fan-out of a presence change to everyone who shares a room) is encoded once per dialect, not per topic.
        self._encoded: dict[Dialect, tuple[events.Event, object]] = {}

    # -- the index ----------------------------------------------------------------------------------

    def add(self, session: Session) -> None:
        self._by_user.setdefault(session.user.id, {})[session.id] = session

    def sessions_of(self, user_id: str) -> list[Session]:
        return list(self._by_user.get(user_id, {}).values())

    def _index(self, session: Session, topic: str) -> None:
        self._followers.setdefault(topic, {}).setdefault(session.dialect, {})[session.id] = session

    def _unindex(self, session: Session, topic: str) -> None:
        by_dialect = self._followers.get(topic)
        if by_dialect is None:
            return
        sessions = by_dialect.get(session.dialect)
        if sessions is not None:
            sessions.pop(session.id, None)
            if not sessions:
                del by_dialect[session.dialect]
        if not by_dialect:
            del self._followers[topic]

    async def follow_user(self, session: Session) -> None:
        topic = events.user_topic(session.user.id)
        await self._subscriptions.subscribe(topic)
        self._index(session, topic)

    async def remove(self, session: Session, subscribed: bool) -> None:
        """Forget the session: its rooms, and its user's topic if it was subscribed to it."""
        sessions = self._by_user.get(session.user.id)
        if sessions is not None:
            sessions.pop(session.id, None)
            if not sessions:
                del self._by_user[session.user.id]
        for room_id in list(session.rooms):
            await self.unfollow(session, room_id)
        if subscribed:
            topic = events.user_topic(session.user.id)
            self._unindex(session, topic)
            await self._subscriptions.unsubscribe(topic)

    async def follow(self, session: Session, room_id: str) -> None:
        """Follow a room's live events from now on (no catch-up); the caller checked membership."""
        if room_id in session.rooms:
            return
        session.rooms.add(room_id)
        topic = events.room_topic(room_id)
        try:
            await self._subscriptions.subscribe(topic)
        except BaseException:
            session.rooms.discard(room_id)
            raise
        self._index(session, topic)

    async def follow_all(self, session: Session) -> None:
        """Follow every room of the session's user (subscriptions confirmed together, not one by one)."""
        room_ids = await self._chat.rooms.ids_of(session.user)
        outcomes = await asyncio.gather(
            *(self.follow(session, room_id) for room_id in room_ids), return_exceptions=True
        )
        for outcome in outcomes:  # raised once all are done, so the caller's rollback sees every room followed
            if isinstance(outcome, BaseException):
                raise outcome

    async def unfollow(self, session: Session, room_id: str) -> None:
        if room_id not in session.rooms:
            return
        session.rooms.discard(room_id)
        topic = events.room_topic(room_id)
        self._fences.drop(topic, session.id)
        self._unindex(session, topic)
        await self._subscriptions.unsubscribe(topic)

    # -- joins: the operations that change what a session follows ----------------------------------

    async def join(self, session: Session, data: dict, before_release: Callable[[dict], None] | None = None) -> dict:
        """Follow a room and catch up (at most CATCHUP_LIMIT missed messages, and as many changed ones).
        `before_release`, given the result, runs before the messages held back during the join are delivered:
        a dialect that answers a join with a frame of its own (Phoenix's phx_reply, then the missed messages
        as pushes) sends it there, so that everything arrives in order."""
        return await self._join(session, data, before_release)

    async def _join(
        self,
        session: Session,
        data: dict,
        before_release: Callable[[dict], None] | None = None,
        limit: int | None = None,
        changes_limit: int | None = None,
    ) -> dict:
        room_id = data["room_id"]
        await self._chat.access.require(room_id, session.user.id)
        topic = events.room_topic(room_id)
        newly = room_id not in session.rooms
        self._fences.hold(topic, session.id)
        try:
            if newly:
                await self.follow(session, room_id)
            caught_up = await self._chat.messages.catch_up(
                session.user,
                room_id,
                data["since_seq"],
                data["changes_since"],
                limit=limit,
                changes_limit=changes_limit,
            )
        except BaseException:
            if newly:
                await self.unfollow(session, room_id)
            else:
                self._fences.drop(topic, session.id)
            raise
        if session.id not in self._by_user.get(session.user.id, {}):  # disconnected meanwhile
            await self.unfollow(session, room_id)
        result = payloads.catch_up(caught_up)
        if before_release is not None:
            before_release(result)
        await self._release(session, topic, caught_up.last_seq)
        return result

    async def _release(self, session: Session, topic: str, upto: int) -> None:
        """End a join: deliver the messages held back after `upto` (the catch-up's last seq), in order,
        then open the fence. Messages arriving meanwhile are held too: none is lost or reordered."""
        while later := self._fences.take_held(topic, session.id, upto):
            for message in later:
                await self.push_event(session, events.Event(events.MESSAGE_NEW, message))
            upto = later[-1]["seq"]
        self._fences.release(topic, session.id, upto)

    async def leave(self, session: Session, data: dict) -> dict:
        room_id = data["room_id"]
        await self.unfollow(session, room_id)
        return {"room_id": room_id}

    async def sync(self, session: Session, data: dict) -> dict:
        """Join many rooms at once (after a reconnect): one result per distinct entry, in the order given.

        An entry repeated verbatim (same room, since_seq and changes_since) is answered once, where it first
        stood. The acknowledgement holds at most CATCHUP_LIMIT messages in all, not per room. The missed ones
        are shared out first, max-min fairly from one read of the rooms' seqs (a room that missed a little gets
        all of it; the rooms that missed more share the rest equally); the rest of the budget goes to the
        change feeds, room by room, each an equal part of what is not spent or promised to the rooms after it.
        A room cut short says so (`has_more`, `changes_more`): the client pages the rest over REST."""
        entries = _distinct(data["rooms"])
        messages = self._chat.messages
        budget = messages.catchup_limit
        wanted = await messages.missed(session.user, [(room["room_id"], room["since_seq"]) for room in entries])
        allowances = share_out(budget, wanted)
        promised = sum(allowances)  # to the rooms not joined yet
        spent = 0
        feeds = sum(1 for room in entries if room["changes_since"] is not None)  # change feeds not read yet
        results = []
        for room, allowance in zip(entries, allowances, strict=True):
            promised -= allowance
            free = budget - spent - promised  # at least `allowance`: rooms before took no more than theirs
            changes_limit = 0
            if room["changes_since"] is not None:
                changes_limit = (free - allowance) // feeds
                feeds -= 1
            try:  # messages sent since the read of the seqs may take what is free beyond the allowance
                result = await self._join(session, room, None, free - changes_limit, changes_limit)
            except ChatError as exc:
                results.append({"ok": False, "room_id": room["room_id"], "error": error_record(exc)})
                continue
            spent += len(result["messages"]) + len(result["changed"])
            results.append({"ok": True, "data": result})
        return {"rooms": results}

    # -- delivery --------------------------------------------------------------------------------------

    async def deliver(self, topic: str, event: events.Event) -> None:
        """Deliver an event published to `topic` to this node's sessions that follow it."""
        name = event.name
        if name == events.NOTIFICATION_BATCH:
            await self._notify(event.data)
            return
        skip: Iterable[str] = ()
        if name == events.MESSAGE_NEW:
            skip = self._fences.skip(topic, event.data)
        elif name in (events.TYPING_UPDATE, events.RECEIPT_READ):
            skip = self._by_user.get(event.data["user_id"], {}).keys()  # the actor's own sessions
        elif name == events.NOTIFICATION_NEW:
            skip = self._following(topic, event.data["room_id"])  # they show the message itself
        elif name == events.ROOM_REMOVED:
            await self._evict(topic, event.data["room_id"])
        elif name == events.ROOM_ADDED:
            self._follow_added(topic, event.data["room"]["id"])
        followers = self._followers.get(topic)
        if not followers:
            return
        skipped = set(skip) if skip else None
        for dialect, sessions in list(followers.items()):
            cached = self._encoded.get(dialect)
            if cached is not None and cached[0] is event:  # the same event for another topic (a bus fan-out)
                frame = cached[1]
            else:
                try:
                    frame = await dialect.encode(event)
                except Exception:  # one dialect's failure must not keep the event from the others
                    log.exception("the %s dialect could not encode %s", dialect.name, name)
                    continue
                self._encoded[dialect] = (event, frame)
                self._stats.dialects[dialect.name].encoded_event(name)
            if frame is None:
                continue
            select = dialect.select
            sent = 0
            for session_id, session in list(sessions.items()):
                if skipped is not None and session_id in skipped:
                    continue
                if select is None:
                    sent += self.push(session, frame)
                    continue
                try:
                    chosen = select(session, event, frame)
                except Exception:  # a dialect's bug with one session must not keep the event from the others
                    log.exception("the %s dialect could not show %s to a session", dialect.name, name)
                    continue
                for each in chosen:
                    sent += self.push(session, each)
            self._stats.dialects[dialect.name].sent_event(name, sent)

    async def push_event(self, session: Session, event: events.Event) -> None:
        """One event to one session, in its dialect (held messages of a join)."""
        frame = await session.dialect.encode(event)
        if frame is None:
            return
        frames = [frame] if session.dialect.select is None else session.dialect.select(session, event, frame)
        for chosen in frames:
            if self.push(session, chosen):
                session.stats.sent_event(event.name)

    def push(self, session: Session, frame: object) -> bool:
        """Queue a frame for the session; cut it off instead when it is too far behind."""
        transport = session.transport
        if transport.backlog() >= self._max_pending:
            if not session.cut:
                session.cut = True
                session.stats.slow_consumers_cut += 1
                log.warning("disconnecting a connection more than %d frames behind", self._max_pending)
                transport.cut()
            return False
        return transport.send(frame)

    async def _notify(self, batch: dict) -> None:
        """A message's live notifications (events.notification_batch): `notification:new` for each recipient with a
        session here that does not follow the room (one that does shows the message itself). Nothing is built for
        a recipient who has no such session, the common case in a busy room."""
        shared = batch["notification"]
        room_id = shared["room_id"]
        for user_id, notification_id, unread_count in batch["recipients"]:
            sessions = self._by_user.get(user_id)
            if not sessions or all(room_id in session.rooms for session in sessions.values()):
                continue
            event = events.batched_notification(shared, notification_id, unread_count)
            await self.deliver(events.user_topic(user_id), event)

    def _following(self, user_topic: str, room_id: str) -> list[str]:
        """The sessions here of the topic's user that follow the room."""
        user_id = events.topic_user_id(user_topic) or ""
        return [sid for sid, session in self._by_user.get(user_id, {}).items() if room_id in session.rooms]

    async def _evict(self, user_topic: str, room_id: str) -> None:
        """A user left or was removed: their sessions here stop following the room."""
        for session in list(self._by_user.get(events.topic_user_id(user_topic) or "", {}).values()):
            await self.unfollow(session, room_id)

    def _follow_added(self, user_topic: str, room_id: str) -> None:
        """A user was added to a room: their sessions here that follow every room follow it too. In a task of
        its own: a subscription is confirmed by the bus reader, which is the very task delivering this event."""
        sessions = [
            session
            for session in self._by_user.get(events.topic_user_id(user_topic) or "", {}).values()
            if session.dialect.follows_all_rooms
        ]
        if sessions:
            task = asyncio.get_running_loop().create_task(self._follow_each(sessions, room_id), name="follow-added")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _follow_each(self, sessions: list[Session], room_id: str) -> None:
        for session in sessions:
            if session.id not in self._by_user.get(session.user.id, {}):
                continue  # gone meanwhile
            try:
                await self.follow(session, room_id)
            except Exception:
                log.exception("following a room the user was added to failed")
