"""A minimal raw JSON WebSocket client for load generation: it connects, only receives, and counts.

The counterpart of `bench.sioclient.LeanClient` for the raw WebSocket dialects: it counts the frames
that stand for a delivered message without decoding them (the node encodes each frame with orjson,
so a frame's first key comes first), and answers the node's WebSocket pings (aiohttp's autopong).

- `fastapi` (seed 004): `/ws/{user_id}?token=…`, follows every room of the user with no join;
  counts `{"event":"new_message",…}`.
- `django-notifications` (seed 003): `/ws/notifications/?token=…` (the token carries the `username`
  claim); counts `{"type":"new_message_notification"}`, one per message from someone else. Its
  `unread_count` frames, one more per message, are read but not counted.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

import aiohttp

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
