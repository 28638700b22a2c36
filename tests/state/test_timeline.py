"""The core's Timeline on the real adapters: Postgres (PgMessageStore) merged with the Redis message log."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from app.chat.events import Event
from app.chat.model import Change
from app.chat.ports import Quota
from app.chat.timeline import Timeline
from app.state.keys import change_field, outbox_field
from app.state.message_log import RedisMessageLog
from app.state.outbox import Outbox
from app.storage.messages import PgMessageStore, apply_changes, insert_batch

TTL = 600
PLENTY = Quota("message", "tests", rate=1e6, burst=10**6)


class PersistingStore:
    """The real PgMessageStore; `after_range` / `after_at` run once right after the next such read
    (a worker persisting messages between the Timeline's reads)."""

    def __init__(self, store: PgMessageStore) -> None:
        self._store = store
        self.after_range = None
        self.after_at = None
        self.at_calls: list[list[tuple[str, int]]] = []

    async def range(self, room_id, lo, hi):
        found = await self._store.range(room_id, lo, hi)
        hook, self.after_range = self.after_range, None
        if hook:
            hook()
        return found

    async def at(self, keys):
        self.at_calls.append(list(keys))
        found = await self._store.at(keys)
        hook, self.after_at = self.after_at, None
        if hook:
            hook()
        return found

    async def max_seqs(self, room_ids):
        return await self._store.max_seqs(room_ids)

    async def changed(self, room_id, since_version, upto_seq, limit):
        found = await self._store.changed(room_id, since_version, upto_seq, limit)
        hook, self.after_changed = getattr(self, "after_changed", None), None
        if hook:
            hook()
        return found


@pytest.fixture
def outbox(sync_redis, keys) -> Outbox:
    return Outbox(sync_redis, keys)


@pytest.fixture
def persist(db, outbox):
    """persist(room_id, seqs) does what a worker does: insert the outbox records, then forget them."""

    def run(room_id: str, seqs) -> None:
        fields = [outbox_field(room_id, seq) for seq in seqs]
        records = outbox.take(fields)
        assert len(records) == len(fields), "not all of these were waiting in the outbox"
        assert insert_batch(db, records) == len(records)
        outbox.done(fields)

    return run


@pytest.fixture
def store(adb) -> PersistingStore:
    return PersistingStore(PgMessageStore(adb))


@pytest.fixture
def timeline(store, log) -> Timeline:
    return Timeline(store, log)


async def send(log: RedisMessageLog, message, room_id: str, sender: str, count: int) -> None:
    for i in range(count):
        await log.append(message(room_id, sender, f"c{i + 1}"), TTL, PLENTY)


async def test_a_range_merges_persisted_and_waiting_messages_without_gaps(
    timeline, log, message, group, persist, outbox
):
    room_id, (owner, _) = group("member")
    assert await timeline.last_seq(room_id) == 0  # seeds the counter from Postgres
    await send(log, message, room_id, owner, 10)
    persist(room_id, [1, 2, 3, 4])
    persist(room_id, [7])
    assert outbox.size() == 5
    read = await timeline.read(room_id, 1, 10)
    assert [(m.seq, m.content) for m in read] == [(seq, f"c{seq}") for seq in range(1, 11)]
    assert [m.seq for m in await timeline.read(room_id, 3, 8)] == list(range(3, 9))
    assert [m.seq for m in await timeline.read(room_id, 8, 20)] == [8, 9, 10]
    assert await timeline.read(room_id, 6, 5) == []
    # All persisted: the same range, from Postgres alone.
    persist(room_id, [5, 6, 8, 9, 10])
    assert [m.seq for m in await timeline.read(room_id, 1, 10)] == list(range(1, 11))


async def test_a_message_persisted_between_the_reads_is_not_lost(timeline, store, log, message, group, persist):
    room_id, (owner,) = group()
    await timeline.last_seq(room_id)
    await send(log, message, room_id, owner, 10)
    persist(room_id, [1, 2])
    # Postgres is read first (it has 1-2); then a worker persists 3-6 and clears them from
    # the outbox before the log is read: only the third read, Postgres again, finds them.
    store.after_range = lambda: persist(room_id, [3, 4, 5, 6])
    read = await timeline.read(room_id, 1, 10)
    assert [(m.seq, m.content) for m in read] == [(seq, f"c{seq}") for seq in range(1, 11)]
    assert store.after_range is None, "the hook did not run"
    assert store.at_calls == [[(room_id, seq) for seq in (3, 4, 5, 6)]]


async def test_reading_at_keys_across_rooms_survives_a_persist_between_reads(
    timeline, store, log, message, group, persist
):
    a, (owner_a,) = group()
    b, (owner_b,) = group()
    await timeline.last_seqs([a, b])
    await send(log, message, a, owner_a, 3)
    await send(log, message, b, owner_b, 3)
    persist(a, [1])
    store.after_at = lambda: persist(b, [2, 3])
    keys = [(a, 1), (a, 3), (b, 2), (b, 3), (b, 4), ("999999999", 1)]
    found = await timeline.at(keys)
    assert set(found) == {(a, 1), (a, 3), (b, 2), (b, 3)}
    assert all(found[key].room_id == key[0] and found[key].seq == key[1] for key in found)
    assert await timeline.at([]) == {}


async def test_a_missing_counter_is_seeded_from_postgres_and_never_lowered(
    timeline, log, message, group, persist, keys, redis_client
):
    room_id, (owner,) = group()
    empty, _ = group()
    await timeline.last_seq(room_id)
    await send(log, message, room_id, owner, 7)
    persist(room_id, range(1, 8))
    # Redis loses the counter (a flush, a failover): the next read seeds it from Postgres.
    await redis_client.delete(keys.seq(room_id))
    assert await log.last_seqs([room_id]) == {room_id: None}
    assert await timeline.last_seqs([room_id, empty]) == {room_id: 7, empty: 0}
    assert (await log.append(message(room_id, owner), TTL, PLENTY)).receipt.seq == 8
    # A counter ahead of Postgres (messages still in the outbox) is kept as it is.
    await send(log, message, room_id, owner, 4)
    await timeline.seed([room_id])
    assert await timeline.last_seq(room_id) == 12
    assert await timeline.last_seqs([]) == {}


# -- the change feed ---------------------------------------------------------------------------------------


async def make_change(log, room_id: str, ids: dict, seq: int, version: int, content: str | None) -> None:
    """An edit (or, with content None, a delete) of the message at `seq`, as Messages stores it."""
    at = datetime.now(UTC).replace(microsecond=0)
    assert await log.change(Change(ids[seq], room_id, seq, version, at, "owner", content), Event("e", {}))


@pytest.fixture
def persist_changes(db, outbox, keys):
    """persist_changes(room_id, message_ids) does what a worker does with their pending changes."""

    def run(message_ids) -> None:
        raw = outbox.take_raw([change_field(m) for m in message_ids])
        apply_changes(db, [Change.from_record(orjson.loads(body)) for body in raw.values()])
        outbox.changes_done(raw)

    return run


async def test_changed_messages_come_from_the_log_and_postgres_by_version_as_they_are_now(
    timeline, log, message, group, persist, persist_changes, redis_client, keys
):
    room_id, (owner,) = group()
    await timeline.last_seq(room_id)
    await send(log, message, room_id, owner, 6)
    ids = {m.seq: m.id for m in await timeline.read(room_id, 1, 6)}
    await make_change(log, room_id, ids, 2, 100, "two, edited")
    await make_change(log, room_id, ids, 4, 101, None)
    await make_change(log, room_id, ids, 5, 102, "five, edited")
    assert await redis_client.smembers(keys.pending_changes(room_id)) == {ids[s].encode() for s in (2, 4, 5)}
    # Persisted: messages 1-6 and the changes of 2 and 4; 5's change still waits in the log.
    persist(room_id, range(1, 7))
    persist_changes([ids[2], ids[4]])
    assert await redis_client.smembers(keys.pending_changes(room_id)) == {ids[5].encode()}
    await make_change(log, room_id, ids, 2, 103, "two, again")  # a newer edit over a persisted one

    page = await timeline.changed(room_id, 0, None, 50)
    assert [(m.seq, m.content, m.version) for m in page.messages] == [
        (4, "", 101),
        (5, "five, edited", 102),
        (2, "two, again", 103),
    ]
    assert page.messages[0].deleted_at is not None and page.through is None
    assert [m.seq for m in (await timeline.changed(room_id, 101, None, 50)).messages] == [5, 2]
    assert [m.seq for m in (await timeline.changed(room_id, 0, 4, 50)).messages] == [4, 2]  # seq <= 4 only
    assert (await timeline.changed(room_id, 103, None, 50)).messages == []


async def test_a_change_persisted_between_the_two_reads_is_not_missed(
    timeline, store, log, message, group, persist, persist_changes
):
    room_id, (owner,) = group()
    await timeline.last_seq(room_id)
    await send(log, message, room_id, owner, 3)
    ids = {m.seq: m.id for m in await timeline.read(room_id, 1, 3)}
    persist(room_id, [1, 2, 3])
    await make_change(log, room_id, ids, 3, 200, "three, edited")
    # The log is read first (it holds the change), then a worker persists and forgets it before
    # Postgres is read: the change is in the result either way.
    store.after_changed = lambda: persist_changes([ids[3]])
    page = await timeline.changed(room_id, 0, None, 50)
    assert [(m.seq, m.content) for m in page.messages] == [(3, "three, edited")]
    assert store.after_changed is None, "the hook did not run"


async def test_changes_are_paged_without_skipping_any(timeline, log, message, group, persist, persist_changes):
    room_id, (owner,) = group()
    await timeline.last_seq(room_id)
    await send(log, message, room_id, owner, 7)
    ids = {m.seq: m.id for m in await timeline.read(room_id, 1, 7)}
    persist(room_id, range(1, 8))
    for seq in range(1, 8):
        await make_change(log, room_id, ids, seq, 300 + seq, f"v{seq}")
    persist_changes([ids[s] for s in range(1, 8)])
    # Newer pending edits of two persisted ones: their version is now above others still unread.
    await make_change(log, room_id, ids, 1, 400, "one, later")
    await make_change(log, room_id, ids, 2, 401, "two, later")
    seen, cursor, pages = [], 0, 0
    while True:
        page = await timeline.changed(room_id, cursor, None, 2)
        pages += 1
        assert len(page.messages) <= 2 and pages < 10
        seen += [(m.seq, m.version) for m in page.messages]
        if page.through is None:
            break
        assert page.through >= cursor
        cursor = page.through
    # Every message once, at its newest version, in version order.
    assert seen == [(s, 300 + s) for s in range(3, 8)] + [(1, 400), (2, 401)]
