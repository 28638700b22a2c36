"""GET /api/v1/search end to end: messages sent over REST, persisted by a real worker, found, paged, refused.

Every reply is checked against the OpenAPI document by the `api` helper.
"""

from __future__ import annotations

from tests.api.conftest import everything_enqueued


async def persisted(api, drain) -> None:
    """Every acknowledged message is in Postgres (search sees persisted messages only)."""
    await everything_enqueued(api)
    await drain()


async def search(api, user: str, q: str, **params) -> dict:
    reply = await api.get("/api/v1/search", user, params={"q": q, **{k: str(v) for k, v in params.items()}})
    assert reply.status == 200, reply
    return reply.body


def texts(hit: dict) -> tuple[str, list[str]]:
    """(the excerpt as shown, its highlighted parts)."""
    return "".join(s["text"] for s in hit["excerpt"]), [s["text"] for s in hit["excerpt"] if s["match"]]


async def test_messages_are_found_once_persisted_ranked_and_highlighted(api, user_id, drain):
    owner, bob = user_id("owner"), user_id("bob")
    room_id = (await api.create_group(owner, "Travel", [bob]))["id"]
    sent = {}
    for content in [
        "Wir treffen uns im Café an der Straße",
        "Rendez-vous au café à midi",
        "¿Nos vemos en el café mañana?",
        "Встречаемся в кафе",
        "cafe",
        "The train leaves at noon",
    ]:
        sent[content] = (await api.send(owner, room_id, content))["id"]
    assert (await search(api, bob, "cafe"))["hits"] == [], "not persisted yet: search reads Postgres only"
    await persisted(api, drain)
    body = await search(api, bob, "CAFÉ")
    hits = body["hits"]
    assert hits[0]["id"] == sent["cafe"], "the shortest, whole-word match first"
    assert {h["id"] for h in hits} == {
        sent[c] for c in ["Wir treffen uns im Café an der Straße", "Rendez-vous au café à midi",
                          "¿Nos vemos en el café mañana?", "cafe"]
    }  # fmt: skip
    assert body["next_cursor"] is None
    hit = next(h for h in hits if h["id"] == sent["Rendez-vous au café à midi"])
    assert texts(hit) == ("Rendez-vous au café à midi", ["café"])
    assert (hit["room_id"], hit["seq"], hit["sender_id"], hit["type"]) == (room_id, 2, owner, "text")
    assert hit["rank"] > 0 and hit["edited_at"] is None
    assert [h["id"] for h in (await search(api, bob, "кафе"))["hits"]] == [sent["Встречаемся в кафе"]]
    assert [h["id"] for h in (await search(api, bob, "strasse caf"))["hits"]] == [
        sent["Wir treffen uns im Café an der Straße"]
    ]
    assert [h["id"] for h in (await search(api, bob, "cafe", room_id=room_id))["hits"]] == [h["id"] for h in hits]


async def test_pages_follow_the_cursor_without_duplicates_or_gaps(api, user_id, drain):
    owner = user_id("owner")
    room_id = (await api.create_group(owner, "Pages"))["id"]
    ids = [(await api.send(owner, room_id, f"standup notes {'x ' * n}"))["id"] for n in range(23)]
    await persisted(api, drain)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 10} if cursor is None else {"limit": 10, "cursor": cursor}
        body = await search(api, owner, "standup", **params)
        seen += [h["id"] for h in body["hits"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 23 and set(seen) == set(ids)
    assert seen == [h["id"] for h in (await search(api, owner, "standup", limit=50))["hits"]]
    # A cursor belongs to its search: another query refuses it.
    cursor = (await search(api, owner, "standup", limit=1))["next_cursor"]
    reply = await api.get("/api/v1/search", owner, params={"q": "notes", "cursor": cursor})
    assert (reply.status, reply.code) == (400, "invalid_payload")
    assert "cursor" in reply.body["details"]["fields"]


async def test_who_may_search_what(api, user_id, drain):
    owner, member, outsider = user_id("owner"), user_id("member"), user_id("outsider")
    room_id = (await api.create_group(owner, "Secret", [member]))["id"]
    await api.send(owner, room_id, "the merger closes on monday")
    await persisted(api, drain)
    assert len((await search(api, member, "merger"))["hits"]) == 1
    assert (await search(api, outsider, "merger"))["hits"] == [], "an outsider finds nothing of the room"
    reply = await api.get("/api/v1/search", outsider, params={"q": "merger", "room_id": room_id})
    assert (reply.status, reply.code) == (403, "not_member")
    reply = await api.get("/api/v1/search", owner, params={"q": "merger", "room_id": "777777777777"})
    assert (reply.status, reply.code) == (404, "room_not_found")
    reply = await api.get("/api/v1/search", params={"q": "merger"})
    assert (reply.status, reply.code) == (401, "auth_required")
    assert (await api.delete(f"/api/v1/rooms/{room_id}/members/{member}", owner)).status == 204
    assert (await search(api, member, "merger"))["hits"] == [], "a removed member no longer finds the room's messages"


async def test_bad_queries_get_clear_codes(api, user_id):
    user = user_id("user")
    cases = [
        ({}, 400, "invalid_payload", None),
        ({"q": ""}, 400, "search_query_invalid", "empty"),
        ({"q": "   "}, 400, "search_query_invalid", "empty"),
        ({"q": "!!!"}, 400, "search_query_invalid", "no_words"),
        ({"q": "a" * 201}, 400, "search_query_invalid", "too_long"),
        ({"q": "x\x00"}, 400, "search_query_invalid", "invalid_text"),
        ({"q": " ".join(f"w{n}" for n in range(13))}, 400, "search_query_invalid", "too_many_terms"),
        ({"q": "ok", "limit": "0"}, 400, "invalid_payload", None),
        ({"q": "ok", "limit": "many"}, 400, "invalid_payload", None),
        ({"q": "ok", "cursor": "garbage"}, 400, "invalid_payload", None),
        ({"q": "ok", "sort": "new"}, 400, "invalid_payload", None),
    ]
    for params, status, code, reason in cases:
        reply = await api.get("/api/v1/search", user, params=params)
        assert (reply.status, reply.code) == (status, code), (params, reply)
        if reason is not None:
            assert reply.body["details"]["reason"] == reason, reply
    # Operators, quotes and SQL are only text: a search for them succeeds (and finds nothing here).
    for q in ["a & | ! ( )", "'; DROP TABLE messages; --", "foo:* <-> bar", '"x" \\']:
        assert (await search(api, user, q))["hits"] == []
