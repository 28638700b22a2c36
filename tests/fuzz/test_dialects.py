"""Property-based fuzzing of the raw WebSocket dialects' frames (Phoenix Channels, seed 004's FastAPI socket,
seed 003's Django sockets), on one real node per module.

Each example opens a fresh connection of the fuzzed user, writes hostile frames on it (valid envelopes with
wrong types, huge and deep values, unknown events and topics, bad refs; JSON that does not parse, binary
frames, invalid UTF-8, frames over MAX_FRAME_BYTES; floods), then a probe frame the dialect always answers,
and checks:

- the connection is either serving (the probe is answered) or closed with a close code the server chooses
  (1009 for a frame over the limit, 1007 for text that is not UTF-8), and it is closed only for those;
- every frame that asks for an answer got exactly one (a Phoenix reply per frame, a FastAPI ack or error, a
  Django echo or error), and no frame got two;
- a witness in the same room still gets a message round trip (one user's Phoenix socket sends, the same
  user's FastAPI socket receives it);
- nothing was logged at ERROR, nor with a traceback at WARNING (bad input is logged at WARNING at most);
- the node forgets the connection once it is closed; at the end, the node's memory grew by less than a bound.

Socket.IO's namespaces are fuzzed by `test_socketio_frames`.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.web import SERVICES, create_app
from tests.fuzz.dialects import (
    CLOSE_CODES,
    LIMIT,
    WAIT,
    Frame,
    Node,
    Socket,
    Wire,
    any_value,
    broken_wire,
    deep,
    encode,
    hostile_int,
    hostile_text,
    json_wire,
    rss,
    unique,
    values,
    watching_log,
)

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    derandomize=not os.environ.get("FUZZ_RANDOM"),  # FUZZ_RANDOM=1 explores new examples (locally)
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
RSS_BOUND = 150 * 1024 * 1024  # what the node may grow by over the whole module, in bytes


# -- the node, its users and its witness ----------------------------------------------------------------------


@dataclass
class World:
    node: Node
    hub: object
    fuzzer: str  # the fuzzed user (username = id)
    witness: str  # the witness user (username = id)
    room: str  # a group room of both
    direct: str  # their direct room (seed 003's conversation)
    sender: Socket  # the witness's Phoenix socket, joined to both rooms
    receiver: Socket  # the witness's FastAPI socket (follows every room)
    watch: object
    baseline_sessions: int
    start_rss: int

    def token(self, user: str) -> str:
        return self.node.token(user, username=user)

    async def round_trip(self, room: str) -> None:
        """The witness sends in `room` on Phoenix and receives it on FastAPI."""
        text = "witness " + uuid.uuid4().hex
        ref = uuid.uuid4().hex
        assert await self.sender.send_text(
            json.dumps(["w", ref, f"chat:{room}", "send_message", {"content": text, "mobile_ref_id": ref}])
        )
        got = await self.receiver.wait(
            lambda: any(isinstance(f.data, dict) and f.data.get("content") == text for f in self.receiver.frames)
        )
        assert got, f"the witness's message in {room} did not come round (closed: {self.receiver.close_code})"
        replied = await self.sender.wait(lambda: any(_reply_to(f, ref) for f in self.sender.frames))
        assert replied, "the witness's send was not answered"
        self.sender.frames.clear()
        self.receiver.frames.clear()

    async def check_after(self, sockets: list[Socket], rooms: list[str]) -> None:
        for socket in sockets:
            await socket.close()
        for room in rooms:
            await self.round_trip(room)
        await eventually(lambda: self.hub.connection_count <= self.baseline_sessions)
        assert self.hub.connection_count == self.baseline_sessions, "the node kept a closed connection's session"
        assert not self.hub.topics.sessions_of(self.fuzzer), "the node still delivers to a closed connection"
        bad = self.watch.take()
        assert not bad, "logged while clients sent bad input:\n" + "\n".join(bad)


async def eventually(test: Callable[[], bool]) -> None:
    """Poll `test` until it holds, at most WAIT seconds (what the node does on a close is not observable)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not test() and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


def _reply_to(frame: Frame, ref: object) -> bool:
    data = frame.data
    return isinstance(data, list) and len(data) == 5 and data[1] == ref and data[3] == "phx_reply"


