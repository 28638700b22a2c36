"""npm `socket.io-client` driven from pytest, step by step, over real sockets.

The Socket.IO dialects are tested with the client their documentation's examples use (npm
`socket.io-client`), in one Node process per test running tests/js/sio_driver.mjs through tests/node.py's
`NodeDriver`. The client does its own Engine.IO handshake, polling-to-websocket upgrade, pings and
reconnections; this module only tells it what the examples do and watches what it meets (see the top
of the driver).

    chat = await sio_clients.connect(f"{base}/chat", query={"userId": 1}, transports=["websocket", "polling"])
    await chat.connected()
    await chat.emit("send-message", {"conversation_id": 1, "content": "hi"})
    message = await chat.next("receive-message", conversation_id=1)     # the event's first argument
    assert await chat.emit_ack("ping", 1) == ["pong", 1]                 # the acknowledgement's arguments
    await chat.quiet(0.3, "message-error")

    refused = await sio_clients.connect(f"{base}/chat/", transports=["websocket"], auth={"token": "nope"})
    assert await refused.connect_error() == {"message": "no", "data": {"code": "x"}}

A socket keeps every event it received, with all its arguments (`events`), every event it emitted
(`emitted`) and the acknowledgements they got (`acknowledgement(emitted)`): the real-time tier checks them
all against the AsyncAPI document when a test ends (tests/realtime/sio_contract.py).

The options of connect() are the client's own, passed to `io(url, options)` as given (`query`, `auth`,
`transports`, `reconnection`, `reconnectionDelay`, `timeout` in ms...). Each client has a Manager (an
Engine.IO connection) of its own unless `share` names another client's. Every wait is bounded
(tests/node.py's WAIT seconds unless told) and fails with an AssertionError naming what was awaited and
what the client met instead. Times here are in seconds, like every time in the tests.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

from tests.node import _PENDING, QUIET, WAIT, NodeDriver, _matches, require_node
from tests.phoenix import _first_new, _wanted, _Watched

# How a client stops for good: a disconnect that the client does not follow with reconnections.
FINAL_DISCONNECTS = frozenset({"io server disconnect", "io client disconnect"})


class SioEvent(NamedTuple):
    """An event the client received (socket.onAny), with all its arguments."""

    event: str
    args: list[Any]
    ack: int | None  # when the server asked for an acknowledgement: the number `answer()` needs

    @property
    def first(self) -> Any:
        """The first argument, or None when there is none."""
        return self.args[0] if self.args else None


def _inward(value: Any) -> Any:
    """A report's value, with the driver's {"$binary": base64} as bytes."""
    if isinstance(value, list):
        return [_inward(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"$binary"}:
            return base64.b64decode(value["$binary"])
        return {key: _inward(item) for key, item in value.items()}
    return value


def _outward(value: Any) -> Any:
    """A value to send, with bytes as the driver's {"$binary": base64} (the client sends them as binary)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$binary": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple):
        return [_outward(item) for item in value]
    if isinstance(value, dict):
        return {key: _outward(item) for key, item in value.items()}
    return value


class SioEmit(NamedTuple):
    """An event the client emitted (socket.emit), with all its arguments."""

    event: str
    args: list[Any]
    emit_id: str | None  # when it asked for an acknowledgement: what `acknowledgement()` looks it up by
    arrived: int  # how many events the socket had received when it emitted it

    @property
    def first(self) -> Any:
        """The first argument, or None when there is none."""
        return self.args[0] if self.args else None


