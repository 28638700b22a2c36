"""Favorites over REST: marking a person tells nothing about users one shares no room with."""

from __future__ import annotations


async def test_a_user_one_shares_no_room_with_is_answered_as_an_unknown_id(api, user_id):
    alice, carol = user_id("alice"), user_id("carol")
    await api.create_group(carol, "Carol's")  # carol exists, with a display name, but shares no room with alice
    await api.get("/api/v1/me", carol, name="Carol Secret")
    for method in ("PUT", "DELETE"):
        stranger = await api.call(method, f"/api/v1/me/favorites/user/{carol}", alice)
        unknown = await api.call(method, "/api/v1/me/favorites/user/nobody-at-all-here", alice)
        assert (stranger.status, stranger.code, stranger.body["details"]) == (404, "user_not_found", None), stranger
        assert (unknown.status, unknown.code, unknown.body["details"]) == (404, "user_not_found", None), unknown
        assert b"Carol Secret" not in stranger.raw
    assert (await api.get("/api/v1/me/favorites", alice)).body["favorites"] == []


async def test_a_person_one_shares_a_room_with_is_marked_and_stays_unmarkable_after(api, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    await api.get("/api/v1/me", bob, name="Bob")
    room = await api.create_group(alice, "Team", [bob])
    marked = await api.call("PUT", f"/api/v1/me/favorites/user/{bob}", alice)
    assert marked.status == 200 and [(f["id"], f["name"]) for f in marked.body["favorites"]] == [(bob, "Bob")]
    assert (await api.post(f"/api/v1/rooms/{room['id']}/leave", bob)).status == 204
    # No room shared any more: marked already, so marking again and unmarking are answered; then it is unknown.
    assert (await api.call("PUT", f"/api/v1/me/favorites/user/{bob}", alice)).status == 200
    unmarked = await api.call("DELETE", f"/api/v1/me/favorites/user/{bob}", alice)
    assert unmarked.status == 200 and unmarked.body == {"favorites": [], "favorite": False}
    assert (await api.call("PUT", f"/api/v1/me/favorites/user/{bob}", alice)).code == "user_not_found"


async def test_oneself_may_be_marked(api, user_id):
    alice = user_id("alice")
    reply = await api.call("PUT", f"/api/v1/me/favorites/user/{alice}", alice)
    assert reply.status == 200 and reply.body["favorite"] is True


async def test_an_id_that_cannot_be_one_is_refused_whatever_the_kind(api, user_id):
    alice = user_id("alice")
    for kind in ("room", "user"):
        reply = await api.call("DELETE", f"/api/v1/me/favorites/{kind}/{'0' * 256}", alice)
        assert (reply.status, reply.code) == (400, "invalid_payload"), reply
