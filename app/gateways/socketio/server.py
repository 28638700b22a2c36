"""The Socket.IO gateway: connections, client events, and delivery of the core's events.

Connect with `auth: {token}` (a `Bearer ` prefix is accepted; `?token=` in
the URL too). Every client event is answered through its acknowledgement,
`{ok: true, data}` or `{ok: false, error: {code, message, details}}`; a
client that asked for no acknowledgement gets an `error` event instead.
A connection's events are handled one after another, in order, so its
messages get seqs in the order it sent them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qs

import socketio
from marshmallow import Schema

from app.auth.tokens import TokenVerifier
from app.chat import events, payloads
from app.chat.errors import ChatError, Code
from app.chat.model import Device, User
from app.chat.service import Chat
from app.gateways.socketio import handlers as stateless
from app.gateways.socketio.contract import CLIENT_EVENTS, SERVER_EVENTS, SERVER_SHUTDOWN
from app.gateways.socketio.delivery import DirectDelivery, Fences
from app.gateways.socketio.engine import ACK_WANTED, ChatSocketServer, OrjsonJSON
from app.gateways.socketio.manager import IndexedManager
from app.gateways.socketio.stats import OTHER, GatewayStats
from app.ops.context import CONNECTION_ID
from app.schemas.fields import load

log = logging.getLogger(__name__)


class Subscriptions(Protocol):
    async def subscribe(self, topic: str) -> None: ...

    async def unsubscribe(self, topic: str) -> None: ...


@dataclass(frozen=True)
class GatewayOptions:
    cors_origins: list[str] | str = "*"
    max_frame_bytes: int = 1_048_576
    transports: tuple[str, ...] = ("websocket", "polling")
    ping_interval: int = 25
    ping_timeout: int = 20
    event_rate: float = 50.0
    event_burst: int = 100
    max_pending_frames: int = 1000


class TokenBucket:
    def __init__(self, rate: float, burst: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._monotonic = monotonic
        self._tokens = float(burst)
        self._last = monotonic()

    def take(self) -> bool:
        now = self._monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass
class Connection:
    sid: str
    user: User
    bucket: TokenBucket
    rooms: set[str] = field(default_factory=set)
    status: str = "online"  # the status the user chose


Handler = Callable[[Connection, dict], Awaitable[dict]]
DRAIN_WRITE_GRACE = 0.05  # seconds a stopping node lets its writers send the last frames before closing


class SocketGateway:
    def __init__(self, chat: Chat, verifier: TokenVerifier, subscriptions: Subscriptions, options: GatewayOptions):
        self._chat = chat
        self._verifier = verifier
        self._subscriptions = subscriptions
        self._options = options
        self.sio = ChatSocketServer(
            client_manager=IndexedManager(),
            async_mode="aiohttp",
            async_handlers=False,
            json=OrjsonJSON,
            cors_allowed_origins=options.cors_origins,
            max_http_buffer_size=options.max_frame_bytes,
            transports=list(options.transports),
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_timeout,
            logger=False,
            engineio_logger=False,
        )
        self.stats = GatewayStats(CLIENT_EVENTS, SERVER_EVENTS)  # read by app.ops.metrics
        self.sio.stats = self.stats
        self._draining = False  # set by drain(): new connections are refused
        self._delivery = DirectDelivery(self.sio, options.max_pending_frames, self.stats)
        self._fences = Fences()
        # Per-connection state lives here, keyed by sid, rather than in the Socket.IO
        # session: it is read on every event and delivery, and needs no copying.
        self._connections: dict[str, Connection] = {}
        self._by_user: dict[str, set[str]] = {}
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        handlers: dict[str, Handler] = {
            "room:join": self._join,
            "room:leave": self._leave,
            "sync": self._sync,
            **stateless.handlers(chat),
        }
        if handlers.keys() != CLIENT_EVENTS.keys():
            raise RuntimeError("the gateway's handlers and contract.CLIENT_EVENTS disagree")
        for name, handler in handlers.items():
            spec = CLIENT_EVENTS[name]
            self.sio.on(name, self._dispatcher(name, spec.payload(), handler, spec.optional_payload))
        self.sio.on("*", self._unknown)

    def attach(self, app) -> None:
        self.sio.attach(app)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def is_open(self, sid: str) -> bool:
        return sid in self._connections

    def live_connections(self) -> list[tuple[str, str]]:
        """(user_id, conn id) of every connection on this node, for presence keep-alive."""
        return [(connection.user.id, sid) for sid, connection in self._connections.items()]

    # -- connections ---------------------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict, auth: object) -> None:
        """Accept or refuse a connection; what is logged meanwhile carries its sid (app.ops.context)."""
        context = CONNECTION_ID.set(sid)
        try:
            if self._draining:
                error = ChatError(Code.UNAVAILABLE, "this node is shutting down; connect to another one")
                raise socketio.exceptions.ConnectionRefusedError(error.message, _error(error))
            await self._accept(sid, environ, auth)
            self.stats.connections_accepted += 1
            if (connection := self._connections.get(sid)) is not None:
                log.debug("connected as user %s", connection.user.id)
        except socketio.exceptions.ConnectionRefusedError:
            self.stats.connections_refused += 1
            raise
        finally:
            CONNECTION_ID.reset(context)

    async def _accept(self, sid: str, environ: dict, auth: object) -> None:
        try:
            user = await self._authenticate(environ, auth)
            device = _device(environ, auth)
        except ChatError as exc:
            log.info("connection refused: %s", exc.code.value)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, _error(exc)) from None
        connection = Connection(sid, user, TokenBucket(self._options.event_rate, self._options.event_burst))
        self._connections[sid] = connection
        self._by_user.setdefault(user.id, set()).add(sid)
        topic = events.user_topic(user.id)
        try:
            await self._subscriptions.subscribe(topic)
        except Exception as exc:
            await self._forget(connection, subscribed=False, online=False)
            error = exc if isinstance(exc, ChatError) else ChatError(Code.INTERNAL_ERROR, "internal error")
            raise socketio.exceptions.ConnectionRefusedError(error.message, _error(error)) from None
        await self._delivery.follow(sid, topic)
        try:
            connection.status = await self._chat.presence.connected(user, sid, device)
        except Exception as exc:
            await self._forget(connection, subscribed=True, online=False)
            if not isinstance(exc, ChatError):
                log.exception("recording presence failed")
            error = exc if isinstance(exc, ChatError) else ChatError(Code.INTERNAL_ERROR, "internal error")
            raise socketio.exceptions.ConnectionRefusedError(error.message, _error(error)) from None
        # Sent after the connect handler returns, so it follows Socket.IO's CONNECT packet.
        self.sio.start_background_task(self._ready, sid)

    async def _authenticate(self, environ: dict, auth: object) -> User:
        auth = auth if isinstance(auth, dict) else {}
        token = auth.get("token")
        if token is None:
            token = parse_qs(environ.get("QUERY_STRING", "")).get("token", [None])[0]
        profile = self._verifier.verify(token if isinstance(token, str) else None)
        claimed = auth.get("user_id", auth.get("userId"))
        if claimed is not None and str(claimed) != profile.id:
            raise ChatError(Code.USER_MISMATCH, "user_id does not match the token's subject")
        return await self._chat.users.sign_in(profile)

    async def _ready(self, sid: str) -> None:
        connection = self._connections.get(sid)
        if connection is None:
            return
        try:
            views = await self._chat.rooms.list(connection.user)
            rooms = [payloads.room_view(view) for view in views]
            total_unread = sum(view.unread for view in views)
        except Exception as exc:
            await self._emit_error(sid, "session:ready", exc)
            rooms, total_unread = None, None
        try:
            people = await self._chat.lists.people(connection.user)
            favorites = [f.record() for f in await self._chat.lists.favorites(connection.user)]
        except Exception as exc:
            await self._emit_error(sid, "session:ready", exc)
            people, favorites = None, None
        ready = {
            "user": payloads.user(connection.user),
            "status": connection.status,
            "rooms": rooms,
            "total_unread": total_unread,
            "people": people,
            "favorites": favorites,
        }
        await self.sio.emit("session:ready", ready, to=sid)
        await self._send_pending(connection)

    async def _send_pending(self, connection: Connection) -> None:
        """Pending notifications, if any, as one list; they are marked delivered when the client
        acknowledges the event (or later with `notifications:ack`, or over REST)."""
        try:
            found, total = await self._chat.notifications.pending(connection.user)
        except Exception as exc:
            await self._emit_error(connection.sid, events.NOTIFICATION_PENDING, exc)
            return
        if not found:
            return
        data = {"notifications": [n.record() for n in found], "total": total}
        ids = [n.id for n in found if n.id is not None]
        user = connection.user

        async def received(*_answer: object) -> None:
            try:
                await self._chat.notifications.acknowledge(user, ids)
            except Exception:
                log.exception("marking pending notifications delivered failed")

        await self.sio.emit(events.NOTIFICATION_PENDING, data, to=connection.sid, callback=received if ids else None)

    async def _emit_error(self, sid: str, event: str, exc: Exception) -> None:
        if not isinstance(exc, ChatError):
            log.exception("%s failed", event)
        error = exc if isinstance(exc, ChatError) else ChatError(Code.INTERNAL_ERROR, "internal error")
        await self.sio.emit("error", {**_error(error), "event": event}, to=sid)

    async def _disconnect(self, sid: str, reason: object = None) -> None:
        connection = self._connections.get(sid)
        if connection is not None:
            context = CONNECTION_ID.set(sid)
            try:
                log.debug("disconnected (%s)", reason)
                await self._forget(connection, subscribed=True, online=True)
            finally:
                CONNECTION_ID.reset(context)

    async def _forget(self, connection: Connection, subscribed: bool, online: bool) -> None:
        self._connections.pop(connection.sid, None)
        sids = self._by_user.get(connection.user.id)
        if sids is not None:
            sids.discard(connection.sid)
            if not sids:
                del self._by_user[connection.user.id]
        for room_id in list(connection.rooms):
            await self._unfollow_room(connection, room_id)
        if subscribed:
            await self._subscriptions.unsubscribe(events.user_topic(connection.user.id))
        try:
            await self._chat.typing.gone(connection.sid)
            if online:
                await self._chat.presence.disconnected(connection.user.id, connection.sid)
        except Exception:
            # The sweep marks the connection gone once its expiry passes.
            log.exception("recording a disconnect failed")

    # -- client events -------------------------------------------------------------------------

    def _dispatcher(self, name: str, schema: Schema, handler: Handler, optional_payload: bool):
        received, latency = self.stats.received, self.stats.ack_latency[name]

        async def dispatch(sid: str, *args):
            started = time.perf_counter()
            received[name] += 1
            context = CONNECTION_ID.set(sid)
            raw = args[0] if len(args) == 1 else (list(args) or None)
            if raw is None and optional_payload:
                raw = {}
            try:
                connection = self._connections.get(sid)
                if connection is None:
                    raise ChatError(Code.AUTH_REQUIRED, "the connection is not signed in")
                if not connection.bucket.take():
                    raise ChatError(Code.RATE_LIMITED, "too many events; slow down", {"retry_after": 1})
                data = await handler(connection, load(schema, raw))
                return {"ok": True, "data": data}
            except ChatError as exc:
                return await self._refuse(sid, name, exc, raw)
            except Exception:
                log.exception("handling %s failed", name)
                return await self._refuse(sid, name, ChatError(Code.INTERNAL_ERROR, "internal error"), raw)
            finally:
                CONNECTION_ID.reset(context)
                latency.observe(time.perf_counter() - started)

        return dispatch

    async def _unknown(self, name: str, sid: str, *args):
        raw = args[0] if len(args) == 1 else None
        self.stats.received[OTHER] += 1
        connection = self._connections.get(sid)
        if connection is not None and not connection.bucket.take():  # unknown events count too
            return await self._refuse(
                sid, name, ChatError(Code.RATE_LIMITED, "too many events; slow down", {"retry_after": 1}), raw
            )
        return await self._refuse(sid, name, ChatError(Code.UNKNOWN_EVENT, f"unknown event {name!r}"), raw)

    async def _refuse(self, sid: str, name: str, exc: ChatError, raw: object) -> dict | None:
        self.stats.refused(exc.code.value)
        error = _error(exc)
        client_ref = raw.get("client_ref") if isinstance(raw, dict) else None
        client_ref = client_ref if isinstance(client_ref, str) else None
        if ACK_WANTED.get():
            ack: dict = {"ok": False, "error": error}
            if name == "message:send":
                ack.update(status="error", client_ref=client_ref)
            return ack
        notice = {**error, "event": name}
        if client_ref is not None:
            notice["client_ref"] = client_ref
        await self.sio.emit("error", notice, to=sid)
        return None

    async def _join(self, connection: Connection, data: dict) -> dict:
        room_id = data["room_id"]
        await self._chat.access.require(room_id, connection.user.id)
        topic = events.room_topic(room_id)
        newly = room_id not in connection.rooms
        self._fences.hold(topic, connection.sid)
        try:
            if newly:
                connection.rooms.add(room_id)
                await self._subscriptions.subscribe(topic)
                await self._delivery.follow(connection.sid, topic)
            caught_up = await self._chat.messages.catch_up(
                connection.user, room_id, data["since_seq"], data["changes_since"]
            )
        except BaseException:
            if newly:
                await self._unfollow_room(connection, room_id)
            else:
                self._fences.drop(topic, connection.sid)
            raise
        if self._connections.get(connection.sid) is not connection:  # disconnected meanwhile
            await self._unfollow_room(connection, room_id)
        await self._release(topic, connection.sid, caught_up.last_seq)
        return payloads.catch_up(caught_up)

    async def _release(self, topic: str, sid: str, upto: int) -> None:
        """End a join: deliver the messages held back after `upto` (the catch-up's last seq), in
        order, then open the fence. Messages arriving meanwhile are held too: none is lost or reordered."""
        while later := self._fences.take_held(topic, sid, upto):
            for message in later:
                await self.sio.emit(events.MESSAGE_NEW, message, to=sid)
            upto = later[-1]["seq"]
        self._fences.release(topic, sid, upto)

    async def _leave(self, connection: Connection, data: dict) -> dict:
        room_id = data["room_id"]
        if room_id in connection.rooms:
            await self._unfollow_room(connection, room_id)
        return {"room_id": room_id}

    async def _unfollow_room(self, connection: Connection, room_id: str) -> None:
        if room_id not in connection.rooms:
            return
        connection.rooms.discard(room_id)
        topic = events.room_topic(room_id)
        self._fences.drop(topic, connection.sid)
        await self._delivery.unfollow(connection.sid, topic)
        await self._subscriptions.unsubscribe(topic)

    async def _sync(self, connection: Connection, data: dict) -> dict:
        results = []
        for room in data["rooms"]:
            try:
                results.append({"ok": True, "data": await self._join(connection, room)})
            except ChatError as exc:
                results.append({"ok": False, "room_id": room["room_id"], "error": _error(exc)})
        return {"rooms": results}

    # -- events from the bus -------------------------------------------------------------------

    async def deliver(self, topic: str, event: events.Event) -> None:
        """Deliver an event published to `topic` to this node's connections that follow it."""
        skip: list[str] = []
        if event.name == events.MESSAGE_NEW:
            skip = self._fences.skip(topic, event.data)
        elif event.name in (events.TYPING_UPDATE, events.RECEIPT_READ):
            skip = list(self._by_user.get(event.data["user_id"], ()))  # the user's own connections
        elif event.name == events.NOTIFICATION_NEW:
            skip = self._following(topic, event.data["room_id"])  # they show the message itself
        elif event.name == events.ROOM_REMOVED:
            await self._evict(topic, event.data["room_id"])
        await self._delivery.deliver(topic, event.name, event.data, skip)

    async def disconnect_user(self, user_id: str, error: ChatError) -> None:
        """Tell each of the user's connections on this node why, then close it."""
        for sid in list(self._by_user.get(user_id, ())):
            await self.sio.emit("error", {**_error(error), "event": None}, to=sid)
            await self.sio.disconnect(sid)

    @property
    def draining(self) -> bool:
        return self._draining

    async def drain(self, reconnect_spread_ms: int, close_within: float) -> int:
        """Stop: refuse new connections, tell each connection here to reconnect elsewhere
        (`server:shutdown`, with a random `reconnect_in_ms` up to `reconnect_spread_ms`), then close it
        at the Engine.IO level, as a lost transport, so standard clients reconnect by themselves. Each
        close runs the disconnect handler (presence, typing). Returns how many connections were told."""
        self._draining = True
        sids = list(self._connections)
        for sid in sids:
            notice = {"reason": "shutdown", "reconnect_in_ms": random.randint(0, reconnect_spread_ms)}
            await self.sio.emit(SERVER_SHUTDOWN, notice, to=sid)
        closing = []
        for sid in sids:
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
            if eio_sid is not None:
                closing.append(asyncio.create_task(self._close_transport(eio_sid), name="drain-close"))
        if closing:
            _done, late = await asyncio.wait(closing, timeout=close_within)
            for task in late:
                task.cancel()
            if late:
                log.warning("%d connections did not close within %.1fs", len(late), close_within)
        return len(sids)

    async def _close_transport(self, eio_sid: str) -> None:
        """Close one connection as its node stops: Engine.IO's close (the disconnect handler runs, the CLOSE
        packet follows what was queued), then the TCP connection itself. A stopping aiohttp server reads
        nothing more, so it would never see the client's WebSocket close frame and the close handshake
        would wait out its timeout."""
        request = self.sio.environ.get(eio_sid, {}).get("aiohttp.request")
        transport = request.transport if request is not None else None
        await self.sio.eio.disconnect(eio_sid)
        await asyncio.sleep(DRAIN_WRITE_GRACE)  # the writer hands the last frames to the transport
        if transport is not None:
            transport.close()  # sends what is buffered, then FIN

    def _following(self, user_topic: str, room_id: str) -> list[str]:
        """The connections here of the topic's user that follow the room."""
        user_id = events.topic_user_id(user_topic) or ""
        return [
            sid
            for sid in self._by_user.get(user_id, ())
            if (connection := self._connections.get(sid)) is not None and room_id in connection.rooms
        ]

    async def _evict(self, topic: str, room_id: str) -> None:
        """A user left or was removed: their connections here stop following the room."""
        user_id = events.topic_user_id(topic)
        for sid in list(self._by_user.get(user_id or "", ())):
            connection = self._connections.get(sid)
            if connection is not None:
                await self._unfollow_room(connection, room_id)


def _device(environ: dict, auth: object) -> Device:
    """`device_unique_id` and `preferred_language` from the auth payload (or the query string)."""
    auth = auth if isinstance(auth, dict) else {}
    query = parse_qs(environ.get("QUERY_STRING", ""))
    values = []
    for name in ("device_unique_id", "preferred_language"):
        value = auth.get(name, query.get(name, [None])[0])
        if value is not None and not isinstance(value, str):
            raise ChatError(Code.INVALID_PAYLOAD, f"{name} must be a string", {"fields": {name: ["not a string"]}})
        values.append(value)
    return Device(*values)  # its values are checked by the core (Presence.connected)


def _error(exc: ChatError) -> dict:
    error = {"code": exc.code.value, "message": exc.message}
    if exc.details:
        error["details"] = exc.details
    return error
