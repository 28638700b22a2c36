"""The core's Access cache on the real PgRoomStore: coalesced loads, invalidation during a load, brief negatives."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import pytest

from app.chat.access import FEW_ROOMS_TO_LOAD, Access
from app.chat.errors import ChatError, Code
from app.storage.database import AsyncDatabase
from app.storage.rooms import PgRoomStore, add_members, create_group
from app.storage.users import ensure_users


class CountingRooms:
    """The real PgRoomStore, counting its reads; a read can be held open at a gate.

    `hold_members` holds members() *after* Postgres answered, so the caller gets what
    was true before anything that happens while it is held.
    """

    def __init__(self, store: PgRoomStore) -> None:
        self._store = store
        self.gets = 0
        self.member_reads = 0
        self.contact_queries = 0
        self.hold_get: asyncio.Event | None = None
        self.hold_members: asyncio.Event | None = None
        self.holding = asyncio.Event()

    async def get(self, room_id):
        self.gets += 1
        if self.hold_get is not None:
            self.holding.set()
            await asyncio.wait_for(self.hold_get.wait(), 5)
        return await self._store.get(room_id)

    async def members(self, room_id):
        self.member_reads += 1
        found = await self._store.members(room_id)
        if self.hold_members is not None:
            self.holding.set()
            await asyncio.wait_for(self.hold_members.wait(), 5)
        return found

    async def read_positions(self, user_id):
        return await self._store.read_positions(user_id)

    async def contacts(self, user_id):
        self.contact_queries += 1
        return await self._store.contacts(user_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rooms(adb) -> CountingRooms:
    return CountingRooms(PgRoomStore(adb))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def access(rooms, clock) -> Access:
    return Access(rooms, ttl=60, monotonic=clock)


async def test_concurrent_gets_of_a_room_share_one_load(access, rooms, group):
    room_id, members = group("a", "b")
    rooms.hold_get = asyncio.Event()
    waiters = [asyncio.create_task(access.get(room_id)) for _ in range(20)]
    await asyncio.wait_for(rooms.holding.wait(), 5)
    await asyncio.sleep(0.01)  # let every waiter reach the cache
    rooms.hold_get.set()
    results = await asyncio.wait_for(asyncio.gather(*waiters), 10)
    assert (rooms.gets, rooms.member_reads) == (1, 1)
    assert all(result == results[0] for result in results)
    assert results[0].room.id == room_id
    assert results[0].member_ids == frozenset(members)
    # Cached afterwards: no more reads.
    assert await access.get(room_id) == results[0]
    await access.require(room_id, members[1])
    assert (rooms.gets, rooms.member_reads) == (1, 1)


async def test_an_invalidation_during_a_load_keeps_the_stale_result_out_of_the_cache(access, rooms, group, user_id):
    room_id, _ = group("a")
    rooms.hold_members = asyncio.Event()
    loading = asyncio.create_task(access.get(room_id))
    await asyncio.wait_for(rooms.holding.wait(), 5)
    # The membership changes (on this or another node) while the load holds the old member list.
    newcomer = user_id("new")
    ensure_users([newcomer], datetime.now(UTC))
    add_members(room_id, [newcomer], datetime.now(UTC))
    access.invalidate(room_id)
    rooms.hold_members.set()
    rooms.hold_members = None
    stale = await asyncio.wait_for(loading, 10)
    assert newcomer not in stale.member_ids  # the caller of that load gets what it read
    fresh = await access.get(room_id)
    assert newcomer in fresh.member_ids
    assert (rooms.gets, rooms.member_reads) == (2, 2)
    await access.require(room_id, newcomer)
    assert (rooms.gets, rooms.member_reads) == (2, 2)  # the fresh result was cached


async def test_invalidate_drops_a_cached_room(access, rooms, group, user_id):
    room_id, members = group()
    assert (await access.get(room_id)).member_ids == frozenset(members)
    newcomer = user_id("new")
    ensure_users([newcomer], datetime.now(UTC))
    add_members(room_id, [newcomer], datetime.now(UTC))
    assert newcomer not in (await access.get(room_id)).member_ids  # cached
    access.invalidate(room_id)
    assert newcomer in (await access.get(room_id)).member_ids
    assert rooms.gets == 2
    access.invalidate("never-loaded")  # harmless


async def test_unknown_rooms_are_cached_briefly_and_known_ones_for_the_ttl(access, rooms, clock, group):
    for unknown in ("999999999", "not-a-room"):
        assert await access.get(unknown) is None
        assert await access.get(unknown) is None
    assert rooms.gets == 2 and rooms.member_reads == 0
    clock.now += 4.9
    assert await access.get("999999999") is None
    assert rooms.gets == 2
    clock.now += 0.2  # past the 5 s bound for unknown rooms
    assert await access.get("999999999") is None
    assert rooms.gets == 3
    with pytest.raises(ChatError) as missing:
        await access.require("999999999", "anyone")
    assert missing.value.code is Code.ROOM_NOT_FOUND

    room_id, _ = group()
    await access.get(room_id)
    clock.now += 59
    await access.get(room_id)
    assert rooms.gets == 4
    clock.now += 2
    await access.get(room_id)
    assert rooms.gets == 5
    with pytest.raises(ChatError) as outsider:
        await access.require(room_id, "stranger")
    assert outsider.value.code is Code.NOT_MEMBER


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached(db, group):
    """Postgres drops the pool's connection and cannot be reached again during a load: every waiter gets
    UNAVAILABLE, and the next get (Postgres back) reads."""
    room_id, members = group()
    adb = AsyncDatabase(db, threads=1)
    rooms = CountingRooms(PgRoomStore(adb))
    access = Access(rooms, ttl=60)
    params = dict(db.connect_params)
    try:
        pid = await adb.run(lambda: db.execute_sql("SELECT pg_backend_pid()").fetchone()[0])
        assert db.execute_sql("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()[0] is True
        # The pool replaces a dead connection and retries a read once: point it at a port nothing listens on,
        # so that the new connection is refused too (this thread's own connection stays open).
        db.connect_params["port"] = _closed_port()
        results = await asyncio.wait_for(
            asyncio.gather(*(access.get(room_id) for _ in range(5)), return_exceptions=True), 10
        )
        assert all(isinstance(r, ChatError) and r.code is Code.UNAVAILABLE for r in results), results
        assert rooms.gets == 1
        db.connect_params.clear()
        db.connect_params.update(params)
        assert (await access.get(room_id)).member_ids == frozenset(members)
        assert rooms.gets == 2
    finally:
        db.connect_params.clear()
        db.connect_params.update(params)
        await adb.run(db.close)
        adb.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the probe is: nothing listens there


async def test_a_get_that_starts_after_an_invalidation_does_not_get_the_stale_load(access, rooms, group, user_id):
    """invalidate() means "what was cached or is being read is out of date": a get() that
    begins after it must not be handed the result of a load that began before it."""
    room_id, _ = group("a")
    rooms.hold_members = asyncio.Event()
    loading = asyncio.create_task(access.get(room_id))
    await asyncio.wait_for(rooms.holding.wait(), 5)  # the load has read the old member list
    newcomer = user_id("new")
    ensure_users([newcomer], datetime.now(UTC))
    add_members(room_id, [newcomer], datetime.now(UTC))
    access.invalidate(room_id)
    rooms.hold_members, held = None, rooms.hold_members
    later = asyncio.create_task(access.get(room_id))
    await asyncio.sleep(0.05)
    held.set()
    assert newcomer not in (await asyncio.wait_for(loading, 10)).member_ids
    assert newcomer in (await asyncio.wait_for(later, 10)).member_ids


async def test_contacts_come_from_the_cached_members_of_the_users_rooms(access, rooms, user_id):
    now = datetime.now(UTC)
    me, ann, bob, cid = (user_id(name) for name in ("me", "ann", "bob", "cid"))
    ensure_users([me, ann, bob, cid], now)
    first = create_group("One", me, [ann, bob], now).id
    create_group("Two", bob, [me, cid], now)
    create_group("Not mine", ann, [cid], now)
    assert sorted(await access.contacts(me)) == sorted([ann, bob, cid])
    reads = rooms.member_reads
    assert sorted(await access.contacts(bob)) == sorted([me, ann, cid])  # both rooms cached: nothing read
    assert rooms.member_reads == reads and rooms.contact_queries == 0
    dan = user_id("dan")
    ensure_users([dan], now)
    add_members(first, [dan], now)
    access.invalidate(first)  # as the membership change does on every node
    assert sorted(await access.contacts(me)) == sorted([ann, bob, cid, dan])
    assert sorted(await access.contacts(dan)) == sorted([me, ann, bob])


async def test_a_user_with_many_rooms_not_cached_gets_one_store_query(access, rooms, user_id):
    now = datetime.now(UTC)
    me = user_id("me")
    others = [user_id(f"o{i}") for i in range(FEW_ROOMS_TO_LOAD + 1)]
    ensure_users([me, *others], now)
    for other in others:
        create_group("Many", me, [other], now)
    assert sorted(await access.contacts(me)) == sorted(others)
    assert (rooms.contact_queries, rooms.member_reads) == (1, 0)
