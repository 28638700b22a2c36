"""The canonical Socket.IO protocol: python-socketio bound to the session layer.

Connect with `auth: {token}` (a `Bearer ` prefix is accepted; `?token=` in the URL too). Every client
event is an operation of the session layer under the same name, answered through its acknowledgement,
`{ok: true, data}` or `{ok: false, error: {code, message, details}}`; a client that asked for no
acknowledgement gets an `error` event instead. A connection's events are handled one after another,
in order, so its messages get seqs in the order it sent them.

This module only translates: python-socketio's connect, events and disconnect into the hub's calls,
and the core's events into Socket.IO frames (`SocketIODialect`), written straight to the Engine.IO
socket's queue (`SioTransport`) rather than through python-socketio's `emit`, which makes a task per
recipient.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import parse_qs

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from app.chat import events
from app.chat.errors import ChatError, Code
from app.chat.events import Event
from app.gateways.socketio.contract import CLIENT_EVENTS, SERVER_EVENTS, SERVER_SHUTDOWN
from app.gateways.socketio.engine import ACK_WANTED, ChatSocketServer, OrjsonJSON
from app.gateways.socketio.manager import IndexedManager
from app.ops.context import CONNECTION_ID
from app.realtime.hub import Hub
from app.realtime.session import Credentials, Dialect, Session
from app.realtime.topics import error_record

log = logging.getLogger(__name__)

NAMESPACE = "/"
DRAIN_WRITE_GRACE = 0.05  # seconds a stopping node lets its writers send the last frames before closing


@dataclass(frozen=True)
class GatewayOptions:
    cors_origins: list[str] | str = "*"
    max_frame_bytes: int = 1_048_576
    transports: tuple[str, ...] = ("websocket", "polling")
    ping_interval: int = 25
    ping_timeout: int = 20


class SocketIODialect(Dialect):
    """The canonical protocol's frames: `42["<event>",<data>]` on namespace `/`."""

    name = "socketio"
    operations = CLIENT_EVENTS
    frames = SERVER_EVENTS

    def __init__(self, server: socketio.AsyncServer, namespace: str = NAMESPACE) -> None:
        self._packet = server.packet_class
        self._namespace = namespace

    def frame(self, name: str, data: object) -> eio_packet.Packet:
        encoded = self._packet(sio_packet.EVENT, namespace=self._namespace, data=[name, data]).encode()
        return eio_packet.Packet(eio_packet.MESSAGE, data=encoded)

    async def encode(self, event: Event) -> eio_packet.Packet | None:
        return self.frame(event.name, event.data) if event.name in SERVER_EVENTS else None

    def notice(self, error: ChatError) -> eio_packet.Packet:
        return self.frame("error", {**error_record(error), "event": None})

    def shutdown_notice(self, reconnect_in_ms: int) -> eio_packet.Packet:
        return self.frame(SERVER_SHUTDOWN, {"reason": "shutdown", "reconnect_in_ms": reconnect_in_ms})


class SioTransport:
    """One Socket.IO connection's Engine.IO socket, as the session layer's transport."""

    __slots__ = ("_sio", "eio_sid", "sid")

    def __init__(self, sio: socketio.AsyncServer, sid: str, eio_sid: str) -> None:
        self._sio = sio
        self.sid = sid
        self.eio_sid = eio_sid

    def _socket(self):
        socket = self._sio.eio.sockets.get(self.eio_sid)
        return None if socket is None or socket.closed else socket

    def send(self, frame: object) -> bool:
        socket = self._socket()
        if socket is None:
            return False
        socket.queue.put_nowait(frame)
        return True

    def backlog(self) -> int:
        socket = self._socket()
        return 0 if socket is None else socket.queue.qsize()

    def cut(self) -> None:
        socket = self._socket()
        if socket is None:
            return
        # What it has not read is dropped: after reconnecting it catches up by seq.
        while True:
            try:
                socket.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            socket.queue.task_done()
        # A peer that stopped reading keeps a WebSocket send blocked for ever: cut the connection.
        self._abort_tcp()
        asyncio.get_running_loop().create_task(socket.close(wait=False, abort=True))

    def _abort_tcp(self, graceful: bool = False) -> None:
        request = self._sio.environ.get(self.eio_sid, {}).get("aiohttp.request")
        transport = request.transport if request is not None else None
        if transport is not None:
            transport.close() if graceful else transport.abort()

    async def end(self, notice: object | None, code: int, reason: str) -> None:
        if notice is not None:
            self.send(notice)
        await self._sio.disconnect(self.sid)

    async def shutdown(self, notice: object | None) -> None:
        """Engine.IO's close (the disconnect handler runs, the CLOSE packet follows what was queued), then the
        TCP connection itself: a stopping aiohttp server reads nothing more, so it would never see the
        client's WebSocket close frame, and the close handshake would wait out its timeout. Closed as a lost
        transport, not a Socket.IO disconnect, so that standard clients reconnect by themselves."""
        if notice is not None:
            self.send(notice)
        await self._sio.eio.disconnect(self.eio_sid)
        await asyncio.sleep(DRAIN_WRITE_GRACE)  # the writer hands the last frames to the transport
        self._abort_tcp(graceful=True)  # sends what is buffered, then FIN


