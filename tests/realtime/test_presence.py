"""Presence: online from a user's first connection until their last closes, the status they choose
(synonyms accepted), looking offline, heartbeats, device details, and REST reads, shown only to the
people who share a room with the user."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from app.web import SERVICES
from tests.realtime.conftest import QUIET, WAIT, eventually


def updates(client, user: str) -> list[dict]:
    """The presence:update events about `user` that `client` received, in order."""
    return [update for update in client.all("presence:update") if update["user_id"] == user]


async def wait_updates(client, user: str, count: int, timeout: float = WAIT) -> list[dict]:
    """Wait until `client` has received `count` presence:update events about `user`; return them all."""
    await eventually(
        lambda: len(updates(client, user)) >= count, timeout, f"{count} presence:update of {user} at {client.label}"
    )
    return updates(client, user)


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def now_ms() -> datetime:
    """The current time, cut to the milliseconds the wire carries."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


async def presence_of(rest, viewer: str, user: str) -> dict:
    status, body = await rest.call("GET", f"/api/v1/users/{user}/presence", viewer)
    assert status == 200, body
    return body


async def closed(node, client) -> None:
    """Close a client and wait until its node has dropped the connection (its presence is recorded just after)."""
    before = node.hub.connection_count
    await client.disconnect()
    await eventually(lambda: node.hub.connection_count == before - 1, WAIT, f"{client.label} to be forgotten")


@pytest.fixture
async def pair(rest, user_id):
    """alice and bob, who share a room."""
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob, name="Pair")
    return room, alice, bob


# -- online and offline ---------------------------------------------------------------------------------------


async def test_a_user_is_online_from_their_first_connection_until_their_last_closes(node, rest, pair):
    _room, alice, bob = pair
    b = await node.connect(bob)
    a1 = await node.connect(alice, label="alice-1")
    [online] = await wait_updates(b, alice, 1)
    assert online["status"] == "online" and online["last_seen_at"] is not None
    assert (await presence_of(rest, bob, alice))["status"] == "online"

    # A second device changes nothing others see, and closing the first leaves her online.
    a2 = await node.connect(alice, label="alice-2")
    await closed(node, a1)
    await asyncio.sleep(QUIET)
    assert updates(b, alice) == [online]
    assert (await presence_of(rest, bob, alice))["status"] == "online"
    # A connect is announced to contacts only: alice's own devices were not told of it.
    assert updates(a1, alice) == [] and updates(a2, alice) == []

    await a2.disconnect()
    first, offline = await wait_updates(b, alice, 2)
    assert first == online
    assert offline["status"] == "offline" and offline["last_seen_at"] is not None
    assert parse(offline["last_seen_at"]) >= parse(online["last_seen_at"])
    assert await presence_of(rest, bob, alice) == offline
    await asyncio.sleep(QUIET)
    assert len(updates(b, alice)) == 2


async def test_devices_on_two_nodes_count_as_one_user(spawn, user_id):
    one, two = await spawn(), await spawn()
    alice, bob = user_id("alice"), user_id("bob")
    await one.rest.create_room(alice, bob)
    b = await two.connect(bob)
    a_one = await one.connect(alice, label="alice@1")
    await wait_updates(b, alice, 1)
    a_two = await two.connect(alice, label="alice@2")

    await closed(one, a_one)
    await asyncio.sleep(QUIET)
    assert [u["status"] for u in updates(b, alice)] == ["online"]
    assert (await presence_of(two.rest, bob, alice))["status"] == "online"

    await a_two.disconnect()
    assert [u["status"] for u in await wait_updates(b, alice, 2)] == ["online", "offline"]
    assert (await presence_of(one.rest, bob, alice))["status"] == "offline"


async def test_last_seen_at_is_the_moment_the_last_connection_closed(node, rest, pair):
    _room, alice, bob = pair
    b = await node.connect(bob)
    a = await node.connect(alice)
    connected = await presence_of(rest, alice, alice)
    assert connected["status"] == "online" and connected["last_seen_at"] is not None

    await asyncio.sleep(0.05)
    before = now_ms()
    await a.disconnect()
    [_online, offline] = await wait_updates(b, alice, 2)
    after = now_ms()
    seen = await presence_of(rest, bob, alice)
    assert seen == {"user_id": alice, "status": "offline", "last_seen_at": offline["last_seen_at"]}
    assert parse(connected["last_seen_at"]) < before <= parse(seen["last_seen_at"]) <= after
    # It stays put while she is away.
    await asyncio.sleep(0.05)
    assert await presence_of(rest, alice, alice) == seen


