"""Seed 003's REST routes (a Django service): `GET /api/conversations` and `GET /api/rooms/<username>/messages`,
in the document's shapes, with the bare token 003's clients send (`Authorization: <JWT>`) as well as `Bearer`.

Real Postgres and Redis; every reply is validated against the OpenAPI document by the `api` client."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.api.conftest import WIRE_TIME

LINK = r"^/api/v1/attachments/\d+/content\?expires=\d+&sig=[0-9a-f]{64}$"


async def named(api, token, user: str) -> str:
    """Sign `user` in with a username claim (a user gets a username that way); the username is the user id."""
    reply = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token(user, username=user)}"})
    assert (reply.status, reply.body["username"]) == (200, user), reply
    return user


def person(user: str, username: str | None = None) -> dict:
    """A user as the routes show one that signed in without a name."""
    return {"id": user, "username": username or user, "name": None, "email": None, "is_active": True}


async def conversations(api, user: str) -> list[dict]:
    reply = await api.get("/api/conversations", user)
    assert reply.status == 200, reply
    return reply.body


async def messages_with(api, user: str, username: str) -> list[dict]:
    reply = await api.get(f"/api/rooms/{username}/messages", user)
    assert reply.status == 200, reply
    assert set(reply.body) == {"messages"}
    return reply.body["messages"]


def file_form(content: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("myFile", content, filename="notes.txt", content_type="text/plain")
    return form


@pytest.fixture
async def files_api(api_with, tmp_path):
    return await api_with(UPLOAD_DIR=str(tmp_path / "uploads"))


async def send_file(api, user: str, room_id: str, content: bytes, caption: str | None = None) -> tuple[dict, dict]:
    """Upload through the seed's path (field `myFile`) and send it to the room: (upload answer, receipt)."""
    uploaded = await api.post("/api/rooms/upload", user, data=file_form(content))
    assert uploaded.status == 201, uploaded
    body = {"attachment_id": uploaded.body["file_identifier"], **({"content": caption} if caption else {})}
    sent = await api.post(f"/api/v1/rooms/{room_id}/messages", user, json=body)
    assert sent.status == 201, sent
    return uploaded.body, sent.body


# GET /api/conversations.


async def test_conversations_are_my_direct_rooms_newest_activity_first_without_groups(api, user_id, token):
    alice, bob, carol = [await named(api, token, user_id(name)) for name in ("alice", "bob", "carol")]
    with_bob = (await api.direct(alice, bob))["id"]
    with_carol = (await api.direct(carol, alice))["id"]  # started by the other side: the same kind of room
    group = (await api.create_group(alice, "Team", [bob, carol]))["id"]
    await api.send(alice, with_bob, "hi bob")
    last_of_bob = await api.send(bob, with_bob, "hi alice")
    last_of_carol = await api.send(carol, with_carol, "hello from carol")
    await api.send(alice, group, "group news")  # the newest activity of all, but in a group

    listed = await conversations(api, alice)
    assert [c["name"] for c in listed] == [with_carol, with_bob]  # newest first; the group is left out
    assert [c["id"] for c in listed] == [int(with_carol), int(with_bob)]  # the room id, as a number
    assert listed[0]["other_user"] == person(carol)
    assert listed[1] == {
        "id": int(with_bob),
        "name": with_bob,
        "other_user": person(bob),
        "last_message": {
            "id": last_of_bob["id"],
            "from_user": person(bob),
            "to_user": person(alice),
            "date_added": last_of_bob["created_at"],
            "content": "hi alice",
            "multimedia_url": "",
        },
    }
    assert listed[0]["last_message"]["id"] == last_of_carol["id"]
    assert WIRE_TIME.match(listed[0]["last_message"]["date_added"])

    # A new message moves its conversation to the top; the other side sees the same room, from its side.
    await api.send(alice, with_bob, "still there?")
    assert [c["name"] for c in await conversations(api, alice)] == [with_bob, with_carol]
    [seen_by_bob] = await conversations(api, bob)
    assert (seen_by_bob["name"], seen_by_bob["other_user"]) == (with_bob, person(alice))
    assert seen_by_bob["last_message"]["from_user"] == person(alice)
    assert seen_by_bob["last_message"]["to_user"] == person(bob)
    assert seen_by_bob["last_message"]["content"] == "still there?"