class SioSocket(_Watched):
    """One `io(url, options)` socket (one namespace) in the Node process: its connections, the events it
    received, and the answers to its emits."""

    def __init__(self, clients: SioClients, name: str, url: str, options: dict, share: str | None) -> None:
        super().__init__(clients._driver, name)
        self.url = url
        self.options = options
        self.share = share  # the client whose Manager this socket uses, if not its own
        self.events: list[SioEvent] = []  # every event received, in order
        self.emitted: list[SioEmit] = []  # every event emitted (emit, emit_ack), in order
        self.sid: str | None = None  # socket.id of the latest connection
        self.transport: str | None = None  # the Engine.IO transport now (the latest open, connect or upgrade)
        self.connects = 0  # connections made, reconnections included
        self.connect_errors: list[dict] = []  # what each connect_error reported: message, data, type...
        self.disconnects: list[str] = []  # the reason of each disconnect
        self.upgrades: list[str] = []  # the transport of each upgrade
        # the Engine.IO transport at each opening of the Manager's connection, and after each upgrade
        self.transports: list[str] = []
        self.is_connected = False
        self.gave_up = False  # a connect_error the client will not retry after, or reconnect_failed
        self._acks: dict[str, dict] = {}  # emit id -> its "ack" or "ack_timeout" report
        self._taken: set[int] = set()  # indexes of the events next()/next_event() have returned
        self._errors_taken = 0
        self._emit_ids = itertools.count(1)

    def _record(self, report: dict) -> None:
        report = {key: value for key, value in report.items() if key != "id"}
        self.reports.append(report)
        kind = report["kind"]
        if kind == "event":
            self.events.append(SioEvent(report["event"], _inward(report["args"]), report.get("ack")))
        elif kind == "connect":
            self.connects += 1
            self.is_connected, self.gave_up = True, False
            self.sid, self.transport = report.get("sid"), report.get("transport")
        elif kind == "open":
            self.transports.append(report["transport"])
            self.transport = report["transport"]
        elif kind == "upgrade":
            self.upgrades.append(report["transport"])
            self.transports.append(report["transport"])
            self.transport = report["transport"]
        elif kind == "connect_error":
            error = {key: _inward(value) for key, value in report.items() if key not in ("kind", "retrying")}
            self.connect_errors.append(error)
            self.gave_up = self.gave_up or not report.get("retrying")
        elif kind == "disconnect":
            self.is_connected = False
            self.disconnects.append(report["reason"])
        elif kind == "manager" and report["event"] == "reconnect_failed":
            self.gave_up = True
        elif kind in ("ack", "ack_timeout"):
            self._acks[report["emit_id"]] = report

    @property
    def finished(self) -> bool:
        """Whether the socket is down for good: refused (or failed) without retrying, or disconnected by the
        server or the test (the client reconnects by itself only after other disconnects)."""
        if self.is_connected:
            return False
        return self.gave_up or bool(self.disconnects and self.disconnects[-1] in FINAL_DISCONNECTS)

    def _fits(self, event: str | None, predicate: Callable | None, match: dict) -> Callable[[SioEvent], bool]:
        return lambda seen: (event is None or seen.event == event) and _matches(seen.first, predicate, match)

    # -- waits ------------------------------------------------------------------------------------------

    async def connected(self, count: int = 1, timeout: float = WAIT) -> str:
        """Wait until the socket has connected `count` times in all (reconnections count); its socket.id.
        Fails at once when the client gives up first (a connect_error it will not retry after: the
        server's refusal, or any failure with reconnection off; or reconnect_failed)."""

        def check():
            if self.connects >= count:
                return self.sid
            if self.gave_up:
                raise AssertionError(f"{self.name} gave up before connection {count}{self._seen()}")
            return _PENDING

        return await self._wait(f"connection {count}", check, timeout)

    async def connect_error(self, timeout: float = WAIT) -> dict:
        """The earliest connect_error that connect_error() has not returned yet, waiting for it: {"message",
        "data"} for a server's refusal (no "data" when it gave none), {"message", "type", "description"}
        for a transport failure. Fails at once if the socket connects first."""

        def check():
            if len(self.connect_errors) > self._errors_taken:
                self._errors_taken += 1
                return self.connect_errors[self._errors_taken - 1]
            if self.is_connected:
                raise AssertionError(f"{self.name} connected instead of failing to{self._seen()}")
            return _PENDING

        return await self._wait("a connect_error", check, timeout)

    async def disconnected(self, count: int = 1, timeout: float = WAIT) -> str:
        """Wait until the socket has disconnected `count` times; the reason of the count-th disconnect
        ("io server disconnect", "io client disconnect", "transport close", "ping timeout"...)."""

        def check():
            return self.disconnects[count - 1] if len(self.disconnects) >= count else _PENDING

        return await self._wait(f"disconnect {count}", check, timeout)

    async def upgraded(self, timeout: float = WAIT) -> str:
        """Wait until the Engine.IO connection has upgraded (polling to websocket); the new transport.
        Fails at once if the socket disconnects (or gives up) first."""

        def check():
            if self.upgrades:
                return self.upgrades[0]
            if self.disconnects or self.gave_up:
                raise AssertionError(f"{self.name} ended before upgrading{self._seen()}")
            return _PENDING

        return await self._wait("an upgrade", check, timeout)

    async def next_event(
        self, event: str, predicate: Callable[[Any], bool] | None = None, /, timeout: float = WAIT, **match: object
    ) -> SioEvent:
        """The earliest `event` whose first argument matches (every `key=value` of a dict, and
        `predicate(first argument)`) that next() or next_event() has not returned yet, waiting for it;
        the whole event: its arguments and, when the server asked for an acknowledgement, its `ack` for
        `answer()`. Events passed over stay for later calls; all stay in `events`. Fails at once when the
        socket is down for good (see `finished`) with no such event."""
        fits = self._fits(event, predicate, match)
        what = _wanted(repr(event), predicate, match)

        def check():
            found = _first_new(self.events, self._taken, fits)
            if found is _PENDING and self.finished:
                raise AssertionError(f"{self.name} is down for good with no {what}{self._seen()}")
            return found

        return await self._wait("a " + what, check, timeout)

    async def next(
        self, event: str, predicate: Callable[[Any], bool] | None = None, /, timeout: float = WAIT, **match: object
    ) -> Any:
        """next_event()'s event's FIRST argument (None if it has none): the listeners of the documents'
        examples take one. `(await next_event(...)).args` has them all. (`timeout` is this method's own:
        match a payload's "timeout" key with a predicate.)"""
        return (await self.next_event(event, predicate, timeout, **match)).first

    def received(self, event: str, predicate: Callable[[Any], bool] | None = None, /, **match: object) -> list[Any]:
        """The first arguments of every matching `event` received so far, whether next() returned them or not."""
        fits = self._fits(event, predicate, match)
        return [seen.first for seen in self.events if fits(seen)]

    async def quiet(
        self, seconds: float = QUIET, event: str | None = None, predicate: Callable | None = None, /, **match
    ) -> None:
        """Assert that no matching event (any event when `event` is None) that next() has not returned yet
        exists: already here, or arriving within `seconds`."""
        fits = self._fits(event, predicate, match)

        def check():
            return next((seen for i, seen in enumerate(self.events) if i not in self._taken and fits(seen)), _PENDING)

        await self._none(_wanted(repr(event) if event else "event", predicate, match), check, seconds)

    # -- actions: each returns once the driver has done it ----------------------------------------------

    async def emit(self, event: str, *args: Any) -> None:
        """socket.emit(event, ...args); returns once emit() has returned (the packet is written, or buffered
        by the client until it connects, as when the examples emit right after io()). bytes go as binary."""
        self.emitted.append(SioEmit(event, list(args), None, len(self.events)))
        await self._driver.command("emit", id=self.name, event=event, args=_outward(list(args)))

    async def emit_ack(self, event: str, *args: Any, timeout: float = WAIT) -> list[Any]:
        """socket.timeout(ms).emit(event, ...args, (err, ...responses) => ...): the arguments the server's
        acknowledgement gave (python-socketio: a handler's return value, a tuple being several arguments,
        None none). Fails when the client's `timeout` (seconds) passes without it."""
        emit_id = f"{self.name}#{next(self._emit_ids)}"
        fields = {"id": self.name, "event": event, "args": _outward(list(args)), "emit_id": emit_id}
        self.emitted.append(SioEmit(event, list(args), emit_id, len(self.events)))
        await self._driver.command("emit", **fields, timeout_ms=round(timeout * 1000))
        what = f"the acknowledgement of {event!r}"
        report = await self._wait(what, lambda: self._acks.get(emit_id, _PENDING), timeout + 1.0)
        if report["kind"] == "ack_timeout":
            raise AssertionError(
                f"{self.name}: the server did not acknowledge {event!r} within {timeout}s"
                f" ({report.get('message')}){self._seen()}"
            )
        return _inward(report["args"])

    def acknowledgement(self, emitted: SioEmit) -> list[Any] | None:
        """The arguments of the server's acknowledgement of an emit of `emitted`, None while there is none (no
        acknowledgement asked, not come yet, or timed out)."""
        report = self._acks.get(emitted.emit_id) if emitted.emit_id is not None else None
        return _inward(report["args"]) if report is not None and report["kind"] == "ack" else None

    async def answer(self, event: SioEvent, *args: Any) -> None:
        """Call the callback the server handed with `event` (python-socketio's `call()`, or `emit(...,
        callback=...)`) with `args`. The client never answers by itself: the server waits until this."""
        assert event.ack is not None, f"the server asked for no acknowledgement of {event}"
        await self._driver.command("answer", id=self.name, ack=event.ack, args=_outward(list(args)))

    async def disconnect(self) -> None:
        """socket.disconnect(): the client leaves the namespace (and closes its Manager's connection when no
        other socket uses it) and does not reconnect. `disconnected()` then gives "io client disconnect"."""
        await self._driver.command("disconnect", id=self.name)

    def __repr__(self) -> str:
        return f"<SioSocket {self.name} {self.url}>"