# -- choosing a status ----------------------------------------------------------------------------------------


async def test_a_status_given_by_any_name_is_acknowledged_canonically_and_shown_to_contacts_and_other_devices(
    node, pair
):
    _room, alice, bob = pair
    b = await node.connect(bob)
    a1, a2 = await node.connect(alice, label="alice-1"), await node.connect(alice, label="alice-2")
    await wait_updates(b, alice, 1)
    steps = [
        ("AWAY", "away"),
        ("idle", "away"),  # no change: nobody is told
        ("dnd", "busy"),
        ("Do-Not-Disturb", "busy"),
        ("available", "online"),
        ("Busy", "busy"),
        ("invisible", "offline"),
        ("Offline", "offline"),
        ("active", "online"),
        ("do not disturb", "busy"),
        ("Idle", "away"),
        ("online", "online"),
    ]
    shown = ["online"]
    for raw, canonical in steps:
        answer = await a1.ack("presence:set", {"status": raw})
        assert answer == {"ok": True, "data": {"status": canonical}}, raw
        if canonical != shown[-1]:
            shown.append(canonical)
            for watcher in (b, a2):
                seen = await wait_updates(watcher, alice, len(shown) - (watcher is a2))
                assert seen[-1]["status"] == canonical and seen[-1]["last_seen_at"] is not None, (raw, watcher.label)
    await asyncio.sleep(QUIET)
    assert [u["status"] for u in updates(b, alice)] == shown
    # alice's other device is told each change she chose (not her connect).
    assert [u["status"] for u in updates(a2, alice)] == shown[1:]
    heartbeat = await a2.ack("presence:heartbeat", {})
    assert heartbeat["data"]["status"] == shown[-1]


async def test_every_connection_of_the_user_is_told_of_a_chosen_status_the_one_that_set_it_too(node, pair):
    _room, alice, bob = pair
    b = await node.connect(bob)
    a1, a2 = await node.connect(alice, label="alice-1"), await node.connect(alice, label="alice-2")
    assert (await a1.ack("presence:set", {"status": "away"}))["ok"]
    for watcher in (a1, a2):
        assert [u["status"] for u in await wait_updates(watcher, alice, 1)] == ["away"]
    await wait_updates(b, alice, 2)
    await asyncio.sleep(QUIET)
    assert [u["status"] for u in updates(a1, alice)] == ["away"]


async def test_a_status_chosen_over_rest_is_shown_once_a_connection_is_alive(node, rest, pair):
    _room, alice, bob = pair
    b = await node.connect(bob)
    status, body = await rest.call("PUT", "/api/v1/me/status", alice, {"status": "DND"})
    assert status == 200 and body["user_id"] == alice and body["status"] == "offline", body  # not connected yet
    await asyncio.sleep(QUIET)
    assert updates(b, alice) == []

    a = await node.connect(alice)
    assert a.all("session:ready")[0]["status"] == "busy"
    [update] = await wait_updates(b, alice, 1)
    assert update["status"] == "busy"
    status, body = await rest.call("PUT", "/api/v1/me/status", alice, {"status": "idle"})
    assert status == 200 and body["status"] == "away", body
    assert [u["status"] for u in await wait_updates(b, alice, 2)] == ["busy", "away"]
    assert (await presence_of(rest, bob, alice))["status"] == "away"

    status, body = await rest.call("PUT", "/api/v1/me/status", alice, {"status": "sleeping"})
    assert status == 400 and body["code"] == "unknown_status", body


async def test_an_unknown_or_malformed_status_is_refused_and_changes_nothing(node, rest, pair):
    _room, alice, bob = pair
    b = await node.connect(bob)
    a = await node.connect(alice)
    await wait_updates(b, alice, 1)

    for raw in ("sleeping", " ", "online!", "away-ish"):
        answer = await a.ack("presence:set", {"status": raw})
        assert answer["ok"] is False and answer["error"]["code"] == "unknown_status", (raw, answer)
        allowed = answer["error"]["details"]["allowed"]
        assert {"online", "away", "busy", "offline", "dnd", "invisible"} <= set(allowed), answer
    for payload in ({"status": ""}, {"status": 42}, {"status": None}, {}, "away", None):
        answer = await a.ack("presence:set", payload)
        assert answer["ok"] is False and answer["error"]["code"] == "invalid_payload", (payload, answer)

    await asyncio.sleep(QUIET)
    assert [u["status"] for u in updates(b, alice)] == ["online"]
    assert (await presence_of(rest, bob, alice))["status"] == "online"
    assert (await a.ack("presence:heartbeat", {}))["data"]["status"] == "online"