async def test_a_conversation_without_messages_has_no_last_message_and_sorts_by_its_start(api, user_id, token):
    alice, bob, carol = [await named(api, token, user_id(name)) for name in ("alice", "bob", "carol")]
    talked = (await api.direct(alice, bob))["id"]
    await api.send(alice, talked, "hello")
    quiet = (await api.direct(alice, carol))["id"]  # only the "Direct chat started" system message
    listed = await conversations(api, alice)
    assert [c["name"] for c in listed] == [quiet, talked]  # started after the message was sent
    assert listed[0]["last_message"] is None
    assert listed[1]["last_message"]["content"] == "hello"


async def test_the_last_message_is_the_newest_one_shown_deleted_and_system_ones_are_not(api, user_id, token):
    alice, bob = [await named(api, token, user_id(name)) for name in ("alice", "bob")]
    room = (await api.direct(alice, bob))["id"]
    kept = await api.send(alice, room, "kept")
    gone = await api.send(bob, room, "regretted")
    reply = await api.delete(f"/api/v1/messages/{gone['id']}", bob)
    assert reply.status == 200, reply
    [conversation] = await conversations(api, alice)
    assert (conversation["last_message"]["id"], conversation["last_message"]["content"]) == (kept["id"], "kept")
    reply = await api.delete(f"/api/v1/messages/{kept['id']}", alice)
    assert reply.status == 200, reply
    [conversation] = await conversations(api, alice)
    assert conversation["last_message"] is None  # the system message left is not shown either


async def test_a_user_without_a_username_is_shown_by_their_id(api, user_id, token):
    alice = await named(api, token, user_id("alice"))
    stranger = user_id("stranger")  # never signed in with a username (nor at all)
    room = (await api.direct(alice, stranger))["id"]
    [conversation] = await conversations(api, alice)
    assert (conversation["name"], conversation["other_user"]) == (room, person(stranger))


async def test_the_last_message_of_a_file_carries_its_signed_link(files_api, user_id, token):
    api = files_api
    alice, bob = [await named(api, token, user_id(name)) for name in ("alice", "bob")]
    room = (await api.direct(alice, bob))["id"]
    await api.send(alice, room, "a file follows")
    uploaded, sent = await send_file(api, bob, room, b"seed 003 notes\n", caption="my notes")
    [conversation] = await conversations(api, alice)
    last = conversation["last_message"]
    assert (last["id"], last["content"], last["from_user"], last["to_user"]) == (
        sent["id"],
        "my notes",
        person(bob),
        person(alice),
    )
    assert last["multimedia_url"].startswith(f"/api/v1/attachments/{uploaded['file_identifier']}/content?")
    download = await api.get(last["multimedia_url"])  # the link works, without a token
    assert (download.status, download.raw) == (200, b"seed 003 notes\n")
    # The history shows it the same way; a file without a caption has empty content.
    _uploaded, bare = await send_file(api, alice, room, b"no caption\n")
    history = await messages_with(api, bob, alice)
    assert [(m["content"], bool(m["multimedia_url"])) for m in history] == [
        ("a file follows", False),
        ("my notes", True),
        ("", True),
    ]
    assert history[-1]["id"] == bare["id"]
    assert all(m["multimedia_url"] == "" or _is_link(m["multimedia_url"]) for m in history)


def _is_link(url: str) -> bool:
    return re.match(LINK, url) is not None


