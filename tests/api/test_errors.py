"""Errors over REST: always the JSON error body with a stable code, a request id, and nothing written.

(The shape `{error, details, code, status}` and the X-Request-Id header are
also checked on every response by the `api` helper; these tests aim at the
failures that happen before or around the handlers.)
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.state.keys import Keys
from app.storage.rooms import members, rooms_of
from app.web import SERVICES
from tests.api.conftest import ERROR_KEYS, WIRE_TIME

# --- Routing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/rooms/1/nothing", "/api", "/nope"])
async def test_an_unknown_route_is_a_json_not_found(api, user_id, path):
    for user in (None, user_id("alice")):
        reply = await api.get(path, user)
        assert (reply.status, reply.code) == (404, "not_found")
        assert set(reply.body) == ERROR_KEYS


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/rooms", {"GET", "POST"}),
        ("DELETE", "/api/v1/rooms", {"GET", "POST"}),
        ("PATCH", "/api/v1/rooms/123", {"GET"}),
        ("GET", "/api/v1/rooms/123/leave", {"POST"}),
        ("POST", "/api/v1/me", {"GET"}),
        ("POST", "/health", {"GET"}),
    ],
)
async def test_a_wrong_method_is_method_not_allowed_naming_the_allowed_ones(api, user_id, method, path, allowed):
    reply = await api.call(method, path, user_id("alice"))
    assert (reply.status, reply.code) == (405, "method_not_allowed")
    assert {m.strip() for m in reply.headers.get("Allow", "").split(",") if m.strip()} == allowed


async def test_a_wrong_method_writes_nothing(api, user_id):
    alice = user_id("alice")
    reply = await api.call("PUT", "/api/v1/rooms", alice, json={"name": "Sneaky"})
    assert reply.status == 405
    assert await api.rooms(alice) == []


# --- Bodies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{", b"{'name': 'single quotes'}", b"name=Team", b"\xff\xfe", b'{"name": "T",}'])
async def test_a_body_that_is_not_json_is_invalid_payload(api, user_id, raw):
    alice = user_id("alice")
    reply = await api.post("/api/v1/rooms", alice, data=raw, headers={"Content-Type": "application/json"})
    assert (reply.status, reply.code) == (400, "invalid_payload")
    assert await api.rooms(alice) == []


async def test_a_missing_body_is_invalid_payload(api, user_id):
    alice = user_id("alice")
    reply = await api.post("/api/v1/rooms", alice)
    assert (reply.status, reply.code) == (400, "invalid_payload")
    assert await api.rooms(alice) == []


async def test_a_body_larger_than_max_frame_bytes_is_payload_too_large(api_with, user_id):
    api = await api_with(MAX_FRAME_BYTES=2048)
    owner = user_id("owner")
    room_id = (await api.create_group(owner, "Big"))["id"]
    reply = await api.post(f"/api/v1/rooms/{room_id}/messages", owner, json={"content": "x" * 3000})
    assert (reply.status, reply.code) == (413, "payload_too_large")
    reply = await api.post(
        "/api/v1/rooms", owner, json={"name": "T", "participants": [f"user-{i}" for i in range(300)]}
    )
    assert (reply.status, reply.code) == (413, "payload_too_large")
    page = await api.history(owner, room_id)
    assert page["last_seq"] == 0
    assert [r["id"] for r in await api.rooms(owner)] == [room_id]
    # Just under the limit is read normally.
    assert (await api.send(owner, room_id, "y" * 1500))["seq"] == 1


# --- Error bodies and request ids --------------------------------------------------------------------


async def test_error_bodies_have_exactly_error_details_code_and_status(api, user_id):
    alice = user_id("alice")
    replies = [
        await api.get("/api/v1/rooms"),
        await api.get("/api/v1/rooms", headers={"Authorization": "Bearer nope"}),
        await api.get("/api/v1/missing", alice),
        await api.call("PUT", "/api/v1/me", alice),
        await api.post("/api/v1/rooms", alice, json={"name": ""}),
        await api.post("/api/v1/rooms", alice, json={"nom": "T"}),
        await api.get("/api/v1/rooms/424242424242", alice),
    ]
    assert [r.status for r in replies] == [401, 401, 404, 405, 400, 400, 404]
    for reply in replies:
        assert set(reply.body) == ERROR_KEYS, reply
        assert reply.body["status"] == reply.status
        assert reply.headers["Content-Type"].startswith("application/json")
    assert replies[5].body["details"] == {
        "fields": {"nom": ["Unknown field."], "name": ["Missing data for required field."]}
    }


async def test_every_response_has_a_request_id_and_an_incoming_one_is_kept(api, user_id):
    alice = user_id("alice")
    ok = await api.get("/api/v1/me", alice)
    failed = await api.get("/api/v1/rooms")
    assert ok.headers["X-Request-Id"] != failed.headers["X-Request-Id"]
    mine = await api.get("/api/v1/rooms/1/nothing", headers={"X-Request-Id": "trace-me-123"})
    assert (mine.status, mine.headers["X-Request-Id"]) == (404, "trace-me-123")
    mine = await api.get("/health", headers={"X-Request-Id": "trace-me-456"})
    assert (mine.status, mine.headers["X-Request-Id"]) == (200, "trace-me-456")


async def test_health_needs_no_token_and_tells_the_time(api):
    before = datetime.now(UTC)
    reply = await api.get("/health")
    assert (reply.status, set(reply.body), reply.body["status"]) == (200, {"status", "timestamp"}, "ok")
    assert WIRE_TIME.match(reply.body["timestamp"]), reply  # seed 002's `{status: 'ok', timestamp}`
    moment = datetime.fromisoformat(reply.body["timestamp"])
    assert before - timedelta(milliseconds=1) <= moment <= datetime.now(UTC)


# --- Rate limit --------------------------------------------------------------------------------------


async def test_too_many_requests_are_rate_limited_per_user(api_with, user_id):
    api = await api_with(API_RATE=0.2, API_BURST=3)
    alice, bob = user_id("alice"), user_id("bob")
    for _ in range(3):
        assert (await api.get("/api/v1/me", alice)).status == 200
    reply = await api.get("/api/v1/rooms", alice)
    assert (reply.status, reply.code) == (429, "rate_limited")
    retry_after = reply.body["details"]["retry_after"]
    assert 0 < retry_after <= 5
    assert int(reply.headers["Retry-After"]) >= retry_after
    # Others are unaffected.
    for _ in range(3):
        assert (await api.get("/api/v1/me", bob)).status == 200


async def test_a_rate_limited_request_writes_nothing(api_with, user_id, sync_redis, settings):
    api = await api_with(API_RATE=0.05, API_BURST=2)
    alice, bob = user_id("alice"), user_id("bob")
    room_id = (await api.create_group(alice, "Kept"))["id"]
    assert (await api.get("/api/v1/me", alice)).status == 200
    refused = [
        await api.post("/api/v1/rooms", alice, json={"name": "Not created"}),
        await api.post("/api/v1/rooms/direct", alice, json={"user_id": bob}),
        await api.post(f"/api/v1/rooms/{room_id}/messages", alice, json={"content": "not stored"}),
        await api.post(f"/api/v1/rooms/{room_id}/members", alice, json={"user_ids": [bob]}),
        await api.post(f"/api/v1/rooms/{room_id}/leave", alice),
    ]
    assert [(r.status, r.code) for r in refused] == [(429, "rate_limited")] * len(refused)
    # Bob (who has his own budget) was neither added to the group nor given a direct room.
    assert await api.rooms(bob) == []
    # Alice is still the group's only member, in her only room, and no message got a seq.
    assert [m.user_id for m in await api.app[SERVICES].db.run(members, room_id)] == [alice]
    assert [m.room.id for m in await api.app[SERVICES].db.run(rooms_of, alice)] == [room_id]
    assert int(sync_redis.get(Keys(settings.redis.redis_prefix).seq(room_id)) or 0) == 0


async def test_retry_after_is_long_enough_to_be_let_in_again(api_with, user_id):
    # 0.7 requests a second: the wait is about 1.43 s, so rounding down would send the client back too early.
    api = await api_with(API_RATE=0.7, API_BURST=1)
    alice = user_id("alice")
    assert (await api.get("/api/v1/me", alice)).status == 200
    reply = await api.get("/api/v1/me", alice)
    assert (reply.status, reply.code) == (429, "rate_limited")
    wait = int(reply.headers["Retry-After"])
    assert wait >= reply.body["details"]["retry_after"]
    await asyncio.sleep(wait)
    assert (await api.get("/api/v1/me", alice)).status == 200
