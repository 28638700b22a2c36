"""Seed 002's REST (a Socket.IO + Redis + Bull service) under `/api/v2/chat/`: rooms, messages paged by time,
reactions by an opaque id, errors in the document's `{error, details, code}`; and its monitoring (`/health`,
`/metrics` as JSON).

Real Postgres and Redis; every reply is validated against the OpenAPI document by the `api` client (which also
checks the seed's error shape wherever a reply carries the X-Error-Code header)."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta, timezone

import aiohttp
import pytest

from app.chat.ids import first_id_at
from app.chat.model import Message
from app.rest.bull_seed import reaction_id, reaction_key
from app.storage.messages import insert_batch, seq_from_id
from app.web import SERVICES
from tests.api.conftest import WIRE_TIME, everything_enqueued, stored_messages

V2 = "/api/v2/chat"
QUEUE = {"waiting", "active", "completed", "failed"}


async def signed_in(api, user: str, name: str | None = None) -> str:
    """Sign `user` in (with a display name when given), so the service knows the name."""
    reply = await api.get("/api/v1/me", user, name=name)
    assert reply.status == 200, reply
    return user


async def rooms(api, user: str) -> list[dict]:
    reply = await api.get(f"{V2}/rooms", user)
    assert reply.status == 200, reply
    assert set(reply.body) == {"rooms"}
    return reply.body["rooms"]


async def page(api, user: str, room_id: str, **params) -> dict:
    reply = await api.get(f"{V2}/messages", user, params={"roomId": room_id, **{k: str(v) for k, v in params.items()}})
    assert reply.status == 200, reply
    assert set(reply.body) == {"messages", "hasMore"}
    return reply.body


def contents(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"]]


async def send_all(api, user: str, room_id: str, texts) -> list[dict]:
    """Send each text, a few milliseconds apart (a time cursor tells messages apart by the millisecond)."""
    receipts = []
    for text in texts:
        receipts.append(await api.send(user, room_id, text))
        await asyncio.sleep(0.003)
    return receipts


def seed_error(reply, status: int, code: str, details: str | None = None) -> None:
    """The document's error shape, with the stable code in X-Error-Code (the `api` client checks the rest)."""
    assert (reply.status, reply.code) == (status, code), reply
    assert set(reply.body) == {"error", "details", "code"} and reply.body["code"] == status, reply
    if details is not None:
        assert reply.body["details"] == details, reply


# Rooms.


async def test_creating_a_room_answers_its_participants_in_the_documents_shape(api, user_id):
    alice = await signed_in(api, user_id("alice"), "Alice")
    bob = await signed_in(api, user_id("bob"), "Bob")
    carol = user_id("carol")  # never signed in: no name
    reply = await api.post(f"{V2}/rooms", alice, json={"name": "Launch", "participants": [bob, carol, alice]})
    assert reply.status == 201, reply
    created = reply.body
    assert set(created) == {"id", "name", "type", "participants"}
    assert (created["name"], created["type"]) == ("Launch", "GROUP")
    participants = sorted(created["participants"], key=lambda p: p["user"]["id"])
    expected = sorted(
        [
            {"user": {"id": alice, "name": "Alice", "avatar": None}, "role": "OWNER"},
            {"user": {"id": bob, "name": "Bob", "avatar": None}, "role": "MEMBER"},
            {"user": {"id": carol, "name": carol, "avatar": None}, "role": "MEMBER"},
        ],
        key=lambda p: p["user"]["id"],
    )
    assert [{k: p[k] for k in ("user", "role")} for p in participants] == expected
    assert all(WIRE_TIME.match(p["joinedAt"]) for p in participants)
    # The same room as the canonical API's, owned by the caller.
    canonical = await api.room(bob, created["id"])
    assert (canonical["type"], canonical["owner_id"], canonical["name"]) == ("group", alice, "Launch")


