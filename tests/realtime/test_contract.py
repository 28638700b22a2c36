"""The AsyncAPI document: served, complete, and true to what the server really sends and accepts.

Every client of the tier is checked against the document when its test ends (see conftest.py); the
tour below makes sure one test meets every documented acknowledgement, success and failure, and
every documented server event, all produced by the real server."""

from __future__ import annotations

from app.chat.errors import Code
from app.web import SERVICES, VERSION
from tests.realtime.conftest import contract_violations, disable_user
from tests.shapes import UNCHANGED_MESSAGE_FIELDS

RESERVED = {"connect", "disconnect", "*"}


async def test_the_asyncapi_document_is_served(node, asyncapi):
    status, document = await node.rest.get_json("/api/asyncapi.json")
    assert status == 200
    assert document == asyncapi
    assert document["asyncapi"] == "3.0.0" and document["info"]["version"] == VERSION
    assert document["channels"]["socket"]["address"] == "/socket.io/"


async def test_every_event_the_gateway_handles_is_documented_and_every_documented_one_is_handled(node, contract):
    handled = set(node.app[SERVICES].gateway.sio.handlers["/"]) - RESERVED
    assert handled == set(contract.client_events)
    assert "*" in node.app[SERVICES].gateway.sio.handlers["/"]  # unknown events are answered too


async def test_every_documented_error_code_is_listed_in_the_description(asyncapi):
    for code in Code:
        assert f"`{code.value}`" in asyncapi["info"]["description"]


async def test_a_tour_of_every_event_validates_against_the_document(node, rest, contract, settings, user_id, drain):
    alice, bob, carol, dave, erin = user_id("alice"), user_id("bob"), user_id("carol"), user_id("dave"), user_id("erin")
    room = await rest.create_room(alice, bob, carol, erin, name="Tour")
    a, b, c = await node.connect(alice), await node.connect(bob), await node.connect(carol)
    d = await node.connect(dave)
    for client in (a, b, c):
        await client.join(room)

    # Client events, each answered both ways.
    await a.ack("room:join", {"room_id": room, "since_seq": 0})
    await a.ack("room:join", {"room_id": "nope"})
    await a.send(room, "hello", client_ref="t-1")
    await a.send(room, "hello", client_ref="t-1")  # duplicate
    await a.send(room, "hi")  # no client_ref
    await a.send(room, "x" * 5000, client_ref="t-2")
    await a.send("123", "")
    await a.ack("message:send", "not an object")
    await a.ack("sync", {"rooms": [{"room_id": room, "since_seq": 1}, {"room_id": "9999"}]})
    await a.ack("sync", {"rooms": [{"room_id": []}]})
    await a.ack("direct:start", {"user_id": dave})
    await a.ack("direct:start", {"user_id": 7})
    await a.ack("direct:start", {})
    await a.ack("presence:set", {"status": "available"})
    await a.ack("presence:set", {"status": "sleeping"})
    await a.ack("presence:heartbeat")
    await a.ack("presence:heartbeat", "not an object")
    await a.ack("typing:start", {"room_id": room})
    await a.ack("typing:start", {"room_id": "9999"})
    await a.ack("typing:stop", {"room_id": room})
    await a.ack("typing:stop", {})
    await b.ack("room:read", {"room_id": room})
    await b.ack("room:read", {"room_id": room, "seq": 10_000})
    await a.ack("notifications:ack", {"ids": ["1"]})
    await a.ack("notifications:ack", {"ids": []})
    sent = await a.send(room, "to edit", client_ref="t-5")
    await a.ack("message:edit", {"message_id": sent["data"]["id"], "content": "edited"})
    await a.ack("message:edit", {"message_id": sent["data"]["id"]})
    await b.ack("reaction:toggle", {"message_id": sent["data"]["id"], "emoji": "🎉"})
    await b.ack("reaction:toggle", {"message_id": sent["data"]["id"], "emoji": "no"})
    await a.ack("favorite:toggle", {"id": room, "type": "room"})
    await a.ack("favorite:toggle", {"id": room, "type": "galaxy"})
    await a.ack("message:delete", {"message_id": sent["data"]["id"]})
    await a.ack("message:delete", {"message_id": sent["data"]["id"]})
    await a.ack("room:leave", {"room_id": room})
    await a.ack("room:leave", [])
    await a.ack("no:such:event", {"client_ref": "t-3"})
    await a.emit("message:send", {"room_id": "0", "content": "lost", "client_ref": "t-4"})
    await a.emit("no:such:event", {})
    await a.eio.send("2[broken")
    await a.wait_for_count("error", 3)

    # Server events.
    await b.next("message:updated")
    await b.next("reaction:update")
    await b.next("message:deleted")
    await b.next("presence:update")
    await b.next("typing:update")
    await c.next("receipt:read")
    await b.next("unread:update")
    await rest.add_members(alice, room, dave)
    await d.next("room:added")
    await d.next("people:update")
    await rest.send(bob, room, "while erin is away")
    await drain()
    await d.next("notification:new")  # dave is online but does not follow the room
    e = await node.connect(erin)
    await e.next("notification:pending")
    await a.ack("favorite:toggle", {"id": room, "type": "room"})  # off again: alice's other events are done
    await a.next("favorites:update")
    await rest.remove_member(alice, room, carol)
    await c.next("room:removed")
    await b.next("room:members_changed")
    await b.wait_for_count("room:members_changed", 2)
    await disable_user(settings, carol)
    await c.wait_gone()
    await b.wait_message(room, 2)

    refused = await node.refused(auth={"token": "garbage"})
    assert contract.error_object_errors(refused["data"]) == []
    # Last: the node stops (as on SIGTERM) and tells its clients to reconnect elsewhere.
    await node.gateway.drain(reconnect_spread_ms=100, close_within=5)
    await b.next("server:shutdown")

    clients = [a, b, c, d, e]
    met_events = {name for client in clients for name, _ in client.received}
    assert met_events == set(contract.server_events), set(contract.server_events) - met_events
    outcomes = {(event, answer["ok"]) for client in clients for event, _, answer in client.acks}
    assert {(event, ok) for event in contract.client_events for ok in (True, False)} <= outcomes
    problems = [problem for client in clients for problem in contract_violations(contract, client)]
    assert problems == []


async def test_the_contract_check_catches_a_payload_the_document_does_not_allow(contract):
    """The checker itself: a payload off the document is reported, so a silent pass means something."""
    message = {
        "id": "1",
        "room_id": "2",
        "seq": 3,
        "sender_id": "u",
        "type": "text",
        "content": "c",
        "client_ref": None,
        "created_at": "2026-01-01T00:00:00.000Z",
        **UNCHANGED_MESSAGE_FIELDS,
    }
    assert contract.server_event_errors("message:new", message) == []
    assert contract.server_event_errors("message:new", {**message, "reactions": [{"emoji": "x"}]})
    assert contract.server_event_errors("message:new", {**message, "seq": "3"})
    assert contract.server_event_errors("message:new", {**message, "created_at": "yesterday"})
    assert contract.server_event_errors("message:new", {**message, "extra": 1})
    assert contract.server_event_errors("room:moved", {})
    assert contract.ack_errors("message:send", {"ok": True, "data": {"status": "sent"}})
    assert contract.ack_errors("room:join", {"ok": False, "error": {"code": "no_such_code", "message": "m"}})
    assert contract.server_event_errors("error", {"code": "unknown_event", "message": "m", "event": 1})