@pytest.fixture(scope="module")
async def world(make_settings, token):
    with watching_log() as watch:
        app = create_app(make_settings(MAX_FRAME_BYTES=LIMIT, MAX_PENDING_FRAMES=1000))
        node = await Node.start(app, token)
        hub = app[SERVICES].hub
        fuzzer, witness = unique("fuzzer"), unique("witness")
        for user in (fuzzer, witness):  # sign both in, with their usernames
            await node.rest("GET", "/api/v1/rooms", user, username=user)
        room = (
            await node.rest(
                "POST", "/api/v1/rooms", witness, {"name": "fuzz", "participants": [fuzzer]}, username=witness
            )
        )["id"]
        direct = (await node.rest("POST", "/api/v1/rooms/direct", witness, {"user_id": fuzzer}, username=witness))["id"]
        wtoken = token(witness, username=witness)
        sender = await Socket.open(node.ws(f"/socket/websocket?vsn=2.0.0&token={wtoken}"))
        for target in (room, direct):
            await sender.send_text(json.dumps(["w", f"join-{target}", f"chat:{target}", "phx_join", {}]))
            assert await sender.wait(lambda t=target: any(_reply_to(f, f"join-{t}") for f in sender.frames))
        receiver = await Socket.open(node.ws(f"/ws/{witness}?token={wtoken}"))
        world = World(node, hub, fuzzer, witness, room, direct, sender, receiver, watch, hub.connection_count, rss())
        await world.round_trip(room)
        await world.round_trip(direct)
        world.start_rss = rss()
        yield world
        await sender.close()
        await receiver.close()
        await node.stop()


# -- the run of one example --------------------------------------------------------------------------------------


def fill(value: object, names: dict[str, str], depth: int = 0) -> object:
    """The value with the placeholders $ROOM, $OTHER and $ME replaced (strings that are or start with one)."""
    if isinstance(value, str):
        for placeholder, name in names.items():
            value = value.replace(placeholder, name)
        return value
    if depth > 20:
        return value
    if isinstance(value, list):
        return [fill(item, names, depth + 1) for item in value]
    if isinstance(value, dict):
        return {fill(k, names, depth + 1): fill(v, names, depth + 1) for k, v in value.items()}
    return value


def closes(wire: Wire) -> bool:
    """Whether the server may close the connection for this frame: over the limit, or text not UTF-8."""
    if wire.raw is not None:
        data = wire.raw if isinstance(wire.raw, bytes) else wire.raw.encode()
        if not wire.binary and isinstance(wire.raw, bytes):
            try:
                wire.raw.decode()
            except UnicodeDecodeError:
                return True
        return len(data) > LIMIT
    return len(encode(wire.data, wire.ascii_only).encode()) > LIMIT


@dataclass
class Dialect:
    """How to fuzz one dialect: its path, its probe, what counts as an answer, what needs one."""

    path: Callable[[World], str]
    probe: Callable[[str], str]  # the probe frame for a marker
    probed: Callable[[Frame, str], bool]  # the probe's answer
    answer: Callable[[Frame, World], bool]  # a frame answering a client frame (the probe's excluded)
    needs: Callable[[Wire], tuple[int, int]]  # answers a frame gets: (at least, at most)
    greeted: Callable[[Frame], bool] | None = None  # the frame that says the socket is open


async def run(world: World, dialect: Dialect, wires: list[Wire], rooms: list[str]) -> None:
    names = {"$ROOM": world.room, "$DIRECT": world.direct, "$ME": world.fuzzer, "$OTHER": world.witness}
    wires = [Wire(fill(w.data, names), w.raw, w.binary, w.ascii_only) if w.raw is None else w for w in wires]
    socket = await Socket.open(world.node.ws(dialect.path(world)))
    try:
        await exercise(world, dialect, socket, wires)
    except BaseException:
        await socket.close()
        raise
    await world.check_after([socket], rooms)