class SocketGateway:
    def __init__(self, hub: Hub, options: GatewayOptions):
        self._hub = hub
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
        self.dialect = SocketIODialect(self.sio)
        hub.register(self.dialect)
        self.sio.stats = hub.stats.dialects[self.dialect.name]  # every emit (each to one connection) is counted
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        for name in CLIENT_EVENTS:
            self.sio.on(name, self._dispatcher(name))
        self.sio.on("*", self._unknown)

    def attach(self, app) -> None:
        self.sio.attach(app)

    async def _connect(self, sid: str, environ: dict, auth: object) -> None:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        try:
            session = await self._hub.connect(
                self.dialect, SioTransport(self.sio, sid, eio_sid), sid, _credentials(environ, auth)
            )
        except ChatError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, error_record(exc)) from None
        # Sent after the connect handler returns, so it follows Socket.IO's CONNECT packet.
        self.sio.start_background_task(self._ready, session)

    async def _ready(self, session: Session) -> None:
        if not self._hub.is_open(session.id):
            return
        overview, errors = await self._hub.overview(session)
        for error in errors:
            await self._emit_error(session.id, "session:ready", error)
        await self.sio.emit("session:ready", overview, to=session.id)
        await self._send_pending(session)

    async def _send_pending(self, session: Session) -> None:
        """Pending notifications, if any, as one list; they are marked delivered when the client
        acknowledges the event (or later with `notifications:ack`, or over REST)."""
        try:
            found, total = await self._hub.pending(session)
        except Exception as exc:
            if not isinstance(exc, ChatError):
                log.exception("reading pending notifications failed")
            error = exc if isinstance(exc, ChatError) else ChatError(Code.INTERNAL_ERROR, "internal error")
            await self._emit_error(session.id, events.NOTIFICATION_PENDING, error)
            return
        if not found:
            return
        data = {"notifications": [n.record() for n in found], "total": total}
        ids = [n.id for n in found if n.id is not None]

        async def received(*_answer: object) -> None:
            await self._hub.acknowledge(session, ids)

        await self.sio.emit(events.NOTIFICATION_PENDING, data, to=session.id, callback=received if ids else None)

    async def _emit_error(self, sid: str, event: str | None, error: ChatError) -> None:
        await self.sio.emit("error", {**error_record(error), "event": event}, to=sid)

    async def _disconnect(self, sid: str, reason: object = None) -> None:
        session = self._hub.get(sid)
        if session is not None:
            await self._hub.disconnect(session, reason)

    def _dispatcher(self, name: str):
        optional = CLIENT_EVENTS[name].optional_payload

        async def dispatch(sid: str, *args):
            raw = args[0] if len(args) == 1 else (list(args) or None)
            if raw is None and optional:
                raw = {}
            return await self._perform(sid, name, raw)

        return dispatch

    async def _unknown(self, name: str, sid: str, *args):
        return await self._perform(sid, name, args[0] if len(args) == 1 else None)

    async def _perform(self, sid: str, name: str, raw: object) -> dict | None:
        session = self._hub.get(sid)
        try:
            if session is None:
                raise ChatError(Code.AUTH_REQUIRED, "the connection is not signed in")
            return {"ok": True, "data": await self._hub.perform(session, name, raw)}
        except ChatError as exc:
            return await self._refuse(sid, name, exc, raw)

    async def _refuse(self, sid: str, name: str, exc: ChatError, raw: object) -> dict | None:
        error = error_record(exc)
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
        context = CONNECTION_ID.set(sid)
        try:
            await self.sio.emit("error", notice, to=sid)
        finally:
            CONNECTION_ID.reset(context)
        return None


def _credentials(environ: dict, auth: object) -> Credentials:
    """The token, claimed user id and device from the `auth` payload, or else the query string."""
    auth = auth if isinstance(auth, dict) else {}
    query = parse_qs(environ.get("QUERY_STRING", ""))

    def given(*names: str) -> object:
        for name in names:
            if name in auth:
                return auth[name]
        for name in names:
            if name in query:
                return query[name][0]
        return None

    claimed = auth.get("user_id", auth.get("userId"))
    return Credentials(
        token=given("token"),
        user_id=None if claimed is None else str(claimed),
        device_id=given("device_unique_id"),
        preferred_language=given("preferred_language"),
    )
