"""python-socketio, adapted: what the gateway needs of it that it does not expose.

- orjson for every packet (python-socketio wants a `json` module whose `dumps` returns str);
- whether the client asked for an acknowledgement, so a failure without one becomes an `error` event;
- every event that carries an ack id is acknowledged, in its namespace's words, whatever is wrong with it: a
  packet that cannot be decoded (its header read by python-socketio's parser, its data left aside: framing.py),
  or an event that is not `[name, ...args]`; without an ack id, the namespace's error event says it;
- binary packets (no dialect uses attachments) are refused, their announced attachments dropped as they arrive,
  never held; a binary packet whose framing cannot be followed closes the connection, with the reason in the
  namespace's error event (framing.FramingError);
- an Engine.IO session with no Socket.IO namespace connected (never, no more, or refused) is closed after
  `connect_timeout` seconds and counted; the clock stops while a connect is being handled;
- `connect` and `disconnect` sent by a client are unknown events, not calls of the server's handlers;
- python-engineio's log (`EngineLog`): its per-packet chatter dropped, and an Engine.IO packet of a type the
  protocol does not have (the client's bad input, which the library reports as "Unknown receive error" with a
  traceback at ERROR) one WARNING line.

It overrides python-socketio's `_handle_eio_connect`, `_handle_eio_message` (the whole dispatch: it calls
`_handle_connect`, `_handle_disconnect`, `_handle_event` and `_handle_ack`), `_handle_eio_disconnect`,
`_handle_event` and `_handle_event_internal`, and relies on python-engineio's `AsyncSocket.close`. Engine.IO's
WebSocket transport itself is wire.py's. Those private methods are
guarded by tests/realtime/test_library_pins.py under the exact pins of requirements.txt.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import traceback
from contextvars import ContextVar
from dataclasses import dataclass

import orjson
import socketio
from socketio import packet

from app.chat.errors import ChatError, Code
from app.gateways.socketio import framing, wire
from app.realtime.stats import DialectStats, SessionStats

log = logging.getLogger(__name__)

ACK_WANTED: ContextVar[bool] = ContextVar("ack_wanted", default=False)
MALFORMED = "malformed Socket.IO packet"
NOT_AN_EVENT = "an event packet must hold an array starting with the event name"
REFUSAL_LOG_INTERVAL = 10.0  # seconds between two log lines of refusals on one Engine.IO session
NO_BINARY = "binary attachments are not accepted: no event of this namespace takes any"


class OrjsonJSON:
    """The json module interface python-socketio expects, on orjson (which returns bytes)."""

    @staticmethod
    def dumps(obj, **_kwargs) -> str:
        # Validation details of list items are keyed by index (ints): write them as JSON keys.
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()

    @staticmethod
    def loads(text, **_kwargs):
        return orjson.loads(text)


@dataclass
class Dropping:
    """A refused binary packet whose announced attachments are still arriving (each dropped as it comes)."""

    kind: int
    namespace: str
    id: int | None
    event: str | None
    args: list
    left: int  # attachments still due
    received: int = 0  # bytes of them so far
    answered: bool = False  # its acknowledgement was sent already


class EngineLog(logging.LoggerAdapter):
    """python-engineio's logger (`engineio.server`). The library logs every packet at INFO: dropped. When a
    client sends a packet of a type Engine.IO does not have (`9`), `AsyncSocket.receive` fails on looking up
    its name (IndexError) and the read loop logs "Unknown receive error" with a traceback at ERROR and goes
    on: that is the client's bad input, logged as one WARNING. Any other error is logged as the library
    logs it (a bug in a handler, called inline, surfaces there). On WebSocket, wire.py's read loop checks the
    type before handing a packet to the library and logs that WARNING itself; this stays for what the library
    still reads (long-polling)."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("engineio.server"), {})

    def debug(self, msg, *args, **kwargs) -> None:
        pass

    def info(self, msg, *args, **kwargs) -> None:
        pass

    def exception(self, msg, *args, exc_info=True, **kwargs) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, IndexError) and _raised_in_receive(error):
            self.warning("an Engine.IO packet of an unknown type was ignored (%s)", error)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def _raised_in_receive(error: BaseException) -> bool:
    """Whether `error` was raised by python-engineio's `AsyncSocket.receive` itself (not by a handler it calls)."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].name == "receive" and frames[-1].filename.endswith("engineio/async_socket.py")


class ChatSocketServer(socketio.AsyncServer):
    """python-socketio's server with the adaptations listed above."""

    stats: dict[str, DialectStats] = {}  # by namespace, set by the gateway: every emit (to one connection) is counted

    def __init__(
        self, *, connect_timeout: float = 5.0, session_stats: SessionStats | None = None, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)
        self.connect_timeout = connect_timeout
        self.session_stats = session_stats or SessionStats()
        self.bindings: dict = {}  # namespace -> its Namespace (namespace.py), which registers itself
        self._dropping: dict[str, Dropping] = {}  # eio_sid -> the refused binary packet whose attachments arrive
        self._deadlines: dict[str, asyncio.TimerHandle] = {}  # eio_sid -> its close, while no namespace is connected
        self._tasks: set[asyncio.Task] = set()
        self._refusals_logged: dict[str, tuple[float, int]] = {}  # eio_sid -> (next line allowed at, refusals since)
        self.manager.bound = self._bound
        self.manager.unbound = self._unbound
        wire.install(self.eio)

    async def emit(self, event, *args, **kwargs):
        stats = self.stats.get(kwargs.get("namespace") or "/")
        if stats is not None:
            stats.sent_event(event)
        return await super().emit(event, *args, **kwargs)

    # -- Engine.IO sessions and their deadline to connect a namespace ------------------------------------

    async def _handle_eio_connect(self, eio_sid, environ):
        await super()._handle_eio_connect(eio_sid, environ)
        self._unbound(eio_sid)

    async def _handle_eio_disconnect(self, eio_sid, reason):
        await super()._handle_eio_disconnect(eio_sid, reason)
        self._dropping.pop(eio_sid, None)
        self._refusals_logged.pop(eio_sid, None)
        self._cancel_deadline(eio_sid)

    def _open_socket(self, eio_sid: str):
        socket = self.eio.sockets.get(eio_sid)
        return None if socket is None or socket.closing or socket.closed else socket

    def _unbound(self, eio_sid: str) -> None:
        """The session has no namespace connected (it opened, or left or was refused its last one)."""
        if eio_sid in self._deadlines or self._open_socket(eio_sid) is None:
            return
        loop = asyncio.get_running_loop()
        self._deadlines[eio_sid] = loop.call_later(self.connect_timeout, self._expire, eio_sid)
        self.session_stats.unbound_transports = len(self._deadlines)

    def _bound(self, eio_sid: str) -> None:
        """The session connected a namespace."""
        self._cancel_deadline(eio_sid)

    def _cancel_deadline(self, eio_sid: str) -> None:
        deadline = self._deadlines.pop(eio_sid, None)
        if deadline is not None:
            deadline.cancel()
            self.session_stats.unbound_transports = len(self._deadlines)

    def _expire(self, eio_sid: str) -> None:
        self._deadlines.pop(eio_sid, None)
        self.session_stats.unbound_transports = len(self._deadlines)
        if self._open_socket(eio_sid) is None:
            return
        self.session_stats.connect_timeouts += 1
        log.info("closing Engine.IO session %s: no Socket.IO namespace connected in time", eio_sid)
        task = asyncio.get_running_loop().create_task(self._close_engine(eio_sid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_engine(self, eio_sid: str) -> None:
        """Engine.IO's close: the disconnect handlers run, CLOSE follows what is queued, then (on a WebSocket) the
        writer closes the WebSocket itself instead of waiting for the client to."""
        socket = self._open_socket(eio_sid)
        if socket is None:
            return
        await socket.close(wait=False, reason=self.eio.reason.SERVER_DISCONNECT)
        wire.finish(socket)  # a WebSocket is closed after what precedes

    # -- packets -------------------------------------------------------------------------------------

    async def _handle_eio_message(self, eio_sid, data):
        if self._open_socket(eio_sid) is None:
            return  # read after the session was closed (a framing error, a timeout): dropped
        try:
            dropping = self._dropping.get(eio_sid)
            if dropping is not None:
                await self._attachment(eio_sid, dropping, data)
            elif not isinstance(data, str):
                await self._refuse(eio_sid, None, None, None, "a binary frame that no packet announced")
            else:
                await self._packet(eio_sid, data)
        except framing.FramingError as exc:
            await self._close(eio_sid, exc.namespace, str(exc))

    async def _packet(self, eio_sid: str, data: str) -> None:
        try:
            pkt = self.packet_class(encoded_packet=data)
        except ValueError as exc:
            await self._unreadable(eio_sid, data, exc)
            return
        kind = pkt.packet_type
        if kind == packet.CONNECT:
            # A connect being handled is not an idle session: it gets as long as signing in takes (a node under a
            # connect storm, a JWKS being fetched); the deadline is set again if it leaves no namespace connected.
            self._cancel_deadline(eio_sid)
            try:
                await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
            finally:
                if not self.manager.has_namespace(eio_sid):
                    self._unbound(eio_sid)
        elif kind == packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif kind == packet.EVENT:
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind == packet.ACK:
            if not isinstance(pkt.data, list):  # python-socketio calls the callback with *data
                await self._refuse(eio_sid, pkt.namespace, None, None, "an acknowledgement must hold an array")
                return
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind in framing.BINARY_TYPES:
            await self._binary(eio_sid, pkt)
        else:  # CONNECT_ERROR is the server's to send; any other type does not exist
            await self._refuse(eio_sid, pkt.namespace, None, None, MALFORMED)

    async def _unreadable(self, eio_sid: str, data: str, exc: ValueError) -> None:
        """A packet python-socketio cannot decode: a binary one closes the connection (its attachments cannot be
        told from what follows); an event is refused, acknowledged if it has an ack id; anything else gets the
        error event."""
        found = framing.header(data)
        namespace = found.namespace if found is not None else None
        if framing.is_binary(data):
            reason = f"an unreadable binary packet header ({exc}): its attachments cannot be followed"
            raise framing.FramingError(reason, namespace)
        if found is None or found.packet_type != packet.EVENT:
            await self._refuse(eio_sid, namespace, None, None, MALFORMED)
            return
        event = framing.event_name(found.data) if found.id is not None else None
        await self._refuse(eio_sid, namespace, event, found.id, f"the event's data is not valid JSON: {exc}")

    async def _handle_event(self, eio_sid, namespace, id, data):
        # An event is `[name, ...args]` with a string name; python-socketio indexes it unchecked.
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            await self._refuse(eio_sid, namespace, None, id, NOT_AN_EVENT)
            return
        await super()._handle_event(eio_sid, namespace, id, data)

    async def _handle_event_internal(self, server, sid, eio_sid, data, namespace, id):
        ACK_WANTED.set(id is not None)
        if data[0] in self.reserved_events:
            # `connect` and `disconnect` name the server's own handlers: from a client they are unknown events.
            answer = await self.handlers[namespace or "/"]["*"](data[0], sid, *data[1:])
            if id is not None:
                await self._send_packet(
                    eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=id, data=[answer])
                )
            return
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)

    # -- binary packets: refused, their attachments dropped ------------------------------------------

    async def _binary(self, eio_sid: str, pkt: packet.Packet) -> None:
        namespace = pkt.namespace or "/"
        try:
            framing.check_binary(pkt)
        except framing.FramingError as exc:
            raise framing.FramingError(str(exc), namespace) from None
        data = pkt.data
        named = isinstance(data, list) and data and isinstance(data[0], str)
        event = data[0] if named and pkt.packet_type == packet.BINARY_EVENT else None
        args = list(data[1:]) if named else []
        dropping = Dropping(pkt.packet_type, namespace, pkt.id, event, args, left=pkt.attachment_count)
        self._dropping[eio_sid] = dropping
        if pkt.packet_type == packet.BINARY_EVENT and pkt.id is not None:
            # The client awaits the acknowledgement: answered now, the attachments dropped as they come.
            dropping.answered = True
            await self._refuse(eio_sid, namespace, event, pkt.id, NO_BINARY, args)

    async def _attachment(self, eio_sid: str, dropping: Dropping, data: object) -> None:
        if isinstance(data, str):
            raise framing.FramingError(
                f"a text packet arrived where a binary attachment was due ({dropping.left} more announced)",
                dropping.namespace,
            )
        dropping.left -= 1
        dropping.received += len(data)
        if dropping.received > self.eio.max_http_buffer_size:
            raise framing.FramingError(
                f"a packet's binary attachments may total at most {self.eio.max_http_buffer_size} bytes",
                dropping.namespace,
            )
        if dropping.left > 0:
            return
        del self._dropping[eio_sid]
        if not dropping.answered:  # told once the packet is whole: a packet broken on the way gets one reason
            await self._refuse(eio_sid, dropping.namespace, dropping.event, None, NO_BINARY, dropping.args)

    # -- refusals and closes, in the namespace's own words -------------------------------------------

    def _speaker(self, eio_sid: str, namespace: str | None) -> tuple[object | None, str | None, str]:
        """(binding, sid, namespace) of the namespace that answers for a packet: its own when connected, else
        `/`, else any namespace the session has connected; (None, None, "/") when it has none."""
        candidates = [namespace or "/", "/", *self.bindings]
        for candidate in candidates:
            binding = self.bindings.get(candidate)
            sid = self.manager.sid_from_eio_sid(eio_sid, candidate) if binding is not None else None
            if sid is not None and self.manager.is_connected(sid, candidate):
                return binding, sid, candidate
        return None, None, "/"

    async def _refuse(
        self, eio_sid: str, namespace: str | None, event: str | None, id: int | None, message: str, args=None
    ) -> None:
        """Refuse a packet with `invalid_payload`: its acknowledgement when it has an ack id and its namespace
        is connected (in that namespace's words), else the error event of the namespace answering for it."""
        self._log_refusal(eio_sid, message)
        error = ChatError(Code.INVALID_PAYLOAD, message)
        binding, sid, speaker = self._speaker(eio_sid, namespace)
        ack = id is not None and speaker == (namespace or "/")
        if binding is None:  # no session: the canonical words, on `/`
            record = {"code": error.code.value, "message": message, "event": None}
            stats = self.stats.get("/")
            if stats is not None:
                stats.sent_event("error")
            await self._send_packet(eio_sid, self.packet_class(packet.EVENT, namespace="/", data=["error", record]))
            return
        answer = await binding.refuse(sid, event if ack or id is None else None, error, args or [], ack=ack)
        if ack:
            ack_packet = self.packet_class(
                packet.ACK, namespace=speaker, id=id, data=[] if answer is None else [answer]
            )
            await self._send_packet(eio_sid, ack_packet)

    def _log_refusal(self, eio_sid: str, message: str) -> None:
        """One WARNING line per Engine.IO session every REFUSAL_LOG_INTERVAL seconds at most, saying how many
        refusals it stands for: a client looping bad packets (bounded by its event budget) cannot flood the
        log, and each refusal is still counted in `chat_refusals_total`."""
        now = time.monotonic()
        allowed_at, since = self._refusals_logged.get(eio_sid, (0.0, 0))
        if now < allowed_at:
            self._refusals_logged[eio_sid] = (allowed_at, since + 1)
            return
        more = f" ({since} more refused since the last line)" if since else ""
        log.warning("refused a Socket.IO packet from %s: %s%s", eio_sid, message, more)
        self._refusals_logged[eio_sid] = (now + REFUSAL_LOG_INTERVAL, 0)

    async def _close(self, eio_sid: str, namespace: str | None, reason: str) -> None:
        """A framing error the stream cannot recover from: the reason in the namespace's error event, Socket.IO's
        DISCONNECT for each namespace (no reconnection loop), then Engine.IO's close."""
        log.warning("closing Engine.IO session %s: %s", eio_sid, reason)
        self._dropping.pop(eio_sid, None)
        error = ChatError(Code.INVALID_PAYLOAD, f"{reason}; the connection is closed")
        binding, sid, _speaker = self._speaker(eio_sid, namespace)
        if binding is None:
            record = {"code": error.code.value, "message": error.message, "event": None}
            await self._send_packet(eio_sid, self.packet_class(packet.EVENT, namespace="/", data=["error", record]))
        else:
            binding.notice(sid, error)
        for connected in list(self.manager.get_namespaces()):
            sid = self.manager.sid_from_eio_sid(eio_sid, connected)
            if sid is not None and self.manager.is_connected(sid, connected):
                await self.disconnect(sid, namespace=connected)
        await self._close_engine(eio_sid)