async def exercise(world: World, dialect: Dialect, socket: Socket, wires: list[Wire]) -> None:
    """Write the frames and the probe; check what came back (see the top of the module)."""
    if dialect.greeted is not None:
        assert await socket.wait(lambda: any(dialect.greeted(f) for f in socket.frames)), socket.frames
    start = len(socket.frames)
    for wire in wires:
        if not await wire.write(socket):
            break
    marker = "probe-" + uuid.uuid4().hex
    await socket.send_text(dialect.probe(marker))
    served = await socket.wait(lambda: any(dialect.probed(f, marker) for f in socket.frames[start:]))
    shown = "\n".join(w.describe() for w in wires[:5])
    if not served:
        assert socket.closed, f"the connection neither answered nor closed after:\n{shown}"
        assert socket.close_code in CLOSE_CODES, f"closed with {socket.close_code} after:\n{shown}"
        assert any(closes(w) for w in wires), f"closed ({socket.close_code}) for frames it should answer:\n{shown}"
        return
    least = sum(dialect.needs(w)[0] for w in wires)
    most = sum(dialect.needs(w)[1] for w in wires)

    def answers() -> int:
        return sum(1 for f in socket.frames[start:] if dialect.answer(f, world) and not dialect.probed(f, marker))

    await socket.wait(lambda: answers() >= least)  # echoes come through the bus, maybe after the probe
    got = answers()
    assert least <= got <= most, (
        f"{got} answers, expected {least}..{most}, to:\n{shown}\ngot: {socket.frames[start:][:6]}"
    )


def flood(wire: st.SearchStrategy[Wire]) -> st.SearchStrategy[tuple[Wire, int]]:
    """A frame and how many times to write it, without waiting."""
    return st.tuples(wire, st.sampled_from([200, 1500]))


# -- Phoenix Channels (seed 000) -------------------------------------------------------------------------------

PHOENIX_TOPICS = [
    "chat:$ROOM",
    "chat:$DIRECT",
    "chat:1",
    "chat:",
    "notifications:$ME",
    "notifications:$OTHER",
    "phoenix",
    "room:lobby",
    "chat:$ROOM:x",
]
PHOENIX_EVENTS = ["phx_join", "phx_leave", "heartbeat", "send_message", "typing", "read", "phx_reply", "new_msg"]
PHOENIX_KEYS = ["content", "mobile_ref_id", "typing", "seq", "message_id", "since_seq", "last_seq"]
refs = st.one_of(st.none(), st.text(max_size=8), st.integers(-3, 10**6), hostile_int, values)
phoenix_payload = st.one_of(
    st.dictionaries(st.sampled_from(PHOENIX_KEYS), any_value, max_size=4),
    st.fixed_dictionaries({"content": st.one_of(hostile_text, any_value)}, optional={"mobile_ref_id": refs}),
    any_value,
)
phoenix_frame = st.tuples(
    refs,
    refs,
    st.one_of(st.sampled_from(PHOENIX_TOPICS), hostile_text, values),
    st.one_of(st.sampled_from(PHOENIX_EVENTS), hostile_text, values),
    phoenix_payload,
).map(list)
phoenix_wire = st.one_of(
    json_wire(phoenix_frame),
    json_wire(phoenix_frame),
    json_wire(st.one_of(st.lists(values, max_size=7), values)),
    broken_wire,
)


def _phoenix_answer(frame: Frame, _world: World) -> bool:
    data = frame.data
    return isinstance(data, list) and len(data) == 5 and data[3] in ("phx_reply", "phx_error")


PHOENIX = Dialect(
    path=lambda w: f"/socket/websocket?vsn=2.0.0&token={w.token(w.fuzzer)}",
    probe=lambda marker: json.dumps([None, marker, "phoenix", "heartbeat", {}]),
    probed=lambda f, marker: isinstance(f.data, list) and len(f.data) == 5 and f.data[1] == marker,
    answer=_phoenix_answer,
    needs=lambda wire: (1, 1),  # every frame: a reply, or phx_error for one that is not a V2 frame
)


@FUZZ
@given(frames=st.lists(phoenix_wire, min_size=1, max_size=4))
async def test_phoenix_frames(world, frames):
    # joined first: pushes reach the channel, not only "unmatched topic"
    join = Wire([None, "j", "chat:$ROOM", "phx_join", {}])
    await run(world, PHOENIX, [join, *frames], [world.room])


