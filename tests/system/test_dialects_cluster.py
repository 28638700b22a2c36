"""The raw JSON WebSocket dialects across real processes: seed 004 (`/ws/{user_id}`, frames keyed by `event`)
and seed 003 (`/ws/<username>/`, frames keyed by `type`) next to canonical Socket.IO clients, on web nodes
started with `run.py web` and a real `run.py worker`.

- A SIGKILLed node's dialect clients are shown gone on another node by the presence sweep, within the same
  bounds as canonical clients (tests/system/test_presence_cluster.py explains them: between
  PRESENCE_TTL - PRESENCE_TTL/3 and PRESENCE_TTL + PRESENCE_SWEEP_INTERVAL after the kill), each dialect in
  its own shape and each exactly once.
- A seed-003 message sent on one node reaches a seed-004 socket on the other with the id canonical clients
  see, and the worker stores it once.
- A node stopped with SIGTERM closes its raw WebSockets with 1012 (service restart); they reconnect to
  another node and work there.

Clients: npm `ws` (tests/node.py, the `node_clients` fixture) for the dialects, python-socketio for the
canonical protocol. Users are named by their id, which is also their username (their tokens carry it).
Every wait is bounded; measured delays are printed for the record.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

import pytest

from app.auth.tokens import mint
from tests.conftest import RecordingClient
from tests.system.conftest import Proc, create_room, stored_messages, wait_until

pytestmark = pytest.mark.system

# Seconds for the sweep's publish to reach a client, on a loaded 2-core machine. The dialect frames take one
# hop more than Socket.IO's (the Node driver's stdout), hence a little more than test_presence_cluster's 1.0.
DELIVERY_MARGIN = 1.5


@pytest.fixture(scope="module")
def named_token(services) -> Callable[[str], str]:
    """named_token(user) -> a token of the system env whose `username` claim is the user id (sys_token has
    no username, and seed 003 addresses people by username)."""
    import config

    auth = config.load(services.env(), require=("auth",)).auth

    def make(user: str) -> str:
        return mint(auth, user, ttl=3600, username=user)

    return make


def ws_url(node: Proc, path: str) -> str:
    return "ws" + node.url.removeprefix("http") + path


async def user_socket(node_clients, node: Proc, token: Callable[[str], str], user: str, name: str):
    """`user`'s seed-004 socket on `node`, open."""
    ws = await node_clients.open(ws_url(node, f"/ws/{user}?token={token(user)}"), name=name)
    await ws.opened(timeout=10)
    return ws


async def conversation(node_clients, node: Proc, token: Callable[[str], str], user: str, peer: str, name: str):
    """`user`'s seed-003 socket on the conversation with `peer`, on `node`; and its online_user_list."""
    ws = await node_clients.open(ws_url(node, f"/ws/{peer}/?token={token(user)}"), name=name)
    await ws.opened(timeout=10)
    listed = await ws.next(type="online_user_list", timeout=10)
    return ws, listed


def chat_message(text: str, peer: str) -> dict:
    """A seed-003 `chat_message` frame, as the document's client writes it."""
    return {
        "type": "chat_message",
        "message": text,
        "multimedia_url": "",
        "file_identifier": "",
        "multimedia_url_expiration": "",
        "room": peer,
    }


def presence_of(client: RecordingClient, user: str, status: str | None = None) -> list[dict]:
    return [
        data
        for name, data in client.received
        if name == "presence:update" and data["user_id"] == user and (status is None or data["status"] == status)
    ]


