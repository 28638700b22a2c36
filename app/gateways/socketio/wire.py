"""Engine.IO's WebSocket transport, lean: what python-engineio's `AsyncSocket._websocket_handler` and its aiohttp
driver do for a WebSocket connection, without a task and a `wait_for` per incoming packet, and with every frame a
connection is due in one turn of the event loop written to its TCP connection in one call.

- **Reading.** One loop per connection awaits aiohttp's `receive()` and hands a MESSAGE packet (`4...`) straight
  to the Socket.IO server's handler; the library made a task and a `wait_for` for each packet and tried each
  message as JSON first. A client that goes silent is found by Engine.IO's own ping timeout (the server's
  service task checks every socket), which sends CLOSE; the writer then closes the WebSocket, which ends the
  read. An Engine.IO packet that cannot be read, or of a type the protocol does not have, is logged as one
  WARNING line and ignored, as before (engine.EngineLog).
- **Writing.** A packet for the connection, from the session layer (`push`) or from the libraries (`send`: ACKs,
  CONNECT, PING, CLOSE), is turned into its WebSocket frame once, cached on the packet (the session layer hands
  the same packet object to every recipient of an event in one dialect), and appended to the connection's
  pending bytes. At the end of the loop's turn one callback writes each connection's pending frames with a
  single `transport.write`: no writer task per connection, no task switch per frame, one system call per
  connection per turn instead of one per frame. Order is kept: every frame of a connection goes through the same
  list once it is on WebSocket.
- **Back-pressure.** While a connection's TCP buffer is above its high-water mark, its frames wait in its pending
  list (its `backlog()`, which the session layer cuts at MAX_PENDING_FRAMES) and one task waits for the buffer
  to drain.
- **No compression.** permessage-deflate is not negotiated (as Node's socket.io by default): frames are built
  here, once per event, and compressing each for each recipient would cost more than the bytes it saves on a
  LAN or a data centre link.

A polling connection is unchanged: it uses the socket's queue as python-engineio does, until it upgrades. What of
the libraries this relies on (the driver's place in `server._async`, `AsyncSocket._upgrade_websocket` passing its
bound `_websocket_handler`, `AsyncSocket.receive`, `close`, `check_ping_timeout`, and aiohttp's
`WebSocketResponse.prepare` returning the stream writer) is guarded by tests/realtime/test_library_pins.py under
the exact pins of requirements.txt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import WSMsgType
from aiohttp.web import WebSocketResponse
from engineio import async_socket, exceptions
from engineio import packet as eio_packet

log = logging.getLogger(__name__)

_TEXT, _BINARY = 0x81, 0x82  # FIN + opcode
_KNOWN_TYPES = range(len(eio_packet.packet_names))
_ENDING: set[asyncio.Future] = set()  # sessions being ended, held until they are


def frame_bytes(pkt: eio_packet.Packet) -> bytes:
    """The packet as one unmasked WebSocket frame (server to client), built once and cached on the packet."""
    cached = pkt.__dict__.get("wire")
    if cached is not None:
        return cached
    encoded = pkt.encode()
    if isinstance(encoded, str):
        payload, opcode = encoded.encode(), _TEXT
    else:
        payload, opcode = bytes(encoded), _BINARY
    size = len(payload)
    if size < 126:
        head = bytes((opcode, size))
    elif size < 65536:
        head = bytes((opcode, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((opcode, 127)) + size.to_bytes(8, "big")
    cached = pkt.wire = head + payload
    return cached


class Flusher:
    """Writes, once per turn of the event loop, the frames each connection was given during it."""

    __slots__ = ("_due", "_scheduled")

    def __init__(self) -> None:
        self._due: list[Outgoing] = []
        self._scheduled = False

    def due(self, out: Outgoing) -> None:
        self._due.append(out)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        due, self._due = self._due, []
        self._scheduled = False
        for out in due:
            out.flush()


class Outgoing:
    """One WebSocket connection's frames on their way out."""

    __slots__ = ("_closed", "_closer", "_draining", "_ending", "_flusher", "_pending", "_stream", "_ws")

    def __init__(self, ws: WebSocketResponse, stream, flusher: Flusher) -> None:
        self._ws = ws
        self._stream = stream  # aiohttp's stream writer: its transport, and `drain()` for back-pressure
        self._flusher = flusher
        self._pending: list[bytes] | None = None
        self._draining: asyncio.Task | None = None
        self._ending = False  # once what is pending is written, close the WebSocket
        self._closer: asyncio.Task | None = None
        self._closed = False  # dropped or closing: nothing more is written

    def push(self, pkt: eio_packet.Packet) -> bool:
        """Queue the packet's frame; False once the connection is dropped or closing."""
        if self._closed:
            return False
        data = frame_bytes(pkt)
        if self._pending is None:
            self._pending = [data]
            if self._draining is None:
                self._flusher.due(self)
        else:
            self._pending.append(data)
        return True

    def backlog(self) -> int:
        """Frames waiting to be written (they wait only while the connection's TCP buffer is full)."""
        return 0 if self._pending is None else len(self._pending)

    def flush(self) -> None:
        if self._draining is not None:
            return  # the drain flushes when the buffer is below its mark again
        if self._closed:
            if self._ending:
                self._close()
            return
        transport = self._stream.transport
        if transport is None or transport.is_closing():
            self._pending = None
            self._closed = True
            self._close()
            return
        pending = self._pending
        if pending is not None:
            self._pending = None
            transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
            if transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]:
                self._draining = asyncio.get_running_loop().create_task(self._drain())
                return
        if self._ending:
            self._close()

    async def _drain(self) -> None:
        try:
            await self._stream.drain()
        except Exception:  # the connection is gone: what waits is dropped
            self._pending = None
            self._ending = True
        self._draining = None
        self.flush()

    def finish(self) -> None:
        """Write what is pending, then close the WebSocket (Engine.IO's CLOSE was sent, or the session ended)."""
        if self._ending:
            return
        self._ending = True
        if self._closed:
            self._close()
        elif self._pending is None and self._draining is None:
            self._flusher.due(self)

    def drop(self) -> None:
        """Discard what is pending and write nothing more (the connection is being aborted)."""
        self._pending = None
        self._closed = True

    def _close(self) -> None:
        self._closed = True
        if self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(self._ws.close())

    async def wait_closed(self) -> None:
        self.finish()
        while self._closer is None:  # flushed now rather than at the end of the turn; a full buffer drains first
            if self._draining is not None:
                await asyncio.wait({self._draining})
            else:
                self.flush()
        await asyncio.wait({self._closer})


