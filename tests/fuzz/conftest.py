"""The fuzzing tier's fixtures: the real application served on a real port, from a thread of its own.

Schemathesis speaks HTTP with `requests` (synchronous), so the app runs in a background thread with its own
event loop, on the session's Postgres and Redis, and records every log line at ERROR or above, which the tests
assert never happens (a client's bad input is answered with a 4xx and logged, if at all, as a WARNING).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from app.auth.tokens import mint
from app.web import create_app


class ErrorRecorder(logging.Handler):
    """Keeps every record at ERROR or above, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))

    def take(self) -> list[str]:
        taken, self.records = self.records, []
        return taken


@dataclass
class LiveServer:
    """The app on 127.0.0.1:<port>, serving from its own thread."""

    base_url: str
    loop: asyncio.AbstractEventLoop
    errors: ErrorRecorder
    user: str
    token: str
    extra: dict = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(make_settings) -> Iterator[LiveServer]:
    # Rate limits far above what the fuzzer sends: a 429 would hide what the input itself gets.
    settings = make_settings(API_RATE=100000, API_BURST=100000)
    port = _free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []
    runner: web.AppRunner | None = None

    async def start() -> None:
        nonlocal runner
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # reported to the test thread
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    errors = ErrorRecorder()
    root = logging.getLogger()
    root.addHandler(errors)
    thread = threading.Thread(target=serve, name="fuzz-server", daemon=True)
    thread.start()
    assert started.wait(30), "the app did not start within 30 s"
    if failure:
        raise failure[0]
    user = f"fuzzer-{uuid.uuid4().hex[:8]}"
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", loop, errors, user, mint(settings.auth, user, "Fuzzer"))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        root.removeHandler(errors)
