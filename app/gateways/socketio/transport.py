"""A Socket.IO connection as the session layer's transport: frames go straight to its Engine.IO socket (on
WebSocket, written at the end of the loop's turn by wire.py; on polling, onto python-engineio's queue), with no
task per frame; python-socketio's `emit` makes one per recipient."""

from __future__ import annotations

import asyncio

import socketio

from app.gateways.socketio import wire

DRAIN_WRITE_GRACE = 0.05  # seconds a stopping node lets its writers send the last frames before closing


class SioTransport:
    """One Socket.IO connection's Engine.IO socket, as the session layer's transport."""

    __slots__ = ("_out", "_sio", "eio_sid", "namespace", "sid")

    def __init__(self, sio: socketio.AsyncServer, sid: str, eio_sid: str, namespace: str) -> None:
        self._sio = sio
        self.sid = sid
        self.eio_sid = eio_sid
        self.namespace = namespace
        self._out: wire.Outgoing | None = None  # the WebSocket's, once the connection is on one: the fast path

    def _socket(self):
        socket = self._sio.eio.sockets.get(self.eio_sid)
        return None if socket is None or socket.closed else socket

    def send(self, frame: object) -> bool:
        out = self._out
        if out is not None:
            return out.push(frame)
        socket = self._socket()
        if socket is None:
            return False
        if isinstance(socket, wire.WireSocket):
            self._out = socket.out
        wire.push(socket, frame)
        return True

    def backlog(self) -> int:
        out = self._out
        if out is not None:
            return out.backlog()
        socket = self._socket()
        return 0 if socket is None else wire.backlog(socket)

    def cut(self) -> None:
        socket = self._socket()
        if socket is None:
            return
        wire.drop(socket)  # what it has not read is dropped: after reconnecting it catches up by seq
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
        await self._sio.disconnect(self.sid, namespace=self.namespace)

    async def shutdown(self, notice: object | None) -> None:
        """Engine.IO's close (the disconnect handler runs, the CLOSE packet follows what was queued), then the
        TCP connection itself: a stopping aiohttp server reads nothing more, so it would never see the
        client's WebSocket close frame, and the close handshake would wait out its timeout. Closed as a lost
        transport, not a Socket.IO disconnect, so that standard clients reconnect by themselves (every namespace
        the client has on this connection goes with it)."""
        if notice is not None:
            self.send(notice)
        await self._sio.eio.disconnect(self.eio_sid)
        await asyncio.sleep(DRAIN_WRITE_GRACE)  # the writer hands the last frames to the transport
        self._abort_tcp(graceful=True)  # sends what is buffered, then FIN