@settings(FUZZ, max_examples=6)
@given(frames=flood(phoenix_wire))
@example(frames=(Wire(raw=""), 1500))  # each answered at once: was cut as a slow consumer (1006)
async def test_phoenix_floods(world, frames):
    wire, times = frames
    await run(world, PHOENIX, [wire] * times, [world.room])


# -- seed 004's FastAPI socket ------------------------------------------------------------------------------------

FASTAPI_EVENTS = ["typing", "message_read", "heartbeat", "status_change", "message", "new_message", "error"]
fastapi_frame = st.one_of(
    st.fixed_dictionaries(
        {"event": st.one_of(st.sampled_from(FASTAPI_EVENTS), values)},
        optional={
            "conversationId": st.one_of(st.sampled_from(["$ROOM", "$DIRECT", "1", ""]), any_value),
            "messageId": any_value,
            "status": st.one_of(st.sampled_from(["available", "away", "busy", "offline", "online", "AWAY"]), any_value),
        },
    ),
    any_value,
)
fastapi_wire = st.one_of(json_wire(fastapi_frame), json_wire(fastapi_frame), broken_wire)


def _fastapi_needs(wire: Wire) -> tuple[int, int]:
    data = wire.data if wire.raw is None else None
    if isinstance(data, dict) and data.get("event") in ("typing", "message_read"):
        return (0, 1)  # answered only when refused
    return (1, 1)


FASTAPI = Dialect(
    path=lambda w: f"/ws/{w.fuzzer}?token={w.token(w.fuzzer)}",
    probe=lambda marker: json.dumps({"event": marker}),
    probed=lambda f, marker: isinstance(f.data, dict) and marker in str(f.data.get("message")),
    answer=lambda f, _w: (
        isinstance(f.data, dict) and f.data.get("event") in ("error", "heartbeat_ack", "status_change_ack")
    ),
    needs=_fastapi_needs,
)


@FUZZ
@given(frames=st.lists(fastapi_wire, min_size=1, max_size=4))
@example(frames=[Wire({"event": []})])  # an unhashable event name: was a TypeError that closed the socket (1000)
@example(frames=[Wire({"event": {"a": 1}, "conversationId": "$ROOM"})])
@example(frames=[Wire({"event": "typing", "conversationId": deep(300, "list")})])  # echoed: could not be encoded
async def test_fastapi_frames(world, frames):
    await run(world, FASTAPI, frames, [world.room])


@settings(FUZZ, max_examples=6)
@given(frames=flood(fastapi_wire))
@example(frames=(Wire(raw=""), 1500))
async def test_fastapi_floods(world, frames):
    wire, times = frames
    await run(world, FASTAPI, [wire] * times, [world.room])


# -- seed 003's Django sockets --------------------------------------------------------------------------------------

DJANGO_TYPES = ["chat_message", "read_messages", "user_join", "online_user_list", "unread_count", "error"]
django_frame = st.one_of(
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(DJANGO_TYPES), values)},
        optional={
            "message": st.one_of(hostile_text, any_value),
            "multimedia_url": any_value,
            "file_identifier": st.one_of(st.sampled_from(["1", "0", "$ROOM", ""]), any_value),
            "multimedia_url_expiration": any_value,
            "room": any_value,
        },
    ),
    any_value,
)
django_wire = st.one_of(json_wire(django_frame), json_wire(django_frame), broken_wire)


def _django_needs(wire: Wire) -> tuple[int, int]:
    data = wire.data if wire.raw is None else None
    if isinstance(data, dict) and data.get("type") == "read_messages":
        return (0, 1)  # answered only when refused
    return (1, 1)  # an error; for a chat_message, its echo or an error


def _django_answer(frame: Frame, world: World) -> bool:
    data = frame.data
    if not isinstance(data, dict):
        return False
    if data.get("type") == "chat_message":
        return data.get("from_user") == {"username": world.fuzzer}
    return data.get("type") == "error"


def django(path: Callable[[World], str], greeting: str) -> Dialect:
    return Dialect(
        path=path,
        probe=lambda marker: json.dumps({"type": marker}),
        probed=lambda f, marker: isinstance(f.data, dict) and marker in str(f.data.get("message")),
        answer=_django_answer,
        needs=_django_needs,
        greeted=lambda f: isinstance(f.data, dict) and f.data.get("type") == greeting,
    )


