"""The Node `phoenix` harness itself (tests/phoenix.py, tests/js/phoenix_driver.mjs), against a tiny aiohttp server
speaking Phoenix Channels V2 JSON: what the official client sends reaches the server as the wire's arrays, and what
the server does (replies, pushes, closes, a refused upgrade) reaches the test as the client saw it."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import WSMsgType, web

from tests.phoenix import Close, Frame, PhoenixClients, Reply


class PhoenixServer:
    """GET /socket/websocket, Phoenix V2 JSON ([join_ref, ref, topic, event, payload]):
    - refuses the upgrade with 403 when the token param is "bad";
    - answers heartbeats, and phx_leave, with ok;
    - answers phx_join with ok (echoing the join params) but with error on "denied:*" topics, and not at all on
      "slow:*" ones;
    - answers a push "echo" with ok {"echo": payload}, "fail" with error, "silence" not at all;
    - on "emit", replies ok then pushes each of payload["events"] ([event, payload]) with a null join_ref;
    - on "kick", closes the channel (phx_close); on "drop", closes the connection.
    It keeps each connection's query, every message received and the close code of each connection."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []
        self.received: list[list] = []
        self.close_codes: list[int | None] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/socket/websocket", self.socket)
        return app

    def joins(self, topic: str) -> list[dict]:
        """The payloads of the phx_join of `topic` received, in order."""
        return [payload for _, _, t, event, payload in self.received if t == topic and event == "phx_join"]

    async def socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("token") == "bad":
            return web.Response(status=403, text="forbidden")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.queries.append(dict(request.query))
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            join_ref, ref, topic, event, payload = frame = json.loads(message.data)
            self.received.append(frame)

            async def reply(status: str, response: object, ws=ws, join_ref=join_ref, ref=ref, topic=topic) -> None:
                await ws.send_json([join_ref, ref, topic, "phx_reply", {"status": status, "response": response}])

            if event in ("heartbeat", "phx_leave", "echo"):
                await reply("ok", {"echo": payload} if event == "echo" else {})
            elif event == "phx_join" and topic.startswith("denied:"):
                await reply("error", {"reason": "unauthorized"})
            elif event == "phx_join" and not topic.startswith("slow:"):
                await reply("ok", {"joined": topic, "params": payload})
            elif event == "fail":
                await reply("error", {"reason": "nope"})
            elif event == "emit":
                await reply("ok", {})
                for name, body in payload["events"]:
                    await ws.send_json([None, None, topic, name, body])
            elif event == "kick":
                await ws.send_json([join_ref, join_ref, topic, "phx_close", {}])
            elif event == "drop":
                await ws.close()
        self.close_codes.append(ws.close_code)
        return ws


@pytest.fixture
async def phoenix(aiohttp_server) -> tuple[PhoenixServer, str]:
    """The server on a real port, and the endpoint the client is given (it appends /websocket)."""
    server = PhoenixServer()
    running = await aiohttp_server(server.app())
    return server, f"ws://{running.host}:{running.port}/socket"


PARAMS = {"token": "t0k", "device_unique_id": "device-1", "preferred_language": "EN"}


async def test_the_documented_connection_joins_pushes_and_receives(phoenix_clients: PhoenixClients, phoenix):
    server, endpoint = phoenix
    socket = await phoenix_clients.socket(endpoint, PARAMS)
    await socket.connect()
    await socket.opened()
    assert server.queries == [{**PARAMS, "vsn": "2.0.0"}]

    chat = await socket.channel("chat:674b", {"k": 1})
    joined = await chat.join(5)
    assert joined == Reply("ok", {"joined": "chat:674b", "params": {"k": 1}})
    assert chat.joins == [joined]
    join_ref = server.received[-1][0]
    assert server.received[-1] == [join_ref, join_ref, "chat:674b", "phx_join", {"k": 1}]

    assert await chat.push("echo", {"content": "héllo ✓", "mobile_ref_id": "r1"}) == Reply(
        "ok", {"echo": {"content": "héllo ✓", "mobile_ref_id": "r1"}}
    )
    assert server.received[-1][:4] == [join_ref, server.received[-1][1], "chat:674b", "echo"]
    assert await chat.push("fail") == Reply("error", {"reason": "nope"})

    # Events pushed by the server with a null join_ref reach the channel, in order; next() passes over others.
    await chat.push("emit", {"events": [["message_sent", {"mobile_ref_id": "r1"}], ["receive_message", {"seq": 1}]]})
    assert await chat.next("receive_message", seq=1) == {"seq": 1}
    assert await chat.next("message_sent") == {"mobile_ref_id": "r1"}
    event = chat.events[[seen["event"] for seen in chat.events].index("receive_message")]
    assert event == {"event": "receive_message", "payload": {"seq": 1}, "ref": None, "join_ref": None}
    assert chat.received("receive_message") == [{"seq": 1}]
    await chat.quiet(0.1, "receive_message")
    # The socket saw every message as its array, replies included.
    assert Frame(None, None, "chat:674b", "receive_message", {"seq": 1}) in socket.frames
    assert (await socket.next_frame(topic="chat:674b", event="phx_reply")).payload["status"] == "ok"

    # Two channels on one socket keep their own events.
    notifications = await socket.channel("notifications:6745")
    assert (await notifications.join()).status == "ok"
    await notifications.push("emit", {"events": [["new_notification", {"id": "n1"}]]})
    assert await notifications.next("new_notification") == {"id": "n1"}
    await chat.quiet(0.1, "new_notification")

    # The client answers a leave itself, at once (it marks the channel leaving before asking whether it can
    # push), and sends phx_leave anyway: a round trip on the same connection proves it has arrived.
    assert await chat.leave() == Reply("ok", {})
    assert chat.closed and await chat.wait_closed() == "leave"
    await notifications.push("echo", {})
    assert [frame[2:4] for frame in server.received[-2:]] == [
        ["chat:674b", "phx_leave"],
        ["notifications:6745", "echo"],
    ]


