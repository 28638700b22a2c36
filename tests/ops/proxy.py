"""A TCP proxy in front of a real server (Postgres, Redis), that a test can cut or stall.

It runs its own event loop in a thread, so it keeps forwarding while the test blocks (a synchronous
wait for a process) or awaits. `cut()` closes its port and every connection through it: from then on
a client meets a closed local port (connection refused), as if the server were gone. `stall()` keeps
the connections, and accepts new ones, but forwards nothing: a server that hangs. `restore()` forwards
again, on the same port (the stalled connections are dropped, so their clients reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

WAIT = 5.0


class Proxy:
    def __init__(self, host: str, port: int | None = None) -> None:
        """Forward to `host:port`, or to the Unix socket at path `host` when `port` is None."""
        self._target = (host, port)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.BaseTransport] = set()
        self._stalled = False
        self._thread.start()
        self._call(self._listen())

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(WAIT)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._transports.add(writer.transport)
        upstream = None
        try:
            if self._stalled:
                await self._swallow(reader)
                return
            host, port = self._target
            try:
                if port is None:
                    up_reader, upstream = await asyncio.open_unix_connection(host)
                else:
                    up_reader, upstream = await asyncio.open_connection(host, port)
            except OSError:
                return
            self._transports.add(upstream.transport)
            await asyncio.gather(self._pipe(reader, upstream), self._pipe(up_reader, writer))
        finally:
            for side in (writer, upstream):
                if side is not None:
                    side.transport.abort()
                    self._transports.discard(side.transport)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if self._stalled:
                    await self._swallow(reader)
                    return
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    @staticmethod
    async def _swallow(reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while await reader.read(65536):
                pass

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._abort_all()

    def _abort_all(self) -> None:
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    async def _restore(self) -> None:
        self._stalled = False
        self._abort_all()  # stalled connections lost their bytes: their clients reconnect
        if self._server is None:
            await self._listen()

    async def _stall(self) -> None:
        self._stalled = True

    def cut(self) -> None:
        self._call(self._cut())

    def stall(self) -> None:
        self._call(self._stall())

    def restore(self) -> None:
        self._call(self._restore())

    async def _close(self) -> None:
        await self._cut()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)
        self._loop.close()


@pytest.fixture
def proxy() -> Iterator[Callable[[str], tuple[Proxy, str]]]:
    """proxy(url) -> (a Proxy in front of the server of that postgresql:// or redis:// URL, the URL that goes
    through it). Servers on a Unix socket (the embedded ones) are proxied too. All closed at the end."""
    opened: list[Proxy] = []

    def open_proxy(url: str) -> tuple[Proxy, str]:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        if parts.scheme == "unix":  # redis over a Unix socket
            started, kept = Proxy(parts.path), {}
            scheme, auth, path = "redis", "", ""
        elif query.get("host", "").startswith("/"):  # postgres over a Unix socket
            socket = f"{query.pop('host')}/.s.PGSQL.{parts.port or 5432}"
            started, kept = Proxy(socket), query
            scheme, auth, path = parts.scheme, parts.netloc.rpartition("@")[0], parts.path
        else:
            default = 6379 if parts.scheme.startswith("redis") else 5432
            started, kept = Proxy(parts.hostname or "127.0.0.1", parts.port or default), query
            scheme, auth, path = parts.scheme, parts.netloc.rpartition("@")[0], parts.path
        opened.append(started)
        netloc = f"{auth}@127.0.0.1:{started.port}" if auth else f"127.0.0.1:{started.port}"
        return started, urlunsplit((scheme, netloc, path, urlencode(kept), ""))

    yield open_proxy
    for started in opened:
        started.close()
