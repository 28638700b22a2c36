"""Messages on Postgres: the idempotent batched insert the workers run, read cursors, and the reads."""

from __future__ import annotations

import random
from datetime import timedelta

import psycopg2.errors
import pytest

from app.chat.ids import Snowflake
from app.chat.model import Message, format_time
from app.storage.messages import PgMessageStore, insert_batch, max_seqs, message_range, messages_at
from app.storage.models import MembershipRow, MessageRow
from app.storage.rooms import create_group
from tests.shapes import UNCHANGED_MESSAGE_FIELDS

_ids = Snowflake(node=random.randrange(1024))  # real, time-ordered 64-bit ids


def record(room_id: str, seq: int, sender: str, now, content: str | None = None, client_ref: str | None = None):
    """A message record as the outbox holds it."""
    return {
        "id": str(_ids.next()),
        "room_id": room_id,
        "seq": seq,
        "sender_id": sender,
        "type": "text",
        "content": f"m{seq}" if content is None else content,
        "client_ref": client_ref,
        "created_at": format_time(now + timedelta(milliseconds=seq)),
        **UNCHANGED_MESSAGE_FIELDS,
    }


def stored(room_id: str) -> list[tuple[int, str]]:
    query = MessageRow.select().where(MessageRow.room_id == int(room_id)).order_by(MessageRow.seq)
    return [(row.seq, row.content) for row in query]


def cursor(room_id: str, user: str) -> int:
    return MembershipRow.get((MembershipRow.room_id == int(room_id)) & (MembershipRow.user_id == user)).last_read_seq


@pytest.fixture
def room(make_users, now):
    """A group room with two members: (room_id, owner, member)."""
    owner, member = make_users("owner", "member")
    return create_group("Msgs", owner, [member], now).id, owner, member


def test_a_batch_is_inserted_once_however_often_it_is_run(db, room, now):
    room_id, owner, member = room
    batch = [record(room_id, seq, owner if seq % 2 else member, now) for seq in range(1, 6)]
    assert insert_batch(db, batch) == 5
    assert insert_batch(db, batch) == 0
    assert insert_batch(db, list(reversed(batch))) == 0
    assert stored(room_id) == [(seq, f"m{seq}") for seq in range(1, 6)]
    assert insert_batch(db, []) == 0


def test_a_message_already_stored_under_its_id_or_its_seq_is_skipped(db, room, now):
    room_id, owner, _ = room
    first = record(room_id, 1, owner, now, "first")
    assert insert_batch(db, [first]) == 1
    same_seq_other_id = record(room_id, 1, owner, now, "other")
    same_id_other_seq = {**first, "seq": 2}
    assert insert_batch(db, [same_seq_other_id, same_id_other_seq, record(room_id, 3, owner, now)]) == 1
    assert stored(room_id) == [(1, "first"), (3, "m3")]


def test_the_stored_row_is_the_record(db, room, now):
    room_id, owner, _ = room
    rec = record(room_id, 1, owner, now, "héllo ✓ 🎉", client_ref="ref-1")
    insert_batch(db, [rec])
    (message,) = message_range(room_id, 1, 1)
    assert message.record() == rec
    assert message == Message.from_record(rec)


@pytest.mark.parametrize(
    "content",
    [
        "tab\there, new\nline, return\rhere",
        "a backslash \\ and \\N and \\t and \\\\",
        "\\.",  # COPY's old end-of-data marker, alone on its line
        "\\N",  # COPY's null, as text
        "",
        "quotes ' \" and , ; | and 𝄞 ﷽ \u200b",
    ],
)
def test_text_that_means_something_to_copy_is_stored_as_it_was_sent(db, room, now, content):
    """Rows reach Postgres through COPY's text format: its escapes must not change a byte."""
    room_id, owner, _ = room
    meta = {"kind": "members_added", "names": [content, "x\ty"]}
    rec = {**record(room_id, 1, owner, now, content, client_ref=content or None), "meta": meta}
    assert insert_batch(db, [rec, record(room_id, 2, owner, now, "next")]) == 2
    first, second = message_range(room_id, 1, 2)
    assert (first.content, first.client_ref, first.meta) == (content, content or None, meta)
    assert first.record() == rec and second.content == "next"


def test_a_batch_that_fails_leaves_the_connection_able_to_insert_the_next(db, room, now):
    """The staging table is made in the first batch's transaction: a batch that fails rolls it back too."""
    room_id, owner, _ = room
    db.close()  # the next statement opens a new connection, with no staging table yet
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        insert_batch(db, [record(room_id, 1, "nobody-such", now)])  # no such user: a foreign key
    assert insert_batch(db, [record(room_id, 1, owner, now, "after")]) == 1
    assert insert_batch(db, [record(room_id, 2, owner, now, "again")]) == 1
    assert stored(room_id) == [(1, "after"), (2, "again")]


