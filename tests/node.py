"""Node client libraries driven from pytest, step by step, over real sockets.

Each protocol is tested with its own client library, the way its documentation's examples use it. A
driver script in tests/js runs in one Node process per test, reads one JSON command per line on stdin
and writes one JSON report per line on stdout (see the top of tests/js/ws_driver.mjs). This module is
the Python side: `NodeDriver` runs any such script (a later phoenix or socket.io-client driver reuses
it), `NodeClients` and `NodeSocket` speak to the `ws` one.

    ws = await node_clients.open(f"{base}/ws/{user}?token={token}")
    await ws.opened()
    await ws.send({"event": "heartbeat"})
    ack = await ws.next(event="heartbeat_ack")
    await ws.quiet(0.3, event="error")
    assert await ws.closed() == (4001, "token expired")

Every wait is bounded (WAIT seconds unless told) and fails with an AssertionError naming what was
awaited and what arrived instead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DRIVERS = ROOT / "tests" / "js"
WAIT = 5.0  # the default bound of every wait, in seconds
QUIET = 0.3  # how long "nothing (more) arrives" is watched by default

_PENDING = object()  # what a check returns while the awaited thing has not happened


class DriverEnded(AssertionError):
    """The Node process stopped answering (it exited, or wrote something that is not a report)."""


def require_node(script: str, *packages: str) -> None:
    """Fail (never skip) the test when Node or the npm packages a driver imports are missing."""
    if shutil.which("node") is None:
        pytest.fail(f"tests/js/{script} needs Node (>= 20) on PATH", pytrace=False)
    missing = [name for name in packages if not (ROOT / "node_modules" / name / "package.json").is_file()]
    if missing:
        pytest.fail(
            f"tests/js/{script} needs the npm packages {', '.join(missing)}: run `npm ci` at the repository root"
            " (the README's test command does)",
            pytrace=False,
        )


def _short(value: object, limit: int = 300) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


class NodeDriver:
    """One `node tests/js/<script>` process: commands out, acknowledged by `ref`; reports in, handed to `on_report`."""

    def __init__(self, process: asyncio.subprocess.Process, on_report: Callable[[dict], None]) -> None:
        self._process = process
        self._on_report = on_report
        self._refs = itertools.count(1)
        self._acks: dict[int, asyncio.Future] = {}
        self.changed = asyncio.Condition()  # notified after every report, and when the process ends
        self.ended: str | None = None  # why the driver stopped answering, once it has
        self.stderr: list[str] = []
        self._stderr_read = asyncio.create_task(self._read_stderr())
        self._reports_read = asyncio.create_task(self._read_reports())

    @classmethod
    async def start(cls, script: str, on_report: Callable[[dict], None]) -> NodeDriver:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVERS / script),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # one report is one line, however large the frame it carries
        )
        return cls(process, on_report)

    async def command(self, op: str, timeout: float = WAIT, **fields: object) -> dict:
        """Send a command and wait for its acknowledgement; a command the driver could not do fails the test."""
        if self.ended:
            raise DriverEnded(f"cannot {op}: {self.ended}{self.stderr_tail()}")
        ref = next(self._refs)
        acknowledged = self._acks[ref] = asyncio.get_running_loop().create_future()
        try:
            self._process.stdin.write((json.dumps({"op": op, "ref": ref, **fields}) + "\n").encode())
            await self._process.stdin.drain()
            ack = await asyncio.wait_for(acknowledged, timeout)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for the driver to do {op} {fields}") from None
        except (BrokenPipeError, ConnectionResetError):
            await asyncio.wait_for(self._reports_read, 1.0)  # it says how the driver ended
            raise DriverEnded(f"cannot {op}: {self.ended}{self.stderr_tail()}") from None
        finally:
            self._acks.pop(ref, None)
        if ack["kind"] == "failed":
            raise AssertionError(f"the driver could not {op} {_short(fields)}: {ack.get('message')}")
        return ack

    async def until(self, check: Callable[[], Any], timeout: float) -> Any:
        """What `check()` returns once it returns something other than _PENDING; _PENDING after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self.changed:
            while (result := check()) is _PENDING:
                if self.ended:
                    raise DriverEnded(f"{self.ended}{self.stderr_tail()}")
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return _PENDING
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), remaining)
        return result

    def stderr_tail(self) -> str:
        return ("\nnode stderr:\n" + "\n".join(self.stderr[-20:])) if self.stderr else ""

    async def _read_reports(self) -> None:
        why = None
        try:
            while line := await self._process.stdout.readline():
                report = json.loads(line)
                async with self.changed:
                    if report.get("kind") in ("sent", "failed"):
                        ack = self._acks.get(report.get("ref"))
                        if ack is not None and not ack.done():  # not when its wait has timed out
                            ack.set_result(report)
                    else:
                        self._on_report(report)
                    self.changed.notify_all()
        except Exception as error:  # a driver bug: stop the driver so that every wait fails with the reason
            why = f"the node driver's reports could not be read ({error!r})"
            self._process.kill()
        code = await self._process.wait()
        await asyncio.wait_for(self._stderr_read, 1.0)  # all of it, for the failure messages
        async with self.changed:
            self.ended = why or f"the node driver exited with code {code}"
            for ack in self._acks.values():
                if not ack.done():
                    ack.set_exception(DriverEnded(self.ended + self.stderr_tail()))
            self.changed.notify_all()

    async def _read_stderr(self) -> None:
        while line := await self._process.stderr.readline():
            self.stderr.append(line.decode(errors="replace").rstrip())

    async def stop(self) -> None:
        """Ask the driver to exit (closing its clients); kill it if it does not within a second."""
        if self._process.returncode is None:
            with contextlib.suppress(Exception):
                await self.command("exit", timeout=1.0)
            with contextlib.suppress(Exception):
                self._process.stdin.close()
            try:
                await asyncio.wait_for(self._process.wait(), 1.0)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reports_read, 1.0)


