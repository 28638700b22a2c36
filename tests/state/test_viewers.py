"""Viewers of a room on real Redis (and real Postgres for membership): one join and one leave per user
however many of their connections view the room, members only, the list of viewers, liveness taken from
presence (an expired connection stops counting before any sweep), the sweep's dead connections announced as
left, exactly-once announcements under concurrency, key expiry, and nothing left behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from app.chat.access import Access
from app.chat.errors import ChatError, Code
from app.chat.events import VIEWER_JOINED, VIEWER_LEFT, Event, room_topic
from app.chat.model import Device, User, from_ms
from app.chat.presence import Presence
from app.chat.viewers import Viewers
from app.state.bus import RedisBus
from app.state.presence import RedisPresence
from app.state.viewers import RedisViewers, member
from app.storage.rooms import PgRoomStore, add_members
from app.storage.users import PgUserStore

TTL_S = 60  # the presence scores below are made up (ms since the epoch); key expiry is real time
TTL = TTL_S * 1000
T0 = 1_700_000_000_000  # "now" of the scenarios, in ms
LONG = T0 + 10 * TTL  # an expiry that does not pass during a test
ROUNDS = 40
NO_DEVICE = Device()
SENTINEL = "test:sentinel"


class Clock:
    """The core's clock, at a time the test sets (ms)."""

    def __init__(self) -> None:
        self.ms = T0

    def now(self) -> datetime:
        return from_ms(self.ms)


class Flush:
    def __init__(self) -> None:
        self.requests = 0

    def request(self) -> None:
        self.requests += 1


@pytest.fixture
def presence(redis_client, keys) -> RedisPresence:
    return RedisPresence(redis_client, keys, ttl_s=TTL_S)


@pytest.fixture
def state(redis_client, keys) -> RedisViewers:
    return RedisViewers(redis_client, keys, ttl_s=TTL_S)


@pytest.fixture
def node(new_redis, keys):
    """node() -> a RedisViewers on a connection of its own, as another web node holds it."""

    def make() -> RedisViewers:
        return RedisViewers(new_redis(), keys, ttl_s=TTL_S)

    return make


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bus(redis_client, keys) -> RedisBus:
    return RedisBus(redis_client, keys)  # publishing only: never started


@pytest.fixture
def viewers(state, adb, bus, clock) -> Viewers:
    return Viewers(state, Access(PgRoomStore(adb), ttl=60), bus, clock)


@pytest.fixture
def room(group):
    """A real group room in Postgres: (room_id, [owner, ann, bob, cat])."""
    return group("ann", "bob", "cat")


@pytest.fixture
async def heard(subscribe, keys, bus):
    """heard(room_id) -> an async `told()` returning every event published to the room's topic since the
    call (or the last `told()`), as (name, data) in order; a sentinel published after them bounds the wait."""

    async def make(room_id: str):
        topic = room_topic(room_id)
        subscriber = await subscribe(keys.channel(topic))

        async def told() -> list[tuple[str, dict]]:
            await bus.publish(topic, Event(SENTINEL, {}))
            seen = []
            while (payload := await subscriber.next()) is not None:
                if payload["event"] == SENTINEL:
                    return seen
                seen.append((payload["event"], payload["data"]))
            raise AssertionError(f"the sentinel never arrived; heard {seen}")

        return told

    return make


def joined(room_id: str, user_id: str) -> tuple[str, dict]:
    return VIEWER_JOINED, {"room_id": room_id, "user_id": user_id}


def left(room_id: str, user_id: str) -> tuple[str, dict]:
    return VIEWER_LEFT, {"room_id": room_id, "user_id": user_id}


async def viewer_keys(redis_client, keys) -> list[bytes]:
    """Every key of the viewers under this test's prefix."""
    found = []
    for pattern in ("viewers:*", "viewing:*"):
        found += [key async for key in redis_client.scan_iter(match=f"{keys.prefix}{pattern}")]
    return found


