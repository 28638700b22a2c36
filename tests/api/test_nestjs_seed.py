"""Seed 001's REST routes (a NestJS service): `POST /api/chats/conversations` and
`GET /api/chats/conversations/{id}/messages`, ids as JSON numbers, errors in class-validator's wording.

Real Postgres and Redis; every reply is validated against the OpenAPI document by the `api` client."""

from __future__ import annotations

import random
import re

import pytest

from app.chat.ids import MAX_SAFE_INTEGER, message_alias
from tests.api.conftest import WIRE_TIME

CONVERSATIONS = "/api/chats/conversations"


@pytest.fixture
def numeric():
    """Unique numeric user ids (decimal strings, as tokens carry them), so tests never share users."""

    def make() -> str:
        return str(random.randrange(10**9, 10**15))

    return make


def number_in(raw: bytes, key: str, value: object) -> bool:
    """Whether the raw JSON has `"key": <value>` as a bare number (not a string)."""
    return re.search(rb'"%s":\s*%s[,}]' % (key.encode(), str(value).encode()), raw) is not None


def messages_path(conversation_id: int | str) -> str:
    return f"{CONVERSATIONS}/{conversation_id}/messages"


async def conversation(api, caller: str, sender: object, receiver: object, status: int = 201) -> dict:
    reply = await api.post(CONVERSATIONS, caller, json={"sender_id": sender, "receiver_id": receiver})
    assert reply.status == status, reply
    return reply.body


async def page_of(api, caller: str, conversation_id: int, **params) -> list[dict]:
    reply = await api.get(messages_path(conversation_id), caller, params={k: str(v) for k, v in params.items()})
    assert reply.status == 200, reply
    assert isinstance(reply.body, list), reply
    return reply.body


async def refused(api, caller: str, body: object) -> str:
    """POST a bad body: a 400 `invalid_payload`; its message."""
    reply = await api.post(CONVERSATIONS, caller, json=body)
    assert (reply.status, reply.code) == (400, "invalid_payload"), reply
    return reply.body["error"]


# POST /api/chats/conversations.


async def test_the_pair_gets_one_conversation_from_either_side_with_numbers(api, numeric):
    a, b = sorted((numeric(), numeric()), key=int)
    first = await conversation(api, a, int(a), int(b))
    assert set(first) == {"id", "sender_id", "receiver_id", "created_at", "updated_at"}
    assert (first["sender_id"], first["receiver_id"]) == (int(a), int(b))
    assert isinstance(first["id"], int) and not isinstance(first["id"], bool)
    assert WIRE_TIME.match(first["created_at"]) and first["updated_at"] == first["created_at"]
    # The same conversation on every later call: again, from the other side, and with the caller as receiver.
    assert await conversation(api, a, int(a), int(b), status=200) == first
    assert await conversation(api, b, int(b), int(a), status=200) == first
    assert await conversation(api, b, int(a), int(b), status=200) == first
    # It is the pair's one direct room, the one every dialect uses.
    assert (await api.direct(b, a))["id"] == str(first["id"])
    # Numbers on the wire, not strings.
    raw = (await api.post(CONVERSATIONS, a, json={"sender_id": int(a), "receiver_id": int(b)})).raw
    assert number_in(raw, "sender_id", a) and number_in(raw, "id", first["id"])


async def test_the_pair_is_in_a_stable_order_whoever_asks_first(api, numeric):
    low, high = sorted((numeric(), numeric()), key=int)
    created = await conversation(api, high, int(high), int(low))  # the higher id asks first
    assert (created["sender_id"], created["receiver_id"]) == (int(low), int(high))
    # Numbers by value, not as text: 9 comes before 10.
    small, large = str(random.randrange(9 * 10**9, 10**10)), str(random.randrange(10**14, 2 * 10**14))
    assert small > large  # as text the order would flip
    created = await conversation(api, large, int(large), int(small))
    assert (created["sender_id"], created["receiver_id"]) == (int(small), int(large))


async def test_a_user_whose_id_is_not_a_number_goes_as_the_string_it_is(api, numeric, user_id):
    alice, one = user_id("alice"), numeric()
    created = await conversation(api, alice, alice, int(one))
    # Numbers before the ids that are not numbers; each in the type it is shown in.
    assert (created["sender_id"], created["receiver_id"]) == (int(one), alice)
    assert await conversation(api, one, int(one), alice, status=200) == created
    # A numeric id is a number, never its string: "1" is refused even though user 1 exists.
    assert (
        await refused(api, alice, {"sender_id": alice, "receiver_id": one}) == "receiver_id must be an integer number"
    )


