"""History over REST: cursor pages ascending by seq, members only, and read-your-writes before persistence."""

from __future__ import annotations

import pytest

from tests.api.conftest import everything_enqueued, field_errors, stored_messages


@pytest.fixture
async def room_of_ten(api, user_id):
    """A group with messages m1..m10 at seqs 1..10, sent by its two members in turn."""
    owner, bob = user_id("owner"), user_id("bob")
    room_id = (await api.create_group(owner, "Ten", [bob]))["id"]
    for seq in range(1, 11):
        await api.send(owner if seq % 2 else bob, room_id, f"m{seq}")
    return room_id, owner, bob


def _seqs(page: dict) -> list[int]:
    return [m["seq"] for m in page["messages"]]


async def test_an_empty_room_has_an_empty_history(api, user_id):
    owner = user_id("owner")
    room_id = (await api.create_group(owner, "Quiet"))["id"]
    page = await api.history(owner, room_id)
    assert page == {"messages": [], "last_seq": 0, "has_more_before": False, "has_more_after": False}


async def test_history_returns_the_newest_page_in_ascending_order(api, room_of_ten):
    room_id, owner, bob = room_of_ten
    page = await api.history(owner, room_id)
    assert _seqs(page) == list(range(1, 11))
    assert [m["content"] for m in page["messages"]] == [f"m{i}" for i in range(1, 11)]
    assert [m["sender_id"] for m in page["messages"][:2]] == [owner, bob]
    assert (page["last_seq"], page["has_more_before"], page["has_more_after"]) == (10, False, False)
    assert all(m["room_id"] == room_id and m["type"] == "text" for m in page["messages"])


async def test_limit_gives_the_newest_messages_and_says_more_are_before(api, room_of_ten):
    room_id, owner, _bob = room_of_ten
    page = await api.history(owner, room_id, limit=3)
    assert _seqs(page) == [8, 9, 10]
    assert (page["last_seq"], page["has_more_before"], page["has_more_after"]) == (10, True, False)


async def test_paging_backwards_with_before_walks_the_whole_history_once(api, room_of_ten):
    room_id, owner, _bob = room_of_ten
    seen: list[int] = []
    page = await api.history(owner, room_id, limit=4)
    pages = 1
    while True:
        seen = _seqs(page) + seen
        if not page["has_more_before"]:
            break
        page = await api.history(owner, room_id, limit=4, before=page["messages"][0]["seq"])
        pages += 1
        assert pages <= 5, "paging must end"
    assert (seen, pages) == (list(range(1, 11)), 3)


async def test_before_excludes_its_own_seq(api, room_of_ten):
    room_id, owner, _bob = room_of_ten
    page = await api.history(owner, room_id, before=5, limit=3)
    assert _seqs(page) == [2, 3, 4]
    assert (page["has_more_before"], page["has_more_after"]) == (True, True)
    page = await api.history(owner, room_id, before=1)
    assert (_seqs(page), page["has_more_before"], page["has_more_after"]) == ([], False, True)


async def test_paging_forwards_with_after_walks_the_rest(api, room_of_ten):
    room_id, owner, _bob = room_of_ten
    page = await api.history(owner, room_id, after=0, limit=4)
    assert (_seqs(page), page["has_more_before"], page["has_more_after"]) == ([1, 2, 3, 4], False, True)
    page = await api.history(owner, room_id, after=4, limit=4)
    assert (_seqs(page), page["has_more_before"], page["has_more_after"]) == ([5, 6, 7, 8], True, True)
    page = await api.history(owner, room_id, after=8, limit=4)
    assert (_seqs(page), page["has_more_before"], page["has_more_after"]) == ([9, 10], True, False)
    page = await api.history(owner, room_id, after=10)
    assert (_seqs(page), page["has_more_after"], page["last_seq"]) == ([], False, 10)


