"""Sending over REST: receipts, idempotent resends by client_ref, and content checks (nothing stored on refusal)."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import WIRE_TIME, field_errors


async def _nothing_stored(api, user: str, room_id: str) -> None:
    page = await api.history(user, room_id)
    assert (page["messages"], page["last_seq"]) == ([], 0)


@pytest.fixture
async def room(api, user_id):
    owner, bob = user_id("owner"), user_id("bob")
    created = await api.create_group(owner, "Send", [bob])
    return created["id"], owner, bob


async def test_a_sent_message_is_acknowledged_with_a_receipt(api, room):
    room_id, owner, _bob = room
    reply = await api.post(f"/api/v1/rooms/{room_id}/messages", owner, json={"content": "hello", "client_ref": "c-1"})
    assert reply.status == 201
    receipt = reply.body
    assert set(receipt) == {"status", "id", "room_id", "seq", "client_ref", "created_at", "duplicate"}
    assert (receipt["status"], receipt["room_id"], receipt["seq"]) == ("sent", room_id, 1)
    assert (receipt["client_ref"], receipt["duplicate"]) == ("c-1", False)
    assert re.fullmatch(r"[1-9]\d*", receipt["id"])
    assert WIRE_TIME.match(receipt["created_at"])


async def test_messages_get_gap_free_seqs_and_increasing_ids_in_sending_order(api, room):
    room_id, owner, bob = room
    receipts = [await api.send(user, room_id, f"m{i}") for i, user in enumerate([owner, bob, owner, bob, owner])]
    assert [r["seq"] for r in receipts] == [1, 2, 3, 4, 5]
    ids = [int(r["id"]) for r in receipts]
    assert ids == sorted(ids) and len(set(ids)) == 5


async def test_a_message_without_client_ref_is_stored_each_time(api, room):
    room_id, owner, _bob = room
    first = await api.send(owner, room_id, "same words")
    second = await api.send(owner, room_id, "same words")
    assert (first["client_ref"], second["client_ref"]) == (None, None)
    assert (first["seq"], second["seq"]) == (1, 2)
    assert len((await api.history(owner, room_id))["messages"]) == 2


async def test_resending_the_same_client_ref_returns_the_first_receipt_and_stores_nothing(api, room):
    room_id, owner, bob = room
    first = await api.post(f"/api/v1/rooms/{room_id}/messages", owner, json={"content": "once", "client_ref": "r-1"})
    assert first.status == 201
    for content in ("once", "changed my mind"):
        again = await api.post(
            f"/api/v1/rooms/{room_id}/messages", owner, json={"content": content, "client_ref": "r-1"}
        )
        assert again.status == 200
        assert again.body == {**first.body, "duplicate": True}
    page = await api.history(bob, room_id)
    assert [(m["id"], m["seq"], m["content"]) for m in page["messages"]] == [(first.body["id"], 1, "once")]
    assert page["last_seq"] == 1
    # The room moves on normally afterwards.
    assert (await api.send(owner, room_id, "next", client_ref="r-2"))["seq"] == 2


async def test_client_refs_belong_to_their_sender(api, room):
    room_id, owner, bob = room
    mine = await api.send(owner, room_id, "from owner", client_ref="shared-ref")
    theirs = await api.send(bob, room_id, "from bob", client_ref="shared-ref")
    assert (mine["seq"], theirs["seq"]) == (1, 2)
    assert mine["id"] != theirs["id"]


async def test_a_client_ref_already_used_in_another_room_is_refused(api, room, user_id):
    room_id, owner, _bob = room
    other = await api.create_group(owner, "Other")
    await api.send(owner, room_id, "first", client_ref="moved")
    reply = await api.post(f"/api/v1/rooms/{other['id']}/messages", owner, json={"content": "x", "client_ref": "moved"})
    assert (reply.status, reply.code) == (409, "duplicate_client_ref")
    await _nothing_stored(api, owner, other["id"])
    assert (await api.history(owner, room_id))["last_seq"] == 1


@pytest.mark.parametrize("content", ["", " ", "\n\t  \r\n", "\u3000"])
async def test_empty_or_blank_content_is_refused(api, room, content):
    room_id, owner, _bob = room
    reply = await api.post(f"/api/v1/rooms/{room_id}/messages", owner, json={"content": content})
    assert (reply.status, reply.code) == (400, "content_empty")
    await _nothing_stored(api, owner, room_id)


async def test_content_longer_than_max_message_length_is_refused(api_with, user_id):
    api = await api_with(MAX_MESSAGE_LENGTH=10)
    owner = user_id("owner")
    room_id = (await api.create_group(owner, "Short"))["id"]
    reply = await api.post(f"/api/v1/rooms/{room_id}/messages", owner, json={"content": "x" * 11})
    assert (reply.status, reply.code) == (400, "content_too_long")
    assert reply.body["details"] == {"max_length": 10, "length": 11}
    await _nothing_stored(api, owner, room_id)
    # The limit counts characters, not bytes, and is inclusive.
    for content in ("x" * 10, "é" * 10, "😀" * 10):
        await api.send(owner, room_id, content)
    assert [m["content"] for m in (await api.history(owner, room_id))["messages"]] == ["x" * 10, "é" * 10, "😀" * 10]


async def test_content_with_a_nul_character_is_refused(api, room):
    room_id, owner, _bob = room
    reply = await api.post(f"/api/v1/rooms/{room_id}/messages", owner, json={"content": "a\x00b"})
    assert (reply.status, reply.code) == (400, "content_invalid")
    await _nothing_stored(api, owner, room_id)


async def test_content_with_a_lone_surrogate_is_refused(api, room):
    room_id, owner, _bob = room
    reply = await api.post(
        f"/api/v1/rooms/{room_id}/messages",
        owner,
        data=b'{"content": "broken \\ud800 text"}',
        headers={"Content-Type": "application/json"},
    )
    assert (reply.status, reply.code) == (400, "invalid_payload")
    await _nothing_stored(api, owner, room_id)


async def test_unicode_content_is_kept_exactly(api, room):
    room_id, owner, bob = room
    content = '  Grüße 👋🏽 — <b>&amp;</b> "quoted" \\ back\nsecond line  '
    await api.send(owner, room_id, content)
    assert (await api.history(bob, room_id))["messages"][0]["content"] == content


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"content"}),
        ({"content": None}, {"content"}),
        ({"content": 42}, {"content"}),
        ({"content": ["hi"]}, {"content"}),
        ({"content": "hi", "client_ref": 7}, {"client_ref"}),
        ({"content": "hi", "type": "sticker"}, {"type"}),
        ({"content": "hi", "sender_id": "someone-else"}, {"sender_id"}),
        ({"content": "hi", "room_id": "1"}, {"room_id"}),
        ({"content": "hi", "seq": 1}, {"seq"}),
    ],
    ids=["missing", "null", "number", "list", "client-ref-number", "type", "sender", "room", "seq"],
)
async def test_a_malformed_message_is_refused_naming_the_field(api, room, body, fields):
    room_id, owner, _bob = room
    reply = await api.post(f"/api/v1/rooms/{room_id}/messages", owner, json=body)
    assert (reply.status, reply.code) == (400, "invalid_payload")
    assert set(field_errors(reply)) == fields
    await _nothing_stored(api, owner, room_id)


@pytest.mark.parametrize("client_ref", ["", "x" * 129, "line\nbreak"])
async def test_an_unusable_client_ref_is_refused(api, room, client_ref):
    room_id, owner, _bob = room
    reply = await api.post(f"/api/v1/rooms/{room_id}/messages", owner, json={"content": "hi", "client_ref": client_ref})
    assert (reply.status, reply.code) == (400, "invalid_payload")
    await _nothing_stored(api, owner, room_id)


@pytest.mark.parametrize("body", [b"[]", b'"hello"', b"null", b"42"])
async def test_a_body_that_is_not_an_object_is_refused(api, room, body):
    room_id, owner, _bob = room
    reply = await api.post(
        f"/api/v1/rooms/{room_id}/messages", owner, data=body, headers={"Content-Type": "application/json"}
    )
    assert (reply.status, reply.code) == (400, "invalid_payload")
    await _nothing_stored(api, owner, room_id)


async def test_only_members_send(api, room, user_id):
    room_id, owner, _bob = room
    reply = await api.post(f"/api/v1/rooms/{room_id}/messages", user_id("outsider"), json={"content": "let me in"})
    assert (reply.status, reply.code) == (403, "not_member")
    await _nothing_stored(api, owner, room_id)


@pytest.mark.parametrize("room_id", ["999999999999", "abc"])
async def test_sending_to_an_unknown_room_is_room_not_found(api, user_id, room_id):
    reply = await api.post(f"/api/v1/rooms/{room_id}/messages", user_id("alice"), json={"content": "anyone?"})
    assert (reply.status, reply.code) == (404, "room_not_found")


async def test_sending_too_fast_is_rate_limited_and_stores_nothing(api_with, user_id):
    api = await api_with(MESSAGE_RATE=0.1, MESSAGE_BURST=2)
    owner = user_id("owner")
    room_id = (await api.create_group(owner, "Slow"))["id"]
    await api.send(owner, room_id, "one")
    await api.send(owner, room_id, "two")
    reply = await api.post(f"/api/v1/rooms/{room_id}/messages", owner, json={"content": "three"})
    assert (reply.status, reply.code) == (429, "rate_limited")
    assert reply.body["details"]["retry_after"] > 0
    assert int(reply.headers["Retry-After"]) >= reply.body["details"]["retry_after"]
    assert [m["content"] for m in (await api.history(owner, room_id))["messages"]] == ["one", "two"]