async def test_bad_ids_are_refused_in_class_validator_wording_and_nothing_is_created(api, numeric):
    me, other = numeric(), numeric()
    assert await refused(api, me, {"sender_id": me, "receiver_id": int(other)}) == "sender_id must be an integer number"
    assert await refused(api, me, {"sender_id": int(me)}) == (
        "receiver_id should not be empty, receiver_id must be an integer number"
    )
    both_missing = (
        "sender_id should not be empty, sender_id must be an integer number, "
        "receiver_id should not be empty, receiver_id must be an integer number"
    )
    assert await refused(api, me, {}) == both_missing
    assert await refused(api, me, [int(me), int(other)]) == both_missing  # not an object: nothing is there
    assert await refused(api, me, {"sender_id": None, "receiver_id": ""}) == both_missing
    for bad in (1.5, True, [1], {"id": 1}):
        message = await refused(api, me, {"sender_id": int(me), "receiver_id": bad})
        assert message == "receiver_id must be an integer number", bad
    reply = await api.post(CONVERSATIONS, me, json={"sender_id": me, "receiver_id": str(other)})
    assert reply.body["details"]["fields"] == {
        "sender_id": ["sender_id must be an integer number"],
        "receiver_id": ["receiver_id must be an integer number"],
    }
    assert await api.rooms(me) == []


async def test_numbers_beyond_what_javascript_holds_exactly_are_refused(api, numeric):
    me = numeric()
    for too_big in (2**53, 2**53 + 1, 2**63, 2**64, 10**30, "1e300"):
        # As the bytes a client writes: the test client's JSON encoder stops at 64 bits.
        reply = await api.post(
            CONVERSATIONS,
            me,
            data=f'{{"sender_id": {me}, "receiver_id": {too_big}}}',
            headers={"Content-Type": "application/json"},
        )
        assert (reply.status, reply.code) == (400, "invalid_payload"), reply
        assert reply.body["error"] == f"receiver_id must not be greater than {MAX_SAFE_INTEGER}", too_big
    assert await refused(api, me, {"sender_id": -int(me), "receiver_id": 1}) == "sender_id must not be less than 0"
    assert await api.rooms(me) == []
    # The largest exact one is a user id like any other.
    reply = await api.post(CONVERSATIONS, me, json={"sender_id": int(me), "receiver_id": MAX_SAFE_INTEGER})
    assert reply.status in (200, 201), reply
    created = reply.body
    assert (created["sender_id"], created["receiver_id"]) == (int(me), MAX_SAFE_INTEGER)


async def test_only_one_of_the_pair_may_ask_for_its_conversation(api, numeric):
    a, b, carol = numeric(), numeric(), numeric()
    reply = await api.post(CONVERSATIONS, carol, json={"sender_id": int(a), "receiver_id": int(b)})
    assert (reply.status, reply.code) == (403, "not_member"), reply
    assert await api.rooms(a) == [] and await api.rooms(carol) == []
    reply = await api.post(CONVERSATIONS, json={"sender_id": int(a), "receiver_id": int(b)})
    assert (reply.status, reply.code) == (401, "auth_required"), reply


# GET /api/chats/conversations/{id}/messages.


async def chat_of(api, a: str, b: str, count: int) -> tuple[dict, list[dict]]:
    """The pair's conversation and `count` messages sent in it over the canonical API (m0 oldest), alternating."""
    created = await conversation(api, a, int(a), int(b))
    room = str(created["id"])
    sent = [await api.send((a, b)[i % 2], room, f"m{i}") for i in range(count)]
    return created, sent


async def test_page_one_is_the_newest_and_each_page_is_oldest_first(api, numeric):
    a, b = sorted((numeric(), numeric()), key=int)
    created, _sent = await chat_of(api, a, b, 25)
    cid = created["id"]

    def contents(items: list[dict]) -> list[str]:
        return [item["content"] for item in items]

    assert contents(await page_of(api, a, cid, page=1, limit=10)) == [f"m{i}" for i in range(15, 25)]
    assert contents(await page_of(api, b, cid, page=2, limit=10)) == [f"m{i}" for i in range(5, 15)]
    # The last page is short: the conversation's first entry, "Direct chat started", is not a 001 message.
    assert contents(await page_of(api, a, cid, page=3, limit=10)) == [f"m{i}" for i in range(0, 5)]
    assert await page_of(api, a, cid, page=4, limit=10) == []
    assert await page_of(api, a, cid, page=MAX_SAFE_INTEGER, limit=100) == []
    # Defaults: page 1, 20 messages.
    assert contents(await page_of(api, a, cid)) == [f"m{i}" for i in range(5, 25)]
    assert contents(await page_of(api, a, cid, limit=100)) == [f"m{i}" for i in range(25)]
    assert contents(await page_of(api, a, cid, page=2)) == [f"m{i}" for i in range(5)]
    assert contents(await page_of(api, a, cid, limit=1)) == ["m24"]


