"""The official `phoenix` JavaScript client driven from pytest, step by step, over real sockets.

The Phoenix Channels dialect is tested with the client its documentation's example uses (npm `phoenix`,
`transport: WS` from npm `ws`), in one Node process per test running tests/js/phoenix_driver.mjs through
tests/node.py's `NodeDriver`. The client does its own heartbeats, reconnections and rejoins; this module
only tells it what the example does and watches what it meets (see the top of the driver).

    socket = await phoenix_clients.socket(f"{base}/socket", {"token": token, "device_unique_id": "d1"})
    await socket.connect()
    chat = await socket.channel(f"chat:{chat_id}", last_seq=True)
    assert (await chat.join()).status == "ok"
    reply = await chat.push("send_message", {"content": "hi", "mobile_ref_id": "r1"})
    sent = await chat.next("message_sent", mobile_ref_id="r1")
    await chat.quiet(0.3, "receive_message")

Every wait is bounded (tests/node.py's WAIT seconds unless told) and fails with an AssertionError naming
what was awaited and what the socket or channel met instead. Times given to the client (a join's or a
push's `timeout`) are in seconds here, like every time in the tests, and in ms in the driver's commands;
the socket's options are the client's own, in ms (heartbeatIntervalMs=50).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from tests.node import _PENDING, QUIET, WAIT, DriverEnded, NodeDriver, _describe, _matches, _short, require_node


class Frame(NamedTuple):
    """A message the socket received, as the V2 serializer's array: [join_ref, ref, topic, event, payload]."""

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: Any


class Reply(NamedTuple):
    """What a Push's receive hooks got: a join's, a push's or a leave's answer, or its timeout."""

    status: str  # "ok" | "error" | "timeout"
    response: Any


class Close(NamedTuple):
    """One connection's end, as the socket's onClose got it."""

    code: int
    reason: str
    was_clean: bool


def _first_new(items: list, taken: set[int], test: Callable[[Any], bool]) -> Any:
    """The earliest item passing `test` whose index is not in `taken` (which it joins); _PENDING if none."""
    for index, item in enumerate(items):
        if index not in taken and test(item):
            taken.add(index)
            return item
    return _PENDING


def _outgoing(arrived: int, report: dict) -> tuple[int, str, object]:
    """A frame the client wrote, from the driver's `outgoing` report."""
    if "base64" in report:
        return arrived, "binary", base64.b64decode(report["base64"])
    try:
        return arrived, "json", json.loads(report["text"])
    except ValueError:
        return arrived, "text", report["text"]


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _bound(client_timeout: float | None) -> float:
    """How long to wait for a Push's answer: WAIT, or longer when the client's own timeout is."""
    return WAIT if client_timeout is None else max(WAIT, client_timeout + 1.0)


class _Watched:
    """A socket or channel of the driver: every report it got, and bounded waits on them."""

    def __init__(self, driver: NodeDriver, name: str) -> None:
        self._driver = driver
        self.name = name
        self.reports: list[dict] = []  # every report, in order, without the name

    def _seen(self) -> str:
        if not self.reports:
            return f"; {self.name} got nothing"
        shown = [_short(report) for report in self.reports[-15:]]
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

    async def _none(self, what: str, check: Callable[[], Any], seconds: float) -> None:
        """Assert that `check` finds nothing within `seconds`."""
        unexpected = await self._driver.until(check, seconds)
        if unexpected is not _PENDING:
            raise AssertionError(
                f"{self.name} expected no {what} for {seconds}s, got {_short(unexpected)}{self._seen()}"
            )


def _wanted(kind: str, predicate: Callable | None, match: dict[str, object]) -> str:
    """tests/node.py's description of a frame wanted, for another kind of thing: "'receive_message' with seq=3"."""
    return kind + _describe(predicate, match).removeprefix("frame")


def _frame_fits(frame: Frame, predicate: Callable[[Frame], bool] | None, match: dict[str, object]) -> bool:
    return _matches(frame._asdict(), None, match) and (predicate is None or bool(predicate(frame)))