DJANGO = django(lambda w: f"/ws/{w.witness}/?token={w.token(w.fuzzer)}", "online_user_list")
DJANGO_NOTIFICATIONS = django(lambda w: f"/ws/notifications/?token={w.token(w.fuzzer)}", "unread_count")
DJANGO_ONE = django(
    lambda w: f"/ws/notifications/{w.witness}/?token={w.token(w.fuzzer)}", "single_conversation_unread_count"
)


@FUZZ
@given(frames=st.lists(django_wire, min_size=1, max_size=4))
async def test_django_conversation_frames(world, frames):
    await run(world, DJANGO, frames, [world.direct])


@settings(FUZZ, max_examples=60)
@given(frames=st.lists(django_wire, min_size=1, max_size=3), which=st.sampled_from([DJANGO_NOTIFICATIONS, DJANGO_ONE]))
async def test_django_notification_frames(world, frames, which):
    await run(world, which, [w for w in frames if not _chat(w)], [world.direct])


def _chat(wire: Wire) -> bool:
    return isinstance(wire.data, dict) and wire.data.get("type") in ("chat_message", "read_messages")


@settings(FUZZ, max_examples=6)
@given(frames=flood(django_wire))
@example(frames=(Wire(raw="{}"), 1500))
async def test_django_floods(world, frames):
    wire, times = frames
    await run(world, DJANGO, [wire] * times, [world.direct])


# -- connecting: paths and query strings -----------------------------------------------------------------------------

query_value = st.one_of(st.text(max_size=20), st.sampled_from(["$TOKEN", "", "2.0.0", "1.0.0", "%", "%ff", "a" * 5000]))


@settings(FUZZ, max_examples=80)
@given(
    path=st.sampled_from(
        [
            "/socket/websocket",
            "/ws/$ME",
            "/ws/$OTHER/",
            "/ws/notifications/",
            "/ws/notifications/$OTHER/",
            "/ws/$OTHER",
            "/ws/x%00/",
            "/ws/notifications/%ff/",
        ]
    ),
    query=st.dictionaries(
        st.sampled_from(["token", "vsn", "device_unique_id", "preferred_language", "userId"]), query_value, max_size=4
    ),
)
async def test_connecting_with_hostile_parameters_is_never_a_server_error(world, path, query):
    names = {"$ME": world.fuzzer, "$OTHER": world.witness, "$TOKEN": world.token(world.fuzzer)}
    url = world.node.ws(fill(path, names))
    params = {k: fill(v, names) for k, v in query.items()}

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        try:
            async with session.ws_connect(url, params=params):
                pass  # open (or refused after the upgrade, with a close code): either is an answer
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status < 500, f"{exc.status} for {url} {params}"
    await world.check_after([], [])


# -- Socket.IO ----------------------------------------------------------------------------------------------------
# The same invariants on the three namespaces, an acknowledgement for every event that asked for one included,
# over Engine.IO WebSockets spoken by hand (binary packets, half-sent attachments, unknown packet types).

SIO_EVENTS = {
    "/": ["message:send", "room:join", "room:leave", "presence:heartbeat", "typing:start", "room:read", "sync", "x"],
    "/chat": ["send-message", "join-conversation", "leave-conversation", "typing", "message", "x"],
    "/chat/": [
        "chat:send_message",
        "chat:join",
        "chat:leave",
        "chat:typing",
        "chat:presence",
        "chat:start_direct",
        "x",
    ],
}
SIO_PROBE = {"/": "presence:heartbeat", "/chat": "x-probe", "/chat/": "x-probe"}


@dataclass(frozen=True)
class SioEvent:
    """A Socket.IO event packet to write: its arguments (the first usually the event name), and whether it
    asks for an acknowledgement; or a raw text or bytes frame."""

    args: object = None
    ack: bool = False
    raw: str | bytes | None = None

    def __repr__(self) -> str:
        shown = repr(self.raw) if self.raw is not None else encode(self.args, True)
        return f"SioEvent({shown[:200]}, ack={self.ack})"


