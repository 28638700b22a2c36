"""The README's client examples run as written, in Node with npm `ws`, against a real node: only the host and
port are replaced, and the variables the snippet takes as given (the user id, the token) are defined
before it, as a client application would."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from pathlib import Path

from tests.node import ROOT, require_node
from tests.realtime.conftest import eventually

README = Path(ROOT / "README.md").read_text()
RUN_TIMEOUT = 10.0


def snippet(marker: str) -> str:
    """The JavaScript between `<!-- marker -->` and `<!-- /marker -->` in the README."""
    found = re.search(rf"<!-- {marker} -->\n```js\n(.*?)```\n<!-- /{marker} -->", README, re.S)
    assert found, f"the README has no {marker} example"
    return found.group(1)


async def run_js(code: str, run_for: float | None = None) -> list[str]:
    """Run `code` as an ES module with npm's `ws` as the global WebSocket; its console output, line by line.
    With `run_for`, the program is stopped after that many seconds (a client that stays connected);
    otherwise it must end by itself within RUN_TIMEOUT, with status 0."""
    require_node("README examples", "ws", "phoenix", "socket.io-client")
    process = await asyncio.create_subprocess_exec(
        "node",
        "--input-type=module",
        "-e",
        'import WebSocket from "ws";\nimport { io as ioClient } from "socket.io-client";\n'
        "globalThis.WebSocket = WebSocket;\nglobalThis.io = ioClient;\n" + code,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    reading = asyncio.create_task(process.stdout.read())  # whole: a cancelled read would lose the output
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), run_for or RUN_TIMEOUT)
    except TimeoutError:
        process.terminate()
        await asyncio.wait_for(process.wait(), 5)
        if run_for is None:
            raise AssertionError(f"the example did not finish in {RUN_TIMEOUT}s:\n{(await reading).decode()}") from None
    output = (await asyncio.wait_for(reading, 5)).decode()
    if run_for is None:
        assert process.returncode == 0, output
    return output.splitlines()


def placed(code: str, node) -> str:
    return code.replace("ws://127.0.0.1:8080", node.ws("").rstrip("/"))


async def test_the_seed_004_example_runs_against_the_server(node, rest, user_id):
    bob, alice = user_id("bob"), user_id("alice")
    await rest.create_room(alice, bob)
    prelude = f"const userId = {json.dumps(bob)}; const authToken = {json.dumps(node.token(bob))};\n"
    lines = await run_js(prelude + placed(snippet("client-004"), node))
    assert lines == ["status away", "closed 1000"], lines
    deadline = asyncio.get_running_loop().time() + RUN_TIMEOUT
    while (await rest.call("GET", f"/api/v1/users/{bob}/presence", alice))[1]["status"] != "offline":
        assert asyncio.get_running_loop().time() < deadline, "bob still shown online after his socket closed"
        await asyncio.sleep(0.05)


async def test_the_seed_003_example_runs_against_the_server(node, node_clients, rest, user_id, drain, pg):
    alice, bob = user_id("alice"), user_id("bob")
    peer = await node_clients.open(node.ws(f"/ws/notifications/?token={node.token(bob, username=bob)}"), "bob")
    await peer.opened()  # bob is known by his username now
    before = await peer.next(type="unread_count")
    prelude = (
        f"const otherUsername = {json.dumps(bob)}; const authToken = {json.dumps(node.token(alice, username=alice))};\n"
    )
    lines = await run_js(prelude + placed(snippet("client-003"), node))
    assert len(lines) == 1, lines
    username, message, media, date_added, room = lines[0].split(" ")
    assert date_added.endswith("Z"), date_added
    assert (username, message, media) == (alice, "hello", "")
    # "hello" is unread for bob; "Direct chat started", a system message, is not (docs/architecture.md, "Read
    # receipts and unread counts").
    await peer.next(type="new_message_notification")
    await eventually(
        lambda: peer.received(type="unread_count")[-1]["unread_count"] == before["unread_count"] + 1,
        what="bob's unread count to take alice's message",
    )
    status, unread = await rest.call("GET", "/api/v1/me/unread", bob)
    assert (status, unread["total_unread"]) == (200, 1), unread  # and the room's system message never counted
    await drain()
    assert pg("select count(*) from messages where room_id = %s and content = 'hello'", (int(room),)) == [(1,)]


async def test_the_phoenix_example_runs_against_the_server(node, rest, user_id, drain, pg):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(bob, alice)
    await rest.send(bob, room, "missed while away")
    prelude = (
        f"const token = {json.dumps(node.token(alice))}; const roomId = {json.dumps(room)};"
        f" const myUserId = {json.dumps(alice)};\n"
    )
    await run_js(prelude + placed(snippet("client-000"), node), run_for=3.0)
    await drain()
    # It joined with since_seq 0 (so it saw "missed while away") and sent "hi" once it had joined.
    assert pg("select sender_id, client_ref from messages where room_id = %s and content = 'hi'", (int(room),)) == [
        (alice, "1")
    ]


async def test_the_seed_001_example_runs_against_the_server(node, rest, drain, pg):
    alice, bob = str(700_000_000 + secrets.randbelow(99_999_999)), str(800_000_000 + secrets.randbelow(99_999_999))
    status, started = await rest.call(
        "POST", "/api/chats/conversations", alice, {"sender_id": int(alice), "receiver_id": int(bob)}
    )
    assert status == 201, started
    prelude = (
        f"const userId = {alice}; const token = {json.dumps(node.token(alice))};"
        f" const conversationId = {started['id']};\n"
    )
    lines = await run_js(
        prelude + placed(snippet("client-001"), node).replace("http://127.0.0.1:8080", node.url.rstrip("/"))
    )
    assert lines == [f"sent {started['id'] * 2**32 + 2} {started['id']}"], lines  # seq 1: "Direct chat started"
    await drain()
    assert pg("select count(*) from messages where room_id = %s and content = 'Hello!'", (started["id"],)) == [(1,)]


async def test_the_seed_002_example_runs_against_the_server(node, rest, user_id, drain, pg):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob, name="Bull")
    prelude = (
        f"const userId = {json.dumps(alice)}; const token = {json.dumps(node.token(alice))};"
        f" const roomId = {json.dumps(room)};\n"
    )
    lines = await run_js(prelude + placed(snippet("client-002"), node))
    assert lines == ["message GROUP TEXT Hello, world!"], lines
    await drain()
    assert pg("select count(*) from messages where room_id = %s and content = 'Hello, world!'", (int(room),)) == [(1,)]


async def test_the_socketio_program_of_the_quick_start_runs_as_written(node, rest, user_id, drain, pg):
    alice, bob = user_id("alice"), user_id("bob")
    await rest.call("GET", "/api/v1/me", bob)  # bob exists (as after his first sign-in)
    code = placed(snippet("client-canonical"), node).replace("http://127.0.0.1:8080", node.url.rstrip("/"))
    code = code.replace('{ user_id: "bob" }', "{ user_id: " + json.dumps(bob) + " }")
    env = f"process.env.ALICE = {json.dumps(node.token(alice))}; process.env.BOB = {json.dumps(node.token(bob))};\n"
    lines = await run_js(env + code)
    assert lines == [
        'bob got "hi Bob" (seq 2, id as acknowledged)',  # seq 1: the room's "Direct chat started"
        "bob read up to 2, unread now 0",
        "alice sees bob read up to 2",
    ], lines
    await drain()
    assert pg("select count(*) from messages where sender_id = %s and content = 'hi Bob'", (alice,)) == [(1,)]
