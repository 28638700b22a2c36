"""Connecting: who may connect, what a refused connection is told, and what a signed-in one is given."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from tests.realtime.conftest import WAIT, Client, disable_user, eventually

SECRET = "test-secret-" + "x" * 40  # the session's JWT_SECRET (tests/services.py)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user: str | None, ttl: int | None = 3600) -> dict:
    now = int(time.time())
    claims: dict = {"iat": now}
    if user is not None:
        claims["sub"] = user
    if ttl is not None:
        claims["exp"] = now + ttl
    return claims


def unsigned_token(user: str) -> str:
    """`alg: none`: a valid header and claims, and no signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user))}."


def forged_token(user: str) -> str:
    """Well-formed HS256 with every claim, signed with a secret the server does not know."""
    return jwt.encode(_claims(user), "not-the-secret-" + "y" * 40, algorithm="HS256")


def _code(refusal: dict) -> str:
    """The stable code of a refusal (python-socketio's connect_error data: {message, data: {code, message}})."""
    assert set(refusal) == {"message", "data"}, refusal
    assert set(refusal["data"]) == {"code", "message"}, refusal
    assert refusal["data"]["message"] and refusal["message"] == refusal["data"]["message"]
    return refusal["data"]["code"]


# -- accepted ---------------------------------------------------------------------------------------------


async def test_a_valid_token_gets_session_ready_with_the_user_and_their_rooms_with_unread_counts(node, rest, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    quiet = await rest.create_room(bob, name="Quiet")
    busy = await rest.create_room(alice, bob, name="Busy")
    a = await node.connect(alice)
    for i in range(3):
        assert (await a.send(busy, f"m{i}"))["ok"]

    b = await node.connect(bob)
    [ready] = b.all("session:ready")
    assert ready["user"] == {"id": bob, "name": None, "username": None}
    assert [room["id"] for room in ready["rooms"]] == [busy, quiet]  # newest activity first
    rooms = {room["id"]: room for room in ready["rooms"]}
    assert rooms[busy]["unread_count"] == 3 and rooms[busy]["last_seq"] == 3
    assert rooms[busy]["last_message"]["content"] == "m2" and rooms[busy]["last_message"]["sender_id"] == alice
    assert rooms[busy]["name"] == "Busy" and rooms[busy]["member_count"] == 2 and rooms[busy]["type"] == "group"
    assert rooms[quiet]["unread_count"] == 0 and rooms[quiet]["last_seq"] == 0 and rooms[quiet]["last_message"] is None

    # The sender has read their own messages: alice's second device sees nothing unread.
    a2 = await node.connect(alice)
    [ready_a] = a2.all("session:ready")
    assert [(r["id"], r["unread_count"], r["last_seq"]) for r in ready_a["rooms"]] == [(busy, 0, 3)]


async def test_session_ready_is_the_first_event_and_is_sent_once(node, rest, user_id):
    alice = user_id("alice")
    room = await rest.create_room(alice)
    a = await node.connect(alice)
    await a.join(room)
    assert (await a.send(room, "hi"))["ok"]
    await a.wait_message(room, 1)
    assert a.names() == ["session:ready", "message:new"]


async def test_session_ready_names_the_user_as_the_token_does(node, token, user_id):
    carol = user_id("carol")
    client = await node.open({"token": token(carol, "Carol")})
    [ready] = client.all("session:ready")
    assert ready == {
        "user": {"id": carol, "name": "Carol", "username": None},
        "status": "online",
        "rooms": [],
        "total_unread": 0,
        "people": [],
        "favorites": [],
    }


@pytest.mark.parametrize("prefix", ["Bearer ", "bearer  ", "BEARER "])
async def test_a_bearer_prefix_on_the_token_is_accepted(node, token, user_id, prefix):
    alice = user_id("alice")
    client = await node.open({"token": prefix + token(alice)})
    assert client.all("session:ready")[0]["user"]["id"] == alice


async def test_a_token_in_the_query_string_is_accepted(node, token, user_id):
    alice = user_id("alice")
    client = await node.open(None, query=f"?token={token(alice)}")
    assert client.all("session:ready")[0]["user"]["id"] == alice


@pytest.mark.parametrize("key", ["user_id", "userId"])
async def test_a_user_id_beside_the_token_is_accepted_when_it_is_the_tokens_subject(node, user_id, key):
    alice = user_id("alice")
    client = await node.connect(alice, **{key: alice})
    assert client.all("session:ready")[0]["user"]["id"] == alice


async def test_unknown_auth_fields_are_ignored(node, user_id):
    alice = user_id("alice")
    client = await node.connect(alice, client_version="9.9", device={"kind": "phone"})
    assert client.all("session:ready")[0]["user"]["id"] == alice


async def test_a_long_polling_client_gets_the_same_service(spawn, token, user_id):
    # python-engineio's server does not end a pending long-poll when the client closes, so the client's
    # disconnect waits for that poll to time out (ping interval + ping timeout): short ones keep the test short.
    node = await spawn(PING_INTERVAL=1, PING_TIMEOUT=1)
    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    poller = Client("alice-polling")
    node.clients.append(poller)
    await poller.connect(node.url, auth={"token": token(alice)}, transports=["polling"], wait_timeout=5)
    assert (await poller.next("session:ready"))["rooms"][0]["id"] == room
    b = await node.connect(bob)
    await poller.join(room)
    await b.join(room)
    assert (await poller.send(room, "over polling"))["data"]["seq"] == 1
    assert (await b.wait_message(room, 1))["content"] == "over polling"
    await b.send(room, "back over websocket")
    assert (await poller.wait_message(room, 2))["sender_id"] == bob


# -- refused ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [None, {}, {"token": ""}, {"token": None}, {"token": 12345}, {"token": ["a"]}, "a-string"],
    ids=["no-auth", "empty-auth", "empty", "null", "number", "list", "auth-not-an-object"],
)
async def test_a_connection_without_a_token_is_refused_with_auth_required(node, auth):
    assert _code(await node.refused(auth=auth)) == "auth_required"


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda user: "garbage", id="not-a-jwt"),
        pytest.param(lambda user: "a.b.c", id="three-bad-segments"),
        pytest.param(forged_token, id="forged-signature"),
        pytest.param(lambda user: jwt.encode(_claims(user), SECRET, algorithm="HS256")[:-6] + "AAAAAA", id="tampered"),
        pytest.param(unsigned_token, id="alg-none"),
        pytest.param(lambda user: jwt.encode(_claims(user), "k" * 64, algorithm="HS512"), id="algorithm-not-allowed"),
        pytest.param(lambda user: jwt.encode(_claims(None), SECRET, algorithm="HS256"), id="no-subject"),
        pytest.param(lambda user: jwt.encode(_claims(user, ttl=None), SECRET, algorithm="HS256"), id="no-expiry"),
    ],
)
async def test_an_invalid_token_is_refused_with_invalid_token(node, user_id, make_token):
    assert _code(await node.refused(auth={"token": make_token(user_id("mallory"))})) == "invalid_token"