async def test_someone_without_conversations_gets_an_empty_list(api, user_id, token):
    alice, bob, loner = [await named(api, token, user_id(name)) for name in ("alice", "bob", "loner")]
    await api.send(alice, (await api.direct(alice, bob))["id"], "private")
    await api.create_group(loner, "Alone")
    assert await conversations(api, loner) == []


# GET /api/rooms/<username>/messages.


async def test_the_history_with_a_user_is_oldest_first_with_who_wrote_to_whom(api, user_id, token):
    alice, bob = [await named(api, token, user_id(name)) for name in ("alice", "bob")]
    room = (await api.direct(alice, bob))["id"]
    sent = [
        await api.send(alice, room, "a1"),
        await api.send(bob, room, "b1"),
        await api.send(alice, room, "a2"),
    ]
    history = await messages_with(api, alice, bob)
    # The "Direct chat started" system message is left out.
    assert history == [
        {
            "id": receipt["id"],
            "from_user": person(sender),
            "to_user": person(receiver),
            "date_added": receipt["created_at"],
            "content": content,
            "multimedia_url": "",
        }
        for receipt, sender, receiver, content in zip(
            sent, (alice, bob, alice), (bob, alice, bob), ("a1", "b1", "a2"), strict=True
        )
    ]
    assert await messages_with(api, bob, alice) == history  # the same conversation from the other side


async def test_deleted_messages_are_left_out_of_the_history(api, user_id, token):
    alice, bob = [await named(api, token, user_id(name)) for name in ("alice", "bob")]
    room = (await api.direct(alice, bob))["id"]
    for content in ("one", "two", "three"):
        sent = await api.send(alice, room, content)
        if content == "two":
            doomed = sent["id"]
    assert (await api.delete(f"/api/v1/messages/{doomed}", alice)).status == 200
    assert [m["content"] for m in await messages_with(api, bob, alice)] == ["one", "three"]


async def test_the_history_is_the_newest_page_when_there_are_more(api_with, user_id, token):
    api = await api_with(HISTORY_PAGE_MAX=3)
    alice, bob = [await named(api, token, user_id(name)) for name in ("alice", "bob")]
    room = (await api.direct(alice, bob))["id"]
    for n in range(1, 6):
        await api.send(alice if n % 2 else bob, room, f"m{n}")
    # Seqs 1..6 with the system message at 1: the newest page of 3 is m3, m4, m5.
    assert [m["content"] for m in await messages_with(api, alice, bob)] == ["m3", "m4", "m5"]


async def test_an_unknown_username_is_404_user_not_found(api, user_id, token):
    alice = await named(api, token, user_id("alice"))
    for unknown in (user_id("nobody"), "no%20such%20user"):
        reply = await api.get(f"/api/rooms/{unknown}/messages", alice)
        assert (reply.status, reply.code) == (404, "user_not_found"), reply


async def test_a_conversation_with_oneself_is_400_invalid_payload(api, user_id, token):
    alice = await named(api, token, user_id("alice"))
    reply = await api.get(f"/api/rooms/{alice}/messages", alice)
    assert (reply.status, reply.code) == (400, "invalid_payload")


async def test_a_pair_that_never_talked_gets_no_messages_and_no_room(api, user_id, token):
    alice, bob = [await named(api, token, user_id(name)) for name in ("alice", "bob")]
    assert await messages_with(api, alice, bob) == []
    assert await conversations(api, alice) == [] == await conversations(api, bob)  # reading created nothing
    assert await api.rooms(alice) == []
    # A started conversation without messages has none to show either (its system message is left out).
    await api.direct(bob, alice)
    assert await messages_with(api, alice, bob) == []


