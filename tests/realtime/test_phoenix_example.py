"""Seed 000's own JavaScript example (tests/js/examples/seed000.ts, the document's text) runs against the server
with npm `phoenix`: only the endpoint, the token and the two ids are replaced. It joins the chat channel, sends
"Hey, i'm fine! and you?" with mobile_ref_id "123124" and gets `message_sent`, joins its notification channel
and gets the notification stored while the user was offline as `pending_notification`."""

from __future__ import annotations

import asyncio
import json
import re

from tests.node import ROOT, require_node

EXAMPLE = ROOT / "tests" / "js" / "examples" / "seed000.ts"
RUN_FOR = 3.0  # seconds the example runs (it never exits by itself: its socket stays connected)


async def run_example(replace: dict[str, str]) -> list[str]:
    require_node("run_example.mjs", "phoenix", "ws", "typescript")
    process = await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "tests" / "js" / "run_example.mjs"),
        str(EXAMPLE),
        cwd=ROOT,
        env={"EXAMPLE_REPLACE": json.dumps(replace), "PATH": "/usr/local/bin:/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    reading = asyncio.create_task(process.stdout.read())  # kept whole: a cancelled read would lose the output
    await asyncio.sleep(RUN_FOR)
    if process.returncode is None:
        process.terminate()
    output = await asyncio.wait_for(reading, 5)
    await asyncio.wait_for(process.wait(), 5)
    return output.decode().splitlines()


async def test_the_seed_000_example_runs_unchanged_against_the_server(node, rest, user_id, drain, pg):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(bob, alice, name="Phoenix example")
    await rest.send(bob, room, "sent while alice was offline")
    await drain()  # the notify job stores alice's pending notification
    source = EXAMPLE.read_text()
    token = re.search(r'const jwt_token = "([^"]+)"', source).group(1)
    lines = await run_example(
        {
            "ws://localhost:4000/socket": node.ws("/socket"),
            token: node.token(alice),
            '"674bd8ba5a0b920001bd9f5d"': json.dumps(room),
            '"6745e201c337080846beba9a"': json.dumps(alice),
        }
    )
    text = "\n".join(lines)
    assert text.count("Joined successfully") == 2, text  # the chat channel and the notification channel
    assert "Unable to join" not in text and "Networking issue" not in text, text
    assert re.search(r"Got message \{.*mobile_ref_id: '123124'.*status: 'sent'.*chat_id: '" + room, text, re.S), text
    assert re.search(r"Pending notification received: \{.*content: 'sent while alice was offline'", text, re.S), text
    await drain()
    rows = pg("select sender_id, client_ref from messages where room_id = %s and content = %s",
              (int(room), "Hey, i'm fine! and you?"))  # fmt: skip
    assert rows == [(alice, "123124")]