async def test_the_room_list_shows_groups_and_direct_rooms_with_last_message_participants_and_unread(api, user_id):
    alice = await signed_in(api, user_id("alice"), "Alice")
    bob = await signed_in(api, user_id("bob"), "Bob")
    carol = user_id("carol")
    group = (await api.create_group(alice, "Team", [bob, carol]))["id"]
    await send_all(api, alice, group, ["one", "two"])
    direct = (await api.direct(bob, alice))["id"]  # "Direct chat started", by bob
    listed = await rooms(api, alice)
    assert [r["id"] for r in listed] == [direct, group]  # newest activity first
    [with_bob, team] = listed
    assert with_bob == {
        "id": direct,
        "name": "Bob",  # the other member's name
        "type": "DIRECT",
        "lastMessage": {
            "content": "Direct chat started",
            "timestamp": with_bob["lastMessage"]["timestamp"],
            "sender": {"id": bob, "name": "Bob"},
        },
        "participants": with_bob["participants"],
        "unreadCount": 0,  # a system message is not unread (docs/architecture.md, "Read receipts and unread counts")
    }
    assert sorted(p["id"] for p in with_bob["participants"]) == sorted([alice, bob])
    assert team == {
        "id": group,
        "name": "Team",
        "type": "GROUP",
        "lastMessage": {
            "content": "two",
            "timestamp": team["lastMessage"]["timestamp"],
            "sender": {"id": alice, "name": "Alice"},
        },
        "participants": team["participants"],
        "unreadCount": 0,  # her own messages
    }
    assert WIRE_TIME.match(team["lastMessage"]["timestamp"])
    assert sorted(team["participants"], key=lambda p: p["id"]) == sorted(
        [
            {"id": alice, "name": "Alice", "avatar": None},
            {"id": bob, "name": "Bob", "avatar": None},
            {"id": carol, "name": carol, "avatar": None},  # no name: the id
        ],
        key=lambda p: p["id"],
    )
    # Bob's side: the direct room is named after alice; the group's two messages are unread.
    seen = {r["id"]: r for r in await rooms(api, bob)}
    assert (seen[direct]["name"], seen[direct]["unreadCount"]) == ("Alice", 0)
    assert seen[group]["unreadCount"] == 2
    # A direct room with someone without a name is named by their id; one without messages has none.
    quiet = (await api.create_group(carol, "Quiet", [alice]))["id"]
    other = (await api.direct(carol, alice))["id"]
    seen = {r["id"]: r for r in await rooms(api, alice)}
    assert seen[other]["name"] == carol
    assert seen[quiet]["lastMessage"] is None


