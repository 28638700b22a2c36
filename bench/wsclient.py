"""A minimal raw JSON WebSocket client for load generation: it connects, only receives, and counts.

The counterpart of `bench.sioclient.LeanClient` for the raw WebSocket dialects: it counts the frames
that stand for a delivered message without decoding them (the node encodes each frame with orjson,
so a frame's first key comes first), and answers the node's WebSocket pings (aiohttp's autopong).

- `fastapi` (seed 004): `/ws/{user_id}?token=…`, follows every room of the user with no join;
  counts `{"event":"new_message",…}`.
- `django-notifications` (seed 003): `/ws/notifications/?token=…` (the token carries the `username`
  claim); counts `{"type":"new_message_notification"}`, one per message from someone else. Its
  `unread_count` frames, one more per message, are read but not counted.

`PhoenixClient` speaks seed 000's Phoenix Channels (`/socket/websocket?token=…&vsn=2.0.0`, V2 JSON frames
`[join_ref, ref, topic, event, payload]`) and, unlike `RawClient`, sends: it joins `chat:<room_id>` and
pushes `send_message`, whose `phx_reply` is the acknowledgement. It counts `receive_message` broadcasts
(null join_ref; the node does not echo a connection's own messages to it) without decoding them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from urllib.parse import quote

import aiohttp
import orjson

# dialect -> (path of the socket for a user, prefix of a delivered message's frame)
DIALECTS: dict[str, tuple[str, str]] = {
    "fastapi": ("/ws/{user}", '{"event":"new_message",'),
    "django-notifications": ("/ws/notifications/", '{"type":"new_message_notification"'),
}
# The frame each dialect sends first, once the session is open (None: nothing is sent unprompted).
OPENING: dict[str, str | None] = {
    "fastapi": None,
    "django-notifications": '{"type":"unread_count"',
}


class RawClient:
    def __init__(self, session: aiohttp.ClientSession, url: str, dialect: str) -> None:
        path, self._marker = DIALECTS[dialect]
        self.dialect = dialect
        self._session = session
        self._base = url.replace("http", "ws", 1)
        self._path = path
        self._opening = OPENING[dialect]
        self._opened = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None
        self._closing = False
        self.delivered = 0
        self.last_delivery = 0.0
        self.counting = False
        self.closed_early: int | None = None  # the close code, if the node closed the socket before we did
        self.error: str | None = None  # the last error frame received

    async def connect(self, user: str, token: str) -> None:
        url = self._base + self._path.format(user=quote(user, safe="")) + "?token=" + quote(token, safe="")
        self._ws = await self._session.ws_connect(url, max_msg_size=0, autoping=True)
        self._reader = asyncio.create_task(self._read())
        if self._opening is None:
            self._opened.set()  # the session opened (and followed its rooms) before the upgrade was answered
        await asyncio.wait_for(self._opened.wait(), 20)
        if self.closed_early is not None:
            raise ConnectionError(
                f"{self.dialect} socket of {user} refused: close code {self.closed_early} {self.error or ''}"
            )

    async def _read(self) -> None:
        ws = self._ws
        marker = self._marker
        try:
            async for frame in ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    continue
                text: str = frame.data
                if text.startswith(marker):
                    if self.counting:
                        self.delivered += 1
                        self.last_delivery = time.time()
                elif not self._opened.is_set() and text.startswith(self._opening):
                    self._opened.set()
                elif text.startswith(('{"type":"error"', '{"event":"error"')):
                    self.error = text  # a refusal, or an error the node reports (this client sends nothing)
        finally:
            if not self._closing:
                self.closed_early = ws.close_code if ws.close_code is not None else -1
                self._opened.set()  # a refusal: connect() reports it

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


PHOENIX_PATH = "/socket/websocket"
HEARTBEAT_SECONDS = 30.0  # as npm `phoenix` (heartbeatIntervalMs); the node's presence expects a sign of life


class PhoenixClient:
    """A lean Phoenix Channels client: join one chat topic, push `send_message` and await its `phx_reply`.

    Frames are told apart by their opening, undecoded where that suffices: a `receive_message` broadcast
    of the joined topic (`[null,null,"chat:<id>","receive_message",`) is counted; a push for this channel
    (`["<join_ref>",null,`: `message_sent`, `presence_update`) is dropped; anything else (replies, with a
    ref; `phx_error`, `phx_close`) is decoded, and a `phx_reply` settles the push with its ref.
    """

    dialect = "phoenix"

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url.replace("http", "ws", 1) + PHOENIX_PATH
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None
        self._heartbeat: asyncio.Task | None = None
        self._refs = itertools.count(1)
        self._replies: dict[str, asyncio.Future] = {}
        self._closing = False
        self._marker = ""  # the opening of a receive_message broadcast of the joined topic
        self._own = ""  # the opening of a push for the joined channel
        self.topic = ""
        self.join_ref: str | None = None
        self.delivered = 0
        self.last_delivery = 0.0
        self.counting = False
        self.closed_early: int | None = None
        self.error: str | None = None  # the last phx_error or phx_close frame

    async def connect(self, token: str) -> None:
        url = f"{self._url}?token={quote(token, safe='')}&vsn=2.0.0"
        self._ws = await self._session.ws_connect(url, max_msg_size=0, autoping=True)
        self._reader = asyncio.create_task(self._read())
        self._heartbeat = asyncio.create_task(self._beat())

    async def join(self, room_id: str) -> dict:
        """Join `chat:<room_id>`: the reply's payload (`{status, response}`)."""
        topic = f"chat:{room_id}"
        join_ref = str(next(self._refs))
        self.topic, self.join_ref = topic, join_ref
        self._marker = f'[null,null,"{topic}","receive_message",'
        self._own = f'["{join_ref}",null,'
        return await self._push(join_ref, join_ref, topic, "phx_join", {})

    async def send(self, content: str, mobile_ref_id: str) -> dict:
        """Push `send_message` on the joined topic: its `phx_reply` payload (`{status, response}`)."""
        payload = {"content": content, "mobile_ref_id": mobile_ref_id}
        return await self._push(self.join_ref, str(next(self._refs)), self.topic, "send_message", payload)

    async def _push(self, join_ref: str | None, ref: str, topic: str, event: str, payload: dict) -> dict:
        future = asyncio.get_running_loop().create_future()
        self._replies[ref] = future
        await self._ws.send_str(orjson.dumps([join_ref, ref, topic, event, payload]).decode())
        return await asyncio.wait_for(future, 30)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            ref = str(next(self._refs))  # its reply is decoded and dropped: nobody awaits it
            await self._ws.send_str(orjson.dumps([None, ref, "phoenix", "heartbeat", {}]).decode())

    async def _read(self) -> None:
        ws = self._ws
        try:
            async for frame in ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    continue
                text: str = frame.data
                if self._marker and text.startswith(self._marker):
                    if self.counting:
                        self.delivered += 1
                        self.last_delivery = time.time()
                elif self._own and text.startswith(self._own):
                    continue
                else:
                    _join_ref, ref, _topic, event, payload = orjson.loads(text)
                    if event == "phx_reply":
                        future = self._replies.pop(ref, None)
                        if future is not None and not future.done():
                            future.set_result(payload)
                    elif event in ("phx_error", "phx_close"):
                        self.error = text
        finally:
            if not self._closing:
                self.closed_early = ws.close_code if ws.close_code is not None else -1
                for future in self._replies.values():
                    if not future.done():
                        future.set_exception(ConnectionError(f"phoenix socket closed: {self.closed_early}"))

    async def close(self) -> None:
        self._closing = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self._ws is not None:
            await self._ws.close()
        tasks = [task for task in (self._reader, self._heartbeat) if task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