async def test_alg_none_is_refused_in_the_query_string_too(node, user_id):
    refusal = await node.refused(auth=None, query=f"?token={unsigned_token(user_id('mallory'))}")
    assert _code(refusal) == "invalid_token"


async def test_an_expired_token_is_refused_with_token_expired(node, token, user_id):
    assert _code(await node.refused(auth={"token": token(user_id("late"), ttl=-3600)})) == "token_expired"


@pytest.mark.parametrize("key", ["user_id", "userId"])
async def test_a_user_id_that_is_not_the_tokens_subject_is_refused_with_user_mismatch(node, token, user_id, key):
    alice, bob = user_id("alice"), user_id("bob")
    assert _code(await node.refused(auth={"token": token(alice), key: bob})) == "user_mismatch"


async def test_a_disabled_user_is_refused_with_user_disabled(node, settings, user_id):
    dave = user_id("dave")
    first = await node.connect(dave)
    await disable_user(settings, dave)
    await first.wait_gone()  # the node heard of it
    assert _code(await node.refused(auth={"token": node.token(dave)})) == "user_disabled"
    assert _code(await node.refused(auth=None, query=f"?token={node.token(dave)}")) == "user_disabled"


async def test_refused_connections_leave_no_trace_and_do_not_disturb_connected_users(node, rest, token, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a, b = await node.connect(alice), await node.connect(bob)
    await a.join(room)
    await b.join(room)
    connections = node.hub.connection_count

    refusals = [None, {"token": "garbage"}, {"token": token(alice, ttl=-3600)}, {"token": token(alice), "user_id": bob}]
    for auth in refusals:
        await node.refused(auth=auth)
    assert node.hub.connection_count == connections

    assert (await a.send(room, "still here"))["ok"]
    assert (await b.wait_message(room, 1))["content"] == "still here"
    assert (await a.wait_message(room, 1))["content"] == "still here"
    assert a.connected and b.connected
    assert b.names() == ["session:ready", "message:new"]


async def test_a_closed_connection_is_forgotten_by_the_gateway(node, user_id):
    before = node.hub.connection_count
    client = await node.connect(user_id("eve"))
    assert node.hub.connection_count == before + 1
    await client.disconnect()
    await eventually(lambda: node.hub.connection_count == before, WAIT, "the gateway to forget the connection")