async def test_a_join_refused_or_unanswered_and_a_push_unanswered(phoenix_clients, phoenix):
    server, endpoint = phoenix
    socket = await phoenix_clients.socket(endpoint, PARAMS, rejoinAfterMs=100)
    await socket.connect()

    denied = await socket.channel("denied:1")
    assert await denied.join() == Reply("error", {"reason": "unauthorized"})
    assert await denied.next_join() == Reply("error", {"reason": "unauthorized"})  # the client retries by itself
    assert await denied.leave() == Reply("ok", {})  # the client answers a leave itself, at once

    slow = await socket.channel("slow:1")
    assert await slow.join(0.2) == Reply("timeout", {})
    await slow.leave()

    room = await socket.channel("room:1")
    await room.join()  # its answer follows every earlier frame of the connection, so their effects are in
    retries = len(server.joins("denied:1"))
    assert retries >= 2
    assert await room.push("silence", {}, timeout=0.2) == Reply("timeout", {})
    await room.push("echo", {})
    assert len(server.joins("denied:1")) == retries  # no retry after the leave (they came every 100 ms)


async def test_the_client_rejoins_after_the_server_drops_the_connection_asking_from_the_last_seq(
    phoenix_clients, phoenix
):
    server, endpoint = phoenix
    socket = await phoenix_clients.socket(endpoint, PARAMS, reconnectAfterMs=50, rejoinAfterMs=50)
    await socket.connect()
    room = await socket.channel("room:9", last_seq=True)
    assert await room.join() == Reply("ok", {"joined": "room:9", "params": {"since_seq": 0}})
    events = [["receive_message", {"seq": 3}], ["receive_message", {"seq": 7}], ["receive_message", {"seq": 5}]]
    await room.push("emit", {"events": events})
    await room.next("receive_message", seq=5)

    await room.push_nowait("drop")
    assert (await socket.closed()).code == 1000
    assert await room.wait_errored() == {"source": "transport", "reason": "connection_closed"}
    await socket.opened(2)
    assert await room.next_join() == Reply("ok", {"joined": "room:9", "params": {"since_seq": 7}})
    assert server.joins("room:9") == [{"since_seq": 0}, {"since_seq": 7}]
    assert len(server.queries) == 2 and room.joins[-1].status == "ok"
    # The pushes carry the new join's ref now.
    first, second = [frame[0] for frame in server.received if frame[3] == "phx_join"]
    await room.push("echo", {"after": True})
    assert server.received[-1][0] == second != first


async def test_heartbeats_flow_on_the_clients_interval(phoenix_clients, phoenix):
    server, endpoint = phoenix
    socket = await phoenix_clients.socket(endpoint, PARAMS, heartbeatIntervalMs=50)
    await socket.connect()
    for _ in range(3):
        reply = await socket.next_frame(topic="phoenix", event="phx_reply")
        assert reply.join_ref is None and reply.payload == {"status": "ok", "response": {}}
    heartbeats = [frame for frame in server.received if frame[2:4] == ["phoenix", "heartbeat"]]
    assert len(heartbeats) >= 3 and all(frame[0] is None and frame[4] == {} for frame in heartbeats)
    assert [frame.ref for frame in socket.received_frames(topic="phoenix")][:3] == [h[1] for h in heartbeats[:3]]
    assert [frame for _arrived, _kind, frame in socket.sent[:3]] == heartbeats[:3]  # as written, as read