# -- open and close --------------------------------------------------------------------------------------------


async def test_a_user_is_announced_once_however_many_connections_view_the_room(viewers, presence, room, heard):
    room_id, [_owner, ann, *_] = room
    told = await heard(room_id)
    await presence.connect(ann, "a1", NO_DEVICE, T0, LONG)
    await presence.connect(ann, "a2", NO_DEVICE, T0, LONG)

    assert await viewers.open(User(ann), room_id, "a1") == [ann]
    assert await told() == [joined(room_id, ann)]
    assert await viewers.open(User(ann), room_id, "a2") == [ann]  # a second device: counted once
    assert await viewers.open(User(ann), room_id, "a2") == [ann]  # opening again changes nothing
    assert await told() == []

    await viewers.close(ann, room_id, "a1")
    assert await told() == []  # a2 still views it
    assert await viewers.viewing(room_id) == [ann]
    await viewers.close(ann, room_id, "a2")
    assert await told() == [left(room_id, ann)]
    assert await viewers.viewing(room_id) == []
    # Closing again, or a connection that never opened the room, announces nothing.
    await viewers.close(ann, room_id, "a2")
    await viewers.close(ann, room_id, "never")
    assert await told() == []


async def test_only_members_may_open_a_room_and_a_refusal_records_nothing(
    viewers, presence, room, user_id, keys, redis_client
):
    room_id, _ = room
    outsider = user_id("outsider")
    await presence.connect(outsider, "o1", NO_DEVICE, T0, LONG)
    with pytest.raises(ChatError) as refused:
        await viewers.open(User(outsider), room_id, "o1")
    assert refused.value.code == Code.NOT_MEMBER
    with pytest.raises(ChatError) as missing:
        await viewers.open(User(outsider), "999999999999", "o1")
    assert missing.value.code == Code.ROOM_NOT_FOUND
    assert await viewers.viewing(room_id) == []
    assert await viewer_keys(redis_client, keys) == []


async def test_a_connection_not_alive_in_presence_cannot_open_a_room(
    viewers, presence, room, heard, keys, redis_client
):
    room_id, [_owner, ann, *_] = room
    told = await heard(room_id)
    with pytest.raises(ChatError) as never_connected:
        await viewers.open(User(ann), room_id, "a1")
    assert never_connected.value.code == Code.UNAVAILABLE
    await presence.connect(ann, "a1", NO_DEVICE, T0 - 2 * TTL, T0 - TTL)  # expired before now
    with pytest.raises(ChatError) as expired:
        await viewers.open(User(ann), room_id, "a1")
    assert expired.value.code == Code.UNAVAILABLE
    assert await told() == []
    assert await viewer_keys(redis_client, keys) == []


async def test_the_list_holds_each_viewer_once_in_the_order_they_started_on_every_node(
    viewers, presence, room, heard, node, adb, bus, clock
):
    room_id, [owner, ann, bob, _cat] = room
    told = await heard(room_id)
    other = Viewers(node(), Access(PgRoomStore(adb), ttl=60), bus, clock)  # another web node's
    for user, conn in ((owner, "o1"), (ann, "a1"), (ann, "a2"), (bob, "b1")):
        await presence.connect(user, conn, NO_DEVICE, T0, LONG)

    assert await viewers.open(User(bob), room_id, "b1") == [bob]
    clock.ms += 10
    assert await other.open(User(owner), room_id, "o1") == [bob, owner]
    clock.ms += 10
    assert await viewers.open(User(ann), room_id, "a1") == [bob, owner, ann]
    clock.ms += 10
    assert await other.open(User(ann), room_id, "a2") == [bob, owner, ann]
    assert await viewers.viewing(room_id) == await other.viewing(room_id) == [bob, owner, ann]
    assert await told() == [joined(room_id, bob), joined(room_id, owner), joined(room_id, ann)]

    # bob leaves and comes back: he is now the latest to have started.
    await other.close(bob, room_id, "b1")
    clock.ms += 10
    assert await viewers.open(User(bob), room_id, "b1") == [owner, ann, bob]
    # ann's first connection closes: her place is her second one's.
    await viewers.close(ann, room_id, "a1")
    assert await other.viewing(room_id) == [owner, ann, bob]
    assert await told() == [left(room_id, bob), joined(room_id, bob)]