class PhoenixSocket(_Watched):
    """One `new Socket(endpoint, {params, transport: WS, ...options})` in the Node process: its
    connections (it reconnects by itself), the messages it received, the frames it wrote, and its channels."""

    def __init__(self, clients: PhoenixClients, name: str, endpoint: str, params: dict, options: dict) -> None:
        super().__init__(clients._driver, name)
        self._clients = clients
        self.endpoint = endpoint
        self.params = params
        self.options = options
        self.frames: list[Frame] = []  # every message received, heartbeat replies included
        # every frame the client wrote, in order, as tests/node.py's NodeSocket keeps them: (how many messages
        # had been received when it was written, "json" | "text" | "binary", the frame: the V2 array parsed)
        self.sent: list[tuple[int, str, object]] = []
        self.opens = 0  # connections opened, reconnections included
        self.closes: list[Close] = []  # one per connection attempt, opened or not
        self.errors: list[dict] = []  # {"message", "status"?}: what socket.onError got
        self.is_open = False
        self._frames_taken: set[int] = set()

    def _record(self, report: dict) -> None:
        kind = report["kind"]
        if kind == "outgoing":  # kept in `sent` only: heartbeats would crowd the reports shown on failures
            self.sent.append(_outgoing(len(self.frames), report))
            return
        self.reports.append({key: value for key, value in report.items() if key != "id"})
        if kind == "frame":
            self.frames.append(Frame(*report["data"]))
        elif kind == "open":
            self.opens += 1
            self.is_open = True
        elif kind == "close":
            self.is_open = False
            self.closes.append(Close(report["code"], report["reason"], report["wasClean"]))
        elif kind == "error":
            self.errors.append({key: report[key] for key in ("message", "status") if key in report})

    @property
    def refused_status(self) -> int | None:
        """The HTTP status of the first refused upgrade, as ws words it in the client's error (None if none)."""
        return next((error["status"] for error in self.errors if "status" in error), None)

    # -- waits ------------------------------------------------------------------------------------------

    async def opened(self, count: int = 1, timeout: float = WAIT) -> None:
        """Wait until the socket has opened `count` connections in all (reconnections count). Fails at
        once when one of the first `count` connection attempts closes without opening."""

        def check():
            if self.opens >= count:
                return True
            if len(self.closes) >= count:
                raise AssertionError(f"{self.name} did not open connection {count}{self._seen()}")
            return _PENDING

        await self._wait(f"connection {count} open", check, timeout)

    async def closed(self, count: int = 1, timeout: float = WAIT) -> Close:
        """Wait until `count` connections (or attempts) have closed; the count-th close."""

        def check():
            return self.closes[count - 1] if len(self.closes) >= count else _PENDING

        return await self._wait(f"close {count}", check, timeout)

    async def refused(self, timeout: float = WAIT) -> int:
        """Wait for a connection attempt to be refused; its HTTP status (see the driver's header)."""

        def check():
            if self.refused_status is not None:
                return self.refused_status
            if self.opens or self.closes:  # opened, or ended otherwise (nobody listening...)
                raise AssertionError(f"{self.name} was not refused{self._seen()}")
            return _PENDING

        return await self._wait("a refused upgrade", check, timeout)

    async def next_frame(
        self, predicate: Callable[[Frame], bool] | None = None, /, timeout: float = WAIT, **match: object
    ) -> Frame:
        """The earliest received message matching (`topic=`, `event=`, `ref=`, `join_ref=`, `payload=`, and
        `predicate(frame)`) that next_frame() has not returned yet, waiting for it. All stay in `frames`."""

        def check():
            return _first_new(self.frames, self._frames_taken, lambda frame: _frame_fits(frame, predicate, match))

        return await self._wait("a " + _describe(predicate, match), check, timeout)

    def received_frames(self, predicate: Callable[[Frame], bool] | None = None, /, **match: object) -> list[Frame]:
        """Every message received so far that matches, whether next_frame() returned it or not."""
        return [frame for frame in self.frames if _frame_fits(frame, predicate, match)]

    # -- actions: each returns once the driver has done it ----------------------------------------------

    async def connect(self) -> None:
        """socket.connect(); returns at once: await `opened()` (or `refused()`)."""
        await self._driver.command("connect", id=self.name)

    async def disconnect(self, code: int | None = None, reason: str | None = None) -> None:
        """socket.disconnect(callback, code, reason): returns once the client calls back (the connection
        closed, or the client gave up waiting for it). The client does not reconnect after it."""
        fields: dict[str, object] = {"id": self.name}
        if code is not None:
            fields["code"] = code
        if reason is not None:
            fields["reason"] = reason
        await self._driver.command("disconnect", **fields)

    async def channel(
        self, topic: str, params: dict | None = None, last_seq: bool = False, name: str | None = None
    ) -> PhoenixChannel:
        """socket.channel(topic, params). With `last_seq`, the params are a closure the client evaluates at
        every (re)join: {"since_seq": the highest `seq` of the receive_message payloads this channel has
        seen, or 0}."""
        assert not (last_seq and params is not None), "last_seq makes the params: give one or the other"
        name = name or self._clients._free_channel_name(f"{self.name}/{topic}")
        assert name not in self._clients.channels, f"a channel named {name!r} already exists"
        channel = self._clients.channels[name] = PhoenixChannel(self, name, topic)
        await self._driver.command(
            "channel", id=self.name, channel=name, topic=topic, params={"$lastSeq": name} if last_seq else params or {}
        )
        return channel

    def __repr__(self) -> str:
        return f"<PhoenixSocket {self.name} {self.endpoint}>"