async def test_after_and_before_together_give_the_range_between(api, room_of_ten):
    room_id, owner, _bob = room_of_ten
    page = await api.history(owner, room_id, after=3, before=8)
    assert (_seqs(page), page["has_more_before"], page["has_more_after"]) == ([4, 5, 6, 7], True, True)
    page = await api.history(owner, room_id, after=3, before=8, limit=2)
    assert _seqs(page) == [4, 5]


async def test_a_cursor_beyond_the_end_is_harmless(api, room_of_ten):
    room_id, owner, _bob = room_of_ten
    page = await api.history(owner, room_id, before=1000, limit=2)
    assert (_seqs(page), page["has_more_after"]) == ([9, 10], False)
    assert _seqs(await api.history(owner, room_id, after=1000)) == []


async def test_limit_is_capped_by_history_page_max(api_with, user_id):
    api = await api_with(HISTORY_PAGE_MAX=4)
    owner = user_id("owner")
    room_id = (await api.create_group(owner, "Capped"))["id"]
    for i in range(6):
        await api.send(owner, room_id, f"m{i}")
    page = await api.history(owner, room_id, limit=1000)
    assert (_seqs(page), page["has_more_before"]) == ([3, 4, 5, 6], True)
    assert _seqs(await api.history(owner, room_id)) == [3, 4, 5, 6]  # the default is capped too


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"before": "abc"}, "before"),
        ({"before": "-1"}, "before"),
        ({"before": "1.5"}, "before"),
        ({"before": ""}, "before"),
        ({"before": str(2**63)}, "before"),
        ({"after": "x"}, "after"),
        ({"after": "-3"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "5"}, "cursor"),
    ],
)
async def test_an_invalid_cursor_or_limit_is_refused(api, room_of_ten, params, field):
    room_id, owner, _bob = room_of_ten
    reply = await api.get(f"/api/v1/rooms/{room_id}/messages", owner, params=params)
    assert (reply.status, reply.code) == (400, "invalid_payload")
    assert field in field_errors(reply)


async def test_history_is_for_members_only(api, room_of_ten, user_id):
    room_id, _owner, _bob = room_of_ten
    reply = await api.get(f"/api/v1/rooms/{room_id}/messages", user_id("outsider"))
    assert (reply.status, reply.code) == (403, "not_member")


@pytest.mark.parametrize("room_id", ["999999999999", "abc"])
async def test_history_of_an_unknown_room_is_room_not_found(api, user_id, room_id):
    reply = await api.get(f"/api/v1/rooms/{room_id}/messages", user_id("alice"))
    assert (reply.status, reply.code) == (404, "room_not_found")


async def test_an_acknowledged_message_is_in_history_at_once_and_after_persistence(api, user_id, drain):
    owner, bob = user_id("owner"), user_id("bob")
    room_id = (await api.create_group(owner, "Durable", [bob]))["id"]
    receipts = [await api.send(owner, room_id, "first", client_ref="d-1"), await api.send(bob, room_id, "second")]
    # No worker has run: the messages are read from the outbox.
    before = await api.history(bob, room_id)
    assert [(m["id"], m["seq"], m["sender_id"], m["content"]) for m in before["messages"]] == [
        (receipts[0]["id"], 1, owner, "first"),
        (receipts[1]["id"], 2, bob, "second"),
    ]
    assert [m["created_at"] for m in before["messages"]] == [r["created_at"] for r in receipts]
    assert before["messages"][0]["client_ref"] == "d-1"
    assert await stored_messages(api, room_id) == [], "nothing is in Postgres yet"
    await everything_enqueued(api)
    await drain()
    assert await stored_messages(api, room_id) == [
        (1, receipts[0]["id"], owner, "first"),
        (2, receipts[1]["id"], bob, "second"),
    ]
    after = await api.history(bob, room_id)
    assert after == before
    [listed] = await api.rooms(bob)
    assert listed["last_message"] == before["messages"][-1]
