"""Catching up: what a (re)joining client missed comes in the join's acknowledgement, the rest live,
each message exactly once and without gaps, even while others are sending."""

from __future__ import annotations

import asyncio

from tests.realtime.conftest import QUIET, WAIT


def contents(messages: list[dict]) -> list[str]:
    return [m["content"] for m in messages]


def seqs_part(data: dict) -> dict:
    """A catch-up acknowledgement without its change feed (see test_changes_while_away...)."""
    assert data["changed"] == [] and data["changes_more"] is False and data["changes_cursor"].isdigit(), data
    return {key: data[key] for key in ("room_id", "last_seq", "messages", "has_more")}


async def test_a_reconnecting_client_gets_exactly_what_it_missed_in_order(node, rest, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a, b = await node.connect(alice), await node.connect(bob)
    await a.join(room)
    await b.join(room)
    for i in range(1, 3):
        await a.send(room, f"seen {i}")
    await b.wait_message(room, 2)
    last_seen = b.seqs(room)[-1]
    await b.disconnect()

    for i in range(1, 6):
        await a.send(room, f"missed {i}")
    back = await node.connect(bob, label="bob-again")
    data = await back.join(room, since_seq=last_seen)
    assert data["room_id"] == room and data["last_seq"] == 7 and data["has_more"] is False
    assert [m["seq"] for m in data["messages"]] == [3, 4, 5, 6, 7]
    assert contents(data["messages"]) == [f"missed {i}" for i in range(1, 6)]
    assert all(m["sender_id"] == alice and m["room_id"] == room for m in data["messages"])

    # From there on, live only, and nothing already in the acknowledgement.
    await a.send(room, "live")
    assert (await back.wait_message(room, 8))["content"] == "live"
    assert back.seqs(room) == [8]


async def test_the_acknowledgement_holds_the_same_messages_as_were_delivered_live(node, rest, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a, b = await node.connect(alice), await node.connect(bob)
    await b.join(room)
    for i in range(4):
        await a.send(room, f"m{i}", client_ref=f"r{i}")
    await b.wait_message(room, 4)
    late = await node.connect(bob, label="bob-late")
    data = await late.join(room, since_seq=0)
    assert data["messages"] == b.messages(room)


async def test_joining_without_since_seq_or_up_to_date_returns_no_messages(node, rest, user_id):
    alice = user_id("alice")
    room = await rest.create_room(alice)
    a = await node.connect(alice)
    for i in range(3):
        await a.send(room, f"m{i}")
    fresh = await node.connect(alice, label="fresh")
    assert seqs_part(await fresh.join(room)) == {"room_id": room, "last_seq": 3, "messages": [], "has_more": False}
    assert seqs_part(await fresh.join(room, since_seq=3)) == {
        "room_id": room,
        "last_seq": 3,
        "messages": [],
        "has_more": False,
    }
    assert seqs_part(await fresh.join(room, since_seq=99)) == {
        "room_id": room,
        "last_seq": 3,
        "messages": [],
        "has_more": False,
    }
    assert contents((await fresh.join(room, since_seq=0))["messages"]) == ["m0", "m1", "m2"]


async def test_an_empty_room_catches_up_to_nothing(node, rest, user_id):
    alice = user_id("alice")
    room = await rest.create_room(alice)
    a = await node.connect(alice)
    assert seqs_part(await a.join(room, since_seq=0)) == {
        "room_id": room,
        "last_seq": 0,
        "messages": [],
        "has_more": False,
    }


async def test_catch_up_reads_persisted_and_not_yet_persisted_messages_alike(node, rest, user_id, drain):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a = await node.connect(alice)
    for i in range(1, 5):
        await a.send(room, f"early {i}")
    await drain()  # a real worker moves them to Postgres
    for i in range(5, 8):
        await a.send(room, f"late {i}")
    b = await node.connect(bob)
    data = await b.join(room, since_seq=2)
    assert [m["seq"] for m in data["messages"]] == [3, 4, 5, 6, 7]
    assert contents(data["messages"]) == ["early 3", "early 4", "late 5", "late 6", "late 7"]


async def test_has_more_says_when_more_were_missed_than_one_catch_up_holds(spawn, user_id):
    node = await spawn(CATCHUP_LIMIT=5)
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    a = await node.connect(alice)
    for i in range(1, 13):
        await a.send(room, f"m{i}")
    b = await node.connect(bob)
    seen: list[int] = []
    pages = []
    since = 0
    while True:
        data = await b.join(room, since_seq=since)
        pages.append((len(data["messages"]), data["has_more"], data["last_seq"]))
        seen += [m["seq"] for m in data["messages"]]
        if not data["has_more"]:
            break
        since = data["messages"][-1]["seq"]
    assert pages == [(5, True, 12), (5, True, 12), (2, False, 12)]
    assert seen == list(range(1, 13))

    sync = await b.ack("sync", {"rooms": [{"room_id": room, "since_seq": 1}]})
    [result] = sync["data"]["rooms"]
    assert result["ok"] and result["data"]["has_more"] is True
    assert [m["seq"] for m in result["data"]["messages"]] == [2, 3, 4, 5, 6]


async def test_a_join_during_a_stream_of_sends_gets_every_message_exactly_once_without_gaps(node, rest, user_id):
    """The join fences: what the acknowledgement holds and what arrives live meet without gap or duplicate."""
    alice, carol, bob = user_id("alice"), user_id("carol"), user_id("bob")
    room = await rest.create_room(alice, carol, bob)
    senders = [await node.connect(alice), await node.connect(carol)]
    total_sent = 0
    for round_number in range(4):
        joiners = [await node.connect(bob, label=f"bob-{round_number}-{i}") for i in range(3)]
        pending: list[asyncio.Future] = []
        joins: list[asyncio.Future] = []
        for i in range(60):
            sender = senders[i % 2]
            pending.append(await sender.fire("message:send", {"room_id": room, "content": f"r{round_number} #{i}"}))
            if i in (5, 25, 45):
                joiner = joiners[len(joins)]
                joins.append(await joiner.fire("room:join", {"room_id": room, "since_seq": total_sent}))
        receipts = await asyncio.wait_for(asyncio.gather(*pending), WAIT)
        assert all(r["ok"] for r in receipts), [r for r in receipts if not r["ok"]]
        total_sent += 60
        last = total_sent
        assert sorted(r["data"]["seq"] for r in receipts) == list(range(last - 59, last + 1))

        for joiner, join in zip(joiners, joins, strict=True):
            answer = await asyncio.wait_for(join, WAIT)
            assert answer["ok"], answer
            caught_up = [m["seq"] for m in answer["data"]["messages"]]
            assert caught_up == list(range(last - 59, answer["data"]["last_seq"] + 1))
            if answer["data"]["last_seq"] < last:  # else the join came after the last send: all in the ack
                await joiner.wait_message(room, last)
            live = joiner.seqs(room)
            assert live == sorted(live), f"live messages out of order: {live}"
            everything = caught_up + live
            assert everything == list(range(last - 59, last + 1)), (
                f"gap or duplicate: ack up to {answer['data']['last_seq']}, live {live}"
            )
        for joiner in joiners:
            await joiner.disconnect()


async def test_sync_joins_many_rooms_at_once_with_a_result_per_room(node, rest, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    first = await rest.create_room(alice, bob, name="First")
    second = await rest.create_room(alice, bob, name="Second")
    foreign = await rest.create_room(carol, name="Carol's")
    a = await node.connect(alice)
    for i in range(1, 4):
        await a.send(first, f"first {i}")
    await a.send(second, "second 1")

    b = await node.connect(bob)
    answer = await b.ack(
        "sync",
        {
            "rooms": [
                {"room_id": first, "since_seq": 1},
                {"room_id": foreign, "since_seq": 0},
                {"room_id": second},
                {"room_id": "123456789012345", "since_seq": 0},
                {"room_id": second, "since_seq": 0},
            ]
        },
    )
    assert answer["ok"]
    results = answer["data"]["rooms"]
    assert len(results) == 5
    assert results[0]["ok"] is True
    assert seqs_part(results[0]["data"]) == {
        "room_id": first,
        "last_seq": 3,
        "messages": results[0]["data"]["messages"],
        "has_more": False,
    }
    assert contents(results[0]["data"]["messages"]) == ["first 2", "first 3"]
    assert results[1]["ok"] is False and results[1]["room_id"] == foreign
    assert results[1]["error"]["code"] == "not_member"
    assert results[2]["ok"] is True
    assert seqs_part(results[2]["data"]) == {"room_id": second, "last_seq": 1, "messages": [], "has_more": False}
    assert results[3]["ok"] is False and results[3]["room_id"] == "123456789012345"
    assert results[3]["error"]["code"] == "room_not_found"
    assert contents(results[4]["data"]["messages"]) == ["second 1"]

    # Both rooms of the sync are followed now, and the foreign one is not.
    await a.send(first, "first 4")
    await a.send(second, "second 2")
    await b.wait_message(first, 4)
    await b.wait_message(second, 2)
    assert b.seqs(first) == [4] and b.seqs(second) == [2]


async def test_an_empty_sync_answers_no_rooms(node, user_id):
    a = await node.connect(user_id("alice"))
    assert await a.ack("sync", {"rooms": []}) == {"ok": True, "data": {"rooms": []}}


async def test_a_client_that_reconnects_and_syncs_misses_nothing_and_gets_nothing_twice(node, rest, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    rooms = [await rest.create_room(alice, bob, name=f"R{i}") for i in range(3)]
    a = await node.connect(alice)
    b = await node.connect(bob)
    for room in rooms:
        await b.join(room)
        await a.send(room, "before")
    for room in rooms:
        await b.wait_message(room, 1)
    cursors = {room: b.seqs(room)[-1] for room in rooms}
    await b.disconnect()

    for i, room in enumerate(rooms):
        for j in range(i + 1):
            await a.send(room, f"missed {j}")
    back = await node.connect(bob, label="bob-again")
    answer = await back.ack("sync", {"rooms": [{"room_id": r, "since_seq": cursors[r]} for r in rooms]})
    got = {result["data"]["room_id"]: contents(result["data"]["messages"]) for result in answer["data"]["rooms"]}
    assert got == {
        rooms[0]: ["missed 0"],
        rooms[1]: ["missed 0", "missed 1"],
        rooms[2]: [f"missed {j}" for j in range(3)],
    }
    await asyncio.sleep(QUIET)
    assert back.messages() == []


async def test_changes_while_away_come_with_the_catch_up_before_and_after_persistence(node, rest, user_id, drain):
    """Edits and deletes of messages the client had already seen (at or below its since_seq) come in the
    join's `changed`, as they are now, given the `changes_cursor` of its last join; REST serves the same
    feed, and a cursor past every change gives nothing."""
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a, b = await node.connect(alice), await node.connect(bob)
    await a.join(room)
    joined = await b.join(room)
    sent = [(await a.send(room, f"m{i}"))["data"] for i in range(1, 5)]
    await b.wait_message(room, 4)
    cursor, last_seen = joined["changes_cursor"], 4
    await b.disconnect()

    edit = await a.ack("message:edit", {"message_id": sent[0]["id"], "content": "m1, edited"})
    gone = await a.ack("message:delete", {"message_id": sent[2]["id"]})
    assert edit["ok"] and gone["ok"], (edit, gone)
    await a.send(room, "m5")

    for persisted in (False, True):  # pending in Redis, then from Postgres after a worker ran
        if persisted:
            await drain()
        back = await node.connect(bob, label=f"bob-back-{persisted}")
        data = await back.join(room, since_seq=last_seen, changes_since=cursor)
        assert contents(data["messages"]) == ["m5"]
        assert [(m["seq"], m["content"], m["deleted_at"] is not None) for m in data["changed"]] == [
            (1, "m1, edited", False),
            (3, "", True),
        ]
        assert data["changed"][0]["version"] == edit["data"]["message"]["version"]
        assert data["changes_more"] is False and int(data["changes_cursor"]) >= int(cursor)
        await back.disconnect()

    # REST serves the same feed; a cursor past every change gives nothing.
    status, page = await rest.call("GET", f"/api/v1/rooms/{room}/changes?since={cursor}", bob)
    assert status == 200 and [m["seq"] for m in page["messages"]] == [1, 3] and page["has_more"] is False
    newest = max(int(m["version"]) for m in page["messages"])
    assert (await rest.call("GET", f"/api/v1/rooms/{room}/changes?since={newest}", bob))[1]["messages"] == []
    assert (await rest.call("GET", f"/api/v1/rooms/{room}/changes", bob))[1]["messages"] == []
    status, refused = await rest.call("GET", f"/api/v1/rooms/{room}/changes?since=0", user_id("outsider"))
    assert (status, refused["code"]) == (403, "not_member")
    status, bad = await rest.call("GET", f"/api/v1/rooms/{room}/changes?since=-1", bob)
    assert (status, bad["code"]) == (400, "invalid_payload")