async def test_the_socket_keeps_every_frame_its_client_wrote_as_the_server_read_it(phoenix_clients, phoenix):
    """`sent`: joins, rejoins, pushes and leaves (heartbeats: below), in order, each with how many messages had
    arrived when the client wrote it."""
    server, endpoint = phoenix
    socket = await phoenix_clients.socket(endpoint, PARAMS, reconnectAfterMs=50)
    await socket.connect()
    room = await socket.channel("room:9", last_seq=True)
    await room.join()
    await room.push("echo", {"text": "héllo"})
    await room.push_nowait("drop")
    await socket.opened(2)
    await room.next_join()
    await room.leave()
    # The reply to the leave follows every frame written before it, on both sides.
    await socket.next_frame(topic="room:9", event="phx_reply", ref=socket.sent[-1][2][1])
    assert [frame for _arrived, _kind, frame in socket.sent] == server.received
    assert [frame[3] for frame in server.received] == ["phx_join", "echo", "drop", "phx_join", "phx_leave"]
    assert {kind for _arrived, kind, _frame in socket.sent} == {"json"}
    arrived = [count for count, _kind, _frame in socket.sent]
    assert arrived == [0, 1, 2, 2, 3]  # e.g. the echo was written once the join's reply had come
    assert all(report["kind"] != "outgoing" for report in socket.reports)


async def test_a_refused_upgrade_is_an_error_naming_the_status_then_a_close(phoenix_clients, phoenix):
    server, endpoint = phoenix
    socket = await phoenix_clients.socket(endpoint, {**PARAMS, "token": "bad"}, reconnectAfterMs=60_000)
    await socket.connect()
    assert await socket.refused() == 403
    assert socket.errors == [{"message": "Unexpected server response: 403", "status": 403}]
    assert await socket.closed() == Close(1006, "", False)
    assert [report["kind"] for report in socket.reports] == ["error", "close"]
    with pytest.raises(AssertionError, match="did not open connection 1"):
        await socket.opened()
    assert server.queries == []


async def test_the_server_closing_a_channel_and_the_client_disconnecting_with_a_code(phoenix_clients, phoenix):
    server, endpoint = phoenix
    socket = await phoenix_clients.socket(endpoint, PARAMS)
    await socket.connect()
    room = await socket.channel("room:2")
    await room.join()
    await room.push_nowait("kick")
    assert await room.wait_closed() == {}
    assert room.closed and not room.errored
    with pytest.raises(AssertionError, match="closed before a 'receive_message'"):
        await room.next("receive_message")

    await socket.disconnect(4000)
    assert (await socket.closed()).code in (1000, 4000)  # whatever the server answers in its close frame
    assert server.close_codes == [4000]
    await asyncio.sleep(0.3)  # the client would reconnect within 10 ms had the connection dropped
    assert socket.opens == 1 and len(server.queries) == 1


async def test_waits_are_bounded_and_say_what_was_awaited_and_what_came(phoenix_clients, phoenix):
    _, endpoint = phoenix
    socket = await phoenix_clients.socket(endpoint, PARAMS)
    await socket.connect()
    room = await socket.channel("room:3")
    await room.join()
    with pytest.raises(AssertionError, match=r"(?s)timed out after 0.2s waiting for a 'nope' on socket1/room:3.*join"):
        await room.next("nope", timeout=0.2)
    await room.push("emit", {"events": [["receive_message", {"seq": 1}]]})
    with pytest.raises(AssertionError, match="expected no 'receive_message' with seq=1"):
        await room.quiet(0.5, "receive_message", seq=1)
    with pytest.raises(AssertionError, match="could not push"):
        await (await socket.channel("room:4")).push("too soon")  # the client throws: not joined yet


async def test_a_connection_nobody_answers_is_an_error_without_a_status(phoenix_clients, unused_tcp_port):
    socket = await phoenix_clients.socket(f"ws://127.0.0.1:{unused_tcp_port}/socket", reconnectAfterMs=60_000)
    await socket.connect()
    with pytest.raises(AssertionError, match="did not open connection 1"):
        await socket.opened()
    with pytest.raises(AssertionError, match="was not refused"):
        await socket.refused()
    assert "ECONNREFUSED" in socket.errors[0]["message"] and socket.refused_status is None
    assert socket.closes == [Close(1006, "", False)]
