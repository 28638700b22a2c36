"""Raw JSON WebSockets on aiohttp, bound to the session layer: one frame loop for every such dialect.

A `JsonDialect` says how its clients present themselves (`credentials`, `admit`), what it does when a
session opens (`opened`), how a text frame becomes an operation (`decode`), and how results, errors
and refusals become frames. This module does the rest, alike for all of them:

- the upgrade, then the refusal of a session that cannot open: the WebSocket is accepted and closed with
  the dialect's close code, after its error frame (an HTTP error on the upgrade reaches a browser as a
  bare 1006, with no reason);
- a reader that takes one frame at a time, in order: JSON that does not parse, a binary frame, a frame
  the dialect cannot decode, and a refused operation are each answered with the dialect's error frame,
  and the connection stays open. While half of MAX_PENDING_FRAMES wait to be written, the reader reads
  no further (back-pressure): a client that writes frames faster than its answers can be written (a
  flood of bad frames, each answered at once) is slowed down, not cut off as a slow consumer. A frame
  over MAX_FRAME_BYTES closes the connection with 1009 (message too big), as WebSocket servers do: it
  cannot be skipped without being read;
- a writer task per connection that drains the session's bounded queue of frames (`WebSocketTransport`),
  so a slow reader never blocks delivery to others: past MAX_PENDING_FRAMES it is cut off;
- WebSocket pings every PING_INTERVAL seconds, so a peer that vanished is noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiohttp import WSMsgType, web

from app.chat.errors import ChatError, Code
from app.chat.model import User
from app.realtime.hub import Hub
from app.realtime.session import Credentials, Dialect, Session

log = logging.getLogger(__name__)

CLOSE_WAIT = 5.0  # seconds a close waits for the frames queued before it to be written
MAX_REASON_BYTES = 123  # a close frame's reason, as RFC 6455 bounds it


@dataclass(frozen=True)
class Request:
    """A decoded client frame: the operation to perform, its payload, and the frame as the client sent it."""

    operation: str
    payload: dict
    frame: object


class JsonDialect(Dialect):
    """A raw JSON WebSocket dialect. Frames are bytes of UTF-8 JSON text (see `frame`)."""

    # The HTTP status that refuses a session on the upgrade itself, as Phoenix does (403); None: the
    # WebSocket is accepted and closed with the dialect's code after its error frame.
    refusal_status: int | None = None

    def credentials(self, request: web.Request) -> Credentials:
        return Credentials(token=request.query.get("token"))

    async def admit(self, hub: Hub, user: User, request: web.Request) -> object:
        """Checks of the dialect's own, once the user is known and before the session opens (raise a
        ChatError to refuse). What it returns is kept as `session.state["admitted"]`."""
        return None

    async def opened(self, hub: Hub, session: Session, request: web.Request) -> None:
        """The session is open: send what the dialect sends first, follow what it follows."""

    async def handle(self, hub: Hub, session: Session, message: object) -> None:
        """A parsed client frame: decode it into an operation, perform it, answer. A dialect whose frames are
        not all operations (Phoenix's joins and heartbeats) overrides this."""
        request = None
        try:
            try:
                request = self.decode(session, message)
            except ChatError as exc:
                raise hub.reject(session, exc) from None
            result = await hub.perform(session, request.operation, request.payload)
        except ChatError as exc:
            hub.send(session, self.error(exc, request), "error")
            return
        answer = self.reply(request, result)
        if answer is not None:
            hub.send(session, *answer)

    def decode(self, session: Session, message: object) -> Request:
        """A parsed client frame as an operation; raise ChatError (INVALID_PAYLOAD, UNKNOWN_EVENT) if it is not one."""
        raise ChatError(Code.UNKNOWN_EVENT, "no frame is understood here")

    def reply(self, request: Request, result: dict) -> tuple[bytes, str] | None:
        """The frame answering a performed request, and its name for the metrics; None for no answer."""
        return None

    def error(self, error: ChatError, request: Request | None) -> bytes:
        """The frame telling the client that its frame (`request`, None if it did not decode) was refused."""
        raise NotImplementedError

    def refusal_code(self, error: ChatError) -> int:
        """The close code of a session that could not open."""
        return self.close_code(error)

    def notice(self, error: ChatError) -> bytes:
        return self.error(error, None)


def frame(data: object) -> bytes:
    """A JSON frame, encoded once (orjson: UTF-8 bytes)."""
    return orjson.dumps(data)


class WebSocketTransport:
    """An aiohttp WebSocket with a queue of frames and the task that writes them."""

    __slots__ = ("_closing", "_drained", "_high_water", "_queue", "_request", "_wake", "_writer", "ws")

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, high_water: int) -> None:
        self.ws = ws
        self._request = request
        self._queue: deque[bytes | Callable[[], None]] = deque()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # set by the writer once the queue is back under half the high water
        self._high_water = max(1, high_water)
        self._closing: tuple[int, str] | None = None
        self._writer: asyncio.Task | None = None

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write(), name="ws-writer")

    def send(self, data: object) -> bool:
        if self._closing is not None or self.ws.closed:
            return False
        self._queue.append(data)
        self._wake.set()
        return True

    def after_sent(self, callback: Callable[[], None]) -> None:
        """Call `callback` once every frame queued before it has been handed to the connection (pending
        notifications are marked delivered then, not when they were merely queued)."""
        self._queue.append(callback)
        self._wake.set()

    def backlog(self) -> int:
        return len(self._queue)

    async def room_to_read(self) -> None:
        """Return at once while fewer than `high_water` frames wait; otherwise wait until the writer has
        brought them under half of it (or has stopped). The reader calls this before each client frame."""
        if len(self._queue) < self._high_water or self._writer is None or self._writer.done():
            return
        self._drained.clear()
        drained = asyncio.ensure_future(self._drained.wait())
        try:
            await asyncio.wait({drained, self._writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            drained.cancel()

    def cut(self) -> None:
        self._queue.clear()
        self._closing = (1008, "too far behind")
        transport = self._request.transport
        if transport is not None:
            transport.abort()
        if self._writer is not None:
            self._writer.cancel()

    async def _write(self) -> None:
        ws = self.ws
        try:
            while True:
                while self._queue:
                    item = self._queue.popleft()
                    if callable(item):
                        item()
                    else:
                        await ws.send_frame(item, WSMsgType.TEXT)
                    if len(self._queue) <= self._high_water // 2:
                        self._drained.set()
                if self._closing is not None:
                    code, reason = self._closing
                    await ws.close(code=code, message=_reason(reason))
                    return
                self._wake.clear()
                await self._wake.wait()
        except (ConnectionError, RuntimeError):
            pass  # the peer went away: the reader sees it too and ends the session

    async def _close(self, notice: object | None, code: int, reason: str) -> None:
        if notice is not None:
            self.send(notice)
        if self._closing is None:
            self._closing = (code, reason)
        self._wake.set()
        if self._writer is not None:
            await asyncio.wait({self._writer}, timeout=CLOSE_WAIT)

    async def end(self, notice: object | None, code: int, reason: str) -> None:
        await self._close(notice, code, reason)

    async def shutdown(self, notice: object | None) -> None:
        await self._close(notice, 1012, "service restart")  # the node stops: reconnect (elsewhere)

    async def stop(self) -> None:
        """The session is over: let the writer finish what is queued, at most CLOSE_WAIT."""
        if self._writer is None:
            return
        self._closing = self._closing or (1000, "")
        self._wake.set()
        _done, late = await asyncio.wait({self._writer}, timeout=CLOSE_WAIT)
        for task in late:
            task.cancel()


def _reason(text: str) -> bytes:
    return text.encode()[:MAX_REASON_BYTES].decode(errors="ignore").encode()


def handler(
    hub: Hub, dialect: JsonDialect, max_frame_bytes: int, ping_interval: float
) -> Callable[[web.Request], object]:
    """The aiohttp handler of one raw JSON WebSocket dialect."""
    hub.register(dialect)

    async def serve(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=max_frame_bytes, heartbeat=ping_interval)
        if not ws.can_prepare(request).ok:
            await ws.prepare(request)  # raises the HTTP error of a request that is not a WebSocket upgrade
        transport = WebSocketTransport(ws, request, hub.max_pending_frames // 2)
        admitted: list[object] = []

        async def admit(user: User) -> None:
            admitted.append(await dialect.admit(hub, user, request))

        # The session opens (and follows what it follows) before the upgrade is answered, so a client
        # that sees its socket open misses nothing sent after that; frames wait in its queue meanwhile.
        session = None
        try:
            session = await hub.connect(
                dialect, transport, secrets.token_urlsafe(15), dialect.credentials(request), admit
            )
            session.state["admitted"] = admitted[0] if admitted else None
            await dialect.opened(hub, session, request)
        except ChatError as exc:
            if session is not None:
                await hub.disconnect(session, "refused")
            return await _refuse(ws, request, dialect, exc)
        try:
            await ws.prepare(request)
        except BaseException:
            await hub.disconnect(session, "upgrade failed")
            raise
        transport.start()
        try:
            async for message in ws:
                await transport.room_to_read()  # back-pressure: see the top of the module
                if message.type is WSMsgType.TEXT:
                    await _received(hub, dialect, session, message.data)
                elif message.type is WSMsgType.BINARY:
                    error = ChatError(Code.INVALID_PAYLOAD, "binary frames are not accepted: send JSON text")
                    hub.send(session, dialect.error(hub.reject(session, error), None), "error")
                else:  # an error: a frame over MAX_FRAME_BYTES (closed with 1009), a broken connection
                    break
        finally:
            await hub.disconnect(session, ws.close_code)
            await transport.stop()
            with contextlib.suppress(Exception):
                await ws.close()
        return ws

    return serve


async def _refuse(
    ws: web.WebSocketResponse, request: web.Request, dialect: JsonDialect, error: ChatError
) -> web.StreamResponse:
    """A dialect that refuses on the upgrade (Phoenix) answers with its HTTP status and the error as JSON;
    the others accept the WebSocket, send their error frame, and close with their code."""
    if dialect.refusal_status is not None:
        body = {"code": error.code.value, "message": error.message}
        return web.json_response(body, status=dialect.refusal_status, dumps=lambda data: orjson.dumps(data).decode())
    await ws.prepare(request)
    with contextlib.suppress(Exception):
        await ws.send_frame(dialect.error(error, None), WSMsgType.TEXT)
        await ws.close(code=dialect.refusal_code(error), message=_reason(error.message))
    return ws


async def _received(hub: Hub, dialect: JsonDialect, session: Session, text: str) -> None:
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        error = hub.reject(session, ChatError(Code.INVALID_PAYLOAD, "the frame is not valid JSON"))
        hub.send(session, dialect.error(error, None), "error")
        return
    try:
        await dialect.handle(hub, session, parsed)
    except Exception:
        # A bug of the dialect's decoding (the core's are caught by Hub.perform): logged with its traceback,
        # and the frame is still answered, so the client is not left waiting and the connection serves on.
        log.exception("handling a %s frame failed", dialect.name)
        error = hub.reject(session, ChatError(Code.INTERNAL_ERROR, "internal error"))
        hub.send(session, dialect.error(error, None), "error")
