"""Bad input: wrong payloads, unknown events, broken packets, oversized frames and floods are refused with a
stable code, never crash the node, never store anything, and never disturb other connections."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.realtime.conftest import QUIET, WAIT, Client, eventually

ROOM = "<room>"  # replaced by the test's room id


def _fill(value: object, room_id: str) -> object:
    if value == ROOM:
        return room_id
    if isinstance(value, dict):
        return {k: _fill(v, room_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, room_id) for v in value]
    return value


def _nested(depth: int) -> object:
    value: object = "core"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


# (event, payload, the field named in details.fields)
WRONG_PAYLOADS = [
    ("room:join", "a string", "_schema"),
    ("room:join", ["a", "list"], "_schema"),
    ("room:join", 42, "_schema"),
    ("room:join", None, "_schema"),
    ("room:join", True, "_schema"),
    ("room:join", {}, "room_id"),
    ("room:join", {"room_id": {"nested": [1, {"deeper": None}]}}, "room_id"),
    ("room:join", {"room_id": True}, "room_id"),
    ("room:join", {"room_id": ""}, "room_id"),
    ("room:join", {"room_id": 1.5}, "room_id"),
    ("room:join", {"room_id": "x" * 256}, "room_id"),
    ("room:join", {"room_id": ROOM, "since_seq": -1}, "since_seq"),
    ("room:join", {"room_id": ROOM, "since_seq": "3"}, "since_seq"),
    ("room:join", {"room_id": ROOM, "since_seq": 1.5}, "since_seq"),
    ("room:join", {"room_id": ROOM, "since_seq": 2**62 + 1}, "since_seq"),
    ("room:leave", None, "_schema"),
    ("room:leave", {"room_id": {}}, "room_id"),
    ("message:send", "hello", "_schema"),
    ("message:send", ["hello"], "_schema"),
    ("message:send", 3.14, "_schema"),
    ("message:send", None, "_schema"),
    ("message:send", {"room_id": ROOM}, "content"),
    ("message:send", {"content": "no room"}, "room_id"),
    ("message:send", {"room_id": ROOM, "content": 123}, "content"),
    ("message:send", {"room_id": ROOM, "content": None}, "content"),
    ("message:send", {"room_id": ROOM, "content": {"text": "hi"}}, "content"),
    ("message:send", {"room_id": ROOM, "content": _nested(200)}, "content"),
    ("message:send", {"room_id": [ROOM], "content": "hi"}, "room_id"),
    ("message:send", {"room_id": ROOM, "content": "hi", "client_ref": 5}, "client_ref"),
    ("message:send", {"room_id": ROOM, "content": "hi", "type": "sticker"}, "type"),
    ("sync", "rooms", "_schema"),
    ("sync", {}, "rooms"),
    ("sync", {"rooms": "all"}, "rooms"),
    ("sync", {"rooms": [1, 2]}, "rooms"),
    ("sync", {"rooms": [{"since_seq": 1}]}, "rooms"),
    ("sync", {"rooms": [{"room_id": ROOM, "since_seq": -5}]}, "rooms"),
    ("sync", {"rooms": [{"room_id": ROOM}] * 501}, "rooms"),
    ("direct:start", None, "_schema"),
    ("direct:start", {"user_id": None}, "user_id"),
    ("direct:start", {"user_id": ["bob"]}, "user_id"),
    ("direct:start", {"user_id": ""}, "user_id"),
]


@pytest.fixture
async def pair(node, rest, user_id):
    """alice (connected, the one misbehaving) and bob (connected, joined) in a room."""
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a, b = await node.connect(alice), await node.connect(bob)
    await b.join(room)
    return room, a, b


async def assert_unharmed(node, room: str, a, b, seq: int = 1) -> None:
    """Nothing was stored, and both connections still work: the next message gets `seq` and reaches bob."""
    assert a.connected and b.connected
    answer = await a.send(room, "after the bad input")
    assert answer["ok"], answer
    assert answer["data"]["seq"] == seq
    assert (await b.wait_message(room, seq))["content"] == "after the bad input"
    assert b.seqs(room) == list(range(1, seq + 1))


@pytest.mark.parametrize(("event", "payload", "field"), WRONG_PAYLOADS, ids=lambda v: str(v)[:40])
async def test_a_payload_of_the_wrong_shape_is_refused_with_invalid_payload_naming_the_field(
    node, pair, event, payload, field
):
    room, a, b = pair
    answer = await a.ack(event, _fill(payload, room))
    assert answer["ok"] is False, answer
    error = answer["error"]
    assert error["code"] == "invalid_payload" and error["message"]
    assert field in error["details"]["fields"], error["details"]
    if event == "message:send":
        assert answer["status"] == "error" and answer["client_ref"] is None
    await assert_unharmed(node, room, a, b)


@pytest.mark.parametrize(
    "client_ref", ["", "x" * 129, "tab\there", "nul\x00"], ids=["empty", "too-long", "unprintable", "nul"]
)
async def test_an_unusable_client_ref_is_refused_with_invalid_payload(node, pair, client_ref):
    room, a, b = pair
    answer = await a.send(room, "hi", client_ref=client_ref)
    assert answer["ok"] is False and answer["error"]["code"] == "invalid_payload"
    assert "client_ref" in answer["error"]["details"]["fields"]
    assert answer["status"] == "error" and answer["client_ref"] == client_ref  # echoed, so the client can match it
    await assert_unharmed(node, room, a, b)


async def test_extra_arguments_are_refused_as_an_invalid_payload(node, pair):
    room, a, b = pair
    answer = await a.ack("message:send", ({"room_id": room, "content": "hi"}, "extra"))
    assert answer["ok"] is False and answer["error"]["code"] == "invalid_payload"
    await assert_unharmed(node, room, a, b)


async def test_unknown_fields_are_ignored(node, pair):
    room, a, b = pair
    answer = await a.ack("message:send", {"room_id": room, "content": "hi", "priority": "high", "extra": [1]})
    assert answer["ok"] and answer["data"]["seq"] == 1
    await b.wait_message(room, 1)


async def test_an_unknown_event_is_answered_with_unknown_event(node, pair):
    room, a, b = pair
    for name in ("nope", "message:explode", "room:join:now", "MESSAGE:SEND"):
        answer = await a.ack(name, {"room_id": room})
        assert answer == {"ok": False, "error": {"code": "unknown_event", "message": f"unknown event {name!r}"}}
    await assert_unharmed(node, room, a, b)


# -- events sent without an acknowledgement callback ---------------------------------------------------------


async def test_a_failure_without_a_callback_arrives_as_an_error_event_with_the_event_and_client_ref(node, pair):
    room, a, b = pair
    mark = len(a.received)
    await a.emit("message:send", {"room_id": "424242424242", "content": "lost", "client_ref": "ref-9"})
    error = await a.next("error", after=mark)
    assert error == {
        "code": "room_not_found",
        "message": error["message"],
        "event": "message:send",
        "client_ref": "ref-9",
    }

    mark = len(a.received)
    await a.emit("room:join", "garbage")
    error = await a.next("error", after=mark)
    assert error["code"] == "invalid_payload" and error["event"] == "room:join" and "client_ref" not in error
    assert error["details"]["fields"]["_schema"]

    mark = len(a.received)
    await a.emit("message:send", {"room_id": room, "content": "   ", "client_ref": "blank-1"})
    error = await a.next("error", after=mark)
    assert (error["code"], error["event"], error["client_ref"]) == ("content_empty", "message:send", "blank-1")

    mark = len(a.received)
    await a.emit("message:send", {"room_id": room, "content": "x" * 4001, "client_ref": "long-1"})
    error = await a.next("error", after=mark)
    assert (error["code"], error["client_ref"]) == ("content_too_long", "long-1")

    mark = len(a.received)
    await a.emit("what:ever", {"client_ref": "ref-10"})
    error = await a.next("error", after=mark)
    assert error == {
        "code": "unknown_event",
        "message": "unknown event 'what:ever'",
        "event": "what:ever",
        "client_ref": "ref-10",
    }
    await assert_unharmed(node, room, a, b)


async def test_a_success_without_a_callback_sends_no_error_and_the_message_is_delivered(node, pair):
    room, a, b = pair
    await a.join(room)
    await a.emit("message:send", {"room_id": room, "content": "no callback", "client_ref": "quiet-1"})
    assert (await b.wait_message(room, 1))["client_ref"] == "quiet-1"
    await a.wait_message(room, 1)
    assert a.names() == ["session:ready", "message:new"]


# -- malformed packets ---------------------------------------------------------------------------------------

MALFORMED_PACKETS = [
    '2["message:send", {"room_id": ',  # invalid JSON
    "2[invalid",
    '2{"room_id": "1"}',  # an event that is not an array
    "2[]",  # no event name
    "2",  # no data at all
    "2null",
    '2"message:send"',
    "2[1]",  # a name that is not a string
    '2[null, {"room_id": "1"}]',
    '2[["message:send"]]',
    "9",  # no such packet type
    "4{}",  # CONNECT_ERROR from a client
    "x",
]


@pytest.mark.parametrize("frame", MALFORMED_PACKETS)
async def test_a_malformed_packet_gets_an_invalid_payload_error_and_the_connection_stays_usable(node, pair, frame):
    room, a, b = pair
    mark = len(a.received)
    await a.eio.send(frame)
    error = await a.next("error", after=mark)
    assert error["code"] == "invalid_payload" and error["event"] is None and error["message"]
    await assert_unharmed(node, room, a, b)
    assert a.all("error") == [error]


@pytest.mark.parametrize(
    "frame",
    ['2["disconnect"]', '2["disconnect", "client namespace disconnect"]', '2["connect"]', '2["connect", {}, {}]'],
)
async def test_a_client_event_named_like_a_reserved_event_is_unknown_and_changes_nothing(node, pair, frame):
    room, a, b = pair
    connections = node.hub.connection_count
    mark = len(a.received)
    await a.eio.send(frame)
    error = await a.next("error", after=mark)
    assert error["code"] == "unknown_event" and error["event"] in ("connect", "disconnect")
    assert node.hub.connection_count == connections
    await assert_unharmed(node, room, a, b)
    # The connection is still signed in as alice and still follows its rooms.
    await a.join(room)
    assert (await a.send(room, "still alice"))["data"]["seq"] == 2
    assert (await a.wait_message(room, 2))["sender_id"] == b.all("message:new")[0]["sender_id"]


async def test_a_reserved_event_name_in_a_connect_attempt_cannot_switch_the_user(node, pair, token, user_id):
    room, a, b = pair
    eve = user_id("eve")
    mark = len(a.received)
    await a.eio.send(f'2["connect", {{}}, {{"token": "{token(eve)}"}}]')
    error = await a.next("error", after=mark)
    assert error["code"] == "unknown_event"
    answer = await a.send(room, "who am i")
    assert answer["ok"]
    assert (await b.wait_message(room, 1))["sender_id"] != eve


async def test_raw_socket_io_over_a_websocket_refuses_bad_frames_and_keeps_serving(node, pair, raw_socket, contract):
    room, a, b = pair
    raw = await raw_socket(node, a.label)  # alice again, by hand

    await raw.send("42[not json")
    error = await raw.event("error")
    assert error == {"code": "invalid_payload", "message": error["message"], "event": None}

    await raw.send("42" + "[" * 5000 + "]" * 5000)  # nested deeper than the JSON decoder goes
    assert (await raw.event("error"))["code"] == "invalid_payload"

    await raw.send(b"\x00\x01garbage")  # a binary frame out of nowhere
    await raw.send('421["room:join",{"room_id":"' + room + '"}]')
    joined = await raw.ack(1)
    assert joined["ok"] and joined["data"]["room_id"] == room

    await raw.send('422["message:send",{"room_id":"' + room + '","content":"raw hello","client_ref":"raw-1"}]')
    sent = await raw.ack(2)
    assert sent["ok"] and sent["data"]["seq"] == 1
    assert (await raw.event("message:new"))["content"] == "raw hello"
    assert (await b.wait_message(room, 1))["client_ref"] == "raw-1"

    for name, data in raw.events:
        assert contract.server_event_errors(name, data) == [], (name, data)
    for event, answer in (("room:join", joined), ("message:send", sent)):
        assert contract.ack_errors(event, answer) == []


# -- oversized frames ----------------------------------------------------------------------------------------


async def test_an_oversized_frame_closes_only_that_connection_and_stores_nothing(spawn, user_id):
    node = await spawn(MAX_FRAME_BYTES=4096, MAX_MESSAGE_LENGTH=100_000)
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    big, other = await node.connect(alice, label="alice-big"), await node.connect(alice, label="alice-other")
    b = await node.connect(bob)
    await b.join(room)
    connections = node.hub.connection_count

    # Under the limit is fine.
    assert (await big.send(room, "y" * 3000))["data"]["seq"] == 1
    await b.wait_message(room, 1)

    await big.emit("message:send", {"room_id": room, "content": "x" * 5000, "client_ref": "too-big"})
    await big.wait_gone()
    await eventually(lambda: node.hub.connection_count == connections - 1, what="the gateway to drop it")

    assert other.connected and b.connected
    answer = await other.send(room, "small again", client_ref="too-big")  # the ref was never used
    assert answer["ok"] and answer["data"]["seq"] == 2 and answer["data"]["duplicate"] is False
    await b.wait_message(room, 2)
    assert [m["content"][:5] for m in b.messages(room)] == ["yyyyy", "small"]
    history = await node.rest.history(bob, room)
    assert [m["seq"] for m in history["messages"]] == [1, 2]


async def test_an_oversized_websocket_frame_is_closed_with_1009(spawn, user_id, raw_socket):
    node = await spawn(MAX_FRAME_BYTES=4096)
    alice = user_id("alice")
    room = await node.rest.create_room(alice)
    raw = await raw_socket(node, alice)
    await raw.send('42["message:send",{"room_id":"' + room + '","content":"' + "z" * 5000 + '"}]')
    message = await asyncio.wait_for(raw.ws.receive(), WAIT)
    while message.type == aiohttp.WSMsgType.TEXT:  # a ping may come first
        message = await asyncio.wait_for(raw.ws.receive(), WAIT)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert raw.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert (await node.rest.history(alice, room))["last_seq"] == 0


async def test_an_oversized_long_polling_payload_closes_only_that_connection_and_stores_nothing(spawn, user_id):
    node = await spawn(MAX_FRAME_BYTES=4096, MAX_MESSAGE_LENGTH=100_000)
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    poller = Client("alice-polling")
    node.clients.append(poller)
    await poller.connect(node.url, auth={"token": node.token(alice)}, transports=["polling"], wait_timeout=5)
    await poller.next("session:ready")
    b = await node.connect(bob)
    await b.join(room)
    assert (await poller.send(room, "small"))["data"]["seq"] == 1

    await poller.emit("message:send", {"room_id": room, "content": "x" * 5000})
    await poller.wait_gone()
    assert b.connected
    assert (await b.send(room, "bob goes on"))["data"]["seq"] == 2
    await b.wait_message(room, 2)
    assert [m["seq"] for m in (await node.rest.history(bob, room))["messages"]] == [1, 2]


# -- content length ------------------------------------------------------------------------------------------


async def test_content_too_long_is_refused_and_the_connection_stays(node, pair):
    room, a, b = pair
    answer = await a.send(room, "x" * 4001, client_ref="long")
    assert answer == {
        "ok": False,
        "error": {
            "code": "content_too_long",
            "message": answer["error"]["message"],
            "details": {"max_length": 4000, "length": 4001},
        },
        "status": "error",
        "client_ref": "long",
    }
    await assert_unharmed(node, room, a, b)
    exactly = await a.send(room, "x" * 4000)
    assert exactly["ok"] and exactly["data"]["seq"] == 2


# -- floods --------------------------------------------------------------------------------------------------


async def test_a_connection_flooding_events_is_rate_limited_and_nobody_else_is(spawn, user_id):
    node = await spawn(EVENT_RATE=2, EVENT_BURST=5)
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    flooder, calm = await node.connect(alice, label="flooder"), await node.connect(alice, label="alice-calm")
    b = await node.connect(bob)

    answers = [await flooder.fire("room:leave", {"room_id": room}) for _ in range(12)]
    answers = [await asyncio.wait_for(answer, WAIT) for answer in answers]
    assert all(answer["ok"] for answer in answers[:5])
    limited = [answer for answer in answers if not answer["ok"]]
    assert len(limited) >= 5  # 7, unless the bucket refilled a token while the flood was read
    for answer in limited:
        assert answer["error"]["code"] == "rate_limited" and answer["error"]["details"]["retry_after"] > 0

    mark = len(flooder.received)
    await flooder.emit("room:leave", {"room_id": room})  # no callback: an error event
    error = await flooder.next("error", after=mark)
    assert error["code"] == "rate_limited" and error["event"] == "room:leave" and error["details"]["retry_after"] > 0

    # Another connection of the same user and another user have their own budget.
    await calm.join(room)
    await b.join(room)
    for i in range(4):
        assert (await b.send(room, f"bob {i}"))["ok"]
    await calm.wait_message(room, 4)

    # The flooder recovers once its bucket refills.
    await asyncio.sleep(0.6)
    assert (await flooder.ack("room:leave", {"room_id": room}))["ok"]
    assert flooder.connected


async def test_unknown_events_count_against_the_connections_event_budget(spawn, user_id):
    node = await spawn(EVENT_RATE=0.2, EVENT_BURST=3)
    client = await node.connect(user_id("alice"))
    answers = [await client.fire("no:such:event", {"n": i}) for i in range(8)]
    codes = [(await asyncio.wait_for(answer, WAIT))["error"]["code"] for answer in answers]
    assert codes[:3] == ["unknown_event"] * 3
    assert codes[3:] == ["rate_limited"] * 5
    answer = await client.ack("room:leave", {"room_id": "1"})
    assert answer["ok"] is False and answer["error"]["code"] == "rate_limited"


async def test_a_user_flooding_messages_is_rate_limited_across_devices_and_nobody_else_is(spawn, user_id):
    node = await spawn(MESSAGE_RATE=0.5, MESSAGE_BURST=3)
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await node.rest.create_room(alice, bob, carol)
    a1, a2 = await node.connect(alice, label="alice-1"), await node.connect(alice, label="alice-2")
    b, c = await node.connect(bob), await node.connect(carol)
    await c.join(room)

    answers = [await a1.send(room, f"a{i}", client_ref=f"a{i}") for i in range(5)]
    assert [answer["ok"] for answer in answers] == [True, True, True, False, False]
    for i, answer in enumerate(answers[3:], start=3):
        assert answer["error"]["code"] == "rate_limited" and answer["status"] == "error"
        assert answer["client_ref"] == f"a{i}"
        assert 0 < answer["error"]["details"]["retry_after"] <= 2.0
    other_device = await a2.send(room, "from the phone")
    assert other_device["ok"] is False and other_device["error"]["code"] == "rate_limited"

    # Bob's budget is his own.
    for i in range(3):
        assert (await b.send(room, f"b{i}"))["ok"]
    await c.wait_message(room, 6)
    await asyncio.sleep(QUIET)
    assert [m["content"] for m in c.messages(room)] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert (await node.rest.history(carol, room))["last_seq"] == 6
    assert a1.connected and a2.connected