async def test_someone_else_sees_nothing_of_a_conversation_they_are_not_in(api, user_id, token):
    alice, bob, mallory = [await named(api, token, user_id(name)) for name in ("alice", "bob", "mallory")]
    room = (await api.direct(alice, bob))["id"]
    await api.send(alice, room, "secret")
    # Mallory can only ask for her own conversations with them, which do not exist.
    assert await messages_with(api, mallory, bob) == []
    assert await messages_with(api, mallory, alice) == []
    assert await conversations(api, mallory) == []
    # Her own conversation with bob is another room, and shows only its own messages.
    theirs = (await api.direct(mallory, bob))["id"]
    await api.send(mallory, theirs, "hello bob")
    assert [m["content"] for m in await messages_with(api, mallory, bob)] == ["hello bob"]
    assert [c["name"] for c in await conversations(api, mallory)] == [theirs]
    assert [m["content"] for m in await messages_with(api, alice, bob)] == ["secret"]


# Authentication: `Bearer <JWT>`, and the bare token as 003's clients send it.


@pytest.mark.parametrize("path", ["/api/conversations", "/api/rooms/{peer}/messages"])
async def test_the_bare_token_and_bearer_both_work_and_garbage_is_401(api, user_id, token, path):
    alice, bob = [await named(api, token, user_id(name)) for name in ("alice", "bob")]
    await api.send(alice, (await api.direct(alice, bob))["id"], "hi")
    path = path.format(peer=bob)
    bare = await api.get(path, headers={"Authorization": token(alice)})
    bearer = await api.get(path, headers={"Authorization": f"Bearer {token(alice)}"})
    assert (bare.status, bearer.status) == (200, 200), (bare, bearer)
    assert bare.body == bearer.body
    for garbage in ("garbage", "a.b.c", "Bearer garbage"):
        reply = await api.get(path, headers={"Authorization": garbage})
        assert (reply.status, reply.code) == (401, "invalid_token"), (garbage, reply)
    for missing in ({}, {"Authorization": ""}, {"Authorization": "Bearer "}, {"Authorization": f"JWT {token(alice)}"}):
        reply = await api.get(path, headers=missing)
        assert (reply.status, reply.code) == (401, "auth_required"), (missing, reply)


async def test_the_seed_file_routes_take_the_bare_token_too_and_the_canonical_api_does_not(files_api, user_id, token):
    api = files_api
    alice, bob = [await named(api, token, user_id(name)) for name in ("alice", "bob")]
    room = (await api.direct(alice, bob))["id"]
    bare = {"Authorization": token(alice)}
    uploaded = await api.post("/api/rooms/upload", data=file_form(b"bare\n"), headers=bare)
    assert uploaded.status == 201, uploaded
    sent = await api.post(f"/api/v1/rooms/{room}/messages", alice, json={"attachment_id": uploaded.body["id"]})
    assert sent.status == 201, sent
    for path in ("/api/rooms/check-url/", "/api/rooms/refresh-url/"):
        reply = await api.get(path, params={"message_id": sent.body["id"]}, headers=bare)
        assert reply.status == 200, reply
    reply = await api.get("/api/v1/rooms", headers=bare)  # the canonical API wants `Bearer`
    assert (reply.status, reply.code) == (401, "auth_required")


def test_the_document_describes_both_routes_and_the_bare_token(openapi_document):
    paths = openapi_document["paths"]
    for path in ("/api/conversations", "/api/rooms/{username}/messages"):
        operation = paths[path]["get"]
        assert operation["tags"] == ["conversations"]
        assert operation["security"] == [{"bearer": []}, {"bareToken": []}]
    for path, method in (("/api/rooms/upload", "post"), ("/api/rooms/check-url/", "get")):
        assert paths[path][method]["security"] == [{"bearer": []}, {"bareToken": []}]
    assert paths["/api/v1/rooms"]["get"]["security"] == [{"bearer": []}]
    scheme = openapi_document["components"]["securitySchemes"]["bareToken"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    listed = paths["/api/conversations"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed == {"type": "array", "items": {"$ref": "#/components/schemas/DjangoConversation"}}
    errors = paths["/api/rooms/{username}/messages"]["get"]["responses"]
    assert "`user_not_found`" in errors["404"]["description"]
    assert "`invalid_payload`" in errors["400"]["description"]