async def test_a_user_who_chose_offline_is_never_announced_online(node, rest, pair):
    _room, alice, bob = pair
    b = await node.connect(bob)
    status, body = await rest.call("PUT", "/api/v1/me/status", alice, {"status": "invisible"})
    assert status == 200 and body["status"] == "offline", body

    a1 = await node.connect(alice, label="alice-1")
    assert a1.all("session:ready")[0]["status"] == "offline"
    a2 = await node.connect(alice, label="alice-2")
    for client in (a1, a2):
        assert (await client.ack("presence:heartbeat", {}))["data"]["status"] == "offline"
    assert (await presence_of(rest, bob, alice))["status"] == "offline"
    assert (await presence_of(rest, alice, alice))["status"] == "offline"
    await closed(node, a1)
    await closed(node, a2)
    await asyncio.sleep(QUIET)
    assert updates(b, alice) == []

    # Choosing online while disconnected shows nothing yet; the next connection does.
    status, body = await rest.call("PUT", "/api/v1/me/status", alice, {"status": "online"})
    assert status == 200 and body["status"] == "offline", body
    await asyncio.sleep(QUIET)
    assert updates(b, alice) == []
    await node.connect(alice, label="alice-3")
    [update] = await wait_updates(b, alice, 1)
    assert update["status"] == "online"


# -- heartbeats -----------------------------------------------------------------------------------------------


async def test_a_heartbeat_is_acknowledged_with_the_status_the_server_time_and_the_ttl(node, rest, settings, pair):
    _room, alice, bob = pair
    b = await node.connect(bob)
    a = await node.connect(alice)
    await wait_updates(b, alice, 1)
    connected = await presence_of(rest, alice, alice)

    await asyncio.sleep(0.05)
    before = now_ms()
    answer = await a.ack("presence:heartbeat", {})
    after = now_ms()
    assert answer["ok"] is True and set(answer["data"]) == {"status", "server_time", "presence_ttl"}, answer
    assert answer["data"]["status"] == "online"
    assert answer["data"]["presence_ttl"] == settings.presence.presence_ttl
    assert before <= parse(answer["data"]["server_time"]) <= after
    # The heartbeat recorded alice as seen now.
    seen = await presence_of(rest, bob, alice)
    assert seen["status"] == "online"
    assert parse(connected["last_seen_at"]) < before <= parse(seen["last_seen_at"]) <= after

    assert (await a.ack("presence:set", {"status": "busy"}))["ok"]
    assert (await a.ack("presence:heartbeat", {"ignored": "field"}))["data"]["status"] == "busy"
    await wait_updates(b, alice, 2)
    await asyncio.sleep(QUIET)
    assert [u["status"] for u in updates(b, alice)] == ["online", "busy"]  # heartbeats announce nothing


async def test_a_heartbeat_without_a_payload_is_accepted_as_the_document_says(node, contract, user_id):
    a = await node.connect(user_id("alice"))
    answer = await a.ack("presence:heartbeat")  # no payload at all (the fixture checks it against the document)
    assert answer["ok"] is True and answer["data"]["status"] == "online", answer
    assert contract.payload_errors("presence:heartbeat", None) == []


@pytest.mark.parametrize("payload", ["alive", 5, [1, 2], True], ids=["string", "number", "list", "bool"])
async def test_a_malformed_heartbeat_is_refused_and_the_connection_carries_on(node, user_id, payload):
    a = await node.connect(user_id("alice"))
    answer = await a.ack("presence:heartbeat", payload)
    assert answer["ok"] is False and answer["error"]["code"] == "invalid_payload", answer
    assert (await a.ack("presence:heartbeat", {}))["ok"] is True


def stall(node, monkeypatch) -> None:
    """The node's keep-alive no longer reaches Redis, as when the node hangs or dies: its connections
    expire after PRESENCE_TTL and a sweep drops them, unless their clients send heartbeats."""

    async def stalled(_conns) -> None:
        pass

    monkeypatch.setattr(node.app[SERVICES].chat.presence, "keep_alive", stalled)


STALL_ENV = {"PRESENCE_TTL": 2}  # the shortest allowed, so the sweep comes soon