async def test_opening_another_room_on_a_connection_leaves_the_first(viewers, presence, group, heard):
    first, [owner, ann] = group("ann")
    second = group()[0]
    add_members(second, [ann], datetime.now(UTC))  # the second room's owner is someone else
    told_first, told_second = await heard(first), await heard(second)
    await presence.connect(ann, "a1", NO_DEVICE, T0, LONG)
    await presence.connect(owner, "o1", NO_DEVICE, T0, LONG)
    await viewers.open(User(owner), first, "o1")
    await viewers.open(User(ann), first, "a1")
    assert await viewers.open(User(ann), second, "a1") == [ann]
    assert await viewers.viewing(first) == [owner]
    assert await told_first() == [joined(first, owner), joined(first, ann), left(first, ann)]
    assert await told_second() == [joined(second, ann)]
    # Closing the first room on that connection now is stale: nothing happens to the second.
    await viewers.close(ann, first, "a1")
    assert await viewers.viewing(second) == [ann]
    assert await told_first() == [] and await told_second() == []


# -- liveness, from presence -----------------------------------------------------------------------------------


async def test_a_connection_whose_presence_expired_stops_counting_before_any_sweep(
    viewers, presence, room, heard, clock
):
    room_id, [_owner, ann, bob, cat] = room
    told = await heard(room_id)
    await presence.connect(ann, "a1", NO_DEVICE, T0, T0 + 1_000)  # ann's node dies: never pushed again
    await presence.connect(bob, "b1", NO_DEVICE, T0, T0 + 1_000)
    await presence.connect(cat, "c1", NO_DEVICE, T0, LONG)
    await viewers.open(User(ann), room_id, "a1")
    await viewers.open(User(bob), room_id, "b1")
    assert await viewers.viewing(room_id) == [ann, bob]
    # bob's node keeps his connection alive (a keep-alive or heartbeat pushes the expiry forward).
    await presence.touch(bob, "b1", T0 + 900, LONG)

    clock.ms = T0 + 2_000  # past ann's expiry; no sweep has run
    assert await viewers.viewing(room_id) == [bob]
    assert await told() == [joined(room_id, ann), joined(room_id, bob)]  # a read announces nothing
    # The next change in the room finds ann's connection dead: she is announced as left, once.
    assert await viewers.open(User(cat), room_id, "c1") == [bob, cat]
    assert await told() == [left(room_id, ann), joined(room_id, cat)]
    await viewers.gone([(ann, "a1")])  # the sweep reaching it later announces nothing more
    await viewers.close(cat, room_id, "c1")
    assert await told() == [left(room_id, cat)]


async def test_a_connection_that_left_presence_without_closing_the_room_is_dropped_when_met(
    viewers, presence, room, heard, keys, redis_client
):
    """A node that crashed between the presence disconnect and the viewers' close."""
    room_id, [_owner, ann, bob, _cat] = room
    told = await heard(room_id)
    await presence.connect(ann, "a1", NO_DEVICE, T0, LONG)
    await presence.connect(bob, "b1", NO_DEVICE, T0, LONG)
    await viewers.open(User(ann), room_id, "a1")
    await presence.disconnect(ann, "a1", T0 + 10)
    assert await viewers.viewing(room_id) == []
    assert await viewers.open(User(bob), room_id, "b1") == [bob]
    assert await told() == [joined(room_id, ann), left(room_id, ann), joined(room_id, bob)]
    assert await redis_client.exists(keys.viewing(member(ann, "a1"))) == 0
    assert await redis_client.zrange(keys.viewer_conns(room_id), 0, -1) == [member(bob, "b1").encode()]


