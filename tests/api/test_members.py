"""Group membership over REST: adding (owner only), removing (owner only), leaving, and what a former member loses."""

from __future__ import annotations

import pytest

from tests.api.conftest import members_of, role_of


async def _lost_access(api, user: str, room_id: str) -> None:
    """`user` can neither read the room, nor its history, nor send to it, nor find it in their list."""
    for reply in (
        await api.get(f"/api/v1/rooms/{room_id}", user),
        await api.get(f"/api/v1/rooms/{room_id}/messages", user),
        await api.post(f"/api/v1/rooms/{room_id}/messages", user, json={"content": "still here?"}),
    ):
        assert (reply.status, reply.code) == (403, "not_member"), reply
    assert room_id not in [r["id"] for r in await api.rooms(user)]


# --- Adding ----------------------------------------------------------------------------------------


async def test_the_owner_adds_members_who_then_read_and_send(api, user_id):
    owner, bob, carol, dave = user_id("owner"), user_id("bob"), user_id("carol"), user_id("dave")
    room = await api.create_group(owner, "Grow", [bob])
    await api.send(owner, room["id"], "before you came")
    reply = await api.post(f"/api/v1/rooms/{room['id']}/members", owner, json={"user_ids": [carol, dave]})
    assert reply.status == 200
    assert sorted(members_of(reply.body)) == sorted([owner, bob, carol, dave])
    assert (reply.body["member_count"], role_of(reply.body, carol)) == (4, "member")
    # The whole history is theirs to read, and they may send.
    history = (await api.history(carol, room["id"]))["messages"]
    assert [(m["type"], m["meta"] and m["meta"]["event"]) for m in history] == [
        ("text", None),
        ("system", "members_added"),
    ]
    assert history[0]["content"] == "before you came"
    await api.send(dave, room["id"], "hello all")
    assert room["id"] in [r["id"] for r in await api.rooms(carol)]


async def test_adding_existing_members_changes_nothing(api, user_id):
    owner, bob = user_id("owner"), user_id("bob")
    room = await api.create_group(owner, "Same", [bob])
    reply = await api.post(f"/api/v1/rooms/{room['id']}/members", owner, json={"user_ids": [bob, owner, bob]})
    assert reply.status == 200
    assert reply.body["members"] == room["members"]
    assert (reply.body["member_count"], role_of(reply.body, owner)) == (2, "owner")


async def test_only_the_owner_adds_members(api, user_id):
    owner, bob, carol = user_id("owner"), user_id("bob"), user_id("carol")
    room = await api.create_group(owner, "Closed", [bob])
    reply = await api.post(f"/api/v1/rooms/{room['id']}/members", bob, json={"user_ids": [carol]})
    assert (reply.status, reply.code) == (403, "not_owner")
    reply = await api.post(f"/api/v1/rooms/{room['id']}/members", carol, json={"user_ids": [carol]})
    assert (reply.status, reply.code) == (403, "not_member")
    assert members_of(await api.room(owner, room["id"])) == members_of(room)