async def test_a_node_that_stops_refreshing_has_its_users_shown_offline_unless_they_heartbeat(
    spawn, sync_redis, settings, monkeypatch, user_id
):
    one, two = await spawn(**STALL_ENV), await spawn(**STALL_ENV)
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    await one.rest.create_room(bob, alice, carol)
    b = await one.connect(bob)
    a, _c = await two.connect(alice), await two.connect(carol)
    await wait_updates(b, alice, 1)
    await wait_updates(b, carol, 1)

    stall(two, monkeypatch)
    loop = asyncio.get_running_loop()
    stalled_at = loop.time()
    ttl, sweep = STALL_ENV["PRESENCE_TTL"], settings.presence.presence_sweep_interval
    # alice keeps sending heartbeats; carol does not.
    while len(updates(b, carol)) < 2:
        assert loop.time() - stalled_at < ttl + sweep + WAIT, "carol was never shown offline"
        assert (await a.ack("presence:heartbeat", {}))["data"]["presence_ttl"] == ttl
        await asyncio.sleep(0.2)
    assert loop.time() - stalled_at <= ttl + sweep + 1.0
    offline = updates(b, carol)[-1]
    assert offline["status"] == "offline" and offline["last_seen_at"] is not None
    assert await presence_of(one.rest, bob, carol) == offline

    assert sync_redis.zcard(f"{settings.redis.redis_prefix}presence:conns:{alice}") == 1
    assert (await a.ack("presence:heartbeat", {}))["ok"]
    await asyncio.sleep(QUIET)
    assert [u["status"] for u in updates(b, alice)] == ["online"]
    assert (await presence_of(one.rest, bob, alice))["status"] == "online"


async def test_an_invisible_user_of_a_node_that_stops_refreshing_is_dropped_silently(
    spawn, sync_redis, settings, monkeypatch, user_id
):
    one, two = await spawn(**STALL_ENV), await spawn(**STALL_ENV)
    bob, dave = user_id("bob"), user_id("dave")
    await one.rest.create_room(bob, dave)
    status, body = await one.rest.call("PUT", "/api/v1/me/status", dave, {"status": "invisible"})
    assert status == 200, body
    b = await one.connect(bob)
    await two.connect(dave)

    stall(two, monkeypatch)
    conns = f"{settings.redis.redis_prefix}presence:conns:{dave}"
    await eventually(lambda: sync_redis.zcard(conns) == 0, STALL_ENV["PRESENCE_TTL"] + WAIT, "dave to be swept")
    await asyncio.sleep(QUIET)
    assert updates(b, dave) == []


# -- device details -------------------------------------------------------------------------------------------


def _recorded_devices(sync_redis, settings) -> list[list]:
    return [json.loads(entry) for entry in sync_redis.smembers(f"{settings.redis.redis_prefix}flush:devices")]


async def test_device_details_are_accepted_in_auth_or_in_the_query_string_and_recorded(
    node, token, sync_redis, settings, user_id
):
    alice = user_id("alice")
    phone = await node.connect(alice, label="phone", device_unique_id="phone-1 ✓", preferred_language="pt-BR")
    tablet = await node.open(
        {"token": token(alice)}, query="?device_unique_id=tablet-2&preferred_language=en_GB", label="tablet"
    )
    bare = await node.connect(alice, label="bare", preferred_language="fr")
    for client in (phone, tablet, bare):
        assert client.all("session:ready")[0]["user"]["id"] == alice
        assert (await client.ack("presence:heartbeat", {}))["ok"]
    devices = [entry for entry in _recorded_devices(sync_redis, settings) if entry[0] == alice]
    assert sorted(devices) == [[alice, "phone-1 ✓", "pt-BR"], [alice, "tablet-2", "en_GB"]]


BAD_DEVICES = [
    ({"device_unique_id": ""}, "", "device_unique_id"),
    ({"device_unique_id": "x" * 201}, "", "device_unique_id"),
    ({"device_unique_id": "tab\there"}, "", "device_unique_id"),
    ({"device_unique_id": 12345}, "", "device_unique_id"),
    ({"preferred_language": "english please"}, "", "preferred_language"),
    ({"preferred_language": "e"}, "", "preferred_language"),
    ({"preferred_language": "en-" + "x" * 40}, "", "preferred_language"),
    ({"preferred_language": ["en"]}, "", "preferred_language"),
    ({"device_unique_id": "ok-1", "preferred_language": "pt_BR!"}, "", "preferred_language"),
    ({}, "?preferred_language=1234", "preferred_language"),
    ({}, "?device_unique_id=%00nul", "device_unique_id"),
]