# -- the sweep -------------------------------------------------------------------------------------------------


async def test_the_sweep_announces_viewer_left_for_the_dead_connections_and_nobody_else(
    viewers, presence, room, group, heard, adb, bus, clock, keys, redis_client
):
    room_id, [owner, ann, bob, cat] = room
    elsewhere, [dan] = group()
    told, told_elsewhere = await heard(room_id), await heard(elsewhere)
    core = Presence(presence, PgRoomStore(adb), PgUserStore(adb), bus, Flush(), clock, TTL_S, on_gone=viewers.gone)
    # ann's only connection and one of bob's were on a node that died at T0; cat's and bob's other live on.
    await presence.connect(ann, "a1", NO_DEVICE, T0, T0 + 1_000)
    await presence.connect(bob, "b1", NO_DEVICE, T0, T0 + 1_000)
    await presence.connect(bob, "b2", NO_DEVICE, T0, LONG)
    await presence.connect(cat, "c1", NO_DEVICE, T0, LONG)
    await presence.connect(owner, "o1", NO_DEVICE, T0, T0 + 1_000)  # died too, viewing no room
    await presence.connect(dan, "d1", NO_DEVICE, T0, T0 + 1_000)  # died, viewing another room
    for user, conn in ((ann, "a1"), (bob, "b1"), (bob, "b2"), (cat, "c1")):
        await viewers.open(User(user), room_id, conn)
    await viewers.open(User(dan), elsewhere, "d1")
    assert await told() == [joined(room_id, ann), joined(room_id, bob), joined(room_id, cat)]
    assert await told_elsewhere() == [joined(elsewhere, dan)]

    clock.ms = T0 + 5_000
    assert await core.sweep() == 3  # ann, owner and dan are offline; bob is not
    assert await told() == [left(room_id, ann)]
    assert await told_elsewhere() == [left(elsewhere, dan)]
    assert await viewers.viewing(room_id) == [bob, cat]
    assert await viewers.viewing(elsewhere) == []
    for user, conn in ((ann, "a1"), (bob, "b1"), (dan, "d1")):
        assert await redis_client.exists(keys.viewing(member(user, conn))) == 0
    # Swept once: another sweep finds nothing and announces nothing.
    assert await core.sweep() == 0
    assert await told() == [] and await told_elsewhere() == []


async def test_a_connection_swept_while_its_node_was_only_slow_stops_viewing_though_presence_takes_it_back(
    viewers, presence, room, heard, clock
):
    room_id, [_owner, ann, *_] = room
    told = await heard(room_id)
    await presence.connect(ann, "a1", NO_DEVICE, T0, T0 + 1_000)
    await viewers.open(User(ann), room_id, "a1")
    swept = await presence.sweep(T0 + 2_000, TTL, 100)
    assert swept.conns == [(ann, "a1")]
    # The slow node's keep-alive brings the connection back to presence before the sweep's hand-off.
    await presence.keep_alive([(ann, "a1")], T0 + 2_500, LONG)
    clock.ms = T0 + 3_000
    await viewers.gone(swept.conns)
    assert await told() == [joined(room_id, ann), left(room_id, ann)]
    assert await viewers.viewing(room_id) == []  # it must open the room again to count
    assert await viewers.open(User(ann), room_id, "a1") == [ann]
    assert await told() == [joined(room_id, ann)]


# -- concurrency -----------------------------------------------------------------------------------------------


async def test_concurrent_closes_of_a_users_last_two_connections_report_one_leave(node, presence):
    nodes = [node(), node()]
    for round_ in range(ROUNDS):
        user = f"ann{round_}"
        await presence.connect(user, "a", NO_DEVICE, T0, LONG)
        await presence.connect(user, "b", NO_DEVICE, T0, LONG)
        await nodes[0].open("r1", user, "a", T0)
        await nodes[1].open("r1", user, "b", T0)
        results = await asyncio.gather(nodes[0].close("r1", user, "a", T0), nodes[1].close("r1", user, "b", T0))
        assert sorted(results) == [[], [user]], (round_, results)


