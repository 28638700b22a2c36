"""A connection that stops reading cannot make a node buffer for it without bound.

The stalled client here is a raw TCP socket with a small receive buffer that
does the WebSocket handshake and the Socket.IO connect by hand, joins a room,
then never reads again, as a frozen phone or a dead network would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from urllib.parse import urlsplit

from tests.realtime.conftest import eventually

CONTENT = "x" * 3900  # large frames fill the socket buffers quickly


class StalledClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str, token: str) -> StalledClient:
        parts = urlsplit(url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b" 101 " in response.split(b"\r\n")[0], response
        client = cls(reader, writer)
        assert (await client.frame()).startswith("0")
        await client.send("40" + json.dumps({"token": token}))
        assert (await client.frame()).startswith("40")
        return client

    async def frame(self) -> str:
        """One text frame from the server (server frames are not masked)."""
        head = await asyncio.wait_for(self.reader.readexactly(2), 5)
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return (await asyncio.wait_for(self.reader.readexactly(length), 5)).decode()

    async def send(self, text: str) -> None:
        """One masked text frame, as a client must send."""
        data = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(data) < 126:
            header += bytes([0x80 | len(data)])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(data))
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        await self.writer.drain()

    async def call(self, event: str, data: dict, ack_id: int) -> object:
        await self.send(f"42{ack_id}" + json.dumps([event, data]))
        prefix = f"43{ack_id}["
        while True:
            frame = await self.frame()
            if frame == "2":
                await self.send("3")
            elif frame.startswith(prefix):
                return json.loads(frame[len(prefix) - 1 :])[0]

    async def cut_off(self) -> bool:
        """Read on until the server closes the connection; True if it did within 10 s."""
        try:
            async with asyncio.timeout(10):
                while await self.reader.read(65536):
                    pass
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.writer.close()


async def test_a_connection_that_stops_reading_is_cut_off_and_the_others_get_everything(spawn, user_id, token):
    node = await spawn(MAX_PENDING_FRAMES=50)
    alice, stalled_user, carol = user_id("alice"), user_id("stalled"), user_id("carol")
    room_id = await node.rest.create_room(alice, stalled_user, carol)

    stalled = await StalledClient.open(node.url, token(stalled_user))
    joined = await stalled.call("room:join", {"room_id": room_id}, ack_id=1)
    assert joined["ok"], joined
    reader = await node.connect(carol)
    await reader.join(room_id)
    sender = await node.connect(alice)
    before = node.hub.connection_count

    count = 1500
    for n in range(count):
        assert (await sender.send(room_id, f"{n} {CONTENT}"))["ok"]

    await eventually(lambda: node.hub.connection_count == before - 1, what="the stalled connection to be cut off")
    assert await stalled.cut_off(), "the server kept the stalled connection open"
    stalled.close()
    await eventually(lambda: len(reader.messages(room_id)) == count, what="the reader to get every message")
    assert reader.seqs(room_id) == list(range(1, count + 1))
