"""The bounds of `sync` (issue 14, item 2): one request answers each distinct room entry once, holds at most
CATCHUP_LIMIT messages in all (missed ones and changed ones together) shared fairly among its rooms, each room's
`has_more` / `changes_more` saying what to page over REST, and at most MAX_SYNC_ROOMS entries; `room:join` keeps
its own bound of CATCHUP_LIMIT. Every acknowledgement here is checked against the AsyncAPI contract too."""

from __future__ import annotations

import asyncio
import json
import time

from app.realtime.schemas import MAX_SYNC_ROOMS
from app.realtime.topics import share_out
from tests.realtime.conftest import Node, Rest


def size(answer: object) -> int:
    return len(json.dumps(answer))


def seqs(messages: list[dict]) -> list[int]:
    return [m["seq"] for m in messages]


async def rooms_of(rest: Rest, owner: str, member: str, count: int) -> list[str]:
    """`count` rooms of `owner` and `member`, made a few at a time."""
    rooms: list[str] = []
    while len(rooms) < count:
        batch = min(25, count - len(rooms))
        rooms += await asyncio.gather(
            *(rest.create_room(owner, member, name=f"R{len(rooms) + i}") for i in range(batch))
        )
    return rooms


async def send_each(client, sends: list[tuple[str, str]]) -> None:
    """Send (room, content) pairs without waiting for each receipt in turn; fail if any was refused."""
    for start in range(0, len(sends), 100):
        pending = [
            await client.fire("message:send", {"room_id": r, "content": c}) for r, c in sends[start : start + 100]
        ]
        answers = await asyncio.wait_for(asyncio.gather(*pending), 30)
        assert all(answer["ok"] for answer in answers), [a for a in answers if not a["ok"]][:3]


async def page_after(rest: Rest, user: str, room: str, after: int) -> list[int]:
    """Every seq after `after`, paged over REST as a client told `has_more` does."""
    found: list[int] = []
    while True:
        status, page = await rest.call("GET", f"/api/v1/rooms/{room}/messages?after={after}&limit=7", user)
        assert status == 200, page
        found += seqs(page["messages"])
        if not page["has_more_after"]:
            return found
        after = page["messages"][-1]["seq"]


async def timed_sync(node: Node, client, rooms: list[dict]) -> tuple[dict, float, float]:
    """The acknowledgement of a `sync`, how long it took, and the slowest answer of the node's /health
    (polled meanwhile): whether the node kept serving others."""
    latencies: list[float] = []
    done = asyncio.Event()

    async def poll_health() -> None:
        while not done.is_set():
            started = time.perf_counter()
            status, _ = await node.rest.get_json("/health")
            latencies.append(time.perf_counter() - started)
            assert status == 200
            await asyncio.sleep(0.02)

    poller = asyncio.create_task(poll_health())
    started = time.perf_counter()
    try:
        answer = await client.ack("sync", {"rooms": rooms}, timeout=60)
    finally:
        took = time.perf_counter() - started
        done.set()
        await poller
    assert answer["ok"], answer
    print(f"\nsync of {len(rooms)} entries: {took:.3f} s, {size(answer)} bytes, /health worst {max(latencies):.3f} s")
    return answer, took, max(latencies)


def test_the_budget_is_shared_max_min_fairly():
    assert share_out(10, [30, 2, 12, 3, 0]) == [3, 2, 3, 2, 0]
    assert share_out(10, [1, 2, 3]) == [1, 2, 3]  # all they want, the rest unused
    assert share_out(10, [4, 4, 4]) == [3, 3, 4]
    assert share_out(500, [2] * 500) == [1] * 500
    assert share_out(3, [5] * 6) == [0, 0, 0, 1, 1, 1]
    assert share_out(0, [5, 0]) == [0, 0] and share_out(5, []) == []


async def test_the_same_entry_500_times_is_answered_once_small_and_fast(node, rest, user_id):
    """The reproducer: 500 copies of one entry made a 89.5 MB acknowledgement in ~11 s."""
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a = await node.connect(alice)
    await send_each(a, [(room, f"message {i} " + "x" * 100) for i in range(1, 521)])

    b = await node.connect(bob)
    answer, took, health = await timed_sync(node, b, [{"room_id": room, "since_seq": 0}] * MAX_SYNC_ROOMS)
    [result] = answer["data"]["rooms"]
    assert result["ok"] and result["data"]["room_id"] == room and result["data"]["last_seq"] == 520
    assert seqs(result["data"]["messages"]) == list(range(1, 501)) and result["data"]["has_more"] is True
    assert size(answer) < 300_000, size(answer)  # 500 messages of ~100 characters, once (500 copies: 89.5 MB)
    assert took < 3.0 and health < 0.5, (took, health)
    assert await page_after(rest, bob, room, 500) == list(range(501, 521))


async def test_identical_entries_are_answered_once_where_the_first_stood(node, rest, user_id):
    """An entry repeated verbatim (room, since_seq and changes_since alike) asks the same question: it gets one
    result, at its first place. Entries of one room with different cursors each get theirs (see
    test_catch_up.test_sync_joins_many_rooms_at_once_with_a_result_per_room)."""
    alice, bob = user_id("alice"), user_id("bob")
    first = await rest.create_room(alice, bob, name="First")
    second = await rest.create_room(alice, bob, name="Second")
    a = await node.connect(alice)
    await send_each(a, [(first, "f1"), (first, "f2"), (second, "s1")])
    b = await node.connect(bob)
    x = {"room_id": first, "since_seq": 1}
    y = {"room_id": second, "since_seq": 0}
    answer = await b.ack("sync", {"rooms": [x, y, dict(x), y, {"room_id": first, "since_seq": 1, "extra": 1}]})
    results = answer["data"]["rooms"]
    assert [(r["data"]["room_id"], seqs(r["data"]["messages"])) for r in results] == [(first, [2]), (second, [1])]


