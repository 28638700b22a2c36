"""Socket.IO written by hand over an aiohttp WebSocket, for frames a well-behaved client never sends."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp

from tests.realtime.timing import WAIT


class RawSocket:
    """Socket.IO spoken by hand over an aiohttp WebSocket, for frames a well-behaved client never sends."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._session = session
        self.ws = ws
        self.events: list[tuple[str, object]] = []

    @classmethod
    async def open(cls, node, user: str) -> RawSocket:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT))
        ws = await session.ws_connect(node.url.rstrip("/") + "/socket.io/?EIO=4&transport=websocket")
        raw = cls(session, ws)
        opened = await raw.frame()
        assert opened.startswith("0"), opened
        await ws.send_str("40" + json.dumps({"token": node.token(user)}))
        connected = await raw.frame()
        assert connected.startswith("40"), connected
        await raw.event("session:ready")
        return raw

    async def frame(self, timeout: float = WAIT) -> str:
        """The next Engine.IO text frame (answering pings on the way)."""
        while True:
            message = await asyncio.wait_for(self.ws.receive(), timeout)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"the socket delivered {message.type.name} ({self.ws.close_code})")
            if message.data == "2":
                await self.ws.send_str("3")
                continue
            return message.data

    async def event(self, name: str, timeout: float = WAIT) -> object:
        """The next Socket.IO event `name` (earlier other events are kept in `events`)."""
        while True:
            frame = await self.frame(timeout)
            if frame.startswith("42"):
                event, *args = json.loads(frame[2:])
                self.events.append((event, args[0] if args else None))
                if event == name:
                    return args[0] if args else None

    async def ack(self, ack_id: int, timeout: float = WAIT) -> object:
        """The acknowledgement `ack_id` (`43<id>[...]`)."""
        prefix = f"43{ack_id}"
        while True:
            frame = await self.frame(timeout)
            if frame.startswith(prefix) and frame[len(prefix) : len(prefix) + 1] == "[":
                return json.loads(frame[len(prefix) :])[0]
            if frame.startswith("42"):
                event, *args = json.loads(frame[2:])
                self.events.append((event, args[0] if args else None))

    async def send(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        await self._session.close()
