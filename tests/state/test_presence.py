"""Presence on real Redis: the transitions the Lua scripts report (first and last connection, connections
swept after their node died, swept connections kept alive again), exactly-once reports under concurrency,
the flush marks and their one-job flag, and read cursors that only move forward."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from app.chat.model import Device
from app.chat.ports import PresenceChange, PresenceRecord
from app.state.flush import FlushSource, Taken
from app.state.message_log import RedisMessageLog, read_entry
from app.state.presence import SEPARATOR, RedisPresence

TTL_S = 60  # keys of the users' connections expire after twice this (real time); scores below are made up
TTL = TTL_S * 1000
T0 = 1_700_000_000_000  # "now" of the scenarios, in ms
ROUNDS = 40
NO_DEVICE = Device()


@pytest.fixture
def presence(redis_client, keys) -> RedisPresence:
    return RedisPresence(redis_client, keys, ttl_s=TTL_S)


@pytest.fixture
def node(new_redis, keys):
    """node() -> a RedisPresence on a connection of its own, as another web node holds it."""

    def make() -> RedisPresence:
        return RedisPresence(new_redis(), keys, ttl_s=TTL_S)

    return make


@pytest.fixture
def source(sync_redis, keys) -> FlushSource:
    return FlushSource(sync_redis, keys)


async def members(redis_client, key: str) -> set[str]:
    return {m.decode() for m in await redis_client.smembers(key)}


async def conns(redis_client, keys, user: str) -> dict[str, float]:
    return {m.decode(): s for m, s in await redis_client.zrange(keys.presence_conns(user), 0, -1, withscores=True)}


async def expiry(redis_client, keys) -> dict[str, float]:
    return {m.decode(): s for m, s in await redis_client.zrange(keys.presence_expiry, 0, -1, withscores=True)}


# -- connect / touch / disconnect ------------------------------------------------------------------


async def test_the_first_connection_changes_presence_and_a_second_does_not(presence, keys, redis_client):
    first = await presence.connect("ann", "c1", NO_DEVICE, T0, T0 + TTL)
    assert first == PresenceChange(changed=True, status="online", flush=True)
    second = await presence.connect("ann", "c2", NO_DEVICE, T0 + 10, T0 + 10 + TTL)
    assert second == PresenceChange(changed=False, status="online", flush=False)  # the flag is already set
    assert await conns(redis_client, keys, "ann") == {"c1": T0 + TTL, "c2": T0 + 10 + TTL}
    assert await expiry(redis_client, keys) == {f"c1{SEPARATOR}ann": T0 + TTL, f"c2{SEPARATOR}ann": T0 + 10 + TTL}
    assert await presence.lookup(["ann"], T0 + 20) == {"ann": PresenceRecord("online", True, T0 + 10)}
    # The user's connections key expires by itself (twice the TTL) should every node vanish.
    assert 0 < await redis_client.pttl(keys.presence_conns("ann")) <= 2 * TTL


async def test_the_last_disconnect_changes_presence_and_an_earlier_one_does_not(presence, keys, redis_client):
    await presence.connect("ann", "c1", NO_DEVICE, T0, T0 + TTL)
    await presence.connect("ann", "c2", NO_DEVICE, T0, T0 + TTL)
    assert (await presence.disconnect("ann", "c1", T0 + 100)).changed is False
    assert (await presence.lookup(["ann"], T0 + 100))["ann"].online
    assert (await presence.disconnect("ann", "c2", T0 + 200)).changed is True
    assert await presence.lookup(["ann"], T0 + 200) == {"ann": PresenceRecord("online", False, T0 + 200)}
    assert await expiry(redis_client, keys) == {}  # nothing left for the sweep to scan
    # Disconnecting a connection that is already gone changes nothing.
    assert (await presence.disconnect("ann", "c2", T0 + 300)).changed is False
    assert (await presence.disconnect("ann", "never", T0 + 300)).changed is False


async def test_a_connection_after_the_users_others_expired_is_a_first_connection_again(presence):
    await presence.connect("ann", "old", NO_DEVICE, T0, T0 + TTL)
    # The old connection's node died: past its expiry it no longer counts, swept or not.
    assert (await presence.lookup(["ann"], T0 + TTL + 1))["ann"].online is False
    assert (await presence.connect("ann", "new", NO_DEVICE, T0 + TTL + 1, T0 + 2 * TTL)).changed is True
    # The sweep then finds the old one gone from the user's set: ann is online, nothing to report.
    # The old connection's entry in the sweep's set is dropped and handed on (for the rooms it viewed).
    assert await presence.sweep(T0 + TTL + 2, TTL, 100) == ([], False, [("ann", "old")])
    assert (await presence.lookup(["ann"], T0 + TTL + 2))["ann"].online is True


async def test_touch_pushes_the_expiry_forward_and_reports_no_change_while_connected(presence, keys, redis_client):
    await presence.connect("ann", "c1", NO_DEVICE, T0, T0 + TTL)
    change = await presence.touch("ann", "c1", T0 + 5_000, T0 + 5_000 + TTL)
    assert change.changed is False
    assert await conns(redis_client, keys, "ann") == {"c1": T0 + 5_000 + TTL}
    assert await expiry(redis_client, keys) == {f"c1{SEPARATOR}ann": T0 + 5_000 + TTL}
    assert (await presence.lookup(["ann"], T0 + 5_000))["ann"].last_seen_ms == T0 + 5_000
    # Past the first expiry ann is still online: the touch kept her alive, and the sweep leaves her.
    assert await presence.sweep(T0 + TTL + 1, TTL, 100) == ([], False, [])
    assert (await presence.lookup(["ann"], T0 + TTL + 1))["ann"].online is True


async def test_the_chosen_status_is_kept_and_reported_by_every_transition(presence):
    before, online, flush = await presence.choose("ann", "away", T0)
    assert (before, online, flush) == ("online", False, True)
    change = await presence.connect("ann", "c1", NO_DEVICE, T0, T0 + TTL)
    assert (change.changed, change.status) == (True, "away")
    assert (await presence.choose("ann", "busy", T0 + 1))[:2] == ("away", True)
    assert (await presence.touch("ann", "c1", T0 + 2, T0 + 2 + TTL)).status == "busy"
    assert (await presence.disconnect("ann", "c1", T0 + 3)) == PresenceChange(True, "busy", False)
    assert await presence.lookup(["ann", "bob"], T0 + 4) == {
        "ann": PresenceRecord("busy", False, T0 + 3),
        "bob": PresenceRecord("online", False, None),
    }
    assert await presence.lookup([], T0) == {}


async def test_concurrent_disconnects_of_a_users_last_two_connections_report_exactly_one_change(node):
    nodes = [node(), node()]
    for round_ in range(ROUNDS):
        user = f"ann{round_}"
        await nodes[0].connect(user, "a", NO_DEVICE, T0, T0 + TTL)
        await nodes[1].connect(user, "b", NO_DEVICE, T0, T0 + TTL)
        results = await asyncio.gather(nodes[0].disconnect(user, "a", T0 + 10), nodes[1].disconnect(user, "b", T0 + 10))
        assert sorted(change.changed for change in results) == [False, True], (round_, results)


async def test_concurrent_first_connections_report_exactly_one_change(node):
    nodes = [node() for _ in range(3)]
    for round_ in range(ROUNDS):
        user = f"bob{round_}"
        results = await asyncio.gather(
            *(n.connect(user, f"c{i}", NO_DEVICE, T0, T0 + TTL) for i, n in enumerate(nodes))
        )
        assert sum(change.changed for change in results) == 1, (round_, results)


async def test_a_late_disconnect_racing_the_sweep_of_the_same_connection_reports_once(node):
    sweeper, leaver = node(), node()
    for round_ in range(ROUNDS):
        user = f"cat{round_}"
        await leaver.connect(user, "c", NO_DEVICE, T0, T0 + TTL)
        (gone, _, _), change = await asyncio.gather(
            sweeper.sweep(T0 + TTL + 1, TTL, 100), leaver.disconnect(user, "c", T0 + TTL + 1)
        )
        reports = [u for u, _ in gone].count(user) + int(change.changed)
        assert reports == 1, (round_, gone, change)


# -- the sweep -------------------------------------------------------------------------------------


async def test_the_sweep_reports_users_left_without_connections_once_with_expiry_minus_ttl(
    presence, keys, redis_client
):
    await presence.connect("ann", "a1", NO_DEVICE, T0, T0 + 1_000)  # expires first
    await presence.connect("bob", "b1", NO_DEVICE, T0, T0 + 2_000)
    await presence.connect("bob", "b2", NO_DEVICE, T0, T0 + 90_000)  # keeps bob online
    await presence.connect("cat", "k1", NO_DEVICE, T0, T0 + 90_000)
    # The last-seen hash says T0 (the connect); the sweep reports expiry - TTL when that is later.
    assert await presence.sweep(T0 + 500, 0, 100) == ([], False, [])
    swept, flush, conns_swept = await presence.sweep(T0 + 5_000, 300, 100)
    assert swept == [("ann", T0 + 1_000 - 300)]
    assert flush is False  # the connects set the flag and no flush cleared it: no second job
    assert conns_swept == [("ann", "a1"), ("bob", "b1")]  # every connection dropped, bob's too
    assert await conns(redis_client, keys, "ann") == {}
    assert await conns(redis_client, keys, "bob") == {"b2": T0 + 90_000}
    assert set(await expiry(redis_client, keys)) == {f"b2{SEPARATOR}bob", f"k1{SEPARATOR}cat"}
    assert (await presence.lookup(["ann"], T0 + 5_000))["ann"] == PresenceRecord("online", False, T0 + 700)
    assert "ann" in await members(redis_client, keys.dirty("users"))
    # Reported once: sweeping again finds nothing.
    assert await presence.sweep(T0 + 6_000, 300, 100) == ([], False, [])


async def test_the_sweep_never_moves_last_seen_back(presence):
    await presence.connect("ann", "a1", NO_DEVICE, T0, T0 + 1_000)
    await presence.touch("ann", "a1", T0 + 900, T0 + 1_000)  # a heartbeat at +900, expiry unchanged
    # expiry - TTL = T0 + 400 is before the heartbeat: the heartbeat's time is reported.
    assert (await presence.sweep(T0 + 2_000, 600, 100))[0] == [("ann", T0 + 900)]
    assert (await presence.lookup(["ann"], T0 + 2_000))["ann"].last_seen_ms == T0 + 900


async def test_a_sweep_requests_a_flush_once_until_the_flush_clears_the_flag(presence, source):
    await presence.connect("ann", "a", NO_DEVICE, T0, T0 + 10)
    await presence.connect("bob", "b", NO_DEVICE, T0, T0 + 10)
    await presence.connect("cat", "c", NO_DEVICE, T0, T0 + 10)
    source.clear_request()
    gone, flush, _ = await presence.sweep(T0 + 100, 5, 100)
    assert {u for u, _ in gone} == {"ann", "bob", "cat"} and flush is True
    await presence.connect("dan", "d", NO_DEVICE, T0 + 100, T0 + 110)
    assert (await presence.sweep(T0 + 200, 5, 100)) == ([("dan", T0 + 105)], False, [("dan", "d")])


async def test_the_sweep_takes_at_most_limit_connections_per_call(presence):
    for i in range(5):
        await presence.connect(f"u{i}", "c", NO_DEVICE, T0, T0 + 10 + i)
    first, _, _ = await presence.sweep(T0 + 100, 0, 2)
    second, _, _ = await presence.sweep(T0 + 100, 0, 2)
    third, _, _ = await presence.sweep(T0 + 100, 0, 2)
    assert [u for u, _ in first + second + third] == [f"u{i}" for i in range(5)]  # earliest expiry first
    assert (len(first), len(second), len(third)) == (2, 2, 1)


async def test_concurrent_sweeps_report_each_user_once(node, presence):
    users = [f"u{i}" for i in range(200)]
    for i, user in enumerate(users):
        await presence.connect(user, "c1", NO_DEVICE, T0, T0 + 10 + i % 7)
        if i % 3 == 0:
            await presence.connect(user, "c2", NO_DEVICE, T0, T0 + 20)  # both due: still one report
    sweepers = [node() for _ in range(4)]
    results = await asyncio.gather(*(s.sweep(T0 + 1_000, 0, 25) for s in sweepers for _ in range(4)))
    reported = [user for gone, _, _ in results for user, _ in gone]
    assert sorted(reported) == sorted(users)
    # Every connection is handed on once too, whichever sweep took it.
    swept = [conn for _, _, conns in results for conn in conns]
    assert sorted(swept) == sorted([(u, "c1") for u in users] + [(u, "c2") for u in users[::3]])


async def test_a_user_whose_connections_all_died_is_last_seen_when_the_last_one_was_alive(presence):
    await presence.connect("ann", "a1", NO_DEVICE, T0, T0 + 1_000)  # node A stopped refreshing early
    await presence.connect("ann", "b1", NO_DEVICE, T0, T0 + 60_000)  # node B kept it alive for a minute
    gone, _, conns_swept = await presence.sweep(T0 + 120_000, 3_000, 100)
    assert gone == [("ann", T0 + 60_000 - 3_000)]
    assert conns_swept == [("ann", "a1"), ("ann", "b1")]  # b1 too, though a1's turn took it from ann's set


# -- keep-alive ------------------------------------------------------------------------------------


async def test_keep_alive_pushes_every_connection_forward_and_reports_nobody_still_connected(
    presence, keys, redis_client
):
    await presence.connect("ann", "a", NO_DEVICE, T0, T0 + TTL)
    await presence.connect("bob", "b", NO_DEVICE, T0, T0 + TTL)
    assert await presence.keep_alive([("ann", "a"), ("bob", "b")], T0 + 1_000, T0 + 1_000 + TTL) == []
    assert await expiry(redis_client, keys) == {
        f"a{SEPARATOR}ann": T0 + 1_000 + TTL,
        f"b{SEPARATOR}bob": T0 + 1_000 + TTL,
    }
    assert await conns(redis_client, keys, "ann") == {"a": T0 + 1_000 + TTL}
    assert await presence.keep_alive([], T0, T0) == []


async def test_keep_alive_readding_a_swept_connection_reports_its_user_back_once(presence, keys, redis_client):
    await presence.connect("ann", "a1", NO_DEVICE, T0, T0 + 10)
    await presence.connect("ann", "a2", NO_DEVICE, T0, T0 + 10)
    await presence.connect("bob", "b1", NO_DEVICE, T0, T0 + 10)
    await presence.connect("bob", "b2", NO_DEVICE, T0, T0 + 90_000)  # bob never went offline
    gone, _, _ = await presence.sweep(T0 + 100, 0, 100)
    assert sorted(u for u, _ in gone) == ["ann"]
    # The node was only slow: its next keep-alive brings both of ann's connections and bob's back.
    back = await presence.keep_alive([("ann", "a1"), ("ann", "a2"), ("bob", "b1")], T0 + 200, T0 + 200 + TTL)
    assert back == ["ann"]
    assert (await presence.lookup(["ann"], T0 + 200))["ann"].online is True
    assert set(await conns(redis_client, keys, "ann")) == {"a1", "a2"}
    assert f"a1{SEPARATOR}ann" in await expiry(redis_client, keys)
    # Kept alive again: nobody is back twice.
    assert await presence.keep_alive([("ann", "a1"), ("ann", "a2")], T0 + 300, T0 + 300 + TTL) == []


async def test_keep_alive_handles_more_connections_than_one_script_call(presence, redis_client, keys):
    pairs = [(f"u{i}", f"c{i}") for i in range(1_203)]  # three chunks of at most 500
    back = await presence.keep_alive(pairs, T0, T0 + TTL)
    assert back == [user for user, _ in pairs]  # none had a connection: each is back
    assert await redis_client.zcard(keys.presence_expiry) == len(pairs)
    assert await presence.keep_alive(pairs, T0 + 1, T0 + 1 + TTL) == []


# -- flush marks -----------------------------------------------------------------------------------


async def test_the_flush_flag_is_set_once_until_a_flush_clears_it(presence, source, keys, redis_client):
    flags = []
    for i in range(20):
        flags.append((await presence.touch("ann", "a", T0 + i, T0 + i + TTL)).flush)
    flags.append((await presence.choose("ann", "away", T0 + 30))[2])
    flags.append((await presence.disconnect("ann", "a", T0 + 40)).flush)
    assert flags == [True] + [False] * 21
    assert 0 < await redis_client.ttl(keys.flush_requested) <= 30  # a lost job is asked again later
    source.clear_request()
    assert await redis_client.exists(keys.flush_requested) == 0
    assert (await presence.touch("ann", "a", T0 + 50, T0 + 50 + TTL)).flush is True
    assert (await presence.touch("ann", "a", T0 + 60, T0 + 60 + TTL)).flush is False


async def test_concurrent_marks_request_exactly_one_flush(node, source):
    nodes = [node() for _ in range(4)]
    for round_ in range(ROUNDS):
        source.clear_request()
        results = await asyncio.gather(
            *(n.touch(f"u{i}", "c", T0 + round_, T0 + round_ + TTL) for i, n in enumerate(nodes) for _ in range(3))
        )
        assert sum(change.flush for change in results) == 1, round_


async def test_take_returns_what_changed_with_redis_current_values_and_leaves_nothing(
    presence, source, keys, redis_client, sync_redis
):
    log = RedisMessageLog(redis_client, keys, redrive_after_s=60)
    await presence.connect("ann", "a", Device("phone-1", "fr"), T0, T0 + TTL)
    await presence.connect("ann", "b", Device("laptop", None), T0 + 5, T0 + TTL)
    await presence.choose("bob", "busy", T0 + 6)
    await presence.touch("ann", "a", T0 + 9, T0 + 9 + TTL)
    await log.advance_read("ann", "42", 7)
    await log.advance_read("bob", "42", 3)
    assert source.waiting() == 2 + 2 + 2  # users ann, bob; two devices; two cursors

    taken = source.take(100)
    assert sorted(taken.users) == ["ann", "bob"]
    assert taken.last_seen == {"ann": T0 + 9}  # bob never connected
    assert taken.statuses == {"bob": "busy"}
    assert sorted(taken.device_rows) == [("ann", "laptop", None, T0 + 9), ("ann", "phone-1", "fr", T0 + 9)]
    assert sorted(taken.read_rows) == [(42, "ann", 7), (42, "bob", 3)]
    assert sorted(taken.reads) == [read_entry("42", "ann"), read_entry("42", "bob")]
    assert sorted(orjson.loads(d) for d in taken.devices) == [["ann", "laptop", None], ["ann", "phone-1", "fr"]]
    assert source.waiting() == 0
    assert not source.take(100)
    # A mark is taken once: a second take gets only what changed since.
    await presence.touch("ann", "a", T0 + 20, T0 + 20 + TTL)
    again = source.take(100)
    assert (again.users, again.last_seen, again.devices, again.reads) == (["ann"], {"ann": T0 + 20}, [], [])
    assert sync_redis.exists(keys.dirty("users")) == 0


async def test_take_honours_its_limit_per_kind(presence, source):
    for i in range(7):
        await presence.connect(f"u{i}", "c", NO_DEVICE, T0, T0 + TTL)
    sizes = []
    while taken := source.take(3):
        sizes.append(len(taken.users))
    assert sizes == [3, 3, 1]


async def test_restore_puts_taken_marks_back_for_the_next_take(presence, source, keys, redis_client):
    log = RedisMessageLog(redis_client, keys, redrive_after_s=60)
    await presence.connect("ann", "a", Device("phone", "de"), T0, T0 + TTL)
    await log.advance_read("ann", "9", 4)
    taken = source.take(100)
    assert source.waiting() == 0
    source.restore(taken)
    assert source.waiting() == 3
    again = source.take(100)
    assert (again.users, again.devices, again.reads) == (taken.users, taken.devices, taken.reads)
    assert again.read_rows == [(9, "ann", 4)] and again.device_rows == [("ann", "phone", "de", T0)]
    source.restore(Taken())  # nothing to put back is fine
    assert source.waiting() == 0


async def test_a_device_without_an_id_is_not_marked(presence, source):
    await presence.connect("ann", "a", Device(None, "en"), T0, T0 + TTL)
    taken = source.take(100)
    assert (taken.users, taken.devices, taken.device_rows) == (["ann"], [], [])


# -- read cursors ----------------------------------------------------------------------------------


async def test_advance_read_moves_forward_only_and_marks_only_a_move(log, source, keys, sync_redis):
    source.clear_request()
    assert await log.advance_read("ann", "5", 3) == (0, True)
    assert await log.advance_read("ann", "5", 8) == (3, False)  # moved; the flag is already set
    assert await log.advance_read("ann", "5", 6) == (8, False)  # backwards: stays at 8
    assert await log.advance_read("ann", "5", 8) == (8, False)  # the same: nothing
    assert await log.read_cursors("ann", ["5"]) == {"5": 8}
    assert source.take(100).read_rows == [(5, "ann", 8)]
    # Only a move marks: after the flush, reading backwards leaves nothing to flush and asks no job.
    source.clear_request()
    assert await log.advance_read("ann", "5", 2) == (8, False)
    assert sync_redis.exists(keys.flush_requested) == 0
    assert source.waiting() == 0
    assert await log.advance_read("ann", "5", 9) == (8, True)


async def test_concurrent_reads_leave_the_highest_cursor(keys, new_redis, log):
    logs = [RedisMessageLog(new_redis(), keys, redrive_after_s=60) for _ in range(4)]
    seqs = list(range(1, 101))
    await asyncio.gather(*(logs[seq % 4].advance_read("ann", "77", seq) for seq in reversed(seqs)))
    assert await log.read_cursors("ann", ["77"]) == {"77": 100}
