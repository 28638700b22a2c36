"""Socket.IO framing, spoken by hand over Engine.IO WebSockets: binary packets and their attachments, events
whose payload cannot be read, and Engine.IO sessions that never connect a namespace. Each case is checked on
what the node holds, on what the client is answered, and on the node serving others all along.

- No dialect uses binary attachments: a binary event is refused in its namespace's own words (its
  acknowledgement when it asked for one), its announced attachments (at most MAX_ATTACHMENTS) are dropped
  as they arrive, and a binary packet whose framing cannot be followed closes the connection.
- Every event that carries an ack id is acknowledged, whatever is wrong with its payload.
- An Engine.IO session with no Socket.IO namespace connected is closed after CONNECT_TIMEOUT.

The private methods of the libraries under the gateway are guarded in tests/realtime/test_library_pins.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from socketio import packet as sio_packet

from app.web import SERVICES
from tests.realtime.conftest import WAIT, eventually
from tests.realtime.raw import RawSocket

CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR)
MB = 1_000_000


# -- Socket.IO by hand, on any namespace ----------------------------------------------------------------------


def decode(frame: str) -> tuple[int, str, int | None, object]:
    """A server's Engine.IO message frame `4<type>[<namespace>,][<id>][<json>]`: (type, namespace, id, data)."""
    match = re.fullmatch(r"4(\d)(/[^,]*,)?(\d+)?(.*)", frame, re.S)
    assert match is not None, frame
    kind, namespace, ack_id, body = match.groups()
    return int(kind), (namespace or "/,")[:-1], None if ack_id is None else int(ack_id), json.loads(body or "null")


class Wire:
    """One Engine.IO session over a WebSocket, spoken by hand: Socket.IO packets as text, attachments as binary,
    every packet the server sends kept in order (`packets`: (type, namespace, id, data))."""

    def __init__(self, raw: RawSocket) -> None:
        self.raw = raw
        self.packets: list[tuple[int, str, int | None, object]] = []
        self.engine_closed = False  # the server sent Engine.IO's CLOSE

    @classmethod
    async def open(cls, node, query: str = "") -> Wire:
        """An Engine.IO session, opened, with no Socket.IO namespace connected."""
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT))
        try:
            ws = await session.ws_connect(node.url.rstrip("/") + "/socket.io/?EIO=4&transport=websocket" + query)
        except BaseException:
            await session.close()
            raise
        wire = cls(RawSocket(session, ws))
        opened = await wire.raw.frame()
        assert opened.startswith("0"), opened
        return wire

    async def connect(self, namespace: str, auth: dict) -> None:
        await self.send("40" + self.prefix(namespace) + json.dumps(auth))
        kind, _where, _id, data = await self.packet(lambda p: p[0] in (0, 4) and p[1] == namespace)
        assert kind == 0, data

    @staticmethod
    def prefix(namespace: str) -> str:
        return "" if namespace == "/" else namespace + ","

    async def send(self, frame: str | bytes) -> None:
        await self.raw.send(frame)

    async def packet(self, wanted: Callable[[tuple], bool], timeout: float = WAIT) -> tuple:
        """The next packet `wanted` selects, among those received since the last one it took."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for packet in self.packets:
                if wanted(packet):
                    self.packets.remove(packet)
                    return packet
            frame = await self.raw.frame(max(0.01, deadline - loop.time()))
            if frame == "1":
                self.engine_closed = True
                continue
            self.packets.append(decode(frame))

    async def ack(self, namespace: str, ack_id: int) -> object:
        _kind, _ns, _id, data = await self.packet(lambda p: p[0] == 3 and p[1] == namespace and p[2] == ack_id)
        return data[0] if data else None

    async def event(self, namespace: str, name: str) -> object:
        _kind, _ns, _id, data = await self.packet(lambda p: p[0] == 2 and p[1] == namespace and p[3][0] == name)
        return data[1] if len(data) > 1 else None

    def events(self, namespace: str, name: str) -> list:
        return [p[3][1] for p in self.packets if p[0] == 2 and p[1] == namespace and p[3][0] == name]

    async def closed(self, timeout: float = WAIT) -> float:
        """Wait (answering pings, keeping what arrives) until the server closes the WebSocket; seconds it took."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            left = started + timeout - loop.time()
            if left <= 0:
                raise AssertionError(f"the server did not close the connection within {timeout}s")
            message = await asyncio.wait_for(self.raw.ws.receive(), left)
            if message.type in CLOSED:
                return loop.time() - started
            if message.type == aiohttp.WSMsgType.TEXT:
                if message.data == "2":
                    await self.raw.ws.send_str("3")
                elif message.data == "1":
                    self.engine_closed = True
                else:
                    self.packets.append(decode(message.data))

    async def close(self) -> None:
        await self.raw.close()


