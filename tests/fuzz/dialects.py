"""Helpers of the dialect fuzzing (tests/fuzz/test_dialects.py): one node on a real port, raw WebSocket
clients that keep every frame, a watch on the log, and hypothesis strategies of hostile frames.

Nothing here is a fixture: test_dialects.py builds its own from these, so the REST fuzzing beside it keeps
its conftest to itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import psutil
from aiohttp import WSMsgType
from aiohttp.test_utils import TestServer
from hypothesis import strategies as st

WAIT = 5.0  # the bound of every wait, in seconds
LIMIT = 16_384  # MAX_FRAME_BYTES of the fuzzed node: frames near and above it are cheap to make
CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
# Close codes that mean "the server chose to close": too big (1009), invalid UTF-8 in a text frame (1007),
# a protocol error (1002), a policy refusal (1008). 1006 (no close frame) and 1011 (internal error) are bugs.
CLOSE_CODES = frozenset({1002, 1007, 1008, 1009})


# -- the node's log -----------------------------------------------------------------------------------------


class LogWatch(logging.Handler):
    """Keeps the records that must not happen while clients send bad input: any ERROR, and any record with a
    traceback at WARNING or above (bad input is logged at WARNING at most, without a traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or (record.levelno >= logging.WARNING and record.exc_info):
            self.bad.append(record)

    def take(self) -> list[str]:
        found = [
            f"{r.levelname} {r.name}: {r.getMessage()}" + (" (with traceback)" if r.exc_info else "") for r in self.bad
        ]
        self.bad.clear()
        return found


@contextlib.contextmanager
def watching_log():
    watch = LogWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    try:
        yield watch
    finally:
        root.removeHandler(watch)


def rss() -> int:
    """This process's resident memory, in bytes (the node runs in the test's process)."""
    return psutil.Process().memory_info().rss


# -- raw WebSocket clients ------------------------------------------------------------------------------------


@dataclass
class Frame:
    """A frame the client received: its text parsed as JSON (None if it is not JSON), or its bytes."""

    data: object
    text: str | None


@dataclass
class Socket:
    """A raw WebSocket that keeps every frame it receives (a reader task) and notices its close."""

    session: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse
    frames: list[Frame] = field(default_factory=list)
    close_code: int | None = None
    closed: bool = False
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task | None = None

    @classmethod
    async def open(cls, url: str) -> Socket:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT))
        try:
            ws = await session.ws_connect(url, autoping=True, max_msg_size=0)
        except BaseException:
            await session.close()
            raise
        socket = cls(session, ws)
        socket._reader = asyncio.get_running_loop().create_task(socket._read())
        return socket

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message.type is WSMsgType.TEXT:
                    try:
                        data = json.loads(message.data)
                    except ValueError:
                        data = None
                    frame = Frame(data, message.data)
                else:
                    frame = Frame(message.data, None)
                async with self._changed:
                    self.frames.append(frame)
                    self._changed.notify_all()
        finally:
            async with self._changed:
                self.closed = True
                self.close_code = self.ws.close_code
                self._changed.notify_all()

    async def wait(self, test: Callable[[], bool], timeout: float = WAIT) -> bool:
        """Wait until `test()` holds or the socket closed (False then, unless `test()` holds)."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: test() or self.closed), timeout)
            except TimeoutError:
                return False
        return test()

    async def send_text(self, text: str) -> bool:
        """Send a text frame; False if the connection is gone."""
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def send_raw(self, data: bytes, binary: bool) -> bool:
        """Send bytes as a binary frame, or as a text frame as they are (invalid UTF-8 included)."""
        try:
            await self.ws.send_frame(data, WSMsgType.BINARY if binary else WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, WAIT)
        await self.session.close()


# -- the node --------------------------------------------------------------------------------------------------


class Node:
    """The real application on a real port, for a whole module."""

    def __init__(self, server: TestServer, token: Callable[..., str]) -> None:
        self.server = server
        self.token = token
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT))

    @classmethod
    async def start(cls, app, token: Callable[..., str]) -> Node:
        server = TestServer(app)
        await server.start_server()
        return cls(server, token)

    async def stop(self) -> None:
        await self.http.close()
        await self.server.close()

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def ws(self, path: str) -> str:
        return "ws" + self.base.removeprefix("http") + path

    async def rest(self, method: str, path: str, user: str, body: object = None, **token: object) -> object:
        headers = {"Authorization": f"Bearer {self.token(user, **token)}"}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as response:
            assert response.status < 300, (response.status, await response.text())
            return await response.json()

    async def group(self, owner: str, *members: str) -> str:
        body = await self.rest("POST", "/api/v1/rooms", owner, {"name": "fuzz", "participants": list(members)})
        return body["id"]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


# -- strategies ------------------------------------------------------------------------------------------------

# Text that hurts: control characters, NUL, astral planes, right-to-left marks, and lone surrogates (which
# only JSON escapes can carry: the client encodes frames as UTF-8).
hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\ud800", "\udfff", "a\ud83d", "\u202e", "\ufeff", "🏳️‍🌈", "null", "0", "-1"]),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc", "Co", "Zs"]), max_size=10),
)
hostile_int = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]),
    st.integers(),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    hostile_int,
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
# Any JSON-ish value, nested a little.
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=12,
)


def deep(depth: int, kind: str) -> object:
    """A value nested `depth` levels deep (lists or objects)."""
    value: object = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


deep_values = st.builds(deep, st.sampled_from([64, 600, 1100, 5000]), st.sampled_from(["list", "dict"]))


def big_text(size: int) -> str:
    return "x" * size


# Strings whose frame lands just below, at and above the node's frame limit.
huge_text = st.builds(big_text, st.sampled_from([LIMIT - 300, LIMIT - 40, LIMIT + 1, LIMIT * 3]))
any_value = st.one_of(values, values, values, deep_values, huge_text)


def encode(data: object, ascii_only: bool) -> str:
    """A Python value as JSON text, as json.dumps writes it (NaN and Infinity included: invalid JSON)."""
    try:
        text = json.dumps(data, ensure_ascii=ascii_only)
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate: only an escape can carry it
        text = json.dumps(data, ensure_ascii=True)
    except RecursionError:
        text = json.dumps(1)
    return text


@dataclass(frozen=True)
class Wire:
    """One thing to write on the socket: JSON text (`data`), raw text, or bytes (binary or invalid text)."""

    data: object = None
    raw: str | bytes | None = None
    binary: bool = False
    ascii_only: bool = True

    def __repr__(self) -> str:
        return f"Wire({self.describe()})"

    def describe(self) -> str:
        if self.raw is not None:
            shown = (
                self.raw if len(self.raw) < 200 else self.raw[:200] + (b"..." if isinstance(self.raw, bytes) else "...")
            )
            return f"{'binary' if self.binary else 'raw'} {shown!r}"
        text = encode(self.data, self.ascii_only)
        return text if len(text) < 300 else text[:300] + f"... ({len(text)} characters)"

    async def write(self, socket: Socket) -> bool:
        if isinstance(self.raw, bytes):
            return await socket.send_raw(self.raw, self.binary)
        if self.raw is not None:
            return await socket.send_text(self.raw)
        return await socket.send_text(encode(self.data, self.ascii_only))


def json_wire(data: st.SearchStrategy) -> st.SearchStrategy[Wire]:
    return st.builds(Wire, data=data, ascii_only=st.booleans())


# Frames that are not JSON at all, or not text.
broken_wire = st.one_of(
    st.builds(
        Wire,
        raw=st.sampled_from(
            [
                "",
                "{",
                "[",
                "]",
                "{]",
                "nul",
                "NaN",
                "[NaN]",
                "[Infinity]",
                '{"a":1,}',
                '"\\ud800"',
                "[1e999]",
                "\ufeff{}",
                "[" * 2000 + "]" * 2000,
                '{"a":' * 2000 + "1" + "}" * 2000,
                "x" * (LIMIT + 10),
            ]
        ),
    ),
    st.builds(
        Wire,
        raw=st.text(max_size=30).filter(lambda t: t.encode("utf-8", "ignore") == t.encode("utf-8", "surrogatepass")),
    ),
    st.builds(Wire, raw=st.binary(max_size=64), binary=st.just(True)),
    st.builds(
        Wire, raw=st.sampled_from([b"\xff\xfe", b'{"event":"\xc3\x28"}', b"\xed\xa0\x80"]), binary=st.just(False)
    ),
    st.builds(Wire, raw=st.just(b"\x00" * (LIMIT + 1)), binary=st.just(True)),
)
