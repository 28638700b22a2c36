"""Rooms over REST: creating groups, direct rooms (one per pair), listing and reading one room."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.api.conftest import WIRE_TIME, field_errors, members_of, role_of
from tests.shapes import UNCHANGED_MESSAGE_FIELDS

# --- Creating a group ------------------------------------------------------------------------------


async def test_creating_a_group_makes_the_creator_its_owner(api, user_id):
    owner, bob, carol = user_id("owner"), user_id("bob"), user_id("carol")
    reply = await api.post("/api/v1/rooms", owner, json={"name": "Team", "participants": [bob, carol]})
    assert reply.status == 201
    room = reply.body
    assert re.fullmatch(r"[1-9]\d*", room["id"])
    assert (room["type"], room["name"], room["owner_id"]) == ("group", "Team", owner)
    assert WIRE_TIME.match(room["created_at"])
    assert (room["member_count"], room["last_seq"], room["unread_count"]) == (3, 0, 0)
    assert (room["last_message"], room["peer"]) == (None, None)
    assert sorted(members_of(room)) == sorted([owner, bob, carol])
    assert {m["user_id"]: m["role"] for m in room["members"]} == {owner: "owner", bob: "member", carol: "member"}
    assert all(WIRE_TIME.match(m["joined_at"]) for m in room["members"])


async def test_participants_who_never_connected_are_members_and_see_the_room(api, user_id):
    owner, ghost = user_id("owner"), user_id("never-connected")
    room = await api.create_group(owner, participants=[ghost])
    assert next(m for m in room["members"] if m["user_id"] == ghost)["name"] is None
    # When they first sign in, the room is theirs already.
    assert [r["id"] for r in await api.rooms(ghost)] == [room["id"]]
    assert members_of(await api.room(ghost, room["id"])) == members_of(room)


async def test_a_group_may_start_with_its_owner_alone(api, user_id):
    owner = user_id("owner")
    reply = await api.post("/api/v1/rooms", owner, json={"name": "Just me"})
    assert reply.status == 201
    assert (members_of(reply.body), reply.body["member_count"]) == ([owner], 1)


async def test_repeated_participants_and_the_creator_among_them_count_once(api, user_id):
    owner, bob = user_id("owner"), user_id("bob")
    room = await api.create_group(owner, participants=[bob, bob, owner])
    assert sorted(members_of(room)) == sorted([owner, bob])
    assert (room["member_count"], role_of(room, owner)) == (2, "owner")


async def test_a_numeric_participant_id_is_kept_as_a_string(api, user_id):
    owner = user_id("owner")
    room = await api.create_group(owner, participants=[424242])
    assert "424242" in members_of(room)


async def test_the_room_name_is_trimmed(api, user_id):
    room = await api.create_group(user_id("owner"), name="  Team  ")
    assert room["name"] == "Team"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"name"}),
        ({"participants": []}, {"name"}),
        ({"name": 5}, {"name"}),
        ({"name": None}, {"name"}),
        ({"name": "T", "participants": "bob"}, {"participants"}),
        ({"name": "T", "participants": [True]}, {"participants"}),
        ({"name": "T", "participants": [{"id": "bob"}]}, {"participants"}),
        ({"name": "T", "participants": [""]}, {"participants"}),
        ({"name": "T", "owner_id": "someone-else"}, {"owner_id"}),
        ({"name": ["T"], "color": "red"}, {"name", "color"}),
    ],
    ids=[
        "no-name",
        "participants-only",
        "name-number",
        "name-null",
        "participants-string",
        "participant-bool",
        "participant-object",
        "participant-empty",
        "unknown-field",
        "two-bad-fields",
    ],
)
async def test_an_invalid_group_is_refused_naming_each_bad_field(api, user_id, body, fields):
    owner = user_id("owner")
    reply = await api.post("/api/v1/rooms", owner, json=body)
    assert (reply.status, reply.code) == (400, "invalid_payload")
    assert set(field_errors(reply)) == fields
    assert await api.rooms(owner) == []


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 201])
async def test_an_empty_or_too_long_room_name_is_refused(api, user_id, name):
    owner = user_id("owner")
    reply = await api.post("/api/v1/rooms", owner, json={"name": name})
    assert (reply.status, reply.code) == (400, "invalid_payload")
    assert "name" in field_errors(reply)
    assert await api.rooms(owner) == []


async def test_a_name_of_200_characters_is_accepted(api, user_id):
    assert (await api.create_group(user_id("owner"), name="n" * 200))["name"] == "n" * 200


async def test_a_room_name_with_a_nul_character_is_refused(api, user_id):
    owner = user_id("owner")
    reply = await api.post("/api/v1/rooms", owner, json={"name": "Te\x00am"})
    assert (reply.status, reply.code) == (400, "content_invalid")
    assert await api.rooms(owner) == []


@pytest.mark.parametrize("bad_id", [" padded", "tab\tinside", "x" * 256])
async def test_an_unusable_participant_id_is_refused(api, user_id, bad_id):
    owner = user_id("owner")
    reply = await api.post("/api/v1/rooms", owner, json={"name": "T", "participants": [user_id("ok"), bad_id]})
    assert (reply.status, reply.code) == (400, "invalid_payload")
    assert await api.rooms(owner) == []


async def test_a_group_larger_than_max_room_members_is_refused(api_with, user_id):
    api = await api_with(MAX_ROOM_MEMBERS=3)
    owner = user_id("owner")
    too_many = [user_id("p") for _ in range(3)]
    reply = await api.post("/api/v1/rooms", owner, json={"name": "Crowd", "participants": too_many})
    assert (reply.status, reply.code) == (409, "too_many_members")
    assert await api.rooms(owner) == []
    # Exactly the limit, the owner included, is fine.
    room = await api.create_group(owner, "Full", too_many[:2])
    assert room["member_count"] == 3


# --- Direct rooms ----------------------------------------------------------------------------------


async def test_starting_a_direct_room_creates_it_once_with_both_members(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    await api.get("/api/v1/me", bob, name="Bob")
    first = await api.post("/api/v1/rooms/direct", alice, json={"user_id": bob})
    assert first.status == 201
    room = first.body
    assert (room["type"], room["name"], room["owner_id"]) == ("direct", None, None)
    assert sorted(members_of(room)) == sorted([alice, bob])
    assert all(m["role"] == "member" for m in room["members"])
    assert (room["peer"]["user_id"], room["peer"]["name"]) == (bob, "Bob")
    again = await api.post("/api/v1/rooms/direct", alice, json={"user_id": bob})
    assert (again.status, again.body["id"]) == (200, room["id"])


async def test_the_direct_room_is_the_same_from_either_side(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = (await api.post("/api/v1/rooms/direct", alice, json={"user_id": bob})).body
    other_side = await api.post("/api/v1/rooms/direct", bob, json={"user_id": alice})
    assert (other_side.status, other_side.body["id"]) == (200, room["id"])
    assert other_side.body["peer"]["user_id"] == alice
    assert [r["id"] for r in await api.rooms(alice)] == [room["id"]]
    assert [r["id"] for r in await api.rooms(bob)] == [room["id"]]


async def test_each_pair_has_its_own_direct_room(api, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    with_bob = await api.direct(alice, bob)
    with_carol = await api.direct(alice, carol)
    assert with_bob["id"] != with_carol["id"]
    assert (await api.direct(bob, carol))["id"] not in {with_bob["id"], with_carol["id"]}


async def test_a_direct_room_with_a_user_who_never_connected_is_created(api, user_id):
    alice, ghost = user_id("alice"), user_id("ghost")
    reply = await api.post("/api/v1/rooms/direct", alice, json={"user_id": ghost})
    assert reply.status == 201
    assert (reply.body["peer"]["user_id"], reply.body["peer"]["name"]) == (ghost, None)
    assert [r["id"] for r in await api.rooms(ghost)] == [reply.body["id"]]


async def test_concurrent_starts_from_both_sides_make_one_room(api, user_id):
    pairs = [(user_id("alice"), user_id("bob")) for _ in range(6)]
    replies = await asyncio.gather(
        *(api.post("/api/v1/rooms/direct", a, json={"user_id": b}) for a, b in pairs),
        *(api.post("/api/v1/rooms/direct", b, json={"user_id": a}) for a, b in pairs),
    )
    for index, (alice, bob) in enumerate(pairs):
        mine, theirs = replies[index], replies[index + len(pairs)]
        assert mine.body["id"] == theirs.body["id"]
        assert sorted([mine.status, theirs.status]) == [200, 201], "exactly one of the two created it"
        assert [r["id"] for r in await api.rooms(alice)] == [mine.body["id"]]
        assert (await api.room(bob, mine.body["id"]))["member_count"] == 2


@pytest.mark.parametrize("body", [{}, {"user_id": ""}, {"user_id": None}, {"user_id": ["b"]}, {"user_id": " b"}])
async def test_an_invalid_direct_start_is_refused(api, user_id, body):
    alice = user_id("alice")
    reply = await api.post("/api/v1/rooms/direct", alice, json=body)
    assert (reply.status, reply.code) == (400, "invalid_payload")
    assert await api.rooms(alice) == []


# --- Listing my rooms ------------------------------------------------------------------------------


async def test_a_new_user_has_no_rooms(api, user_id):
    assert await api.rooms(user_id("newcomer")) == []


async def test_my_rooms_are_only_the_rooms_i_belong_to(api, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    shared = await api.create_group(alice, "Shared", [bob])
    await api.create_group(carol, "Not mine", [bob])
    assert [r["id"] for r in await api.rooms(alice)] == [shared["id"]]
    assert len(await api.rooms(bob)) == 2


async def test_rooms_are_listed_newest_activity_first(api, user_id):
    alice = user_id("alice")
    first = await api.create_group(alice, "First")
    second = await api.create_group(alice, "Second")
    direct = await api.direct(alice, user_id("bob"))
    assert [r["id"] for r in await api.rooms(alice)] == [direct["id"], second["id"], first["id"]]
    await api.send(alice, first["id"], "wake up")
    assert [r["id"] for r in await api.rooms(alice)] == [first["id"], direct["id"], second["id"]]
    await api.send(alice, second["id"], "me too")
    assert [r["id"] for r in await api.rooms(alice)] == [second["id"], first["id"], direct["id"]]


async def test_a_listed_room_shows_its_last_message_and_member_count(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await api.create_group(alice, "Chat", [bob])
    await api.send(alice, room["id"], "first")
    last = await api.send(bob, room["id"], "second", client_ref="ref-2")
    [listed] = await api.rooms(alice)
    assert (listed["id"], listed["name"], listed["member_count"], listed["last_seq"]) == (room["id"], "Chat", 2, 2)
    message = listed["last_message"]
    assert message == {
        "id": last["id"],
        "room_id": room["id"],
        "seq": 2,
        "sender_id": bob,
        "type": "text",
        "content": "second",
        "client_ref": "ref-2",
        "created_at": last["created_at"],
        **UNCHANGED_MESSAGE_FIELDS,
    }
    assert "members" not in listed


async def test_a_listed_direct_room_names_the_other_member_as_peer(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    await api.get("/api/v1/me", alice, name="Alice")
    await api.get("/api/v1/me", bob, name="Bob")
    room = await api.direct(alice, bob)
    [for_alice] = await api.rooms(alice)
    [for_bob] = await api.rooms(bob)
    assert for_alice["id"] == for_bob["id"] == room["id"]
    assert (for_alice["peer"]["user_id"], for_alice["peer"]["name"]) == (bob, "Bob")
    assert (for_bob["peer"]["user_id"], for_bob["peer"]["name"]) == (alice, "Alice")
    group = await api.create_group(alice, "G", [bob])
    assert next(r for r in await api.rooms(alice) if r["id"] == group["id"])["peer"] is None


async def test_unread_counts_other_members_messages_and_not_my_own(api, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await api.create_group(alice, "Unread", [bob, carol])

    async def unread(user: str) -> int:
        return next(r for r in await api.rooms(user) if r["id"] == room["id"])["unread_count"]

    for text in ("one", "two", "three"):
        await api.send(alice, room["id"], text)
    assert (await unread(alice), await unread(bob), await unread(carol)) == (0, 3, 3)
    await api.send(bob, room["id"], "four")  # sending moves bob's own read cursor to his message
    assert (await unread(alice), await unread(bob), await unread(carol)) == (1, 0, 4)
    # Reading history is not marking as read.
    await api.history(carol, room["id"])
    assert await unread(carol) == 4
    assert (await api.room(carol, room["id"]))["unread_count"] == 4


# --- Reading one room ------------------------------------------------------------------------------


async def test_a_member_reads_the_room_with_its_members(api, user_id):
    owner, bob = user_id("owner"), user_id("bob")
    created = await api.create_group(owner, "Detail", [bob])
    for user in (owner, bob):
        room = await api.room(user, created["id"])
        assert {k: room[k] for k in ("id", "type", "name", "owner_id", "created_at", "member_count")} == {
            k: created[k] for k in ("id", "type", "name", "owner_id", "created_at", "member_count")
        }
        assert room["members"] == created["members"]


async def test_a_non_member_cannot_read_a_room(api, user_id):
    room = await api.create_group(user_id("owner"), "Private", [user_id("bob")])
    reply = await api.get(f"/api/v1/rooms/{room['id']}", user_id("outsider"))
    assert (reply.status, reply.code) == (403, "not_member")


@pytest.mark.parametrize("room_id", ["999999999999", "0", "abc", "12abc", "-5", "1e3", "99999999999999999999999"])
async def test_an_unknown_or_malformed_room_id_is_room_not_found(api, user_id, room_id):
    reply = await api.get(f"/api/v1/rooms/{room_id}", user_id("alice"))
    assert (reply.status, reply.code) == (404, "room_not_found")