async def test_bad_device_details_refuse_the_connection_and_announce_nothing(
    node, rest, token, sync_redis, settings, pair
):
    _room, alice, bob = pair
    b = await node.connect(bob)
    for auth, query, field in BAD_DEVICES:
        refusal = await node.refused({"token": token(alice), **auth}, query=query)
        assert refusal["data"]["code"] == "invalid_payload", (auth, query, refusal)
        assert field in refusal["data"]["details"]["fields"], (auth, query, refusal)
    await asyncio.sleep(QUIET)
    assert updates(b, alice) == []
    assert (await presence_of(rest, bob, alice)) == {"user_id": alice, "status": "offline", "last_seen_at": None}
    assert node.hub.connection_count == 1
    assert [entry for entry in _recorded_devices(sync_redis, settings) if entry[0] == alice] == []


# -- who may see it -------------------------------------------------------------------------------------------


async def test_presence_never_reaches_people_who_share_no_room(node, rest, pair, user_id):
    room, alice, bob = pair
    carol, dave = user_id("carol"), user_id("dave")
    await rest.create_room(carol, dave, name="Elsewhere")
    c = await node.connect(carol)
    b = await node.connect(bob)
    a = await node.connect(alice)
    assert (await a.ack("presence:set", {"status": "away"}))["ok"]
    assert (await a.ack("presence:heartbeat", {}))["ok"]
    await a.disconnect()
    assert [u["status"] for u in await wait_updates(b, alice, 3)] == ["online", "away", "offline"]
    # dave's connect reaches carol through the same topic, after everything alice did.
    await node.connect(dave)
    await wait_updates(c, dave, 1)
    await asyncio.sleep(QUIET)
    assert c.all("presence:update") == updates(c, dave)
    assert updates(b, dave) == [] and updates(b, carol) == []

    # bob leaves their only shared room: from then on he is a stranger to alice.
    await rest.leave(bob, room)
    a2 = await node.connect(alice, label="alice-2")
    assert (await a2.ack("presence:set", {"status": "busy"}))["ok"]
    await a2.disconnect()
    await asyncio.sleep(QUIET)
    assert len(updates(b, alice)) == 3
    status, body = await rest.call("GET", f"/api/v1/users/{alice}/presence", bob)
    assert status == 404 and body["code"] == "user_not_found", body


async def test_rest_presence_is_for_oneself_and_people_sharing_a_room(node, rest, pair, user_id):
    _room, alice, bob = pair
    stranger = user_id("stranger")
    await rest.create_room(stranger, name="Alone")
    await node.connect(alice)

    mine = await presence_of(rest, alice, alice)
    assert mine["user_id"] == alice and mine["status"] == "online" and mine["last_seen_at"] is not None
    assert await presence_of(rest, bob, alice) == mine
    # bob never connected: offline, never seen.
    assert await presence_of(rest, alice, bob) == {"user_id": bob, "status": "offline", "last_seen_at": None}
    assert await presence_of(rest, bob, bob) == {"user_id": bob, "status": "offline", "last_seen_at": None}

    # A stranger and a user who does not exist look the same: not found.
    for viewer, user in ((stranger, alice), (alice, stranger), (alice, user_id("nobody"))):
        status, body = await rest.call("GET", f"/api/v1/users/{user}/presence", viewer)
        assert status == 404 and body["code"] == "user_not_found", (viewer, user, body)

    status, body = await rest.call("GET", "/api/v1/users/%20padded%20/presence", alice)
    assert status == 400 and body["code"] == "invalid_payload", body


async def test_a_presence_change_is_encoded_once_for_everyone_who_shares_a_room(node, rest, user_id):
    """Everyone who shares a room with the user gets the change (each on their own topic), and the node
    encodes it once: the bus hands one event to all those topics (app/state/bus.py, `fanout`)."""
    owner, *others = [user_id(f"p{i}") for i in range(8)]
    await rest.create_room(owner, *others, name="Eight")
    clients = {user: await node.connect(user) for user in others}
    a = await node.connect(owner)
    for client in clients.values():
        await wait_updates(client, owner, 1)  # online
    stats = node.hub.stats.dialects["socketio"]
    encoded, sent = stats.encoded.get("presence:update", 0), stats.sent["presence:update"]
    assert (await a.ack("presence:set", {"status": "busy"}))["ok"]
    for client in clients.values():
        assert [u["status"] for u in await wait_updates(client, owner, 2)] == ["online", "busy"]
    await eventually(lambda: stats.sent["presence:update"] - sent == len(others) + 1, WAIT, "every frame sent")
    assert stats.encoded["presence:update"] - encoded == 1  # one encoding for eight frames (the owner's own too)