async def test_missed_messages_of_many_rooms_share_one_budget_and_the_rest_is_paged(spawn, user_id):
    """CATCHUP_LIMIT bounds the whole acknowledgement; it is shared out so that rooms that missed a little get
    all of it even when a room that missed a lot comes first, each cut room says `has_more`, and REST pages
    the rest from the last message received (`after`). A join alone keeps its own bound of CATCHUP_LIMIT."""
    node = await spawn(CATCHUP_LIMIT=10)
    alice, bob = user_id("alice"), user_id("bob")
    big, small, other_big, medium, quiet = await rooms_of(node.rest, alice, bob, 5)
    a = await node.connect(alice)
    missed = {big: 30, small: 2, other_big: 12, medium: 3, quiet: 0}
    await send_each(a, [(room, f"m{i}") for room, count in missed.items() for i in range(1, count + 1)])

    b = await node.connect(bob)
    order = [big, small, other_big, medium, quiet]
    answer = await b.ack("sync", {"rooms": [{"room_id": room, "since_seq": 0} for room in order]})
    results = [r["data"] for r in answer["data"]["rooms"]]
    assert [r["room_id"] for r in results] == order
    got = {r["room_id"]: seqs(r["messages"]) for r in results}
    assert sum(map(len, got.values())) == 10  # the budget, all of it used
    assert got[small] == [1, 2] and got[quiet] == []  # a little missed: all of it, though `big` came first
    for r in results:
        room = r["room_id"]
        assert r["last_seq"] == missed[room]
        assert got[room] == list(range(1, len(got[room]) + 1))  # from since_seq on, without gaps
        assert r["has_more"] is (len(got[room]) < missed[room])
        if r["has_more"]:  # REST pages the rest, from the last seq received
            rest_of = await page_after(node.rest, bob, room, got[room][-1] if got[room] else 0)
            assert got[room] + rest_of == list(range(1, missed[room] + 1))
    assert {room for room in order if got[room] and got[room][-1] < missed[room]} <= {big, other_big, medium}

    # Every room synced is followed from its last seq on: only new messages arrive live.
    await a.send(big, "new")
    await b.wait_message(big, 31)
    assert b.seqs(big) == [31]

    # room:join alone: CATCHUP_LIMIT, as before.
    joined = await b.join(big, since_seq=0)
    assert seqs(joined["messages"]) == list(range(1, 11)) and joined["has_more"] is True


async def test_changed_messages_count_in_the_same_budget(spawn, user_id):
    """Edits and deletes (`changed`) fill the same budget as missed messages; `changes_more` says where the
    feed was cut, and REST's change feed from the `changes_cursor` given has the rest."""
    node = await spawn(CATCHUP_LIMIT=4)
    alice, bob = user_id("alice"), user_id("bob")
    rooms = await rooms_of(node.rest, alice, bob, 3)
    a, b = await node.connect(alice), await node.connect(bob)
    cursors = {room: (await b.join(room))["changes_cursor"] for room in rooms}
    sent = {room: [(await a.send(room, f"m{i}"))["data"]["id"] for i in range(3)] for room in rooms}
    await b.disconnect()
    for room in rooms:
        for message_id in sent[room]:
            assert (await a.ack("message:edit", {"message_id": message_id, "content": "edited"}))["ok"]
    await a.send(rooms[0], "new")

    back = await node.connect(bob, label="bob-back")
    answer = await back.ack(
        "sync", {"rooms": [{"room_id": r, "since_seq": 3, "changes_since": cursors[r]} for r in rooms]}
    )
    results = {r["data"]["room_id"]: r["data"] for r in answer["data"]["rooms"]}
    assert sum(len(r["messages"]) + len(r["changed"]) for r in results.values()) == 4
    assert seqs(results[rooms[0]]["messages"]) == [4]
    for room, data in results.items():
        assert all(m["content"] == "edited" for m in data["changed"])
        assert data["changes_more"] is (len(data["changed"]) < 3)
        status, page = await node.rest.call("GET", f"/api/v1/rooms/{room}/changes?since={data['changes_cursor']}", bob)
        assert status == 200, page
        assert sorted(seqs(data["changed"]) + seqs(page["messages"])) == [1, 2, 3]


async def test_a_sync_of_every_room_it_may_name_is_bounded_and_leaves_the_node_responsive(node, rest, spawn, user_id):
    """The measurement behind MAX_SYNC_ROOMS: that many distinct rooms, each with 2 missed messages, synced on a
    node that has never seen them (cold caches: a client reconnecting elsewhere). The acknowledgement holds
    CATCHUP_LIMIT messages, one per room, each room saying `has_more`; it comes within seconds even on a loaded
    test machine (1.7-2.8 s on a busy 2-core one), and /health answers promptly meanwhile."""
    alice, bob = user_id("alice"), user_id("bob")
    rooms = await rooms_of(rest, alice, bob, MAX_SYNC_ROOMS)
    a = await node.connect(alice)
    await send_each(a, [(room, f"{room} #{i}") for room in rooms for i in range(2)])

    elsewhere = await spawn()
    b = await elsewhere.connect(bob)
    answer, took, health = await timed_sync(elsewhere, b, [{"room_id": room, "since_seq": 0} for room in rooms])
    assert all(r["ok"] for r in answer["data"]["rooms"])
    results = [r["data"] for r in answer["data"]["rooms"]]
    assert [r["room_id"] for r in results] == rooms
    assert all(seqs(r["messages"]) == [1] and r["has_more"] and r["last_seq"] == 2 for r in results)
    assert size(answer) < 300_000, size(answer)
    assert took < 10.0 and health < 0.5, (took, health)