def test_overlapping_batches_from_workers_at_once_do_not_deadlock_and_insert_each_row_once(
    db, make_users, now, in_threads
):
    owner, member = make_users("owner", "member")
    for attempt in range(4):
        rooms = [create_group(f"R{attempt}-{i}", owner, [member], now).id for i in range(3)]
        everything = [record(r, seq, owner if seq % 3 else member, now) for r in rooms for seq in range(1, 41)]
        # Each worker holds most rows of every room (both senders' cursors too), in its own shuffled order.
        rng = random.Random(attempt)
        batches = [rng.sample(everything, k=len(everything) * 3 // 4) for _ in range(3)]
        union = {r["id"]: r for batch in batches for r in batch}
        counts = in_threads(*[lambda batch=batch: insert_batch(db, batch) for batch in batches])
        assert sum(counts) == len(union)
        rows = MessageRow.select().where(MessageRow.room_id.in_([int(r) for r in rooms]))
        assert sorted(str(row.id) for row in rows) == sorted(union)
        for r in rooms:
            mine = [x["seq"] for x in union.values() if x["room_id"] == r]
            assert [seq for seq, _ in stored(r)] == sorted(mine)
            assert cursor(r, owner) == max(
                x["seq"] for x in union.values() if x["room_id"] == r and x["sender_id"] == owner
            )


def test_sender_read_cursors_only_move_forward(db, room, now):
    room_id, owner, member = room
    insert_batch(db, [record(room_id, seq, owner, now) for seq in (1, 3, 2)])
    assert cursor(room_id, owner) == 3
    assert cursor(room_id, member) == 0  # only the sender has read their own messages
    MembershipRow.update(last_read_seq=10).where(
        (MembershipRow.room_id == int(room_id)) & (MembershipRow.user_id == member)
    ).execute()
    insert_batch(db, [record(room_id, 4, member, now), record(room_id, 5, owner, now)])
    assert (cursor(room_id, owner), cursor(room_id, member)) == (5, 10)
    insert_batch(db, [record(room_id, 11, member, now), record(room_id, 12, member, now)])
    assert cursor(room_id, member) == 12


def test_a_sender_who_is_no_longer_a_member_is_stored_without_a_cursor(db, make_users, room, now):
    room_id, _, _ = room
    (gone,) = make_users("gone")
    assert insert_batch(db, [record(room_id, 1, gone, now)]) == 1
    assert not MembershipRow.select().where(MembershipRow.user_id == gone).exists()


def test_message_range_messages_at_and_max_seqs(db, make_users, now):
    owner, member = make_users("owner", "member")
    a = create_group("A", owner, [member], now).id
    b = create_group("B", owner, [], now).id
    empty = create_group("Empty", owner, [], now).id
    insert_batch(db, [record(a, seq, owner, now) for seq in (1, 2, 3, 5, 6)] + [record(b, 1, owner, now)])
    assert [m.seq for m in message_range(a, 2, 5)] == [2, 3, 5]
    assert [m.seq for m in message_range(a, 1, 100)] == [1, 2, 3, 5, 6]
    assert message_range(a, 4, 4) == []
    assert message_range(a, 5, 2) == []
    assert all(m.room_id == a for m in message_range(a, 1, 6))
    found = messages_at([(a, 1), (b, 1), (a, 4), (b, 2), (a, 6), (empty, 1)])
    assert sorted((m.room_id, m.seq) for m in found) == sorted([(a, 1), (b, 1), (a, 6)])
    assert messages_at([]) == []
    assert max_seqs([a, b]) == {a: 6, b: 1}
    assert max_seqs([]) == {}
    assert max_seqs([a, empty]).get(empty, 0) == 0


def test_max_seqs_names_every_room_asked_for_with_0_when_it_has_no_messages(db, make_users, now):
    """The port (MessageStore.max_seqs) promises 0 for rooms without messages."""
    (owner,) = make_users("owner")
    full = create_group("Full", owner, [], now).id
    empty = create_group("Empty", owner, [], now).id
    insert_batch(db, [record(full, 1, owner, now)])
    assert max_seqs([full, empty]) == {full: 1, empty: 0}


@pytest.mark.parametrize("bad", ["", "abc", "-1", "0", "01", "1.0", "１", str(2**63), "9" * 30])
def test_ids_that_cannot_name_a_room_read_as_empty(db, room, bad):
    room_id, _, _ = room
    assert message_range(bad, 1, 10) == []
    assert messages_at([(bad, 1)]) == []
    assert max_seqs([bad]) == {}
    assert messages_at([(bad, 1), (room_id, 1)]) == []  # the valid key still reads (nothing stored yet)


async def test_the_async_store_reads_the_same(db, adb, room, now):
    room_id, owner, _ = room
    insert_batch(db, [record(room_id, seq, owner, now) for seq in range(1, 4)])
    store = PgMessageStore(adb)
    assert [m.seq for m in await store.range(room_id, 1, 3)] == [1, 2, 3]
    assert [m.seq for m in await store.at([(room_id, 2), (room_id, 9)])] == [2]
    assert (await store.max_seqs([room_id]))[room_id] == 3