async def test_members_of_a_direct_room_are_fixed(api, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    room = await api.direct(alice, bob)
    reply = await api.post(f"/api/v1/rooms/{room['id']}/members", alice, json={"user_ids": [carol]})
    assert (reply.status, reply.code) == (409, "direct_room_fixed")
    assert sorted(members_of(await api.room(alice, room["id"]))) == sorted([alice, bob])


@pytest.mark.parametrize(
    "body", [{}, {"user_ids": []}, {"user_ids": "bob"}, {"user_ids": [None]}, {"user_ids": ["b"], "x": 1}]
)
async def test_an_invalid_addition_is_refused(api, user_id, body):
    owner = user_id("owner")
    room = await api.create_group(owner, "Strict")
    reply = await api.post(f"/api/v1/rooms/{room['id']}/members", owner, json=body)
    assert (reply.status, reply.code) == (400, "invalid_payload")
    assert members_of(await api.room(owner, room["id"])) == [owner]


async def test_adding_beyond_max_room_members_is_refused_and_adds_no_one(api_with, user_id):
    api = await api_with(MAX_ROOM_MEMBERS=3)
    owner, bob = user_id("owner"), user_id("bob")
    room = await api.create_group(owner, "Small", [bob])
    reply = await api.post(
        f"/api/v1/rooms/{room['id']}/members", owner, json={"user_ids": [user_id("c"), user_id("d")]}
    )
    assert (reply.status, reply.code) == (409, "too_many_members")
    assert (await api.room(owner, room["id"]))["member_count"] == 2
    # Re-adding a member does not count twice; one more fits.
    carol = user_id("carol")
    reply = await api.post(f"/api/v1/rooms/{room['id']}/members", owner, json={"user_ids": [bob, carol]})
    assert (reply.status, reply.body["member_count"]) == (200, 3)


async def test_adding_to_an_unknown_room_is_room_not_found(api, user_id):
    reply = await api.post("/api/v1/rooms/987654321987/members", user_id("owner"), json={"user_ids": ["x"]})
    assert (reply.status, reply.code) == (404, "room_not_found")


# --- Removing --------------------------------------------------------------------------------------


async def test_the_owner_removes_a_member_who_then_loses_access(api, user_id):
    owner, bob, carol = user_id("owner"), user_id("bob"), user_id("carol")
    room = await api.create_group(owner, "Prune", [bob, carol])
    await api.send(bob, room["id"], "my last words")
    reply = await api.delete(f"/api/v1/rooms/{room['id']}/members/{bob}", owner)
    assert (reply.status, reply.raw) == (204, b"")
    assert sorted(members_of(await api.room(owner, room["id"]))) == sorted([owner, carol])
    await _lost_access(api, bob, room["id"])
    # What bob said stays in the room.
    history = (await api.history(carol, room["id"]))["messages"]
    assert [(m["type"], m["meta"] and m["meta"]["event"]) for m in history] == [
        ("text", None),
        ("system", "member_removed"),
    ]
    assert history[0]["content"] == "my last words"


async def test_a_removed_member_can_be_added_again(api, user_id):
    owner, bob = user_id("owner"), user_id("bob")
    room = await api.create_group(owner, "Again", [bob])
    assert (await api.delete(f"/api/v1/rooms/{room['id']}/members/{bob}", owner)).status == 204
    await _lost_access(api, bob, room["id"])
    assert (await api.post(f"/api/v1/rooms/{room['id']}/members", owner, json={"user_ids": [bob]})).status == 200
    await api.send(bob, room["id"], "back")


async def test_only_the_owner_removes_members(api, user_id):
    owner, bob, carol = user_id("owner"), user_id("bob"), user_id("carol")
    room = await api.create_group(owner, "Guarded", [bob, carol])
    reply = await api.delete(f"/api/v1/rooms/{room['id']}/members/{carol}", bob)
    assert (reply.status, reply.code) == (403, "not_owner")
    reply = await api.delete(f"/api/v1/rooms/{room['id']}/members/{carol}", user_id("outsider"))
    assert (reply.status, reply.code) == (403, "not_member")
    assert sorted(members_of(await api.room(owner, room["id"]))) == sorted([owner, bob, carol])


async def test_a_member_cannot_remove_the_owner(api, user_id):
    owner, bob = user_id("owner"), user_id("bob")
    room = await api.create_group(owner, "Coup", [bob])
    reply = await api.delete(f"/api/v1/rooms/{room['id']}/members/{owner}", bob)
    assert (reply.status, reply.code) == (403, "not_owner")  # only the owner removes anyone
    after = await api.room(owner, room["id"])
    assert (after["owner_id"], role_of(after, owner)) == (owner, "owner")


async def test_removing_someone_who_is_not_a_member_is_member_not_found(api, user_id):
    owner = user_id("owner")
    room = await api.create_group(owner, "Who", [user_id("bob")])
    reply = await api.delete(f"/api/v1/rooms/{room['id']}/members/{user_id('stranger')}", owner)
    assert (reply.status, reply.code) == (404, "member_not_found")
    assert (await api.room(owner, room["id"]))["member_count"] == 2


async def test_removing_yourself_is_leaving(api, user_id):
    owner, bob, carol = user_id("owner"), user_id("bob"), user_id("carol")
    room = await api.create_group(owner, "Door", [bob, carol])
    reply = await api.delete(f"/api/v1/rooms/{room['id']}/members/{bob}", bob)
    assert reply.status == 204
    assert sorted(members_of(await api.room(owner, room["id"]))) == sorted([owner, carol])
    await _lost_access(api, bob, room["id"])


async def test_the_owner_removing_themselves_leaves_and_hands_over_the_room(api, user_id):
    owner, bob = user_id("owner"), user_id("bob")
    room = await api.create_group(owner, "Handover", [bob])
    assert (await api.delete(f"/api/v1/rooms/{room['id']}/members/{owner}", owner)).status == 204
    after = await api.room(bob, room["id"])
    assert (members_of(after), after["owner_id"], role_of(after, bob)) == ([bob], bob, "owner")
    await _lost_access(api, owner, room["id"])


async def test_members_of_a_direct_room_cannot_be_removed(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await api.direct(alice, bob)
    for target in (bob, alice):
        reply = await api.delete(f"/api/v1/rooms/{room['id']}/members/{target}", alice)
        assert (reply.status, reply.code) == (409, "direct_room_fixed")
    assert sorted(members_of(await api.room(bob, room["id"]))) == sorted([alice, bob])


# --- Leaving ---------------------------------------------------------------------------------------


async def test_a_member_leaves_a_group(api, user_id):
    owner, bob = user_id("owner"), user_id("bob")
    room = await api.create_group(owner, "Exit", [bob])
    reply = await api.post(f"/api/v1/rooms/{room['id']}/leave", bob)
    assert (reply.status, reply.raw) == (204, b"")
    after = await api.room(owner, room["id"])
    assert (members_of(after), after["owner_id"]) == ([owner], owner)
    await _lost_access(api, bob, room["id"])
    # Leaving twice: no longer a member.
    reply = await api.post(f"/api/v1/rooms/{room['id']}/leave", bob)
    assert (reply.status, reply.code) == (403, "not_member")


async def test_an_owner_who_leaves_hands_the_room_to_the_longest_standing_member(api, user_id):
    # Ids chosen so that alphabetical order disagrees with joining order.
    owner, first, later = user_id("owner"), user_id("zz-first"), user_id("aa-later")
    room = await api.create_group(owner, "Succession", [first])
    assert (await api.post(f"/api/v1/rooms/{room['id']}/members", owner, json={"user_ids": [later]})).status == 200
    assert (await api.post(f"/api/v1/rooms/{room['id']}/leave", owner)).status == 204
    after = await api.room(first, room["id"])
    assert after["owner_id"] == first
    assert {m["user_id"]: m["role"] for m in after["members"]} == {first: "owner", later: "member"}
    # The new owner has the owner's powers; the former owner has none.
    assert (await api.delete(f"/api/v1/rooms/{room['id']}/members/{later}", first)).status == 204
    await _lost_access(api, owner, room["id"])
    listed = next(r for r in await api.rooms(first) if r["id"] == room["id"])
    assert listed["owner_id"] == first


async def test_a_direct_room_cannot_be_left(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await api.direct(alice, bob)
    reply = await api.post(f"/api/v1/rooms/{room['id']}/leave", alice)
    assert (reply.status, reply.code) == (409, "direct_room_fixed")
    assert [r["id"] for r in await api.rooms(alice)] == [room["id"]]


async def test_leaving_an_unknown_room_is_room_not_found(api, user_id):
    reply = await api.post("/api/v1/rooms/555555555555/leave", user_id("alice"))
    assert (reply.status, reply.code) == (404, "room_not_found")