async def arrivals(checks: dict[str, Callable[[], bool]], timeout: float, *procs: Proc) -> dict[str, float]:
    """The monotonic time (10 ms steps) at which each check first held; fails naming those that never did."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        for what, check in checks.items():
            if what not in seen and check():
                seen[what] = now
        if len(seen) == len(checks):
            return seen
        if now > deadline:
            missing = sorted(set(checks) - set(seen))
            logs = "\n".join(proc.tail() for proc in procs)
            raise AssertionError(f"never seen within {timeout}s: {missing} (seen: {sorted(seen)})\n{logs}")
        await asyncio.sleep(0.01)


async def test_dialect_clients_of_a_killed_node_are_shown_gone_on_the_other_node_once_within_ttl_plus_sweep(
    cluster, http, sio, named_token, user_id, node_clients
):
    env = cluster.env()
    ttl, sweep_interval = float(env["PRESENCE_TTL"]), float(env["PRESENCE_SWEEP_INTERVAL"])
    refresh = ttl / 3
    node_a, node_b = cluster.web("web-a"), cluster.nodes[0]
    alice, bob = user_id("alice"), user_id("bob")
    # A room they share before anyone connects, so that alice coming online is news to bob. It signs alice
    # in with her username; bob's first socket signs him in with his.
    await create_room(http, node_b, named_token(alice), "Dialects", [bob])

    bob_004 = await user_socket(node_clients, node_b, named_token, bob, "bob-004")
    watcher = await sio(node_b, bob)
    bob_003, listed = await conversation(node_clients, node_b, named_token, bob, alice, "bob-003")
    assert listed == {"type": "online_user_list", "users": [bob]}

    alice_004 = await user_socket(node_clients, node_a, named_token, alice, "alice-004")
    assert await bob_004.next(event="user_status_change", userId=alice, timeout=10) == {
        "event": "user_status_change",
        "userId": alice,
        "status": "available",
    }
    await wait_until(lambda: presence_of(watcher, alice, "online"), 10, "bob never saw alice online", node_a)
    alice_003, listed = await conversation(node_clients, node_a, named_token, alice, bob, "alice-003")
    assert sorted(listed["users"]) == sorted([alice, bob]), listed
    assert await bob_003.next(type="user_join", timeout=10) == {"type": "user_join", "user": alice}

    # Alive past her first expiry: node A's keep-alive pushes both her connections forward, so nobody
    # sweeps her and her conversation socket keeps viewing the room.
    await asyncio.sleep(ttl + 1)
    assert alice_004.is_open and alice_003.is_open
    await bob_004.quiet(0.1, event="user_status_change", userId=alice)
    await bob_003.quiet(0.1, type="user_leave")
    assert presence_of(watcher, alice, "offline") == [], watcher.received

    killed = time.monotonic()
    cluster.procs.kill(node_a)
    upper = ttl + sweep_interval + DELIVERY_MARGIN
    lower = ttl - refresh - 0.5  # the expiry was pushed at most TTL/3 (plus scheduling) before the kill
    seen = await arrivals(
        {
            "004 user_status_change offline": lambda: bool(
                bob_004.received(event="user_status_change", userId=alice, status="offline")
            ),
            "003 user_leave": lambda: bool(bob_003.received(type="user_leave", user=alice)),
            "socket.io presence:update offline": lambda: bool(presence_of(watcher, alice, "offline")),
        },
        upper + 10,
        node_a,
    )
    for what, arrived in sorted(seen.items(), key=lambda item: item[1]):
        delay = arrived - killed
        print(f"alice gone for bob: {what} {delay:.3f}s after node A was killed (bounds {lower:.2f}..{upper:.2f}s)")
    for what, arrived in seen.items():
        delay = arrived - killed
        assert lower <= delay <= upper, f"{what} {delay:.2f}s after the kill; expected between {lower} and {upper}"

    # Each once, though every live node sweeps: watch a further two sweeps for repeats.
    await asyncio.sleep(2 * sweep_interval + 0.5)
    assert bob_004.received(event="user_status_change", userId=alice) == [
        {"event": "user_status_change", "userId": alice, "status": "available"},
        {"event": "user_status_change", "userId": alice, "status": "offline"},
    ], bob_004.frames
    assert bob_003.received(type="user_leave") == [{"type": "user_leave", "user": alice}], bob_003.frames
    assert bob_003.received(type="user_join") == [{"type": "user_join", "user": alice}], bob_003.frames
    assert len(presence_of(watcher, alice, "offline")) == 1, watcher.received
    # Bob's own sockets on the live node are untouched.
    assert bob_004.is_open and bob_003.is_open and watcher.connected
    assert not cluster.redis.exists(cluster.keys.presence_conns(alice))


async def test_a_003_message_on_one_node_reaches_a_004_socket_on_the_other_and_is_stored_once_by_the_worker(
    cluster, http, sio, named_token, user_id, pg, node_clients
):
    node1, node2 = cluster.nodes
    worker = cluster.worker()
    alice, bob = user_id("alice"), user_id("bob")
    bob_004 = await user_socket(node_clients, node2, named_token, bob, "bob-004")  # signs bob in, username too
    alice_003, _ = await conversation(node_clients, node1, named_token, alice, bob, "alice-003")
    watcher = await sio(node2, bob)
    # The conversation is the pair's direct room: the canonical direct:start names the same one.
    started = await watcher.ack("direct:start", {"user_id": alice}, timeout=10)
    assert started["ok"], started
    room = started["data"]["room"]["id"]
    joined = await watcher.ack("room:join", {"room_id": room}, timeout=10)
    assert joined["ok"], joined
    await cluster.wait_registered(worker)

    sent = time.monotonic()
    await alice_003.send(chat_message("hello from django on node 1", bob))
    echoed = await alice_003.next(type="chat_message", message="hello from django on node 1", timeout=10)
    assert (echoed["from_user"], echoed["room"]) == ({"username": alice}, room), echoed
    frame = await bob_004.next(event="new_message", content="hello from django on node 1", timeout=10)
    at_004 = time.monotonic()
    await wait_until(lambda: sent_by(watcher, alice), 10, "no message:new for the canonical client", node2)
    [live] = sent_by(watcher, alice)
    print(f"003 chat_message on node 1 -> 004 new_message on node 2 in {at_004 - sent:.3f}s")
    assert frame == {
        "event": "new_message",
        "conversationId": room,
        "messageId": live["id"],
        "senderId": alice,
        "content": "hello from django on node 1",
        "messageType": "text",
        "timestamp": live["created_at"],
    }
    assert (live["room_id"], live["sender_id"], live["seq"]) == (room, alice, joined["data"]["last_seq"] + 1), live
    assert echoed["date_added"] == live["created_at"]

    await wait_until(
        lambda: any(row[2] == live["id"] for row in stored_messages(pg, [room])) and not cluster.outbox_fields({room}),
        30,
        "the worker never stored the message and emptied the outbox",
        worker,
    )
    print(f"stored in Postgres by the worker {time.monotonic() - sent:.3f}s after the send")
    await asyncio.sleep(0.5)  # anything stored twice would show up meanwhile
    rows = [row for row in stored_messages(pg, [room]) if row[4] == "hello from django on node 1"]
    assert [row[:5] for row in rows] == [(room, live["seq"], live["id"], alice, "hello from django on node 1")], rows
    assert sent_by(watcher, alice) == [live] and bob_004.received(event="new_message", messageType="text") == [frame]


def sent_by(client: RecordingClient, user: str) -> list[dict]:
    """The message:new events of `user`'s messages (not the room's system messages) a canonical client got."""
    return [data for data in client.all("message:new") if data["sender_id"] == user and data["type"] != "system"]


async def test_a_node_stopped_with_sigterm_closes_raw_websockets_with_1012_and_they_reconnect_elsewhere(
    cluster, named_token, user_id, node_clients
):
    doomed, other = cluster.web("web-sigterm"), cluster.nodes[0]
    alice, bob = user_id("alice"), user_id("bob")
    bob_004 = await user_socket(node_clients, doomed, named_token, bob, "bob-004")
    alice_004 = await user_socket(node_clients, doomed, named_token, alice, "alice-004")
    alice_003, _ = await conversation(node_clients, doomed, named_token, alice, bob, "alice-003")

    stopped = time.monotonic()
    cluster.procs.signal(doomed, signal.SIGTERM)
    for ws in (bob_004, alice_004, alice_003):
        assert await ws.closed(timeout=15) == (1012, "service restart"), ws.reports
    closed = time.monotonic()
    print(f"raw WebSockets closed with 1012 {closed - stopped:.3f}s after SIGTERM")
    await wait_until(lambda: not doomed.alive(), 20, "the SIGTERMed node never exited", doomed)
    assert doomed.popen.returncode == 0, doomed.tail()

    # Reconnecting (to the other node, as a load balancer would send them) works at once.
    bob_again = await user_socket(node_clients, other, named_token, bob, "bob-004-again")
    await bob_again.send({"event": "heartbeat"})
    assert await bob_again.next(event="heartbeat_ack", timeout=10) == {"event": "heartbeat_ack"}
    alice_again, listed = await conversation(node_clients, other, named_token, alice, bob, "alice-003-again")
    assert listed["users"] == [alice], listed  # bob has no conversation socket open any more
    print(f"reconnected to another node {time.monotonic() - closed:.3f}s after the close")
    await alice_again.send(chat_message("back on another node", bob))
    echoed = await alice_again.next(type="chat_message", message="back on another node", timeout=10)
    frame = await bob_again.next(event="new_message", content="back on another node", timeout=10)
    assert (frame["senderId"], frame["conversationId"]) == (alice, echoed["room"]), frame