async def test_the_last_message_is_the_newest_not_deleted(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    group = (await api.create_group(alice, "Team", [bob]))["id"]
    kept, gone = await send_all(api, alice, group, ["kept", "regretted"])
    assert (await api.delete(f"/api/v1/messages/{gone['id']}", alice)).status == 200
    [room] = await rooms(api, bob)
    assert room["lastMessage"] == {
        "content": "kept",
        "timestamp": kept["created_at"],
        "sender": {"id": alice, "name": alice},
    }
    assert (await api.delete(f"/api/v1/messages/{kept['id']}", alice)).status == 200
    [room] = await rooms(api, bob)
    assert room["lastMessage"] is None


async def test_someone_without_rooms_gets_an_empty_list(api, user_id):
    assert await rooms(api, user_id("loner")) == []


# Messages.


async def test_the_newest_page_then_older_pages_by_the_oldest_timestamp(api, user_id):
    alice, bob = await signed_in(api, user_id("alice"), "Alice"), user_id("bob")
    group = (await api.create_group(alice, "Paged", [bob]))["id"]
    receipts = await send_all(api, alice, group, [f"m{n}" for n in range(1, 8)])
    newest = await page(api, bob, group, limit=3)
    assert (contents(newest), newest["hasMore"]) == (["m5", "m6", "m7"], True)
    assert newest["messages"][-1] == {
        "id": receipts[-1]["id"],
        "content": "m7",
        "sender": {"id": alice, "name": "Alice"},
        "timestamp": receipts[-1]["created_at"],
        "type": "TEXT",
        "reactions": [],
    }
    older = await page(api, bob, group, limit=3, before=newest["messages"][0]["timestamp"])
    assert (contents(older), older["hasMore"]) == (["m2", "m3", "m4"], True)
    oldest = await page(api, bob, group, limit=3, before=older["messages"][0]["timestamp"])
    assert (contents(oldest), oldest["hasMore"]) == (["m1"], False)
    # A message id as `before` pages the same way (exactly, whatever the millisecond).
    assert await page(api, bob, group, limit=3, before=newest["messages"][0]["id"]) == older
    # Without `limit`: 50, so all seven; a time after the newest message: all of them too.
    everything = await page(api, bob, group)
    assert (contents(everything), everything["hasMore"]) == ([f"m{n}" for n in range(1, 8)], False)
    assert await page(api, bob, group, before="2999-01-01T00:00:00Z") == everything
    assert await page(api, bob, group, before="2020-01-01T00:00:00.000Z") == {"messages": [], "hasMore": False}
    # Other spellings of a time: an offset, no milliseconds, naive (UTC).
    moment = newest["messages"][0]["timestamp"]  # ...T12:34:56.789Z
    shifted = datetime.fromisoformat(moment).astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")
    assert shifted.endswith("+02:00")
    assert await page(api, bob, group, limit=3, before=shifted) == older
    assert await page(api, bob, group, limit=3, before=moment[:-1]) == older  # naive: UTC


async def test_paging_by_time_spans_messages_in_postgres_and_those_not_yet_persisted(api, user_id, drain):
    alice, bob = user_id("alice"), user_id("bob")
    group = (await api.create_group(alice, "Mixed", [bob]))["id"]
    await send_all(api, alice, group, [f"m{n}" for n in range(1, 7)])
    await everything_enqueued(api)
    await drain()
    assert [row[3] for row in await stored_messages(api, group)] == [f"m{n}" for n in range(1, 7)]
    await send_all(api, bob, group, [f"m{n}" for n in range(7, 11)])  # acknowledged, still in Redis only
    seen, before, has_more = [], None, True
    while has_more:
        body = await page(api, alice, group, limit=3, **({"before": before} if before else {}))
        seen[:0] = contents(body)
        before, has_more = body["messages"][0]["timestamp"], body["hasMore"]
    assert seen == [f"m{n}" for n in range(1, 11)]
    # Each page holds the messages just before the time: m5, m6 (persisted) and m7 (not yet).
    m8 = (await page(api, alice, group))["messages"][7]
    assert contents(await page(api, alice, group, limit=3, before=m8["timestamp"])) == ["m5", "m6", "m7"]
    assert contents(await page(api, alice, group, limit=3, before=m8["id"])) == ["m5", "m6", "m7"]


async def test_an_acknowledged_message_is_readable_at_once(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    group = (await api.create_group(alice, "Now", [bob]))["id"]
    sent = await api.send(bob, group, "just now")
    body = await page(api, alice, group)
    assert [m["id"] for m in body["messages"]] == [sent["id"]]
    assert contents(await page(api, alice, group, before="2999-01-01T00:00:00.000Z")) == ["just now"]


async def test_deleted_messages_are_left_out_and_the_page_is_filled_from_older_ones(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    group = (await api.create_group(alice, "Tidy", [bob]))["id"]
    receipts = await send_all(api, alice, group, ["m1", "m2", "m3", "m4", "m5"])
    for receipt in receipts[3:]:
        assert (await api.delete(f"/api/v1/messages/{receipt['id']}", alice)).status == 200
    body = await page(api, bob, group, limit=2)
    assert (contents(body), body["hasMore"]) == (["m2", "m3"], True)
    rest = await page(api, bob, group, limit=2, before=body["messages"][0]["timestamp"])
    assert (contents(rest), rest["hasMore"]) == (["m1"], False)


async def test_message_types_are_text_system_and_file(api_with, user_id, tmp_path):
    api = await api_with(UPLOAD_DIR=str(tmp_path / "uploads"))
    alice, bob = user_id("alice"), user_id("bob")
    direct = (await api.direct(alice, bob))["id"]
    await api.send(alice, direct, "hello")
    form = aiohttp.FormData()
    form.add_field("file", b"notes\n", filename="notes.txt", content_type="text/plain")
    uploaded = await api.post("/api/v1/attachments", alice, data=form)
    assert uploaded.status == 201, uploaded
    sent = await api.post(
        f"/api/v1/rooms/{direct}/messages", alice, json={"attachment_id": uploaded.body["id"], "content": "caption"}
    )
    assert sent.status == 201, sent
    body = await page(api, bob, direct)
    assert [(m["type"], m["content"]) for m in body["messages"]] == [
        ("SYSTEM", "Direct chat started"),
        ("TEXT", "hello"),
        ("FILE", "caption"),
    ]


async def test_type_direct_keeps_to_direct_rooms(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    direct = (await api.direct(alice, bob))["id"]
    group = (await api.create_group(alice, "Team", [bob]))["id"]
    await api.send(alice, direct, "psst")
    await api.send(alice, group, "all")
    assert contents(await page(api, bob, direct, type="direct")) == ["Direct chat started", "psst"]
    assert await page(api, bob, group, type="direct") == {"messages": [], "hasMore": False}
    assert contents(await page(api, bob, group, type="GROUP")) == ["all"]
    seed_error(
        await api.get(f"{V2}/messages", bob, params={"roomId": group, "type": "channel"}), 400, "invalid_payload"
    )
    # Someone else's room stays refused, whatever the type.
    carol = user_id("carol")
    seed_error(await api.get(f"{V2}/messages", carol, params={"roomId": group, "type": "direct"}), 403, "not_member")


async def test_limit_is_lowered_to_history_page_max(api_with, user_id):
    api = await api_with(HISTORY_PAGE_MAX=3)
    alice = user_id("alice")
    group = (await api.create_group(alice, "Small"))["id"]
    await send_all(api, alice, group, [f"m{n}" for n in range(1, 6)])
    body = await page(api, alice, group, limit=50)
    assert (contents(body), body["hasMore"]) == (["m3", "m4", "m5"], True)
    body = await page(api, alice, group)  # the default (50) too
    assert (contents(body), body["hasMore"]) == (["m3", "m4", "m5"], True)


async def test_history_errors_are_in_the_documents_shape(api, user_id):
    alice, mallory = user_id("alice"), user_id("mallory")
    group = (await api.create_group(alice, "Private"))["id"]
    elsewhere = (await api.create_group(alice, "Elsewhere"))["id"]
    other = await api.send(alice, elsewhere, "not in that room")
    await api.send(alice, group, "secret")
    reply = await api.get(f"{V2}/messages", alice)
    seed_error(reply, 400, "invalid_payload", "roomId: Missing data for required field.")
    reply = await api.get(f"{V2}/messages", alice, params={"roomId": group, "limit": "0"})
    seed_error(reply, 400, "invalid_payload", "limit: Must be greater than or equal to 1.")
    reply = await api.get(f"{V2}/messages", alice, params={"roomId": group, "before": "yesterday"})
    seed_error(reply, 400, "invalid_payload", "before: must be an ISO 8601 time or a message id")
    seed_error(await api.get(f"{V2}/messages", mallory, params={"roomId": group}), 403, "not_member")
    seed_error(await api.get(f"{V2}/messages", alice, params={"roomId": "777777777777"}), 404, "room_not_found")
    reply = await api.get(f"{V2}/messages", alice, params={"roomId": group, "before": other["id"]})
    seed_error(reply, 404, "message_not_found")
    reply = await api.get(f"{V2}/messages", alice, params={"roomId": group, "before": "0123"})
    seed_error(reply, 400, "invalid_payload")
    reply = await api.get(f"{V2}/messages", params={"roomId": group})
    seed_error(reply, 401, "auth_required", None)
    assert reply.body["details"] is None
    reply = await api.get(f"{V2}/messages", params={"roomId": group}, headers={"Authorization": "Bearer nope"})
    seed_error(reply, 401, "invalid_token")
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


# Reactions.


async def test_reactions_are_added_listed_and_removed_by_their_id(api, user_id):
    alice = await signed_in(api, user_id("alice"), "Alice")
    bob = await signed_in(api, user_id("bob"), "Bob")
    group = (await api.create_group(alice, "Fun", [bob]))["id"]
    message = await api.send(bob, group, "react to me")
    reply = await api.post(f"{V2}/reactions", alice, json={"messageId": message["id"], "emoji": "🎉"})
    assert reply.status == 201, reply
    added = reply.body
    assert added == {"id": added["id"], "emoji": "🎉", "messageId": message["id"], "userId": alice}
    assert reaction_key(added["id"]) == (message["id"], "🎉", alice)
    again = await api.post(f"{V2}/reactions", alice, json={"messageId": message["id"], "emoji": "🎉"})
    assert (again.status, again.body) == (200, added)  # there already: the same reaction
    bobs = await api.post(f"{V2}/reactions", bob, json={"messageId": message["id"], "emoji": "🎉"})
    assert bobs.status == 201 and bobs.body["id"] != added["id"]
    thumbs = await api.post(f"{V2}/reactions", bob, json={"messageId": int(message["id"]), "emoji": "👍"})
    assert thumbs.status == 201 and thumbs.body["messageId"] == message["id"]
    [shown] = (await page(api, alice, group))["messages"]
    assert shown["reactions"] == [
        {"emoji": "🎉", "users": [{"id": alice, "name": "Alice"}, {"id": bob, "name": "Bob"}]},
        {"emoji": "👍", "users": [{"id": bob, "name": "Bob"}]},
    ]
    # Only one's own: bob cannot remove alice's, whose id names her reaction.
    seed_error(await api.delete(f"{V2}/reactions/{added['id']}", bob), 404, "reaction_not_found")
    removed = await api.delete(f"{V2}/reactions/{added['id']}", alice)
    assert (removed.status, removed.body) == (200, {"success": True})
    seed_error(await api.delete(f"{V2}/reactions/{added['id']}", alice), 404, "reaction_not_found")  # gone
    [shown] = (await page(api, bob, group))["messages"]
    assert shown["reactions"] == [
        {"emoji": "🎉", "users": [{"id": bob, "name": "Bob"}]},
        {"emoji": "👍", "users": [{"id": bob, "name": "Bob"}]},
    ]
    # The canonical API sees the same reactions.
    canonical = await api.get(f"/api/v1/messages/{message['id']}", alice)
    assert [(g["emoji"], g["user_ids"]) for g in canonical.body["reactions"]] == [("🎉", [bob]), ("👍", [bob])]


async def test_malformed_or_made_up_reaction_ids_are_404(api, user_id):
    alice = user_id("alice")
    group = (await api.create_group(alice, "Ids"))["id"]
    message = await api.send(alice, group, "hi")
    made_up = [
        "garbage!",
        "Zm9v",  # "foo"
        base64.urlsafe_b64encode(b"\xff\xfe:x:y").decode().rstrip("="),
        reaction_id("12x", "🎉", alice),
        reaction_id(message["id"], "🎉", alice),  # the right shape, but she never reacted
        reaction_id(message["id"], "not an emoji", alice),
        reaction_id("777777777777", "🎉", alice),
    ]
    for value in made_up:
        seed_error(await api.delete(f"{V2}/reactions/{value}", alice), 404, "reaction_not_found")


async def test_reaction_errors_are_in_the_documents_shape(api, user_id):
    alice, mallory = user_id("alice"), user_id("mallory")
    group = (await api.create_group(alice, "Errors"))["id"]
    message = await api.send(alice, group, "hi")
    reply = await api.post(f"{V2}/reactions", alice, json={"messageId": message["id"], "emoji": "plus one"})
    seed_error(reply, 400, "invalid_emoji", "emoji: not one emoji")
    reply = await api.post(f"{V2}/reactions", alice, json={"emoji": "🎉"})
    seed_error(reply, 400, "invalid_payload", "messageId: Missing data for required field.")
    reply = await api.post(f"{V2}/reactions", mallory, json={"messageId": message["id"], "emoji": "🎉"})
    seed_error(reply, 404, "message_not_found")  # not her room: as if there were no such message
    added = (await api.post(f"{V2}/reactions", alice, json={"messageId": message["id"], "emoji": "🎉"})).body
    assert (await api.delete(f"/api/v1/messages/{message['id']}", alice)).status == 200
    reply = await api.post(f"{V2}/reactions", alice, json={"messageId": message["id"], "emoji": "🎉"})
    seed_error(reply, 409, "message_deleted")
    seed_error(await api.delete(f"{V2}/reactions/{added['id']}", alice), 404, "reaction_not_found")


async def test_the_first_seq_made_from_a_time_is_found_by_binary_search_in_postgres(api, user_id):
    """`seq_from_id` against a scan, over a persisted room with holes (seqs not persisted yet)."""
    services = api.app[SERVICES]
    alice = user_id("alice")
    room = (await api.create_group(alice, "Search"))["id"]
    start = datetime.now(UTC) - timedelta(hours=1)
    holes = set(range(40, 52)) | {1, 2, 117, 200}
    records = [
        Message(
            id=str(first_id_at(start + timedelta(milliseconds=10 * seq)) + 7),
            room_id=room,
            seq=seq,
            sender_id=alice,
            type="text",
            content=f"m{seq}",
            client_ref=None,
            created_at=start + timedelta(milliseconds=10 * seq),
        ).record()
        for seq in range(1, 201)
        if seq not in holes
    ]
    await services.db.run(insert_batch, services.db.db, records)
    ids = {record["seq"]: int(record["id"]) for record in records}
    for probe in (0, 1, 5, 39, 40, 45, 52, 53, 116, 117, 118, 150, 199, 200, 201, 250):
        bound = first_id_at(start + timedelta(milliseconds=10 * probe))
        expected = min((seq for seq, i in ids.items() if i >= bound), default=None)
        assert await services.db.run(seq_from_id, room, bound) == expected, probe
    assert await services.db.run(seq_from_id, "777777777777", 0) is None


def test_reaction_ids_are_url_safe_and_read_back():
    for key in (("1", "🎉", "alice"), ("123456789012345678", "👍🏽", "a:b/c?d"), ("9", "🇫🇷", "名前")):
        value = reaction_id(*key)
        assert value.replace("-", "").replace("_", "").isalnum() and "=" not in value
        assert reaction_key(value) == key


# Common to the routes: tenant header, tokens, errors before the handler.


async def test_the_tenant_header_is_accepted_and_ignored(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    tenant = {"x-tenant-tag": "acme"}
    created = await api.post(f"{V2}/rooms", alice, json={"name": "T", "participants": [bob]}, headers=tenant)
    assert created.status == 201, created
    room = created.body["id"]
    message = await api.send(alice, room, "hi")
    assert (await api.get(f"{V2}/rooms", bob, headers=tenant)).body == (await api.get(f"{V2}/rooms", bob)).body
    with_tag = await api.get(f"{V2}/messages", bob, params={"roomId": room}, headers=tenant)
    assert with_tag.body == await page(api, bob, room)
    added = await api.post(f"{V2}/reactions", bob, json={"messageId": message["id"], "emoji": "🎉"}, headers=tenant)
    assert added.status == 201, added
    removed = await api.delete(f"{V2}/reactions/{added.body['id']}", bob, headers={"x-tenant-tag": "other"})
    assert (removed.status, removed.body) == (200, {"success": True})


async def test_room_creation_errors_are_in_the_documents_shape(api_with, user_id):
    api = await api_with(MAX_FRAME_BYTES=1024)
    alice = user_id("alice")
    reply = await api.post(f"{V2}/rooms", alice, json={"participants": []})
    seed_error(reply, 400, "invalid_payload", "name: Missing data for required field.")
    reply = await api.post(f"{V2}/rooms", alice, json={"name": "T", "participants": [True]})
    seed_error(reply, 400, "invalid_payload", "participants: 0: must be a string or an integer")
    reply = await api.post(f"{V2}/rooms", alice, data=b"{not json", headers={"Content-Type": "application/json"})
    seed_error(reply, 400, "invalid_payload", None)
    reply = await api.post(f"{V2}/rooms", alice, json={"name": "x" * 2000})
    seed_error(reply, 413, "payload_too_large")
    seed_error(await api.post(f"{V2}/rooms", json={"name": "T"}), 401, "auth_required")


async def test_a_rate_limited_request_gets_the_documents_shape_and_retry_after(api_with, user_id):
    api = await api_with(API_RATE=0.2, API_BURST=1)
    alice = user_id("alice")
    assert (await api.get(f"{V2}/rooms", alice)).status == 200
    reply = await api.get(f"{V2}/rooms", alice)
    seed_error(reply, 429, "rate_limited")
    assert reply.body["details"].startswith("retry_after: ")
    assert int(reply.headers["Retry-After"]) >= 1


async def test_the_canonical_routes_keep_their_error_shape(api, user_id):
    reply = await api.get("/api/v1/rooms/777777777777", user_id("alice"))
    assert (reply.status, reply.body["code"], reply.body["status"]) == (404, "room_not_found", 404)
    assert "X-Error-Code" not in reply.headers


# Monitoring.


async def test_health_is_ok_with_a_timestamp(api):
    reply = await api.get("/health")
    assert (reply.status, set(reply.body), reply.body["status"]) == (200, {"status", "timestamp"}, "ok")
    assert WIRE_TIME.match(reply.body["timestamp"])


@pytest.mark.parametrize("ask", [{"headers": {"Accept": "application/json"}}, {"params": {"format": "json"}}])
async def test_metrics_as_json_have_the_documents_shape(api, ask):
    reply = await api.get("/metrics", **ask)
    assert (reply.status, reply.headers["Content-Type"].split(";")[0]) == (200, "application/json"), reply
    metrics = reply.body
    assert set(metrics) == {
        "connections",
        "messageQueueJobs",
        "presenceQueueJobs",
        "notificationQueueJobs",  # an addition: the third queue
        "memoryUsage",
        "uptime",
    }
    for queue in ("messageQueueJobs", "presenceQueueJobs", "notificationQueueJobs"):
        assert set(metrics[queue]) == QUEUE and all(isinstance(v, int) and v >= 0 for v in metrics[queue].values())
    assert set(metrics["memoryUsage"]) == {"heapUsed", "heapTotal", "external", "arrayBuffers"}
    assert metrics["memoryUsage"]["heapUsed"] > 0 and metrics["uptime"] >= 0
    assert isinstance(metrics["connections"], int)
    # Prometheus text stays the default.
    text = await api.get("/metrics")
    assert text.headers["Content-Type"].startswith("text/plain") and b"chat_" in text.raw


# The document.


def test_the_document_describes_the_routes_their_error_shape_and_the_tenant_header(openapi_document):
    paths = openapi_document["paths"]
    operations = [
        paths[f"{V2}/rooms"]["get"],
        paths[f"{V2}/rooms"]["post"],
        paths[f"{V2}/messages"]["get"],
        paths[f"{V2}/reactions"]["post"],
        paths[f"{V2}/reactions/{{reactionId}}"]["delete"],
    ]
    for operation in operations:
        assert operation["security"] == [{"bearer": []}]
        assert {"name": "x-tenant-tag", "in": "header"}.items() <= next(
            p for p in operation["parameters"] if p["in"] == "header"
        ).items()
        errors = {status: r for status, r in operation["responses"].items() if status >= "400"}
        assert "401" in errors
        for response in errors.values():
            assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/BullError"}
            assert "X-Error-Code" in response["headers"]
    error = openapi_document["components"]["schemas"]["BullError"]
    assert error["properties"]["code"]["type"] == "integer"
    assert error["properties"]["details"]["type"] == ["string", "null"]
    assert set(error["required"]) == {"error", "details", "code"}
    assert (
        "`reaction_not_found`" in paths[f"{V2}/reactions/{{reactionId}}"]["delete"]["responses"]["404"]["description"]
    )
    assert set(paths[f"{V2}/reactions"]["post"]["responses"]) >= {"200", "201"}
    health = openapi_document["components"]["schemas"]["Health"]
    assert set(health["required"]) == {"status", "timestamp"}
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert metrics["application/json"]["schema"] == {"$ref": "#/components/schemas/QueueMetrics"}
    # The canonical routes keep the canonical error body.
    assert paths["/api/v1/rooms"]["get"]["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