class PhoenixChannel(_Watched):
    """One `socket.channel(topic, params)`: the events it saw, its join attempts and the answers to its pushes."""

    def __init__(self, socket: PhoenixSocket, name: str, topic: str) -> None:
        super().__init__(socket._driver, name)
        self.socket = socket
        self.topic = topic
        self.events: list[dict] = []  # {"event", "payload", "ref", "join_ref"}: everything channel.onMessage saw
        self.joins: list[Reply] = []  # one per join attempt answered or timed out (rejoins included)
        self.replies: dict[str, Reply] = {}  # push id -> the push's answer
        self.leaves: list[Reply] = []
        self.closes: list[Any] = []  # what channel.onClose got ("leave" when the client left)
        self.errors: list[Any] = []  # what channel.onError got, e.g. {"source": "transport", ...}
        self._events_taken: set[int] = set()
        self._joins_taken: set[int] = set()
        self._push_ids = itertools.count(1)

    def _record(self, report: dict) -> None:
        self.reports.append({key: value for key, value in report.items() if key != "channel"})
        kind = report["kind"]
        if kind == "event":
            self.events.append({key: report[key] for key in ("event", "payload", "ref", "join_ref")})
        elif kind == "join":
            self.joins.append(Reply(report["status"], report.get("response")))
        elif kind == "reply":
            self.replies[report["push_id"]] = Reply(report["status"], report.get("response"))
        elif kind == "leave":
            self.leaves.append(Reply(report["status"], report.get("response")))
        elif kind == "channel_close":
            self.closes.append(report.get("payload"))
        elif kind == "channel_error":
            self.errors.append(report.get("reason"))

    @property
    def closed(self) -> bool:
        """Whether channel.onClose has fired (a leave, or the server's phx_close)."""
        return bool(self.closes)

    @property
    def errored(self) -> bool:
        """Whether channel.onError has fired (the connection dropped, or the server's phx_error)."""
        return bool(self.errors)

    def _seen(self) -> str:
        state = "open" if self.socket.is_open else "not open"
        return super()._seen() + f"\n  (its socket {self.socket.name} is {state})"

    def _matching(self, event: str | None, predicate: Callable | None, match: dict) -> Callable[[dict], bool]:
        return lambda seen: (event is None or seen["event"] == event) and _matches(seen["payload"], predicate, match)

    # -- waits ------------------------------------------------------------------------------------------

    async def next(
        self, event: str, predicate: Callable[[Any], bool] | None = None, /, timeout: float = WAIT, **payload_match
    ) -> Any:
        """The payload of the earliest `event` whose payload matches (every `key=value`, and `predicate(payload)`)
        that next() has not returned yet, waiting for it. Events passed over stay for later calls; all stay
        in `events`. Fails at once when the channel closes first."""
        fits = self._matching(event, predicate, payload_match)
        what = _wanted(repr(event), predicate, payload_match)

        def check():
            found = _first_new(self.events, self._events_taken, fits)
            if found is not _PENDING:
                return found["payload"]
            if self.closed:
                raise AssertionError(f"{self.name} closed before a {what}{self._seen()}")
            return _PENDING

        return await self._wait("a " + what, check, timeout)

    def received(self, event: str, predicate: Callable[[Any], bool] | None = None, /, **payload_match) -> list[Any]:
        """The payloads of every matching `event` seen so far, whether next() returned them or not."""
        return [seen["payload"] for seen in self.events if self._matching(event, predicate, payload_match)(seen)]

    async def quiet(
        self, seconds: float = QUIET, event: str | None = None, predicate: Callable | None = None, /, **payload_match
    ) -> None:
        """Assert that no matching event (any event when `event` is None) that next() has not returned yet
        exists: already here, or arriving within `seconds`."""
        fits = self._matching(event, predicate, payload_match)

        def check():
            return next((s for i, s in enumerate(self.events) if i not in self._events_taken and fits(s)), _PENDING)

        await self._none(_wanted(repr(event) if event else "event", predicate, payload_match), check, seconds)

    async def next_join(self, timeout: float = WAIT) -> Reply:
        """The earliest join report that join() or next_join() has not returned yet, waiting for it: after a
        reconnection, the rejoin's."""

        def check():
            return _first_new(self.joins, self._joins_taken, lambda _join: True)

        return await self._wait("a join answer", check, timeout)

    async def reply(self, push_id: str, timeout: float = WAIT) -> Reply:
        """The answer to a push_nowait(), waiting for it."""
        return await self._wait(f"the reply to push {push_id}", lambda: self.replies.get(push_id, _PENDING), timeout)

    async def wait_closed(self, timeout: float = WAIT) -> Any:
        """Wait for channel.onClose; what it got."""
        return await self._wait("the channel's close", lambda: self.closes[0] if self.closes else _PENDING, timeout)

    async def wait_errored(self, count: int = 1, timeout: float = WAIT) -> Any:
        """Wait until channel.onError has fired `count` times; what it got the last of them."""

        def check():
            return self.errors[count - 1] if len(self.errors) >= count else _PENDING

        return await self._wait(f"channel error {count}", check, timeout)

    # -- actions ----------------------------------------------------------------------------------------

    async def join(self, timeout: float | None = None) -> Reply:
        """channel.join(timeout), then its answer: ("ok", response), ("error", response) or ("timeout", {}).
        `timeout` (seconds) is the client's; None leaves the socket's (10 s unless its `timeout` option says).
        After an error or a timeout the client retries by itself (rejoinAfterMs): `next_join()` awaits those."""
        fields: dict[str, object] = {"channel": self.name}
        if timeout is not None:
            fields["timeout_ms"] = _ms(timeout)
        await self._driver.command("join", **fields)
        return await self.next_join(_bound(timeout))

    async def push_nowait(self, event: str, payload: object = None, timeout: float | None = None) -> str:
        """channel.push(event, payload, timeout); its id, for `reply()`. Pushed before the join's answer,
        the client buffers it and sends it once joined."""
        push_id = f"{self.name}#{next(self._push_ids)}"
        fields: dict[str, object] = {"channel": self.name, "event": event, "payload": payload or {}, "push_id": push_id}
        if timeout is not None:
            fields["timeout_ms"] = _ms(timeout)
        await self._driver.command("push", **fields)
        return push_id

    async def push(self, event: str, payload: object = None, timeout: float | None = None) -> Reply:
        """channel.push(event, payload, timeout), then its answer: ("ok" | "error", response) or ("timeout", {})."""
        return await self.reply(await self.push_nowait(event, payload, timeout), _bound(timeout))

    async def leave(self, timeout: float | None = None) -> Reply:
        """channel.leave(timeout), then its answer, which the client gives itself: it marks the channel leaving
        before asking whether it can push, so it answers ("ok", {}) at once, closes the channel (onClose gets
        "leave") and ignores the server's reply to the phx_leave it sends when connected."""
        fields: dict[str, object] = {"channel": self.name}
        if timeout is not None:
            fields["timeout_ms"] = _ms(timeout)
        before = len(self.leaves)
        await self._driver.command("leave", **fields)

        def check():
            return self.leaves[before] if len(self.leaves) > before else _PENDING

        return await self._wait("the leave's answer", check, _bound(timeout))

    def __repr__(self) -> str:
        return f"<PhoenixChannel {self.name} {self.topic}>"


