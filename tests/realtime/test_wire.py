"""Engine.IO's WebSocket transport as app/gateways/socketio/wire.py serves it, on a real node and real sockets:
no compression, every frame a connection is given in one turn of the event loop in one write and in order, and
frames held while the peer does not read, then written in order once it does."""

from __future__ import annotations

import asyncio
import json

from engineio import packet as eio_packet

from app.gateways.socketio import wire
from app.web import SERVICES
from tests.realtime.conftest import eventually
from tests.realtime.raw import RawSocket
from tests.realtime.test_slow_consumer import StalledClient


def only_socket(node) -> wire.WireSocket:
    [socket] = node.app[SERVICES].socketio.sio.eio.sockets.values()
    return socket


def numbered(i: int, pad: int = 0) -> eio_packet.Packet:
    return eio_packet.Packet(eio_packet.MESSAGE, data=f'2["probe",{i},"{"x" * pad}"]')


class CountingStream:
    """aiohttp's stream writer of one connection, counting the writes to its transport."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.writes: list[bytes] = []

    @property
    def transport(self):
        return self

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self._stream.transport.write(data)

    def __getattr__(self, name):
        return getattr(self._stream.transport, name)

    async def drain(self) -> None:
        await self._stream.drain()


async def test_a_websocket_connection_is_served_by_the_lean_transport_without_compression(spawn, user_id):
    node = await spawn()
    raw = await RawSocket.open(node, user_id("alice"))
    try:
        # aiohttp's client offers permessage-deflate by default; the server does not take it.
        assert raw.ws.compress == 0
        assert isinstance(only_socket(node), wire.WireSocket)
    finally:
        await raw.close()


async def test_the_frames_a_connection_is_given_in_one_turn_go_out_in_one_write_and_in_order(spawn, user_id):
    node = await spawn()
    raw = await RawSocket.open(node, user_id("alice"))
    try:
        socket = only_socket(node)
        counting = CountingStream(socket.out._stream)
        socket.out._stream = counting
        for i in range(20):  # the session layer's frames and the libraries' packets, interleaved
            wire.push(socket, numbered(i))
            await socket.send(numbered(100 + i))
        received = []
        while len(received) < 40:
            frame = await raw.frame()
            if frame.startswith('42["probe"'):
                received.append(json.loads(frame[2:])[1])
        assert received == [n for i in range(20) for n in (i, 100 + i)]
        assert len(counting.writes) == 1
        # A packet handed to several connections is framed once: the same bytes object each time.
        shared = numbered(7)
        assert wire.frame_bytes(shared) is wire.frame_bytes(shared)
    finally:
        await raw.close()


async def test_frames_wait_while_the_peer_does_not_read_and_go_out_in_order_once_it_does(spawn, user_id, token):
    node = await spawn()
    client = await StalledClient.open(node.url, token(user_id("alice")))
    try:
        socket = only_socket(node)
        count = 300
        for i in range(count):
            wire.push(socket, numbered(i, pad=4000))  # 1.2 MB: more than the TCP buffers hold
        await eventually(lambda: wire.backlog(socket) > 0, what="frames to wait for the peer")
        received = []
        while len(received) < count:
            frame = await client.frame()
            if frame == "2":
                await client.send("3")
                continue
            if frame.startswith('42["probe"'):
                received.append(json.loads(frame[2:])[1])
        assert received == list(range(count))
        assert wire.backlog(socket) == 0
    finally:
        client.close()
        await asyncio.sleep(0)