class SioClients:
    """The `socket.io-client` sockets of one test, all in one Node process (tests/js/sio_driver.mjs)."""

    SCRIPT = "sio_driver.mjs"
    PACKAGES = ("socket.io-client",)

    def __init__(self) -> None:
        self.sockets: dict[str, SioSocket] = {}
        self._driver: NodeDriver | None = None

    @classmethod
    async def start(cls) -> SioClients:
        require_node(cls.SCRIPT, *cls.PACKAGES)
        clients = cls()
        clients._driver = await NodeDriver.start(cls.SCRIPT, clients._dispatch)
        return clients

    def _dispatch(self, report: dict) -> None:
        socket = self.sockets.get(report.get("id"))
        if socket is None:
            raise AssertionError(f"a report for no known client: {report}")
        socket._record(report)

    async def connect(self, url: str, name: str | None = None, share: str | None = None, **options: Any) -> SioSocket:
        """`io(url, {forceNew: true, ...options})`; returns at once: await `connected()` (or
        `connect_error()`). The URL's path is the namespace, kept as is ("ws://h:p/chat/" is "/chat/").
        `options` are the client's own, as given (query={"userId": 1}, auth={...},
        transports=["websocket"], reconnection=False...). With `share` (another client's name), the socket
        is `manager.socket(namespace, options)` on that client's Manager: the same Engine.IO connection,
        another namespace (only socket options, like `auth`, apply)."""
        name = name or f"sio{len(self.sockets) + 1}"
        assert name not in self.sockets, f"a client named {name!r} already exists"
        assert share is None or share in self.sockets, f"no client named {share!r} to share a Manager with"
        socket = self.sockets[name] = SioSocket(self, name, url, options, share)
        fields: dict[str, object] = {"id": name, "url": url, "options": options}
        if share is not None:
            fields["share"] = share
        await self._driver.command("connect", **fields)
        return socket

    async def close(self) -> None:
        """Disconnect every socket and end the Node process."""
        if self._driver is not None:
            await self._driver.stop()
