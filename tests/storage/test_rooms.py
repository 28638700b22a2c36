"""Rooms and memberships on Postgres: groups, one direct room per pair, lists, joins and leaves."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.chat.model import Profile, Room
from app.storage.models import MembershipRow, RoomRow
from app.storage.rooms import (
    PgRoomStore,
    add_members,
    create_group,
    direct_room,
    get_room,
    members,
    remove_member,
    room_pk,
    rooms_of,
)
from app.storage.users import upsert_user


def roles(room_id: str) -> dict[str, str]:
    return {member.user_id: member.role for member in members(room_id)}


def test_create_group_stores_the_room_the_owner_and_the_members(make_users, now):
    owner, a, b = make_users("owner", "a", "b")
    room = create_group("Team", owner, [a, b], now)
    assert room == Room(room.id, "group", "Team", owner, now)
    assert get_room(room.id) == room
    assert roles(room.id) == {owner: "owner", a: "member", b: "member"}
    assert all(member.joined_at == now and member.last_read_seq == 0 for member in members(room.id))


def test_an_owner_named_among_the_members_stays_the_owner(make_users, now):
    owner, a = make_users("owner", "a")
    room = create_group("Dup", owner, [a, owner, a], now)
    assert roles(room.id) == {owner: "owner", a: "member"}


def test_members_carry_their_names_and_are_ordered_by_joining(make_users, user_id, now):
    owner, late = make_users("owner", "late")
    upsert_user(Profile(late, "Late Comer"), now)
    room = create_group("Order", owner, [], now)
    add_members(room.id, [late], now + timedelta(seconds=1))
    listed = members(room.id)
    assert [(m.user_id, m.name) for m in listed] == [(owner, None), (late, "Late Comer")]


def test_a_pair_has_one_direct_room_whichever_side_starts_it(make_users, now):
    a, b = make_users("a", "b")
    room, created = direct_room(a, b, now)
    assert created
    assert (room.kind, room.name, room.owner_id) == ("direct", None, None)
    again, created_again = direct_room(b, a, now + timedelta(minutes=1))
    assert (again, created_again) == (room, False)
    assert roles(room.id) == {a: "member", b: "member"}
    # Another pair gets another room.
    (c,) = make_users("c")
    other, created_other = direct_room(a, c, now)
    assert created_other and other.id != room.id


def test_concurrent_starts_of_a_direct_room_meet_on_one_room(make_users, now, in_threads):
    a, b = make_users("a", "b")
    starts = [(a, b), (b, a)] * 4
    results = in_threads(*[lambda x=x, y=y: direct_room(x, y, now) for x, y in starts])
    assert len({room.id for room, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    room_id = results[0][0].id
    assert roles(room_id) == {a: "member", b: "member"}
    low, high = sorted((a, b))
    assert RoomRow.select().where((RoomRow.direct_a == low) & (RoomRow.direct_b == high)).count() == 1


def test_rooms_of_lists_each_room_with_its_member_count_and_the_peer_of_direct_rooms(make_users, now):
    me, peer, x, y = make_users("me", "peer", "x", "y")
    upsert_user(Profile(peer, "Peer"), now)
    group = create_group("G", x, [me, y], now)
    direct, _ = direct_room(me, peer, now)
    own = create_group("Solo", me, [], now)
    create_group("Not mine", x, [y], now)
    listed = {m.room.id: m for m in rooms_of(me)}
    assert set(listed) == {group.id, direct.id, own.id}
    assert (listed[group.id].member_count, listed[group.id].me.role, listed[group.id].peer) == (3, "member", None)
    assert listed[group.id].room == group
    assert (listed[own.id].member_count, listed[own.id].me.role) == (1, "owner")
    assert listed[direct.id].member_count == 2
    assert listed[direct.id].room == direct
    assert (listed[direct.id].peer.user_id, listed[direct.id].peer.name) == (peer, "Peer")
    assert listed[direct.id].me.user_id == me
    # The peer sees the other side.
    (theirs,) = [m for m in rooms_of(peer) if m.room.id == direct.id]
    assert theirs.peer.user_id == me
    assert rooms_of("nobody-at-all") == []


def test_add_members_adds_only_the_new_ones(make_users, now):
    owner, a, b, c = make_users("owner", "a", "b", "c")
    room = create_group("Add", owner, [a], now)
    assert sorted(add_members(room.id, [a, b, owner, c, b], now)) == sorted([b, c])
    assert roles(room.id) == {owner: "owner", a: "member", b: "member", c: "member"}
    assert add_members(room.id, [a, b], now) == []
    assert add_members(room.id, [], now) == []


def test_the_owner_leaving_hands_the_room_to_the_longest_standing_member(make_users, now):
    owner, early, later = make_users("zz-owner", "zz-early", "aa-later")  # ids sort against joining order
    room = create_group("Heirs", owner, [early], now)
    add_members(room.id, [later], now + timedelta(minutes=1))
    assert remove_member(room.id, owner) == (True, early)
    assert roles(room.id) == {early: "owner", later: "member"}
    assert get_room(room.id).owner_id == early
    assert remove_member(room.id, early) == (True, later)
    assert get_room(room.id).owner_id == later
    assert remove_member(room.id, later) == (True, None)
    assert get_room(room.id).owner_id is None
    assert members(room.id) == []


def test_equal_joining_times_fall_back_to_the_user_id(make_users, now):
    owner, b, a = make_users("owner", "b", "a")
    room = create_group("Tie", owner, [b, a], now)
    assert remove_member(room.id, owner) == (True, min(a, b))


def test_removing_a_member_keeps_the_owner_and_removing_a_stranger_changes_nothing(make_users, now):
    owner, a, stranger = make_users("owner", "a", "stranger")
    room = create_group("Keep", owner, [a], now)
    assert remove_member(room.id, a) == (True, owner)
    assert remove_member(room.id, a) == (False, owner)
    assert remove_member(room.id, stranger) == (False, owner)
    assert roles(room.id) == {owner: "owner"}


@pytest.mark.parametrize(
    "room_id",
    ["", "abc", "12a", "-1", "0", "1.5", " 1", "1 ", "+1", "1e3", "١٢", "１２", str(2**63), "9" * 19, "9" * 40, "01"],
)
def test_ids_that_cannot_name_a_room_give_nothing_rather_than_errors(db, room_id, now):
    assert get_room(room_id) is None
    assert members(room_id) == []
    assert add_members(room_id, ["someone"], now) == []
    assert remove_member(room_id, "someone") == (False, None)


def test_a_room_has_exactly_one_id(make_users, now):
    """A room id with leading zeros must not alias the room: Redis keys, topics and
    sequence counters are per id string, so an alias would get its own counter and
    its messages would collide with the room's own in Postgres."""
    (owner,) = make_users("owner")
    room = create_group("Alias", owner, [], now)
    assert get_room(room.id) == room
    assert room_pk(room.id) == int(room.id)
    assert get_room("0" + room.id) is None
    assert members("00" + room.id) == []


def test_the_largest_bigint_is_a_valid_id_without_a_room(db):
    assert room_pk(str(2**63 - 1)) == 2**63 - 1
    assert get_room(str(2**63 - 1)) is None


async def test_the_async_store_runs_the_same_queries(adb, make_users, now):
    store = PgRoomStore(adb)
    owner, a, b = make_users("owner", "a", "b")
    room = await store.create_group("Async", owner, [a], now)
    direct, created = await store.direct(a, b, now)
    assert created
    rooms = await asyncio.gather(*(store.direct(b, a, now) for _ in range(6)))
    assert {r.id for r, _ in rooms} == {direct.id} and not any(c for _, c in rooms)
    assert await store.get(room.id) == room
    assert await store.add_members(room.id, [b, a], now) == [b]
    assert {m.user_id for m in await store.members(room.id)} == {owner, a, b}
    assert {m.room.id for m in await store.rooms_of(a)} == {room.id, direct.id}
    assert await store.remove_member(room.id, owner) == (True, a)
    assert MembershipRow.select().where(MembershipRow.room_id == int(room.id)).count() == 2
