"""A minimal Socket.IO client for load generation: Engine.IO v4 over one WebSocket.

python-socketio's client spends more CPU per event than the server does,
so a benchmark driven by it measures the client. This one speaks just
what the benchmark needs (connect with auth, emit with acknowledgement,
answer pings) and counts `message:new` frames without decoding them.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp
import orjson


class LeanClient:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._acks: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self.delivered = 0
        self.last_delivery = 0.0
        self.counting = False

    async def connect(self, token: str) -> None:
        self._ws = await self._session.ws_connect(self._url, max_msg_size=0)
        opening = await self._ws.receive()
        assert opening.data.startswith("0"), opening.data
        await self._ws.send_str("40" + orjson.dumps({"token": token}).decode())
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._connected.wait(), 20)

    async def call(self, event: str, data: dict) -> object:
        ack_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        await self._ws.send_str(f"42{ack_id}" + orjson.dumps([event, data]).decode())
        return await asyncio.wait_for(future, 30)

    async def _read(self) -> None:
        async for frame in self._ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            text: str = frame.data
            if text.startswith("42"):
                self.on_event(text)
            elif text.startswith("43"):
                head, _, body = text[2:].partition("[")
                future = self._acks.pop(int(head), None)
                if future is not None and not future.done():
                    future.set_result(orjson.loads("[" + body)[0])
            elif text == "2":
                await self._ws.send_str("3")
            elif text.startswith("40"):
                self._connected.set()
            elif text.startswith("44"):
                raise ConnectionError(text)

    def on_event(self, text: str) -> None:
        """An event frame (`42[...]`), undecoded: counts `message:new` deliveries."""
        if self.counting and text.startswith('42["message:new"'):
            self.delivered += 1
            self.last_delivery = time.time()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