@pytest.fixture
async def wires() -> AsyncIterator[Callable]:
    """wires(node, query="") -> an opened Engine.IO session with no namespace connected (closed when the test ends)."""
    opened: list[Wire] = []

    async def open_wire(node, query: str = "") -> Wire:
        wire = await Wire.open(node, query)
        opened.append(wire)
        return wire

    yield open_wire
    for wire in opened:
        await wire.close()


def numeric() -> str:
    return str(random.randrange(10**8, 10**9))


# Each namespace: how to connect as `user`, an event of its own that sends a message, and the payload of it
# for `room` with `content`.
NAMESPACES = {
    "/": {
        "auth": lambda node, user: {"token": node.token(user)},
        "send": "message:send",
        "payload": lambda room, content: {"room_id": room, "content": content},
    },
    "/chat": {
        "auth": lambda node, user: {"userId": int(user), "token": node.token(user)},
        "send": "send-message",
        "payload": lambda room, content: {
            "sender_id": 0,
            "conversation_id": int(room),
            "message_type": "text",
            "content": content,
        },
    },
    "/chat/": {
        "auth": lambda node, user: {"token": "Bearer " + node.token(user), "userId": user},
        "send": "chat:send_message",
        "payload": lambda room, content: {"roomId": room, "content": content, "type": "TEXT"},
    },
}


async def joined(node, wires, namespace: str, user: str) -> Wire:
    """An Engine.IO session with `user` connected on `namespace` (and its greeting, if any, received)."""
    wire = await wires(node)
    await wire.connect(namespace, NAMESPACES[namespace]["auth"](node, user))
    if namespace == "/":
        await wire.event("/", "session:ready")
    elif namespace == "/chat/":
        await wire.event("/chat/", "chat:init_data")
    return wire


def payload(namespace: str, room: str, content: object, user: str) -> dict:
    data = NAMESPACES[namespace]["payload"](room, content)
    if namespace == "/chat":
        data["sender_id"] = int(user)
    return data


def refusal_errors(contract, namespace: str, event: str | None, ack: object) -> list[str]:
    """What is wrong with `ack` as the namespace's acknowledgement of `event` (the document's refusal)."""
    channel = contract.sio[namespace]
    if event in channel.client_events:
        return contract.ack_errors(event, ack, channel)
    return contract.errors(channel.ack_failure, ack)


def refused(namespace: str, ack: object) -> bool:
    """Whether an acknowledgement is a refusal, in each namespace's shape (on `/chat`, send-message's is
    `{error}`, any other event's `{message, code}`, as its `error` event)."""
    if namespace == "/":
        return isinstance(ack, dict) and ack.get("ok") is False
    if namespace == "/chat" and isinstance(ack, dict) and {"message", "code"} <= ack.keys() and "id" not in ack:
        return True
    return isinstance(ack, dict) and "error" in ack


def refused_code(namespace: str, ack: dict) -> str | None:
    """The error code a refusal carries, in each namespace's shape (seed 001's `message-error` has none)."""
    return ack["error"]["code"] if namespace == "/" else ack.get("code")