async def test_each_item_has_the_receive_message_fields_with_numbers(api, numeric):
    a, b = sorted((numeric(), numeric()), key=int)
    created, sent = await chat_of(api, a, b, 3)
    items = await page_of(api, b, created["id"])
    reference = {"id": created["id"], "sender_id": int(a), "receiver_id": int(b)}
    assert [item["sender_id"] for item in items] == [int(a), int(b), int(a)]
    for i, (item, receipt) in enumerate(zip(items, sent, strict=True)):
        assert set(item) == {
            "id", "sender_id", "conversation_id", "timestamp", "message_type", "content", "conversation",
        }  # fmt: skip
        assert (item["conversation_id"], item["conversation"]) == (created["id"], reference)
        assert (item["message_type"], item["content"]) == ("text", f"m{i}")
        assert (item["id"], item["timestamp"]) == (
            message_alias(receipt["room_id"], receipt["seq"]),
            receipt["created_at"],
        )
    raw = (await api.get(messages_path(created["id"]), a)).raw
    assert number_in(raw, "conversation_id", created["id"]) and number_in(raw, "sender_id", a)


async def test_message_ids_are_the_unique_aliases_of_room_and_seq(api, numeric):
    a, b = numeric(), numeric()
    created, _sent = await chat_of(api, a, b, 12)
    room = str(created["id"])
    canonical = (await api.history(a, room, limit=50))["messages"]
    expected = [message_alias(room, m["seq"]) for m in canonical if m["type"] != "system"]
    items = [*await page_of(api, a, created["id"], page=2, limit=5), *await page_of(api, a, created["id"], limit=5)]
    items = [*await page_of(api, a, created["id"], page=3, limit=5), *items]
    ids = [item["id"] for item in items]
    assert ids == expected and len(set(ids)) == 12
    assert all(isinstance(i, int) and 0 < i <= MAX_SAFE_INTEGER for i in ids)
    assert all(i >> 32 == int(room) for i in ids)  # room id * 2**32 + seq
    # Another conversation's aliases never meet these.
    other, _ = await chat_of(api, a, numeric(), 2)
    assert not {item["id"] for item in await page_of(api, a, other["id"])} & set(ids)


async def test_deleted_messages_are_left_out(api, numeric):
    a, b = numeric(), numeric()
    created, sent = await chat_of(api, a, b, 4)
    reply = await api.delete(f"/api/v1/messages/{sent[1]['id']}", b)
    assert reply.status in (200, 204), reply
    assert [item["content"] for item in await page_of(api, a, created["id"])] == ["m0", "m2", "m3"]


async def test_pages_stay_exact_when_history_pages_are_smaller(api_with, numeric):
    api = await api_with(HISTORY_PAGE_MAX=3)
    a, b = numeric(), numeric()
    created, _sent = await chat_of(api, a, b, 12)
    items = await page_of(api, a, created["id"], page=1, limit=10)
    assert [item["content"] for item in items] == [f"m{i}" for i in range(2, 12)]
    assert [item["content"] for item in await page_of(api, a, created["id"], page=2, limit=10)] == ["m0", "m1"]


async def test_bad_paging_is_refused_in_class_validator_wording(api, numeric):
    a, b = numeric(), numeric()
    created = await conversation(api, a, int(a), int(b))
    cases = {
        ("page", "0"): "page must not be less than 1",
        ("page", "-3"): "page must not be less than 1",
        ("page", "1.5"): "page must be an integer number",
        ("page", "first"): "page must be an integer number",
        ("limit", "101"): "limit must not be greater than 100",
        ("limit", "0"): "limit must not be less than 1",
        ("limit", ""): "limit must be an integer number",
    }
    for (name, value), message in cases.items():
        reply = await api.get(messages_path(created["id"]), a, params={name: value})
        assert (reply.status, reply.code, reply.body["error"]) == (400, "invalid_payload", message), reply


async def test_only_members_read_a_conversation(api, numeric, user_id):
    a, b, outsider = numeric(), numeric(), numeric()
    created, _sent = await chat_of(api, a, b, 1)
    reply = await api.get(messages_path(created["id"]), outsider)
    assert (reply.status, reply.code) == (403, "not_member"), reply
    for unknown in ("999999999999", "abc", f"0{created['id']}", str(2**70)):
        reply = await api.get(messages_path(unknown), a)
        assert (reply.status, reply.code, reply.body["error"]) == (404, "room_not_found", "Conversation not found")
    # A group is not a 001 conversation (they are one-to-one), even for its members.
    group = await api.create_group(a, "Team", [b])
    reply = await api.get(messages_path(group["id"]), a)
    assert (reply.status, reply.code) == (404, "room_not_found"), reply
    reply = await api.get(messages_path(created["id"]))
    assert (reply.status, reply.code) == (401, "auth_required"), reply


async def test_a_conversation_with_oneself_names_the_caller_twice(api, numeric):
    me = numeric()
    created = await conversation(api, me, int(me), int(me))
    assert (created["sender_id"], created["receiver_id"]) == (int(me), int(me))
    await api.send(me, str(created["id"]), "note to self")
    [item] = await page_of(api, me, created["id"])
    assert (item["content"], item["conversation"]["receiver_id"]) == ("note to self", int(me))