class WireSocket(async_socket.AsyncSocket):
    """An Engine.IO socket whose WebSocket frames go out through `Outgoing`. The socket becomes one when its
    WebSocket is open (a polling socket keeps python-engineio's class and queue until it upgrades)."""

    out: Outgoing

    async def send(self, pkt):
        if not await self.check_ping_timeout():
            return
        self.out.push(pkt)
        if pkt.packet_type == eio_packet.CLOSE:
            self.out.finish()


def push(socket: async_socket.AsyncSocket, frame: eio_packet.Packet) -> None:
    """Queue a frame for an Engine.IO socket, whichever its transport."""
    if isinstance(socket, WireSocket):
        socket.out.push(frame)
    else:
        socket.queue.put_nowait(frame)


def backlog(socket: async_socket.AsyncSocket) -> int:
    return socket.out.backlog() if isinstance(socket, WireSocket) else socket.queue.qsize()


def drop(socket: async_socket.AsyncSocket) -> None:
    """Discard what has not been written yet."""
    if isinstance(socket, WireSocket):
        socket.out.drop()
        return
    while True:
        try:
            socket.queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        socket.queue.task_done()


def finish(socket: async_socket.AsyncSocket) -> None:
    """Close the socket's WebSocket after what is queued for it (a polling socket has none to close)."""
    if isinstance(socket, WireSocket):
        socket.out.finish()


def install(eio_server) -> None:
    """Serve the Engine.IO server's WebSocket connections with this module instead of python-engineio's handler
    (its aiohttp driver, `_async['websocket']`, is replaced for this server only)."""
    flusher = Flusher()

    def driver(handler: Callable, server) -> WebSocketDriver:
        return WebSocketDriver(handler, server, flusher)

    eio_server._async = {**eio_server._async, "websocket": driver}