def sio_events(namespace: str) -> st.SearchStrategy[SioEvent]:
    payload = st.one_of(
        st.dictionaries(
            st.sampled_from(["room_id", "content", "client_ref", "conversationId", "roomId", "seq"]),
            any_value,
            max_size=4,
        ),
        any_value,
    )
    packet = st.one_of(
        st.tuples(st.one_of(st.sampled_from(SIO_EVENTS[namespace]), values), payload).map(list),
        st.lists(values, max_size=4),
        values,
    )
    return st.one_of(
        st.builds(SioEvent, args=packet, ack=st.booleans()),
        st.builds(
            SioEvent,
            raw=st.sampled_from(
                [
                    "42",
                    "42[",
                    "43",
                    '451-["x",{"_placeholder":true,"num":0}]',
                    "4",
                    "9",  # no such Engine.IO packet type: python-engineio logged it at ERROR (engine.EngineLog)
                    "2",
                    "40",
                    "44",
                    '42["x"',
                    "x" * (LIMIT + 5),
                ]
            ),
        ),
        st.builds(SioEvent, raw=st.binary(max_size=32)),
    )


async def sio_open(world: World, namespace: str) -> tuple[Socket, str]:
    me, tok = world.fuzzer, world.token(world.fuzzer)
    query = f"&userId={me}&token={tok}" if namespace == "/chat" else ""
    socket = await Socket.open(world.node.ws(f"/socket.io/?EIO=4&transport=websocket{query}"))
    prefix = "" if namespace == "/" else namespace + ","
    auth = (
        {"token": tok}
        if namespace == "/"
        else {"token": f"Bearer {tok}", "userId": me}
        if namespace == "/chat/"
        else {}
    )
    assert await socket.wait(lambda: any((f.text or "").startswith("0") for f in socket.frames))
    await socket.send_text("40" + prefix + json.dumps(auth))
    assert await socket.wait(lambda: any((f.text or "").startswith("40" + prefix) for f in socket.frames)), (
        socket.frames
    )
    return socket, prefix


@settings(FUZZ, max_examples=int(os.environ.get("FUZZ_SOCKETIO_EXAMPLES", "60")))
@given(data=st.data(), namespace=st.sampled_from(["/", "/chat", "/chat/"]))
async def test_socketio_frames(world, data, namespace):
    events = data.draw(st.lists(sio_events(namespace), min_size=1, max_size=4), label="events")
    socket, prefix = await sio_open(world, namespace)
    try:
        start = len(socket.frames)
        asked: list[int] = []
        for number, event in enumerate(events, 100):
            if event.raw is not None:
                sent = await (
                    socket.send_raw(event.raw, True) if isinstance(event.raw, bytes) else socket.send_text(event.raw)
                )
            else:
                body = encode(event.args, True)
                # `42<id>0` is ack id <id>0 with no data: a body starting with a digit cannot follow an ack id
                ack = event.ack and not body[:1].isdigit()
                asked += [number] if ack else []
                sent = await socket.send_text("42" + prefix + (str(number) if ack else "") + body)
            if not sent:
                break
        await socket.send_text("42" + prefix + "99" + json.dumps([SIO_PROBE[namespace], {}]))

        def acked(number: int) -> bool:
            head = f"43{prefix}{number}["
            return any((f.text or "").startswith(head) for f in socket.frames[start:])

        served = await socket.wait(lambda: acked(99))
        if not served:
            assert socket.closed, f"neither serving nor closed after {events}"
            assert socket.close_code in CLOSE_CODES | {1000}, f"closed with {socket.close_code} after {events}"
            return
        missing = [n for n in asked if not acked(n)]
        assert not missing, f"events {missing} were never acknowledged: {events}"
    finally:
        await world.check_after([socket], [world.room])


# -- memory ---------------------------------------------------------------------------------------------------------


async def test_the_node_memory_stayed_bounded(world):
    """Last in the module: what every example above left behind."""
    grown = rss() - world.start_rss
    print(f"the node grew by {grown / 2**20:.1f} MiB over the module")
    assert grown < RSS_BOUND, f"the node grew by {grown / 2**20:.0f} MiB"
    assert world.hub.connection_count == world.baseline_sessions
