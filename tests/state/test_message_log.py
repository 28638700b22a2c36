"""The message log on real Redis: seqs, the outbox, idempotency, read cursors and in-order publishing."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from app.chat import events
from app.chat.model import Message, format_time
from app.chat.ports import Quota, RateLimited, SequenceUnknown
from app.state.keys import outbox_field, parse_outbox_field
from app.state.message_log import RedisMessageLog

TTL = 600
PLENTY = Quota("message", "tests", rate=1e6, burst=10**6)


async def test_append_needs_a_seeded_counter_then_counts_1_2_3(log, keys, redis_client, message):
    with pytest.raises(SequenceUnknown):
        await log.append(message("10", "ann"), TTL, PLENTY)
    assert await redis_client.hlen(keys.outbox) == 0
    assert await redis_client.exists(keys.seq("10")) == 0  # a refused append creates nothing
    await log.seed("10", 0)
    sent = [message("10", "ann", f"m{i}") for i in range(3)]
    results = [await log.append(m, TTL, PLENTY) for m in sent]
    assert [r.receipt.seq for r in results] == [1, 2, 3]
    assert not any(r.duplicate for r in results)
    for m, r in zip(sent, results, strict=True):
        assert (r.receipt.room_id, r.receipt.message_id, r.receipt.client_ref) == ("10", m.id, None)
        assert format_time(r.receipt.created_at) == format_time(m.created_at)
    assert await log.last_seqs(["10"]) == {"10": 3}


async def test_the_outbox_keeps_each_message_record_with_its_seq_and_redrive_time(log, keys, redis_client, message):
    await log.seed("11", 0)
    m = message("11", "ann", 'héllo "quoted" ✓', client_ref="c-1")
    receipt = (await log.append(m, TTL, PLENTY)).receipt
    body = await redis_client.hget(keys.outbox, outbox_field("11", receipt.seq))
    assert orjson.loads(body) == {**m.record(), "seq": 1}
    score = await redis_client.zscore(keys.outbox_since, outbox_field("11", 1))
    assert score == int(m.created_at.timestamp() * 1000) + 60_000
    assert parse_outbox_field(outbox_field("11", 1)) == ("11", 1)


async def test_a_repeated_client_ref_returns_the_first_receipt_and_stores_nothing_more(
    log, keys, redis_client, message, subscribe
):
    await log.seed("12", 0)
    subscriber = await subscribe(keys.channel(events.room_topic("12")))
    first = await log.append(message("12", "ann", "once", client_ref="ref-1"), TTL, PLENTY)
    assert not first.duplicate
    before = (await redis_client.hlen(keys.outbox), await redis_client.zcard(keys.outbox_since))
    again = await log.append(message("12", "ann", "twice?", client_ref="ref-1"), TTL, PLENTY)
    assert again.duplicate
    assert again.receipt == first.receipt
    assert (await redis_client.hlen(keys.outbox), await redis_client.zcard(keys.outbox_since)) == before
    assert await log.last_seqs(["12"]) == {"12": 1}
    # Exactly one publish: the first. A sentinel published afterwards arrives next.
    assert (await subscriber.next())["data"]["content"] == "once"
    await redis_client.publish(subscriber.channel, orjson.dumps({"sentinel": True}))
    assert await subscriber.next() == {"sentinel": True}
    # The same ref used for another room is still the first receipt (the core refuses it).
    elsewhere = await log.append(message("13", "ann", "other room", client_ref="ref-1"), TTL, PLENTY)
    assert elsewhere.duplicate and elsewhere.receipt.room_id == "12"


async def test_the_idempotency_key_expires_with_its_ttl(log, keys, redis_client, message):
    await log.seed("14", 0)
    m = message("14", "ann", client_ref="ref-ttl")
    await log.append(m, 30, PLENTY)
    assert 0 < await redis_client.ttl(keys.idempotency("ann", "ref-ttl")) <= 30


async def test_messages_without_a_client_ref_are_never_duplicates(log, redis_client, keys, message):
    await log.seed("15", 0)
    results = [await log.append(message("15", "ann", "same"), TTL, PLENTY) for _ in range(3)]
    assert [(r.receipt.seq, r.duplicate) for r in results] == [(1, False), (2, False), (3, False)]
    assert await redis_client.exists(keys.idempotency("", "-")) == 0


async def test_distinct_senders_identical_client_refs_are_kept_apart(log, message):
    await log.seed("16", 0)
    a = await log.append(message("16", "ann", client_ref="same"), TTL, PLENTY)
    b = await log.append(message("16", "bob", client_ref="same"), TTL, PLENTY)
    # Senders and refs that concatenate alike are different pairs too.
    c = await log.append(message("16", "x:y", client_ref="z"), TTL, PLENTY)
    d = await log.append(message("16", "x", client_ref="y:z"), TTL, PLENTY)
    assert [r.receipt.seq for r in (a, b, c, d)] == [1, 2, 3, 4]
    assert not any(r.duplicate for r in (a, b, c, d))


async def test_append_moves_the_senders_read_cursor_forward_only(log, keys, redis_client, message):
    await log.seed("17", 0)
    await log.seed("18", 0)
    await log.append(message("17", "ann"), TTL, PLENTY)
    await log.append(message("17", "ann"), TTL, PLENTY)
    await log.append(message("18", "ann"), TTL, PLENTY)
    assert await log.read_cursors("ann", ["17", "18", "19"]) == {"17": 2, "18": 1}
    assert await log.read_cursors("bob", ["17"]) == {}
    assert await log.read_cursors("ann", []) == {}
    await redis_client.hset(keys.read_cursors("ann"), "17", 50)  # read further on another device
    await log.append(message("17", "ann"), TTL, PLENTY)
    assert await log.read_cursors("ann", ["17"]) == {"17": 50}


async def test_readers_caught_up_with_the_room_are_moved_onto_the_message_in_the_same_step(
    log, keys, redis_client, message
):
    """A system message's readers: each whose cursor (Redis's or the persisted one, the larger) was at the
    message before is moved onto it and marked for the flush; the others, and the non-readers, stay."""
    await log.seed("31", 4)
    await redis_client.hset(keys.read_cursors("ann"), "31", 4)  # caught up in Redis
    await redis_client.hset(keys.read_cursors("bob"), "31", 2)  # behind in Redis, caught up in Postgres
    await redis_client.hset(keys.read_cursors("cid"), "31", 3)  # behind
    await redis_client.hset(keys.read_cursors("eve"), "31", 4)  # caught up, but not a reader
    await redis_client.delete(keys.flush_requested, keys.dirty("reads"))
    readers = {"ann": 0, "bob": 4, "cid": 1, "dan": 4}  # dan: nothing in Redis, caught up in Postgres
    appended = await log.append(message("31", "sys"), TTL, PLENTY, readers)
    assert appended.receipt.seq == 5 and appended.flush
    cursors = {user: (await log.read_cursors(user, ["31"])).get("31") for user in ("ann", "bob", "cid", "dan", "eve")}
    assert cursors == {"ann": 5, "bob": 5, "cid": 3, "dan": 5, "eve": 4}
    marked = await redis_client.smembers(keys.dirty("reads"))
    assert {m.decode() for m in marked} == {"31:ann", "31:bob", "31:dan"}
    # The next message: nobody is at the message before it any more but the sender, so nothing moves.
    again = await log.append(message("31", "sys"), TTL, PLENTY, {"cid": 1})
    assert again.receipt.seq == 6 and not again.flush
    assert await log.read_cursors("cid", ["31"]) == {"31": 3}
    # An ordinary message names no readers and moves nobody's cursor but its sender's.
    await log.append(message("31", "eve"), TTL, PLENTY)
    assert (await log.read_cursors("ann", ["31"]), await log.read_cursors("eve", ["31"])) == ({"31": 5}, {"31": 7})


async def test_every_message_is_published_to_its_room_with_its_record(log, keys, message, subscribe):
    await log.seed("20", 0)
    subscriber = await subscribe(keys.channel(events.room_topic("20")))
    m = message("20", "ann", "published", client_ref="p-1")
    await log.append(m, TTL, PLENTY)
    assert await subscriber.next() == {"event": events.MESSAGE_NEW, "data": {**m.record(), "seq": 1}}


async def test_concurrent_appends_from_many_connections_are_published_in_seq_order(keys, new_redis, message, subscribe):
    room = "21"
    logs = [RedisMessageLog(new_redis(), keys, redrive_after_s=60) for _ in range(4)]
    await logs[0].seed(room, 0)
    subscriber = await subscribe(keys.channel(events.room_topic(room)))
    total = 200
    appends = [logs[i % len(logs)].append(message(room, f"u{i % 7}", f"m{i}"), TTL, PLENTY) for i in range(total)]
    results = await asyncio.wait_for(asyncio.gather(*appends), 30)
    assert sorted(r.receipt.seq for r in results) == list(range(1, total + 1))
    received = []
    for _ in range(total):
        payload = await subscriber.next()
        assert payload is not None, f"only {len(received)} of {total} messages were published"
        received.append(payload["data"])
    assert [data["seq"] for data in received] == list(range(1, total + 1))
    by_id = {r.receipt.message_id: r.receipt.seq for r in results}
    assert all(by_id[data["id"]] == data["seq"] for data in received)


async def test_pending_returns_the_outbox_messages_asked_for(log, keys, redis_client, message):
    await log.seed("22", 0)
    await log.seed("23", 0)
    sent = {}
    for room in ("22", "23"):
        for i in range(3):
            m = message(room, "ann", f"{room}-{i}")
            sent[(room, (await log.append(m, TTL, PLENTY)).receipt.seq)] = m
    found = await log.pending([("22", 1), ("23", 3), ("22", 9), ("24", 1)])
    assert sorted((m.room_id, m.seq) for m in found) == [("22", 1), ("23", 3)]
    for m in found:
        original = sent[(m.room_id, m.seq)]
        assert m == Message.from_record({**original.record(), "seq": m.seq})
    # Persisted messages leave the outbox and so leave pending().
    await redis_client.hdel(keys.outbox, outbox_field("22", 1))
    assert [(m.room_id, m.seq) for m in await log.pending([("22", 1), ("22", 2)])] == [("22", 2)]
    assert await log.pending([]) == []


async def test_last_seqs_is_none_for_unknown_rooms(log, message):
    await log.seed("25", 4)
    assert await log.last_seqs(["25", "26"]) == {"25": 4, "26": None}


async def test_seed_never_lowers_a_counter(log, message):
    await log.seed("27", 10)
    await log.seed("27", 3)
    assert await log.last_seqs(["27"]) == {"27": 10}
    assert (await log.append(message("27", "ann"), TTL, PLENTY)).receipt.seq == 11
    await log.seed("27", 0)
    assert (await log.append(message("27", "ann"), TTL, PLENTY)).receipt.seq == 12


async def test_a_spent_quota_refuses_the_append_and_stores_nothing(log, keys, redis_client, message):
    await log.seed("40", 0)
    quota = Quota("message", "ann-40", rate=0.5, burst=2)
    for _ in range(2):
        await log.append(message("40", "ann"), TTL, quota)
    with pytest.raises(RateLimited) as refused:
        await log.append(message("40", "ann", "third"), TTL, quota)
    assert 0 < refused.value.retry_after <= 2.0
    assert int(await redis_client.get(keys.seq("40"))) == 2
    assert await redis_client.hexists(keys.outbox, outbox_field("40", 3)) == 0


async def test_a_resend_returns_its_receipt_without_spending_quota(log, message):
    await log.seed("41", 0)
    quota = Quota("message", "ann-41", rate=0.5, burst=1)
    first = await log.append(message("41", "ann", client_ref="r"), TTL, quota)
    again = await log.append(message("41", "ann", client_ref="r"), TTL, quota)
    assert again.duplicate and again.receipt == first.receipt
    with pytest.raises(RateLimited):
        await log.append(message("41", "ann", client_ref="new"), TTL, quota)
