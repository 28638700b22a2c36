"""The Node `ws` harness itself (tests/node.py, tests/js/ws_driver.mjs), against a tiny aiohttp WebSocket server:
what a client sends reaches the server as sent, and what the server does reaches the test as the client saw it."""

from __future__ import annotations

import json

import pytest
from aiohttp import WSMsgType, web

from tests.node import NodeClients


class EchoServer:
    """GET /ws echoes JSON as {"echo": ...}, answers other text with {"error": "malformed"} and binary
    reversed, and closes with 4001 on {"event": "kick"}. GET /refused answers the upgrade with 403.
    It keeps what it received and the close code each client sent, for the test to check."""

    def __init__(self) -> None:
        self.received: list[object] = []
        self.close_codes: list[int | None] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ws", self.socket)
        app.router.add_get("/refused", self.refuse)
        return app

    async def refuse(self, request: web.Request) -> web.Response:
        return web.Response(status=403, text="forbidden")

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"event": "hello"})
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                self.received.append(message.data)
                await ws.send_bytes(message.data[::-1])
                continue
            self.received.append(message.data)
            try:
                data = json.loads(message.data)
            except ValueError:
                await ws.send_json({"event": "error", "error": "malformed"})
                await ws.send_str("not json either")
                continue
            if data == {"event": "kick"}:
                await ws.close(code=4001, message=b"token expired")
            else:
                await ws.send_json({"event": "echo", "data": data})
        self.close_codes.append(ws.close_code)
        return ws


@pytest.fixture
async def echo(aiohttp_server) -> tuple[EchoServer, str]:
    """The echo server on a real port, and its ws:// base URL."""
    server = EchoServer()
    running = await aiohttp_server(server.app())
    return server, f"ws://{running.host}:{running.port}"


async def test_json_goes_out_as_sent_and_comes_back_parsed_in_order(node_clients: NodeClients, echo):
    server, base = echo
    ws = await node_clients.open(f"{base}/ws?token=abc")
    await ws.opened()
    assert await ws.next(event="hello") == {"event": "hello"}

    await ws.send({"event": "heartbeat"})
    await ws.send({"event": "message", "text": "héllo ✓", "n": [1, 2.5, None, True]})
    # next() picks the earliest match not yet returned, passing over the others, which stay for later.
    second = await ws.next(lambda frame: frame.get("data", {}).get("event") == "message")
    assert second == {"event": "echo", "data": {"event": "message", "text": "héllo ✓", "n": [1, 2.5, None, True]}}
    assert await ws.next(event="echo") == {"event": "echo", "data": {"event": "heartbeat"}}
    # JSON.stringify's own text, as a browser would send it.
    assert server.received == ['{"event":"heartbeat"}', '{"event":"message","text":"héllo ✓","n":[1,2.5,null,true]}']
    assert ws.frames[0] == {"event": "hello"} and len(ws.received(event="echo")) == 2
    await ws.quiet(0.2, event="echo")


async def test_malformed_text_is_sent_as_is_and_text_frames_that_are_not_json_are_kept(node_clients, echo):
    server, base = echo
    ws = await node_clients.open(f"{base}/ws")
    await ws.opened()
    await ws.send_text("{not json")
    assert await ws.next(event="error") == {"event": "error", "error": "malformed"}
    assert server.received == ["{not json"]
    await ws.send({"event": "ping"})  # a round trip after the text frame proves it has arrived
    await ws.next(event="echo")
    assert ws.texts == ["not json either"]


async def test_binary_frames_both_ways(node_clients, echo):
    server, base = echo
    ws = await node_clients.open(f"{base}/ws")
    await ws.opened()
    await ws.send_binary(b"\x00\x01\xfe\xff")
    await ws.send({"event": "after"})  # its echo follows the binary answer, so both have arrived
    await ws.next(event="echo")
    assert server.received == [b"\x00\x01\xfe\xff", '{"event":"after"}']
    assert ws.binaries == [b"\xff\xfe\x01\x00"]


async def test_a_close_by_the_server_reports_its_code_and_reason(node_clients, echo):
    _, base = echo
    ws = await node_clients.open(f"{base}/ws")
    await ws.opened()
    await ws.send({"event": "kick"})
    assert await ws.closed() == (4001, "token expired")
    with pytest.raises(AssertionError, match="could not send"):
        await ws.send({"event": "too late"})


async def test_a_close_by_the_client_reaches_the_server_with_its_code(node_clients, echo):
    server, base = echo
    ws = await node_clients.open(f"{base}/ws")
    await ws.opened()
    await ws.close(4000, "bye")
    code, _reason = await ws.closed()
    assert code in (1000, 4000)  # whatever the server answers in its own close frame
    assert server.close_codes == [4000]


async def test_a_refused_upgrade_reports_the_http_status_then_the_close(node_clients, echo):
    _, base = echo
    ws = await node_clients.open(f"{base}/refused")
    assert await ws.refused() == 403
    assert ws.refused_body == "forbidden"
    assert await ws.closed() == (1006, "")
    assert [report["kind"] for report in ws.reports] == ["refused", "close"]
    with pytest.raises(AssertionError, match="did not open"):
        await ws.opened()


async def test_several_clients_in_one_process_keep_their_own_frames(node_clients, echo):
    _, base = echo
    alice = await node_clients.open(f"{base}/ws", name="alice")
    bob = await node_clients.open(f"{base}/ws", name="bob")
    await alice.opened()
    await bob.opened()
    await alice.send({"from": "alice"})
    await bob.send({"from": "bob"})
    assert (await alice.next(event="echo"))["data"] == {"from": "alice"}
    assert (await bob.next(event="echo"))["data"] == {"from": "bob"}
    await alice.quiet(0.1, event="echo")


async def test_waits_are_bounded_and_say_what_was_awaited_and_what_came(node_clients, echo):
    _, base = echo
    ws = await node_clients.open(f"{base}/ws")
    await ws.opened()
    with pytest.raises(AssertionError, match=r"(?s)timed out after 0.2s waiting for a frame with event='nope'.*hello"):
        await ws.next(event="nope", timeout=0.2)
    await ws.send({"event": "x"})
    with pytest.raises(AssertionError, match="expected no frame with event='echo'"):
        await ws.quiet(1.0, event="echo")


async def test_a_connection_nobody_answers_fails_to_open(node_clients, unused_tcp_port):
    ws = await node_clients.open(f"ws://127.0.0.1:{unused_tcp_port}/ws")
    with pytest.raises(AssertionError, match="did not open"):
        await ws.opened()
    assert ws.errors and (await ws.closed())[0] == 1006