class PhoenixClients:
    """The `phoenix` sockets of one test, all in one Node process (tests/js/phoenix_driver.mjs)."""

    SCRIPT = "phoenix_driver.mjs"
    PACKAGES = ("phoenix", "ws")

    def __init__(self) -> None:
        self.sockets: dict[str, PhoenixSocket] = {}
        self.channels: dict[str, PhoenixChannel] = {}
        self._driver: NodeDriver | None = None

    @classmethod
    async def start(cls) -> PhoenixClients:
        require_node(cls.SCRIPT, *cls.PACKAGES)
        clients = cls()
        clients._driver = await NodeDriver.start(cls.SCRIPT, clients._dispatch)
        return clients

    def _dispatch(self, report: dict) -> None:
        if "channel" in report:
            target: _Watched | None = self.channels.get(report["channel"])
        else:
            target = self.sockets.get(report.get("id"))
        if target is None:
            raise AssertionError(f"a report for no known socket or channel: {report}")
        target._record(report)

    def _free_channel_name(self, base: str) -> str:
        candidates: Iterable[str] = itertools.chain([base], (f"{base}#{n}" for n in itertools.count(2)))
        return next(name for name in candidates if name not in self.channels)

    async def socket(
        self, endpoint: str, params: dict | None = None, name: str | None = None, **options: object
    ) -> PhoenixSocket:
        """`new Socket(endpoint, {params, transport: WS, ...options})`, not connected yet: `connect()` it.
        `endpoint` is the one the documentation gives (ws://host:port/socket: the client adds /websocket,
        the params and vsn=2.0.0). `options` are the client's (heartbeatIntervalMs=50, timeout=2000, in ms),
        except that reconnectAfterMs and rejoinAfterMs are one constant delay in ms, and log=True writes
        the client's log to the driver's stderr (shown when the driver fails)."""
        name = name or f"socket{len(self.sockets) + 1}"
        assert name not in self.sockets, f"a socket named {name!r} already exists"
        socket = self.sockets[name] = PhoenixSocket(self, name, endpoint, params or {}, options)
        await self._driver.command("socket", id=name, endpoint=endpoint, params=params or {}, options=options)
        return socket

    async def close(self) -> None:
        """End the Node process, and with it every socket."""
        if self._driver is not None:
            await self._driver.stop()
