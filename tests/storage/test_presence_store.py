"""Presence, notifications and the room queries presence needs, on Postgres: the flush's write (values only
move forward, one transaction), stored notifications (idempotent batches, newest-first pages shown oldest
first, acknowledgement of one's own pending ones), contacts, shared rooms, read positions and members."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg2
import pytest

from app.chat.model import DeviceRecord, Notification, Profile, to_ms
from app.storage import notifications, presence
from app.storage.models import DeviceRow, MembershipRow, NotificationRow, UserRow
from app.storage.notifications import PgNotificationStore, acknowledge, insert_batch, pending
from app.storage.rooms import (
    PgRoomStore,
    add_members,
    contacts,
    create_group,
    members_of_rooms,
    read_positions,
    remove_member,
    shares_room,
)
from app.storage.users import PgUserStore, upsert_user


def user_row(user: str) -> tuple:
    row = UserRow.get_by_id(user)
    return row.last_seen_at, row.status, row.preferred_language


def device_rows(user: str) -> dict[str, tuple]:
    query = DeviceRow.select().where(DeviceRow.user_id == user)
    return {row.device_id: (row.preferred_language, row.first_seen_at, row.last_seen_at) for row in query}


def cursor(room_id: str, user: str) -> int:
    return MembershipRow.get((MembershipRow.room_id == int(room_id)) & (MembershipRow.user_id == user)).last_read_seq


# -- presence.write --------------------------------------------------------------------------------


def test_last_seen_only_moves_forward_and_a_missing_time_keeps_it(db, make_users, now):
    (ann,) = make_users("ann")
    ms = to_ms(now)
    assert presence.write(db, [(ann, ms, None)], [], []) == {"users": 1, "devices": 0, "reads": 0}
    assert user_row(ann) == (now, "online", None)
    presence.write(db, [(ann, ms - 60_000, None)], [], [])  # an older time (another node's late flush)
    assert user_row(ann)[0] == now
    presence.write(db, [(ann, None, None)], [], [])
    assert user_row(ann)[0] == now
    presence.write(db, [(ann, ms + 1_500, None)], [], [])
    assert user_row(ann)[0] == now + timedelta(milliseconds=1_500)


def test_the_chosen_status_is_written_and_kept_when_a_flush_names_none(db, make_users, now):
    ann, bob = make_users("ann", "bob")
    presence.write(db, [(ann, None, "away"), (bob, to_ms(now), "busy")], [], [])
    assert user_row(ann) == (None, "away", None)
    assert user_row(bob) == (now, "busy", None)
    presence.write(db, [(ann, to_ms(now), None)], [], [])
    assert user_row(ann) == (now, "away", None)
    presence.write(db, [(ann, None, "offline")], [], [])
    assert user_row(ann)[1] == "offline"


def test_a_user_named_twice_in_one_flush_is_written_once(db, make_users, now):
    (ann,) = make_users("ann")
    ms = to_ms(now)
    counts = presence.write(db, [(ann, ms, "away"), (ann, ms + 10, "busy")], [], [])
    assert counts["users"] == 1
    assert user_row(ann) == (now + timedelta(milliseconds=10), "busy", None)


def test_an_unknown_user_is_skipped(db, user_id, now):
    ghost = user_id("ghost")
    presence.write(db, [(ghost, to_ms(now), "away")], [], [])
    assert UserRow.get_or_none(UserRow.id == ghost) is None


def test_devices_are_upserted_with_their_language_and_last_seen_moving_forward(db, make_users, now):
    (ann,) = make_users("ann")
    ms = to_ms(now)
    counts = presence.write(db, [], [(ann, "phone", "fr", ms), (ann, "laptop", None, ms + 5)], [])
    assert counts == {"users": 0, "devices": 2, "reads": 0}
    later = now + timedelta(milliseconds=5)
    assert device_rows(ann) == {"phone": ("fr", now, now), "laptop": (None, later, later)}
    assert user_row(ann)[2] == "fr"  # the user's language follows the device that named one

    # Seen again without a language: the stored one stays; the first-seen time never changes.
    presence.write(db, [], [(ann, "phone", None, ms + 9_000)], [])
    assert device_rows(ann)["phone"] == ("fr", now, now + timedelta(seconds=9))
    assert user_row(ann)[2] == "fr"
    # A late flush with an older time changes the language but not last_seen.
    presence.write(db, [], [(ann, "phone", "de", ms + 1_000)], [])
    assert device_rows(ann)["phone"] == ("de", now, now + timedelta(seconds=9))
    assert user_row(ann)[2] == "de"
    assert DeviceRow.select().where(DeviceRow.user_id == ann).count() == 2


async def test_a_users_devices_are_read_back_most_recently_seen_first_then_by_id(db, adb, make_users, now):
    ann, bob, nobody = make_users("ann", "bob", "nobody")
    ms = to_ms(now)
    rows = [
        (ann, "tablet", None, ms),
        (ann, "phone", "fr", ms + 5_000),
        (ann, "laptop", "en", ms),
        (bob, "pc", "de", ms),
    ]
    presence.write(db, [], rows, [])
    found = await PgUserStore(adb).devices(ann)
    assert found == [
        DeviceRecord("phone", "fr", now + timedelta(seconds=5), now + timedelta(seconds=5)),
        DeviceRecord("laptop", "en", now, now),  # a tie in last seen: by device id
        DeviceRecord("tablet", None, now, now),
    ]
    wire = (now + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # `now` is UTC, whole seconds
    assert found[0].record() == {
        "device_id": "phone",
        "preferred_language": "fr",
        "first_seen_at": wire,
        "last_seen_at": wire,
    }
    assert await PgUserStore(adb).devices(nobody) == []


def test_read_cursors_only_move_forward_and_only_for_members(db, make_users, now):
    owner, ann, outsider = make_users("owner", "ann", "out")
    room = create_group("Reads", owner, [ann], now).id
    other = create_group("Other", owner, [ann], now).id
    counts = presence.write(db, [], [], [(int(room), ann, 5), (int(other), ann, 2), (int(room), outsider, 9)])
    assert counts["reads"] == 3
    assert (cursor(room, ann), cursor(other, ann), cursor(room, owner)) == (5, 2, 0)
    presence.write(db, [], [], [(int(room), ann, 3)])  # behind: stays
    assert cursor(room, ann) == 5
    presence.write(db, [], [], [(int(room), ann, 12)])
    assert cursor(room, ann) == 12
    # No membership is created for someone who is not (or no longer) a member.
    assert MembershipRow.get_or_none((MembershipRow.room_id == int(room)) & (MembershipRow.user_id == outsider)) is None


@pytest.mark.parametrize("bad", ["status", "device"])
def test_a_flush_is_one_transaction(db, make_users, user_id, now, bad):
    owner, ann = make_users("owner", "ann")
    room = create_group("Atomic", owner, [ann], now).id
    ms = to_ms(now)
    users = [(ann, ms, "invisible" if bad == "status" else "away")]  # a status the schema refuses
    devices = [(ann, "phone", "fr", ms)]
    if bad == "device":
        devices.append((user_id("ghost"), "tablet", None, ms))  # a device of a user with no row
    with pytest.raises(psycopg2.IntegrityError):  # fails the whole flush, the writes before it too
        presence.write(db, users, devices, [(int(room), ann, 4)])
    assert user_row(ann) == (None, "online", None)
    assert device_rows(ann) == {}
    assert cursor(room, ann) == 0
    # The connection is usable afterwards, and the same flush without the bad part goes through.
    presence.write(db, [(ann, ms, None)], [(ann, "phone", "fr", ms)], [(int(room), ann, 4)])
    assert user_row(ann) == (now, "online", "fr") and cursor(room, ann) == 4


def test_overlapping_flushes_at_once_do_not_deadlock_and_keep_the_highest_values(db, make_users, now, in_threads):
    users = make_users(*(f"u{i}" for i in range(30)))
    room = create_group("Busy", users[0], users[1:], now).id
    ms = to_ms(now)

    def flush(offset: int, reverse: bool):
        order = list(reversed(users)) if reverse else users
        return presence.write(
            db,
            [(u, ms + offset, None) for u in order],
            [(u, "dev", None, ms + offset) for u in order],
            [(int(room), u, offset) for u in order],
        )

    in_threads(*(lambda i=i: flush(i * 10, i % 2 == 1) for i in range(1, 7)))
    last = now + timedelta(milliseconds=60)
    assert {user_row(u)[0] for u in users} == {last}
    assert {cursor(room, u) for u in users} == {60}
    assert {device_rows(u)["dev"][2] for u in users} == {last}


# -- notifications ---------------------------------------------------------------------------------


@pytest.fixture
def notes(now):
    """notes(user, room, *message_ids) -> Notifications as the notify job builds them (not stored)."""

    def make(user: str, room: str, *message_ids: int, sender: str = "", name: str | None = None) -> list[Notification]:
        return [
            Notification(None, user, room, str(mid), i + 1, sender or user, name, f"excerpt {mid}", now)
            for i, mid in enumerate(message_ids)
        ]

    return make


@pytest.fixture
def room_of(make_users, now):
    def make(*names: str) -> tuple[str, list[str]]:
        ids = make_users("owner", *names)
        return create_group("Notes", ids[0], ids[1:], now).id, ids

    return make


def test_insert_batch_stores_new_notifications_once_and_returns_them_with_ids(db, notes, room_of, now):
    room, (owner, ann, bob) = room_of("ann", "bob")
    batch = notes(ann, room, 101, 102, sender=owner, name="Owner") + notes(bob, room, 101, sender=owner)
    stored = insert_batch(db, batch)
    assert len(stored) == 3
    assert all(n.id is not None and n.id.isdigit() for n in stored)
    assert len({n.id for n in stored}) == 3
    # Everything but the id is what was given (the sender's name included).
    assert sorted((n.user_id, n.message_id, n.seq, n.sender_name) for n in stored) == sorted(
        (n.user_id, n.message_id, n.seq, n.sender_name) for n in batch
    )
    by_key = {(n.user_id, n.message_id): n.id for n in stored}
    for n in stored:
        row = NotificationRow.get_by_id(int(n.id))
        assert (row.user_id, str(row.message_id), row.room_id, row.excerpt, row.created_at) == (
            n.user_id,
            n.message_id,
            int(room),
            n.excerpt,
            now,
        )
    # A retried job stores nothing twice and returns nothing; a batch with one new row returns that row.
    assert insert_batch(db, batch) == []
    again = insert_batch(db, [*batch, *notes(bob, room, 103, sender=owner)])
    assert [(n.user_id, n.message_id) for n in again] == [(bob, "103")]
    assert NotificationRow.select().where(NotificationRow.room_id == int(room)).count() == 4
    assert by_key[(ann, "101")] != by_key[(bob, "101")]
    assert insert_batch(db, []) == []


def test_a_batch_naming_one_notification_twice_stores_it_once(db, notes, room_of):
    room, (_, ann) = room_of("ann")
    stored = insert_batch(db, notes(ann, room, 7) + notes(ann, room, 7))
    assert len(stored) == 1
    assert NotificationRow.select().where(NotificationRow.user_id == ann).count() == 1


def test_concurrent_batches_store_each_notification_once(db, notes, room_of, in_threads):
    room, (_, ann, bob) = room_of("ann", "bob")
    batch = notes(ann, room, *range(1, 41)) + notes(bob, room, *range(1, 41))
    results = in_threads(
        *(lambda shift=shift: insert_batch(db, batch[shift:] + batch[:shift]) for shift in (0, 17, 53))
    )
    returned = [(n.user_id, n.message_id) for result in results for n in result]
    assert sorted(returned) == sorted((n.user_id, n.message_id) for n in batch)  # each returned by exactly one
    assert NotificationRow.select().where(NotificationRow.room_id == int(room)).count() == 80


def test_pending_gives_the_newest_limit_oldest_first_with_the_total(db, notes, room_of, now):
    room, (owner, ann, bob) = room_of("ann", "bob")
    upsert_user(Profile(owner, "The Owner"), now)
    stored = insert_batch(db, notes(ann, room, *range(201, 211), sender=owner))
    insert_batch(db, notes(bob, room, 300, sender=owner))
    ids = sorted(int(n.id) for n in stored)
    page, total = pending(ann, 4)
    assert total == 10
    assert [int(n.id) for n in page] == ids[-4:]  # the four newest, oldest first
    assert [n.message_id for n in page] == ["207", "208", "209", "210"]
    assert all(n.sender_name == "The Owner" and n.room_id == room and n.user_id == ann for n in page)
    everything, total = pending(ann, 100)
    assert [int(n.id) for n in everything] == ids and total == 10
    assert pending(owner, 10) == ([], 0)


def test_a_sender_without_a_user_row_has_no_name(db, notes, room_of, user_id):
    room, (_, ann) = room_of("ann")
    insert_batch(db, notes(ann, room, 1, sender=user_id("gone")))
    [note], total = pending(ann, 10)
    assert (note.sender_name, total) == (None, 1)


def test_acknowledge_marks_only_ones_own_pending_notifications(db, notes, room_of, now):
    room, (_, ann, bob) = room_of("ann", "bob")
    mine = insert_batch(db, notes(ann, room, 1, 2, 3))
    theirs = insert_batch(db, notes(bob, room, 1))
    assert acknowledge(ann, [mine[0].id, theirs[0].id], now) == 1  # bob's is not ann's to acknowledge
    assert pending(bob, 10)[1] == 1
    assert [n.id for n in pending(ann, 10)[0]] == [mine[1].id, mine[2].id]
    assert acknowledge(ann, [mine[0].id], now + timedelta(seconds=1)) == 0  # already delivered
    assert NotificationRow.get_by_id(int(mine[0].id)).delivered_at == now  # and kept its first time
    assert acknowledge(ann, [mine[1].id, mine[1].id, mine[2].id], now) == 2
    assert pending(ann, 10) == ([], 0)


@pytest.mark.parametrize("bad", ["", "abc", "-1", "1.5", "１２", "9" * 19, "12 "])
def test_acknowledge_ignores_ids_that_cannot_be_notifications(db, notes, room_of, now, bad):
    room, (_, ann) = room_of("ann")
    insert_batch(db, notes(ann, room, 1))
    assert acknowledge(ann, [bad], now) == 0
    assert pending(ann, 10)[1] == 1


async def test_the_async_notification_store_reads_and_acknowledges_the_same(db, adb, notes, room_of, now):
    store = PgNotificationStore(adb)
    room, (_, ann) = room_of("ann")
    stored = insert_batch(db, notes(ann, room, 1, 2))
    page, total = await store.pending(ann, 10)
    assert ([n.id for n in page], total) == ([n.id for n in stored], 2)
    results = await asyncio.gather(*(store.acknowledge(ann, [stored[0].id], now) for _ in range(5)))
    assert sorted(results) == [0, 0, 0, 0, 1]
    assert notifications.pending(ann, 10)[1] == 1


# -- rooms: contacts, shared rooms, read positions, members ----------------------------------------


def test_contacts_are_everyone_sharing_a_room_once(db, make_users, now):
    ann, bob, cat, dan, eve = make_users("ann", "bob", "cat", "dan", "eve")
    create_group("One", ann, [bob, cat], now)
    create_group("Two", bob, [ann, dan], now)
    create_group("Elsewhere", eve, [dan], now)
    assert sorted(contacts(ann)) == sorted([bob, cat, dan])
    assert sorted(contacts(bob)) == sorted([ann, cat, dan])
    assert sorted(contacts(dan)) == sorted([ann, bob, eve])
    (lonely,) = make_users("lonely")
    create_group("Alone", lonely, [], now)
    assert contacts(lonely) == []


def test_shares_room_follows_memberships(db, make_users, now):
    ann, bob, cat = make_users("ann", "bob", "cat")
    room = create_group("Pair", ann, [bob], now).id
    assert shares_room(ann, bob) and shares_room(bob, ann)
    assert not shares_room(ann, cat) and not shares_room(cat, bob)
    add_members(room, [cat], now)
    assert shares_room(cat, bob)
    remove_member(room, bob)
    assert not shares_room(ann, bob) and bob not in contacts(ann)


def test_read_positions_of_a_user_per_room(db, make_users, now):
    ann, bob = make_users("ann", "bob")
    first = create_group("A", ann, [bob], now).id
    second = create_group("B", bob, [ann], now).id
    presence.write(db, [], [], [(int(first), ann, 7)])
    assert read_positions(ann) == {first: 7, second: 0}
    assert read_positions(bob) == {first: 0, second: 0}
    (nobody,) = make_users("nobody")
    assert read_positions(nobody) == {}


def test_members_of_rooms_names_the_members_of_rooms_that_exist_with_their_read_cursors(db, make_users, now):
    ann, bob, cat = make_users("ann", "bob", "cat")
    first = create_group("A", ann, [bob], now).id
    second = create_group("B", cat, [], now).id
    presence.write(db, [], [], [(int(first), bob, 4)])
    found = members_of_rooms([first, second, "999999999999", "abc", "012", first])
    assert found == {first: {ann: 0, bob: 4}, second: {cat: 0}}
    assert members_of_rooms([]) == {}


async def test_the_async_room_store_answers_the_same(adb, make_users, now):
    store = PgRoomStore(adb)
    ann, bob, cat = make_users("ann", "bob", "cat")
    room = create_group("Async", ann, [bob], now).id
    shared = await asyncio.gather(store.shares_room(ann, bob), store.shares_room(ann, cat))
    assert shared == [True, False]
    assert await store.contacts(bob) == [ann]
    assert await store.read_positions(ann) == {room: 0}