class WebSocketDriver:
    """Stands where python-engineio's aiohttp `WebSocket` driver stood: called with the request's environ by
    `AsyncSocket._upgrade_websocket`, it answers the upgrade and serves the connection."""

    def __init__(self, handler: Callable, server, flusher: Flusher) -> None:
        self.socket: async_socket.AsyncSocket = handler.__self__  # the socket whose `_websocket_handler` it was
        self.server = server
        self.flusher = flusher

    async def __call__(self, environ: dict) -> WebSocketResponse:
        ws = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        stream = await ws.prepare(environ["aiohttp.request"])
        await serve(self.socket, ws, stream, self.flusher)
        return ws


async def serve(socket: async_socket.AsyncSocket, ws: WebSocketResponse, stream, flusher: Flusher) -> None:
    if socket.connected:  # a polling session upgrading: the probe, then UPGRADE
        if not await _upgrade(socket, ws):
            return
    else:
        socket.connected = True
        socket.upgraded = True
    out = Outgoing(ws, stream, flusher)
    queued = []
    while not socket.queue.empty():  # OPEN (a new session), or what was queued while the upgrade went on
        pkt = socket.queue.get_nowait()
        socket.queue.task_done()
        queued.append(pkt)
    socket.__class__ = WireSocket
    socket.out = out
    for pkt in queued:
        if pkt is None:
            out.finish()
        else:
            out.push(pkt)
    try:
        await _read(socket, ws)
    finally:
        # The session ends even when the request's task is cancelled (aiohttp cancels it when the client is gone).
        ending = asyncio.ensure_future(_end(socket, out))
        _ENDING.add(ending)
        ending.add_done_callback(_ENDING.discard)
        await asyncio.shield(ending)


async def _end(socket: WireSocket, out: Outgoing) -> None:
    await out.wait_closed()
    await socket.close(wait=False, abort=True, reason=socket.server.reason.TRANSPORT_CLOSE)


async def _upgrade(socket: async_socket.AsyncSocket, ws: WebSocketResponse) -> bool:
    """python-engineio's upgrade from polling: PING `probe` answered by PONG `probe`, the pending poll ended with
    a NOOP, then the client's UPGRADE. Packets sent meanwhile wait in the socket's queue."""
    socket.upgrading = True
    probe = await ws.receive()
    if probe.type is not WSMsgType.TEXT or probe.data != "2probe":
        socket.server.logger.info("%s: Failed websocket upgrade, no PING packet", socket.sid)
        socket.upgrading = False
        return False
    await ws.send_str("3probe")
    await socket.queue.put(eio_packet.Packet(eio_packet.NOOP))  # ends the pending poll
    upgrade = await ws.receive()
    socket.upgrading = False
    if upgrade.type is not WSMsgType.TEXT or upgrade.data != "5":
        socket.server.logger.info("%s: Failed websocket upgrade, expected UPGRADE packet", socket.sid)
        return False
    socket.upgraded = True
    return True


async def _read(socket: WireSocket, ws: WebSocketResponse) -> None:
    server = socket.server
    sid = socket.sid
    on_message = server.handlers.get("message")
    while True:
        msg = await ws.receive()
        data = msg.data
        if msg.type is WSMsgType.TEXT:
            if data[:1] == "4" and on_message is not None:  # a Socket.IO packet: the common case
                try:
                    await on_message(sid, data[1:])
                except Exception:
                    log.exception("handling a Socket.IO packet failed")
                continue
        elif msg.type is not WSMsgType.BINARY:
            return  # closed, closing or broken
        try:
            pkt = eio_packet.Packet(encoded_packet=data)
        except ValueError as exc:
            log.warning("an Engine.IO packet that cannot be read was ignored (%s)", exc)
            continue
        if pkt.packet_type not in _KNOWN_TYPES:
            log.warning("an Engine.IO packet of an unknown type was ignored (%s)", pkt.packet_type)
            continue
        try:
            await socket.receive(pkt)
        except exceptions.UnknownPacketError:
            pass  # a client's PING or NOOP: nothing to do
        except exceptions.SocketIsClosedError:
            return
        except Exception:
            log.exception("handling an Engine.IO packet failed")
