"""The hub: every session of this node, whatever its dialect, and everything a session does.

- **Connect** (`connect`): the token, the claimed user id, the user's sign-in, the subscription to the
  user's topic, presence with its device, and (for dialects that follow every room) the user's rooms;
  whatever fails, everything done so far is undone, and the refusal is a `ChatError` the binding turns
  into its dialect's refusal.
- **Operations** (`perform`): one table for every dialect (`app.realtime.operations`), with the
  per-session event budget, payload validation, counting and the connection id in log lines.
- **Following** (`app.realtime.topics`): which sessions follow which topic, joins with their fences and
  catch-up, and delivery of core events, encoded once per dialect.
- **Ending**: `disconnect`, `disconnect_user` (a disabled user, on every node) and `drain` (the node stops).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.auth.tokens import TokenVerifier
from app.chat import events, payloads
from app.chat.errors import ChatError, Code
from app.chat.model import Device, Notification, Room, User
from app.chat.service import Chat
from app.ops.context import CONNECTION_ID
from app.realtime.handlers import handlers as stateless_handlers
from app.realtime.operations import OPERATIONS
from app.realtime.session import Credentials, Dialect, Session, TokenBucket, Transport
from app.realtime.stats import OTHER, SessionStats
from app.realtime.topics import Subscriptions, Topics
from app.schemas.fields import load

log = logging.getLogger(__name__)

Handler = Callable[[Session, dict], Awaitable[dict]]


@dataclass(frozen=True)
class SessionOptions:
    event_rate: float = 50.0  # events per second per session, sustained (EVENT_RATE)
    event_burst: int = 100  # EVENT_BURST
    max_pending_frames: int = 1000  # frames a session may have waiting before it is cut off (MAX_PENDING_FRAMES)


def _text(value: object, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ChatError(Code.INVALID_PAYLOAD, f"{name} must be a string", {"fields": {name: ["not a string"]}})
    return value


def internal(exc: Exception) -> ChatError:
    return exc if isinstance(exc, ChatError) else ChatError(Code.INTERNAL_ERROR, "internal error")


class Hub:
    def __init__(
        self, chat: Chat, verifier: TokenVerifier, subscriptions: Subscriptions, options: SessionOptions
    ) -> None:
        self._chat = chat
        self._verifier = verifier
        self._options = options
        self.stats = SessionStats()  # read by app.ops.metrics
        self.topics = Topics(chat, subscriptions, self.stats, options.max_pending_frames)
        self.draining = False  # set by drain(): new sessions are refused
        self._sessions: dict[str, Session] = {}
        table: dict[str, Handler] = {
            "room:join": self.topics.join,
            "room:leave": self.topics.leave,
            "sync": self.topics.sync,
            **stateless_handlers(chat),
        }
        if table.keys() != OPERATIONS.keys():
            raise RuntimeError("the hub's handlers and app.realtime.operations disagree")
        self._operations = {
            name: (handler, OPERATIONS[name].payload(), OPERATIONS[name].optional_payload)
            for name, handler in table.items()
        }

    @property
    def max_pending_frames(self) -> int:
        """Frames a session may have waiting to be written before it is cut off (MAX_PENDING_FRAMES)."""
        return self._options.max_pending_frames

    def register(self, dialect: Dialect) -> None:
        """Count a dialect's traffic under its name (each dialect once, before its first session)."""
        self.stats.register(dialect.name, dialect.operations, dialect.frames)

    # -- sessions ------------------------------------------------------------------------------------

    @property
    def connection_count(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def is_open(self, session_id: str) -> bool:
        return session_id in self._sessions

    def live_connections(self) -> list[tuple[str, str]]:
        """(user_id, session id) of every session on this node, for presence keep-alive."""
        return [(session.user.id, session.id) for session in self._sessions.values()]

    async def connect(
        self,
        dialect: Dialect,
        transport: Transport,
        session_id: str,
        credentials: Credentials,
        admit: Callable[[User], Awaitable[None]] | None = None,
    ) -> Session:
        """Open a session, or raise the ChatError that refuses it (AUTH_REQUIRED, INVALID_TOKEN,
        TOKEN_EXPIRED, USER_MISMATCH, USER_DISABLED, INVALID_PAYLOAD for a bad device, UNAVAILABLE).
        `admit`, given the signed-in user, may refuse for reasons of the dialect's own, before anything
        of the session is recorded (presence, subscriptions)."""
        stats = self.stats.dialects[dialect.name]
        context = CONNECTION_ID.set(session_id)
        try:
            if self.draining:
                raise ChatError(Code.UNAVAILABLE, "this node is shutting down; connect to another one")
            token = credentials.token
            profile = await self._verifier.verify(token if isinstance(token, str) else None)
            if credentials.user_id is not None and credentials.user_id != profile.id:
                raise ChatError(Code.USER_MISMATCH, "the user id does not match the token's subject")
            device = Device(
                _text(credentials.device_id, "device_unique_id"),
                _text(credentials.preferred_language, "preferred_language"),
            )  # its values are checked by the core (Presence.connected)
            user = await self._chat.users.sign_in(profile)
            if admit is not None:
                await admit(user)
            bucket = TokenBucket(self._options.event_rate, self._options.event_burst)
            session = Session(session_id, user, dialect, transport, bucket, stats)
            await self._open(session, device)
            log.debug("connected as user %s (%s)", user.id, dialect.name)
        except ChatError as exc:
            stats.connections_refused += 1
            log.info("connection refused: %s", exc.code.value)
            raise
        finally:
            CONNECTION_ID.reset(context)
        stats.connections_accepted += 1
        stats.connections += 1
        return session

    async def _open(self, session: Session, device: Device) -> None:
        self._sessions[session.id] = session
        self.topics.add(session)
        steps = 0  # how far it got, for the rollback: 1 subscribed to the user's topic, 2 online
        try:
            await self.topics.follow_user(session)
            steps = 1
            session.status = await self._chat.presence.connected(session.user, session.id, device)
            steps = 2
            if session.dialect.follows_all_rooms:
                await self.topics.follow_all(session)
        except Exception as exc:
            if not isinstance(exc, ChatError):
                log.exception("opening a session failed")
            await self._forget(session, subscribed=steps >= 1, online=steps >= 2)
            raise internal(exc) from None

    async def disconnect(self, session: Session, reason: object = None) -> None:
        """The connection closed: forget the session (its rooms, typing, presence, what it viewed)."""
        if self._sessions.get(session.id) is not session:
            return
        context = CONNECTION_ID.set(session.id)
        try:
            log.debug("disconnected (%s)", reason)
            session.stats.connections -= 1
            await self._forget(session, subscribed=True, online=True)
        finally:
            CONNECTION_ID.reset(context)

    async def _forget(self, session: Session, subscribed: bool, online: bool) -> None:
        self._sessions.pop(session.id, None)
        await self.topics.remove(session, subscribed)
        try:
            await self._chat.typing.gone(session.id)
            if session.viewing is not None:
                await self._chat.viewers.close(session.user.id, session.viewing, session.id)
            if online:
                await self._chat.presence.disconnected(session.user.id, session.id)
        except Exception:
            # The presence sweep marks the connection gone once its expiry passes.
            log.exception("recording a disconnect failed")

    # -- operations ------------------------------------------------------------------------------------

    async def perform(self, session: Session, name: str, payload: object, **options: object) -> dict:
        """Run operation `name` for the session; return its result, or raise the ChatError refusing it
        (UNKNOWN_EVENT, RATE_LIMITED, INVALID_PAYLOAD, the operation's own; INTERNAL_ERROR for a bug,
        which is logged). `options` go to the handler as they are (room:join's `before_release`)."""
        stats = session.stats
        operation = self._operations.get(name)
        started = time.perf_counter()
        context = CONNECTION_ID.set(session.id)
        try:
            stats.count(name if operation is not None else OTHER)
            if not session.bucket.take():  # unknown names spend the budget too
                raise ChatError(Code.RATE_LIMITED, "too many events; slow down", {"retry_after": 1})
            if operation is None:
                raise ChatError(Code.UNKNOWN_EVENT, f"unknown event {name!r}")
            handler, schema, optional = operation
            if payload is None and optional:
                payload = {}
            return await handler(session, load(schema, payload), **options)
        except ChatError as exc:
            stats.refused(exc.code.value)
            raise
        except Exception:
            log.exception("handling %s failed", name)
            stats.refused(Code.INTERNAL_ERROR.value)
            raise ChatError(Code.INTERNAL_ERROR, "internal error") from None
        finally:
            CONNECTION_ID.reset(context)
            if operation is not None:
                stats.latency(name).observe(time.perf_counter() - started)

    def reject(self, session: Session, error: ChatError) -> ChatError:
        """A frame the dialect could not decode: it is counted and spends the session's event budget like
        any event. Returns the error to answer with (RATE_LIMITED once the budget is spent)."""
        session.stats.count(OTHER)
        if not session.bucket.take():
            error = ChatError(Code.RATE_LIMITED, "too many events; slow down", {"retry_after": 1})
        session.stats.refused(error.code.value)
        return error

    def send(self, session: Session, frame: object, name: str) -> None:
        """Send a frame of the dialect's own (a reply, a greeting) to one session."""
        if self.topics.push(session, frame):
            session.stats.sent_event(name)

    async def follow(self, session: Session, room_id: str) -> None:
        """Follow a room's live events from now on, with no catch-up (members only: ROOM_NOT_FOUND,
        NOT_MEMBER)."""
        await self._chat.access.require(room_id, session.user.id)
        await self.topics.follow(session, room_id)

    async def room(self, room_id: str) -> Room | None:
        """A room (kind, name, owner), from this node's cache; None for no such room."""
        access = await self._chat.access.get(room_id)
        return access.room if access is not None else None

    async def members(self, room_id: str) -> set[str]:
        """The ids of a room's members (empty for no such room), from this node's cache: for dialects that
        show events of a room's members, such as their presence, on the room's own channel."""
        access = await self._chat.access.get(room_id)
        return set(access.member_ids) if access is not None else set()

    def spend(self, session: Session) -> None:
        """A frame the dialect handles itself (no operation): it spends the session's event budget like any
        event. Raises RATE_LIMITED once the budget is spent."""
        if not session.bucket.take():
            session.stats.refused(Code.RATE_LIMITED.value)
            raise ChatError(Code.RATE_LIMITED, "too many events; slow down", {"retry_after": 1})

    async def find_user(self, username: str) -> User:
        """The user with this username (disabled ones included); USER_NOT_FOUND otherwise."""
        return await self._chat.users.by_username(username)

    async def users(self, user_ids: list[str]) -> dict[str, User]:
        """Users by id, from this node's directory (for dialects that show usernames or names)."""
        return await self._chat.users.directory(user_ids)

    async def view(self, session: Session, room_id: str) -> list[str]:
        """The session has the room open (seed 003's conversation socket): the users viewing it now."""
        viewers = await self._chat.viewers.open(session.user, room_id, session.id)
        session.viewing = room_id
        return viewers

    async def overview(self, session: Session) -> tuple[dict, list[ChatError]]:
        """What a client shows first: the user, their status, rooms (with unread counts), people and
        favorites. A part that cannot be read is None, and its error is returned beside."""
        errors: list[ChatError] = []
        overview: dict = {"user": payloads.user(session.user), "status": session.status}
        try:
            views = await self._chat.rooms.list(session.user)
            overview["rooms"] = [payloads.room_view(view) for view in views]
            overview["total_unread"] = sum(view.unread for view in views)
        except Exception as exc:
            errors.append(self._failed("reading the rooms", exc))
            overview["rooms"] = overview["total_unread"] = None
        try:
            overview["people"] = await self._chat.lists.people(session.user)
            overview["favorites"] = [f.record() for f in await self._chat.lists.favorites(session.user)]
        except Exception as exc:
            errors.append(self._failed("reading people and favorites", exc))
            overview["people"] = overview["favorites"] = None
        return overview, errors

    async def pending(self, session: Session) -> tuple[list[Notification], int]:
        """The notifications stored while the user was offline (newest PENDING_NOTIFICATIONS_MAX), and how
        many there are in all. They stay pending until `acknowledge`."""
        return await self._chat.notifications.pending(session.user)

    async def acknowledge(self, session: Session, ids: list[str]) -> None:
        try:
            await self._chat.notifications.acknowledge(session.user, ids)
        except Exception:
            log.exception("marking pending notifications delivered failed")

    async def unread(self, session: Session) -> dict[str, tuple[int, int]]:
        """(last seq, read cursor) of each of the user's rooms: the unread count is their difference."""
        rooms = (await self._chat.reads.unread(session.user)).rooms
        return {room_id: (room.last_seq, room.read_seq) for room_id, room in rooms.items()}

    @staticmethod
    def _failed(what: str, exc: Exception) -> ChatError:
        if not isinstance(exc, ChatError):
            log.exception("%s failed", what)
        return internal(exc)

    # -- events from the bus ---------------------------------------------------------------------------

    async def deliver(self, topic: str, event: events.Event) -> None:
        """Deliver an event published to `topic` to this node's sessions that follow it."""
        await self.topics.deliver(topic, event)

    async def disconnect_user(self, user_id: str, error: ChatError) -> None:
        """Tell each of the user's sessions on this node why, then close it."""
        for session in self.topics.sessions_of(user_id):
            dialect = session.dialect
            await session.transport.end(dialect.notice(error), dialect.close_code(error), error.message)

    async def drain(self, reconnect_spread_ms: int, close_within: float) -> int:
        """Stop: refuse new sessions, tell each session here to reconnect elsewhere (its dialect's notice,
        with a random delay up to `reconnect_spread_ms`), and close it so that standard clients reconnect
        by themselves. Each close runs `disconnect` (presence, typing). Returns how many were told."""
        self.draining = True
        sessions = list(self._sessions.values())
        closing = [
            asyncio.create_task(
                session.transport.shutdown(session.dialect.shutdown_notice(random.randint(0, reconnect_spread_ms))),
                name="drain-close",
            )
            for session in sessions
        ]
        if closing:
            _done, late = await asyncio.wait(closing, timeout=close_within)
            for task in late:
                task.cancel()
            if late:
                log.warning("%d connections did not close within %.1fs", len(late), close_within)
        return len(sessions)
