"""One Socket.IO namespace bound to the session layer, whatever its dialect.

Every dialect of the one Socket.IO server (the canonical protocol on `/`, seeds 001 and 002 on `/chat`
and `/chat/`) shares this binding: python-socketio's connect becomes `Hub.connect` (a refusal is the
client's `connect_error` with `{code, message}`), its disconnect `Hub.disconnect`, and each client event
the dialect's `handle`, whose answer is the event's acknowledgement when the client asked for one. A
packet the server cannot read (engine.py: undecodable, not an event, binary) is the dialect's `refuse`, and
the reason a connection is closed its `notice`. A connection's events are handled one after another, in
order (`async_handlers=False`). Frames to a session are the dialect's (`SioDialect.frame`), queued on the
Engine.IO socket by `SioTransport`.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import socketio
from engineio import packet as eio_packet

from app.chat.errors import ChatError
from app.gateways.socketio.engine import ACK_WANTED
from app.ops.context import CONNECTION_ID
from app.realtime.hub import Hub
from app.realtime.session import Credentials, Dialect, Session
from app.realtime.topics import error_record

log = logging.getLogger(__name__)


class SioDialect(Dialect):
    """A dialect on one Socket.IO namespace. Subclasses set `namespace`, `name`, `client_events` (the client events
    they handle: each gets a handler of its own; others reach `handle` too, as unknown ones) and override
    `credentials`, `opened`, `handle`, `refuse`, `encode` and `notice`."""

    namespace = "/"
    client_events: tuple[str, ...] = ()

    def __init__(self, server: socketio.AsyncServer) -> None:
        self._json = server.packet_class.json
        self._head = "2" if self.namespace == "/" else f"2{self.namespace},"  # EVENT, namespace, no ack id

    def frame(self, name: str, *args: object) -> eio_packet.Packet:
        """`42<namespace>,["<name>", ...args]`, ready for an Engine.IO socket. Written here rather than by
        python-socketio's `Packet.encode`, which walks the data looking for binary parts first: no event a
        dialect sends carries any."""
        return eio_packet.Packet(eio_packet.MESSAGE, data=self._head + self._json.dumps([name, *args]))

    def credentials(self, environ: dict, auth: object) -> Credentials:
        """The token and what else the client presents: from the connect `auth`, else the query string."""
        return Credentials(token=given(environ, auth, "token"))

    async def opened(self, binding: Namespace, session: Session) -> None:
        """The session is open and Socket.IO's CONNECT packet sent: send what the dialect sends first."""

    async def handle(self, binding: Namespace, session: Session, event: str, args: list) -> object:
        """A client event: perform it, and return the acknowledgement's value (None for none). An event the
        dialect does not know comes here too."""
        return None

    async def refuse(
        self, binding: Namespace, session: Session, event: str | None, error: ChatError, args: list
    ) -> object:
        """A client packet that could not be taken as an event (undecodable, not `[name, ...]`, binary): tell the
        client as the dialect tells any refusal, and return the acknowledgement's value, which the engine sends
        when the client asked for one (`ACK_WANTED`). `event` is the event's name when it could be read, `args`
        what could be of its arguments."""
        return None


def given(environ: dict, auth: object, *names: str) -> object:
    """The first of `names` in the connect `auth` payload, else in the query string (None if neither has it)."""
    if isinstance(auth, dict):
        for name in names:
            if name in auth:
                return auth[name]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    for name in names:
        if name in query:
            return query[name][0]
    return None


class Namespace:
    """A dialect mounted on the Socket.IO server."""

    def __init__(self, sio: socketio.AsyncServer, hub: Hub, dialect: SioDialect, transport) -> None:
        self.sio = sio
        self.hub = hub
        self.dialect = dialect
        self._transport = transport  # (sio, sid, eio_sid, namespace) -> the session's transport
        namespace = dialect.namespace
        hub.register(dialect)
        sio.bindings[namespace] = self  # the engine's refusals and closes speak the dialect's words
        sio.on("connect", self._connect, namespace=namespace)
        sio.on("disconnect", self._disconnect, namespace=namespace)
        for event in dialect.client_events:
            sio.on(event, self._handler(event), namespace=namespace)
        sio.on("*", self._unknown, namespace=namespace)

    async def emit(self, session: Session, event: str, *args: object, callback=None) -> None:
        """python-socketio's emit to one session of this namespace (for acknowledged server events)."""
        await self.sio.emit(event, args[0] if len(args) == 1 else args, to=session.id,
                            namespace=self.dialect.namespace, callback=callback)  # fmt: skip

    def send(self, session: Session, name: str, *args: object) -> None:
        """A frame of the dialect to one session, in order with what is delivered to it."""
        self.hub.send(session, self.dialect.frame(name, *args), name)

    async def refuse(self, sid: str, event: str | None, error: ChatError, args: list, ack: bool) -> object:
        """A packet of this namespace's session `sid` that could not be taken as an event, refused in the
        dialect's words (counted, and spending the event budget, as any refusal): the acknowledgement's value."""
        session = self.hub.get(sid)
        if session is None:  # a packet racing the connect's refusal or the disconnect
            return None
        error = self.hub.reject(session, error)
        context, wanted = CONNECTION_ID.set(sid), ACK_WANTED.set(ack)
        try:
            return await self.dialect.refuse(self, session, event, error, args)
        finally:
            ACK_WANTED.reset(wanted)
            CONNECTION_ID.reset(context)

    def notice(self, sid: str, error: ChatError) -> None:
        """Tell session `sid` why the server closes its connection (the dialect's notice), ahead of the close."""
        session = self.hub.get(sid)
        frame = self.dialect.notice(error)
        if session is not None and frame is not None:
            self.hub.send(session, frame, "error")

    async def _connect(self, sid: str, environ: dict, auth: object) -> None:
        namespace = self.dialect.namespace
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, namespace)
        transport = self._transport(self.sio, sid, eio_sid, namespace)
        try:
            try:
                credentials = self.dialect.credentials(environ, auth)
            except ChatError:
                self.hub.stats.dialects[self.dialect.name].connections_refused += 1
                raise
            session = await self.hub.connect(self.dialect, transport, sid, credentials)
        except ChatError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, error_record(exc)) from None
        # After the connect handler returns, so that it follows Socket.IO's CONNECT packet.
        self.sio.start_background_task(self._opened, session)

    async def _opened(self, session: Session) -> None:
        if self.hub.is_open(session.id):
            context = CONNECTION_ID.set(session.id)
            try:
                await self.dialect.opened(self, session)
            except Exception:
                log.exception("greeting a %s session failed", self.dialect.name)
            finally:
                CONNECTION_ID.reset(context)

    async def _disconnect(self, sid: str, reason: object = None) -> None:
        session = self.hub.get(sid)
        if session is not None:
            await self.hub.disconnect(session, reason)

    def _handler(self, event: str):
        async def handle(sid: str, *args):
            return await self._handle(sid, event, list(args))

        return handle

    async def _unknown(self, event: str, sid: str, *args):
        return await self._handle(sid, event, list(args))

    async def _handle(self, sid: str, event: str, args: list) -> object:
        session = self.hub.get(sid)
        if session is None:  # an event racing the connect's refusal or the disconnect
            return None
        context = CONNECTION_ID.set(sid)
        try:
            return await self.dialect.handle(self, session, event, args)
        finally:
            CONNECTION_ID.reset(context)