async def test_concurrent_first_opens_report_one_join(node, presence):
    nodes = [node() for _ in range(3)]
    for round_ in range(ROUNDS):
        user = f"bob{round_}"
        for i in range(3):
            await presence.connect(user, f"c{i}", NO_DEVICE, T0, LONG)
        results = await asyncio.gather(*(n.open("r2", user, f"c{i}", T0) for i, n in enumerate(nodes)))
        assert sum(opened.joined for opened in results) == 1, (round_, results)
        assert all(user in opened.viewers for opened in results)


async def test_a_close_racing_the_sweeps_hand_off_of_the_other_connection_reports_one_leave(node, presence):
    closer, sweeper = node(), node()
    for round_ in range(ROUNDS):
        user = f"cat{round_}"
        await presence.connect(user, "live", NO_DEVICE, T0, LONG)
        await presence.connect(user, "dead", NO_DEVICE, T0, T0 + 1_000)
        await closer.open("r3", user, "live", T0)
        await sweeper.open("r3", user, "dead", T0)
        closed, swept = await asyncio.gather(
            closer.close("r3", user, "live", T0 + 2_000), sweeper.gone([(user, "dead")], T0 + 2_000)
        )
        assert closed + [u for _, u in swept] == [user], (round_, closed, swept)


# -- keys ------------------------------------------------------------------------------------------------------


async def test_nothing_is_left_in_redis_once_everyone_has_closed_or_gone(
    viewers, presence, room, keys, clock, redis_client
):
    room_id, [owner, ann, bob, _cat] = room
    await presence.connect(owner, "o1", NO_DEVICE, T0, LONG)
    await presence.connect(ann, "a1", NO_DEVICE, T0, LONG)
    await presence.connect(ann, "a2", NO_DEVICE, T0, LONG)
    await presence.connect(bob, "b1", NO_DEVICE, T0, T0 + 1_000)
    for user, conn in ((owner, "o1"), (ann, "a1"), (ann, "a2"), (bob, "b1")):
        await viewers.open(User(user), room_id, conn)
    assert len(await viewer_keys(redis_client, keys)) == 2 + 4  # the room's two sets, one per connection
    await viewers.close(owner, room_id, "o1")
    await viewers.close(ann, room_id, "a2")
    await viewers.close(ann, room_id, "a1")
    clock.ms = T0 + 2_000
    await viewers.gone([(bob, "b1")])
    assert await viewer_keys(redis_client, keys) == []


async def test_the_keys_expire_unless_a_keep_alive_pushes_them_forward(
    viewers, state, presence, room, keys, redis_client, adb, bus, clock
):
    room_id, [_owner, ann, *_] = room
    await presence.connect(ann, "a1", NO_DEVICE, T0, LONG)
    await viewers.open(User(ann), room_id, "a1")
    names = [keys.viewer_conns(room_id), keys.viewer_users(room_id), keys.viewing(member(ann, "a1"))]
    # A crashed node's entries expire on their own, but only after the slowest sweep (one every 60 s at most)
    # has had time to find its connections dead.
    assert state.key_ttl_ms > TTL + 60_000
    for name in names:
        assert 0 < await redis_client.pttl(name) <= state.key_ttl_ms
        await redis_client.pexpire(name, 1_000)
    # The node's presence keep-alive of its connections pushes their viewing forward too.
    core = Presence(
        presence, PgRoomStore(adb), PgUserStore(adb), bus, Flush(), clock, TTL_S, on_alive=viewers.keep_alive
    )
    await core.keep_alive([(ann, "a1"), (ann, "not-viewing")])
    for name in names:
        assert state.key_ttl_ms - 60_000 < await redis_client.pttl(name) <= state.key_ttl_ms, name
    assert await viewers.viewing(room_id) == [ann]