async def still_serves(node, wire: Wire, namespace: str, room: str, user: str, ack_id: int = 90) -> None:
    """The connection takes a valid event again: a message is sent and acknowledged."""
    event = NAMESPACES[namespace]["send"]
    data = json.dumps([event, payload(namespace, room, "after the bad frame", user)])
    await wire.send("42" + wire.prefix(namespace) + str(ack_id) + data)
    ack = await wire.ack(namespace, ack_id)
    assert not refused(namespace, ack), ack


def pending_binary_bytes(node) -> int:
    """Bytes of binary attachments python-socketio holds for packets not yet complete, over every connection."""
    sio = node.app[SERVICES].socketio.sio
    return sum(
        len(attachment) for pending in sio._binary_packet.values() for attachment in getattr(pending, "attachments", ())
    )


async def room_for(node, namespace: str, user: str) -> str:
    return await node.rest.create_room(user, name=f"framing {namespace}")


def user_for(namespace: str, user_id) -> str:
    return numeric() if namespace == "/chat" else user_id("alice")


@pytest.fixture
def no_tracebacks(caplog):
    """Fails the test if anything was logged at ERROR or above (a client's bad frame is not the server's error)."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [(r.name, r.getMessage(), r.exc_info is not None) for r in errors]


# -- 1. binary attachments ------------------------------------------------------------------------------------


async def test_a_binary_event_announcing_a_flood_of_attachments_is_closed_and_the_node_holds_none_of_them(
    node, wires, user_id, no_tracebacks
):
    """Issue 14 #1: `45100000-[...]` then 1 MB binary frames. The node must not keep them: the packet announces
    more attachments than any packet may, so the connection is closed with the dialect's error, and what python-
    socketio holds for incomplete binary packets stays empty while the frames keep coming."""
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    other = await node.connect(bob)
    wire = await joined(node, wires, "/", alice)

    await wire.send('45100000-["presence:heartbeat",{"_placeholder":true,"num":0}]')
    attachment = bytes(MB)
    held = []
    with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
        for _ in range(40):
            await wire.send(attachment)
            await asyncio.sleep(0)
            held.append(pending_binary_bytes(node))
    await asyncio.sleep(0.2)  # what was sent is read
    held.append(pending_binary_bytes(node))
    assert max(held) == 0, f"the node held up to {max(held)} bytes of attachments ({len(held) - 1} frames sent)"
    await wire.closed()

    error = await wire.event("/", "error")
    assert error["code"] == "invalid_payload" and error["event"] is None and "attachments" in error["message"]
    assert any(p[:2] == (1, "/") for p in wire.packets) or wire.engine_closed  # Socket.IO DISCONNECT / Engine.IO close
    await eventually(lambda: node.hub.connection_count == 1, what="the closed connection's session to go")
    # Others are served all along.
    assert (await other.send(room, "still here"))["ok"]


@pytest.mark.parametrize("namespace", list(NAMESPACES))
async def test_a_binary_event_is_refused_in_its_namespaces_words_and_its_attachments_are_dropped(
    node, wires, user_id, contract, namespace, no_tracebacks
):
    """A well-formed binary event (two attachments, an ack id) gets the namespace's refusal as its acknowledgement;
    its two attachments are dropped as they arrive (none held, no error for them) and the connection goes on."""
    user = user_for(namespace, user_id)
    room = await room_for(node, namespace, user)
    wire = await joined(node, wires, namespace, user)
    event = NAMESPACES[namespace]["send"]
    data = payload(namespace, room, {"_placeholder": True, "num": 0}, user)
    data["extra"] = {"_placeholder": True, "num": 1}

    await wire.send("452-" + wire.prefix(namespace) + "7" + json.dumps([event, data]))
    ack = await wire.ack(namespace, 7)
    assert refused(namespace, ack), ack
    if namespace != "/chat":  # 001's send-message refusal is `{error}`, in its words only
        assert refused_code(namespace, ack) == "invalid_payload", ack
    assert refusal_errors(contract, namespace, event, ack) == []
    await wire.send(bytes(MB))
    await wire.send(b"\x01" * 1000)
    assert pending_binary_bytes(node) == 0

    await still_serves(node, wire, namespace, room, user)
    assert pending_binary_bytes(node) == 0
    # The attachments were taken as the event's, not as frames out of nowhere.
    errors = [p for p in wire.packets if p[0] == 2 and p[3][0] in ("error", "chat:error")]
    assert all("attachments" in json.dumps(p[3]) for p in errors), errors


async def test_a_binary_event_without_an_ack_gets_the_error_event_and_the_connection_goes_on(
    node, wires, user_id, no_tracebacks
):
    alice = user_id("alice")
    room = await node.rest.create_room(alice)
    wire = await joined(node, wires, "/", alice)
    await wire.send('451-["message:send",{"room_id":"' + room + '","content":{"_placeholder":true,"num":0}}]')
    await wire.send(b"attached")
    error = await wire.event("/", "error")
    assert error["code"] == "invalid_payload" and error["event"] == "message:send"
    await still_serves(node, wire, "/", room, alice)
    assert wire.events("/", "error") == []  # the attachment was the event's: no second error


# -- 6. every event with an ack id is acknowledged --------------------------------------------------------------

UNREADABLE = {
    "lone surrogate": lambda event, data: json.dumps([event, data]).replace("CONTENT", "\\ud800"),
    "invalid JSON": lambda event, data: '["' + event + '", {"room_id": ',
    "not an array": lambda event, data: json.dumps(data),
    "no event name": lambda _event, _data: "[]",
    "a name that is not a string": lambda _event, data: json.dumps([1, data]),
    "a lone surrogate in the name": lambda _event, data: '["\\udfff", ' + json.dumps(data) + "]",
}


@pytest.mark.parametrize("namespace", list(NAMESPACES))
@pytest.mark.parametrize("case", list(UNREADABLE))
async def test_an_event_with_an_ack_id_is_acknowledged_whatever_is_wrong_with_its_payload(
    node, wires, user_id, contract, namespace, case, no_tracebacks
):
    """Issue 14 #6: `421["message:send",{"room_id":"88","content":"\\ud800"}]` got only `error {event: null}`: a client
    awaiting the acknowledgement waited for ever. Each namespace answers with its own refusal."""
    user = user_for(namespace, user_id)
    room = await room_for(node, namespace, user)
    wire = await joined(node, wires, namespace, user)
    event = NAMESPACES[namespace]["send"]
    body = UNREADABLE[case](event, payload(namespace, room, "CONTENT", user))

    await wire.send("42" + wire.prefix(namespace) + "1" + body)
    ack = await wire.ack(namespace, 1)
    assert refused(namespace, ack), ack
    named = case in ("lone surrogate", "invalid JSON")  # the event's name is still readable
    if not (namespace == "/chat" and named):  # 001's send-message refusal is `{error}`, in its words only
        assert refused_code(namespace, ack) == "invalid_payload", ack
    assert refusal_errors(contract, namespace, event if named else None, ack) == []
    await still_serves(node, wire, namespace, room, user)


async def test_a_client_looping_bad_packets_gets_every_refusal_but_the_log_one_line(node, wires, user_id, caplog):
    """Each refusal is answered and counted; the WARNING log carries one line per session and interval, not one
    per packet (a client sending bad packets in a loop would flood it)."""
    caplog.set_level(logging.WARNING, logger="app.gateways.socketio.engine")
    user = user_for("/", user_id)
    room = await room_for(node, "/", user)
    wire = await joined(node, wires, "/", user)
    for n in range(1, 31):
        await wire.send(f'42{n}["message:send",{{"room_id":"{room}","content":"\\ud800"}}]')
    for n in range(1, 31):
        assert refused("/", await wire.ack("/", n))
    lines = [r for r in caplog.records if r.getMessage().startswith("refused a Socket.IO packet")]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    await still_serves(node, wire, "/", room, user)


async def test_the_issues_lone_surrogate_gets_the_canonical_refusal(node, wires, user_id, contract, no_tracebacks):
    alice = user_id("alice")
    room = await node.rest.create_room(alice)
    wire = await joined(node, wires, "/", alice)
    await wire.send('421["message:send",{"room_id":"88","content":"\\ud800"}]')
    ack = await wire.ack("/", 1)
    assert ack == {
        "ok": False,
        "error": {"code": "invalid_payload", "message": ack["error"]["message"]},
        "status": "error",
        "client_ref": None,
    }
    assert contract.ack_errors("message:send", ack) == []
    assert wire.events("/", "error") == []  # the acknowledgement says it: no error event besides
    await still_serves(node, wire, "/", room, alice)


# -- 7. framing the stream cannot recover from closes the connection ------------------------------------------

UNRECOVERABLE = {
    "no attachment count": ['451["x",{"_placeholder":true,"num":0}]'],
    "a non-integer num": ['451-["x",{"_placeholder":true,"num":"a"}]', b"attachment"],
    "a num beyond the attachments": ['451-["x",{"_placeholder":true,"num":1}]', b"attachment"],
    "a count too long to read": ['4512345678901-["x",{"_placeholder":true,"num":0}]', b"attachment"],
    "a binary header that is not JSON": ["451-[not json", b"attachment"],
    "a text packet where an attachment was due": ['452-["x",{"_placeholder":true,"num":0}]', b"one", '42["x"]'],
}


@pytest.mark.parametrize("case", list(UNRECOVERABLE))
async def test_a_framing_error_the_stream_cannot_recover_from_closes_the_connection_with_a_reason(
    node, wires, user_id, case, no_tracebacks
):
    """Issue 14 #7: after `451["x",{"_placeholder":true,"num":0}]` (no `-`) or a non-integer `num`, every later
    valid packet was answered "malformed Socket.IO packet" and the connection was never closed."""
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    other = await node.connect(bob)
    wire = await joined(node, wires, "/", alice)
    connections = node.hub.connection_count

    for frame in UNRECOVERABLE[case]:
        await wire.send(frame)
    with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
        await wire.send('421["room:join",{"room_id":"' + room + '"}]')  # what a wedged connection answered "malformed"
    await wire.closed()
    errors = wire.events("/", "error")
    assert len(errors) == 1, errors
    assert errors[0]["code"] == "invalid_payload" and errors[0]["event"] is None
    assert "malformed Socket.IO packet" != errors[0]["message"]  # it says why the connection is closed
    assert not any(p[0] == 3 for p in wire.packets)  # nothing after the framing error was taken
    await eventually(lambda: node.hub.connection_count == connections - 1, what="the session to go")
    assert pending_binary_bytes(node) == 0
    assert (await other.send(room, "others go on"))["ok"]


@pytest.mark.parametrize("namespace", ["/chat", "/chat/"])
async def test_closing_for_a_framing_error_tells_why_in_the_namespaces_own_error_event(
    node, wires, user_id, namespace, no_tracebacks
):
    user = user_for(namespace, user_id)
    wire = await joined(node, wires, namespace, user)
    await wire.send("451-" + wire.prefix(namespace) + '["x",{"_placeholder":true,"num":"zero"}]')
    await wire.closed()
    name = "error" if namespace == "/chat" else "chat:error"
    [error] = wire.events(namespace, name)
    assert error["code"] == "invalid_payload" and "attachment" in error["message"], error
    assert any(p[:2] == (1, namespace) for p in wire.packets)  # Socket.IO DISCONNECT: no reconnection loop


async def test_a_binary_frame_out_of_nowhere_is_refused_and_the_connection_goes_on(node, wires, user_id, no_tracebacks):
    alice = user_id("alice")
    room = await node.rest.create_room(alice)
    wire = await joined(node, wires, "/", alice)
    await wire.send(b"\x00\x01garbage")
    error = await wire.event("/", "error")
    assert error["code"] == "invalid_payload" and error["event"] is None
    await still_serves(node, wire, "/", room, alice)


# -- 8. Engine.IO sessions that never connect a namespace -------------------------------------------------------


def metric(text: str, name: str) -> float | None:
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return None if match is None else float(match.group(1))


async def scrape(node) -> str:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        async with session.get(node.url.rstrip("/") + "/metrics") as response:
            assert response.status == 200
            return await response.text()


async def test_engine_io_sessions_that_never_connect_a_namespace_are_counted_and_closed_after_connect_timeout(
    spawn, wires, user_id, no_tracebacks
):
    """Issue 14 #8: Engine.IO sessions that never sent the Socket.IO connect but answered pings were held for ever,
    and not counted anywhere. Now they are counted while open and closed after CONNECT_TIMEOUT (pings answered
    or not); connections that connect in time are not touched."""
    timeout = 1.0
    node = await spawn(CONNECT_TIMEOUT=timeout, PING_INTERVAL=1)
    alice = user_id("alice")
    room = await node.rest.create_room(alice)
    connected = await node.connect(alice)
    idle = [await wires(node) for _ in range(20)]
    late = await wires(node)
    opened = time.monotonic()

    text = await scrape(node)
    assert metric(text, "chat_engineio_sessions_unbound") == 21
    assert metric(text, "chat_connect_timeouts_total") == 0
    await asyncio.sleep(timeout / 3)
    await late.connect("/", {"token": node.token(alice)})  # in time

    took = await asyncio.gather(*(wire.closed(timeout + WAIT) for wire in idle))
    assert min(took) >= timeout - (time.monotonic() - opened) - 0.05, took
    assert time.monotonic() - opened < timeout + 2.0
    assert all(wire.engine_closed for wire in idle)  # Engine.IO's CLOSE, not a cut

    text = await scrape(node)
    assert metric(text, "chat_engineio_sessions_unbound") == 0
    assert metric(text, "chat_connect_timeouts_total") == 20
    # The connected ones were left alone.
    assert connected.connected and (await connected.send(room, "still here"))["ok"]
    await still_serves(node, late, "/", room, alice)


async def test_a_session_left_with_no_namespace_is_closed_after_connect_timeout_too(spawn, wires, user_id):
    node = await spawn(CONNECT_TIMEOUT=0.5)
    alice = user_id("alice")
    wire = await wires(node)
    await wire.connect("/", {"token": node.token(alice)})
    await asyncio.sleep(0.7)  # connected past the deadline: kept
    assert not wire.engine_closed
    await wire.send("41")  # leaves its only namespace, keeps the Engine.IO session
    await wire.closed(0.5 + WAIT)
    assert wire.engine_closed


async def test_a_refused_connect_does_not_hold_the_session_either(spawn, wires):
    node = await spawn(CONNECT_TIMEOUT=0.5)
    wire = await wires(node)
    await wire.send('40{"token":"not a token"}')
    _kind, _ns, _id, data = await wire.packet(lambda p: p[0] == 4)
    assert data["data"]["code"] == "invalid_token"  # connect_error: {message, data: {code, message}}
    await wire.closed(0.5 + WAIT)


def test_python_socketios_decoding_reads_the_header_before_the_data():
    """The gateway reads what an undecodable packet was (type, namespace, ack id) with python-socketio's own parser,
    its data left aside (app/gateways/socketio/framing.py): that parser must still take the header first."""
    from app.gateways.socketio.framing import header

    assert (lambda p: (p.packet_type, p.namespace, p.id))(header('2/chat,17["x", {"a": "\\ud800"}]')) == (
        sio_packet.EVENT,
        "/chat",
        17,
    )
    assert header("2/chat,17[not json") is not None
    assert header("x") is None