def _describe(predicate: Callable[[Any], bool] | None, match: dict[str, object]) -> str:
    parts = [f"{key}={value!r}" for key, value in match.items()]
    if predicate is not None:
        parts.insert(0, getattr(predicate, "__name__", "predicate"))
    return "frame" + (" with " + ", ".join(parts) if parts else "")


def _matches(frame: object, predicate: Callable[[Any], bool] | None, match: dict[str, object]) -> bool:
    if match and not (isinstance(frame, dict) and all(key in frame and frame[key] == v for key, v in match.items())):
        return False
    return predicate is None or bool(predicate(frame))


class NodeSocket:
    """One `ws` WebSocket client in the Node process, and everything it has met so far."""

    def __init__(self, driver: NodeDriver, name: str, url: str) -> None:
        self._driver = driver
        self.name = name
        self.url = url
        self.reports: list[dict] = []  # every report of this client, in order (open, message, close...)
        self.frames: list[Any] = []  # every JSON text frame received, parsed, in order
        self.texts: list[str] = []  # text frames that were not JSON
        self.binaries: list[bytes] = []  # binary frames
        self.is_open = False
        self.refused_status: int | None = None  # the HTTP status of a refused upgrade
        self.refused_body: str | None = None
        self.errors: list[str] = []
        # every frame sent, in order: (how many frames had arrived when it was sent, "json"|"text"|"binary", it)
        self.sent: list[tuple[int, str, object]] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._taken: set[int] = set()  # indexes of the frames next() has returned

    def _record(self, report: dict) -> None:
        self.reports.append(report)
        kind = report["kind"]
        if kind == "open":
            self.is_open = True
        elif kind == "message":
            if "data" in report:
                self.frames.append(report["data"])
            elif "text" in report:
                self.texts.append(report["text"])
            else:
                self.binaries.append(base64.b64decode(report["binary"]))
        elif kind == "refused":
            self.refused_status, self.refused_body = report["status"], report.get("body")
        elif kind == "error":
            self.errors.append(report["message"])
        elif kind == "close":
            self.is_open = False
            self.close_code, self.close_reason = report["code"], report["reason"]

    def _seen(self) -> str:
        """The last reports of this client, for failure messages."""
        if not self.reports:
            return f"; {self.name} got nothing"
        shown = [_short({k: v for k, v in report.items() if k != "id"}) for report in self.reports[-15:]]
        earlier = len(self.reports) - len(shown)
        then = f" {earlier} earlier reports, then" if earlier else ""
        return f"; {self.name} got{then}:\n  " + "\n  ".join(shown)

    async def _wait(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        try:
            result = await self._driver.until(check, timeout)
        except DriverEnded as ended:
            raise DriverEnded(f"{self.name} waiting for {what}: {ended}{self._seen()}") from None
        if result is _PENDING:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} on {self.name}{self._seen()}")
        return result

    # -- waits ------------------------------------------------------------------------------------------

    async def opened(self, timeout: float = WAIT) -> None:
        """Wait until the connection is open; fail at once if it is refused or closed first."""

        def check():
            if self.is_open:
                return True
            if self.close_code is not None or self.refused_status is not None:
                raise AssertionError(f"{self.name} did not open{self._seen()}")
            return _PENDING

        await self._wait("open", check, timeout)

    async def next(
        self, predicate: Callable[[Any], bool] | None = None, /, timeout: float = WAIT, **match: object
    ) -> Any:
        """The earliest frame matching (every `key=value` of a dict frame, and `predicate(frame)`) that next()
        has not returned yet, waiting for it. Frames passed over stay for later calls; all stay in `frames`.
        (`timeout` is this method's own: match a frame's "timeout" key with a predicate.)"""

        def check():
            for index, frame in enumerate(self.frames):
                if index not in self._taken and _matches(frame, predicate, match):
                    self._taken.add(index)
                    return frame
            if self.close_code is not None:
                raise AssertionError(f"{self.name} closed before a {_describe(predicate, match)}{self._seen()}")
            return _PENDING

        return await self._wait("a " + _describe(predicate, match), check, timeout)

    def received(self, predicate: Callable[[Any], bool] | None = None, /, **match: object) -> list[Any]:
        """Every frame received so far that matches, whether next() returned it or not."""
        return [frame for frame in self.frames if _matches(frame, predicate, match)]

    async def quiet(self, seconds: float = QUIET, predicate: Callable[[Any], bool] | None = None, /, **match) -> None:
        """Assert that no matching frame next() has not returned yet (already here, or arriving within
        `seconds`) exists. Counting the ones already here keeps the check sound when the frame beat the call."""

        def check():
            for index, frame in enumerate(self.frames):
                if index not in self._taken and _matches(frame, predicate, match):
                    return frame
            return _PENDING

        unexpected = await self._driver.until(check, seconds)
        if unexpected is not _PENDING:
            raise AssertionError(
                f"{self.name} expected no {_describe(predicate, match)} for {seconds}s, got {_short(unexpected)}"
                + self._seen()
            )

    async def closed(self, timeout: float = WAIT) -> tuple[int, str]:
        """Wait for the connection to close; its close code and reason."""

        def check():
            return (self.close_code, self.close_reason) if self.close_code is not None else _PENDING

        return await self._wait("close", check, timeout)

    async def refused(self, timeout: float = WAIT) -> int:
        """Wait for the upgrade to be refused; the HTTP status (the body is in `refused_body`)."""

        def check():
            if self.refused_status is not None:
                return self.refused_status
            if self.is_open or self.close_code is not None:
                raise AssertionError(f"{self.name} was not refused{self._seen()}")
            return _PENDING

        return await self._wait("the upgrade refused", check, timeout)

    # -- actions: each returns once the driver has done it (a send: once the frame is written) ----------

    async def send(self, data: object) -> None:
        """Send `data` as a JSON text frame, as `ws.send(JSON.stringify(data))`."""
        self.sent.append((len(self.frames), "json", data))
        await self._driver.command("send", id=self.name, data=data)

    async def send_text(self, text: str) -> None:
        """Send a text frame exactly as given (for malformed input)."""
        self.sent.append((len(self.frames), "text", text))
        await self._driver.command("send_text", id=self.name, text=text)

    async def send_binary(self, data: bytes) -> None:
        self.sent.append((len(self.frames), "binary", data))
        await self._driver.command("send_binary", id=self.name, base64=base64.b64encode(data).decode())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake, as `ws.close(code, reason)`; `closed()` waits for its end."""
        await self._driver.command("close", id=self.name, code=code, reason=reason)

    def __repr__(self) -> str:
        return f"<NodeSocket {self.name} {self.url}>"


class NodeClients:
    """The `ws` clients of one test, all in one Node process (tests/js/ws_driver.mjs)."""

    SCRIPT = "ws_driver.mjs"
    PACKAGES = ("ws",)

    def __init__(self) -> None:
        self.sockets: dict[str, NodeSocket] = {}
        self._driver: NodeDriver | None = None

    @classmethod
    async def start(cls) -> NodeClients:
        require_node(cls.SCRIPT, *cls.PACKAGES)
        clients = cls()
        clients._driver = await NodeDriver.start(cls.SCRIPT, clients._dispatch)
        return clients

    def _dispatch(self, report: dict) -> None:
        socket = self.sockets.get(report.get("id"))
        if socket is None:
            raise AssertionError(f"a report for no known client: {report}")
        socket._record(report)

    async def open(self, url: str, name: str | None = None, protocols: list[str] | None = None) -> NodeSocket:
        """`new WebSocket(url, protocols)`; returns at once: await `opened()` (or `refused()`) on it."""
        name = name or f"ws{len(self.sockets) + 1}"
        assert name not in self.sockets, f"a client named {name!r} is already open"
        socket = self.sockets[name] = NodeSocket(self._driver, name, url)
        fields: dict[str, object] = {"id": name, "url": url}
        if protocols is not None:
            fields["protocols"] = protocols
        await self._driver.command("open", **fields)
        return socket

    async def close(self) -> None:
        """Close every client and end the Node process."""
        if self._driver is not None:
            await self._driver.stop()
