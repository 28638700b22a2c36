"""A minimal Socket.IO client for load generation: Engine.IO v4 over one WebSocket.

python-socketio's client spends more CPU per event than the server does,
so a benchmark driven by it measures the client. This one speaks just
what the benchmark needs (connect with auth, emit with acknowledgement,
answer pings) and counts `message:new` frames without decoding them.

`LeanClient(session, url, namespace="/chat", event="receive-message")` connects one namespace other than
`/` instead (the only one on its Engine.IO connection: `40/chat,{auth}`, events `42/chat,…`, acks
`43/chat,<id>[…]`) and counts that event's frames; `connect(auth, query)` takes the connect payload (a
token alone stands for `{"token": token}`) and Engine.IO query parameters (seed 001 reads `userId` and
`token` there). The default namespace's frames are told apart exactly as before, by the same prefixes.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from urllib.parse import urlencode

import aiohttp
import orjson


class LeanClient:
    def __init__(
        self, session: aiohttp.ClientSession, url: str, namespace: str = "/", event: str = "message:new"
    ) -> None:
        self._session = session
        self._url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        # A packet of a namespace other than `/` carries it, then a comma, after its type digit.
        self._nsp = "" if namespace == "/" else namespace + ","
        self._event = "42" + self._nsp  # an event (or a call with an ack id, which the server does not make)
        self._ack = "43" + self._nsp
        self._marker = f'42{self._nsp}["{event}"'  # the opening of a counted frame
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._acks: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self.delivered = 0
        self.last_delivery = 0.0
        self.counting = False
        self.refused: str | None = None  # the connect_error packet, if the namespace refused us

    async def connect(self, auth: str | dict, query: dict | None = None) -> None:
        """Open the namespace with `auth` as the connect payload (a string: `{"token": auth}`)."""
        url = self._url + ("&" + urlencode(query) if query else "")
        self._ws = await self._session.ws_connect(url, max_msg_size=0)
        opening = await self._ws.receive()
        assert opening.data.startswith("0"), opening.data
        payload = {"token": auth} if isinstance(auth, str) else auth
        await self._ws.send_str("40" + self._nsp + orjson.dumps(payload).decode())
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._connected.wait(), 20)
        if self.refused is not None:
            raise ConnectionError(f"refused at connect: {self.refused}")

    async def call(self, event: str, data: object) -> object:
        ack_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        await self._ws.send_str(f"{self._event}{ack_id}" + orjson.dumps([event, data]).decode())
        return await asyncio.wait_for(future, 30)

    async def _read(self) -> None:
        event, ack, skip = self._event, self._ack, len(self._ack)
        connect, refused = "40" + self._nsp, "44" + self._nsp
        async for frame in self._ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            text: str = frame.data
            if text.startswith(event):
                self.on_event(text)
            elif text.startswith(ack):
                head, _, body = text[skip:].partition("[")
                future = self._acks.pop(int(head), None)
                if future is not None and not future.done():
                    future.set_result(orjson.loads("[" + body)[0])
            elif text == "2":
                await self._ws.send_str("3")
            elif text.startswith(connect):
                self._connected.set()
            elif text.startswith(refused):
                self.refused = text
                self._connected.set()  # connect() reports it
                raise ConnectionError(text)

    def on_event(self, text: str) -> None:
        """An event frame (`42[...]`), undecoded: counts the counted event's deliveries (`message:new`)."""
        if self.counting and text.startswith(self._marker):
            self.delivered += 1
            self.last_delivery = time.time()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
