"""Edits, deletes, reactions, replies, message types, system messages, favorites and the people list, with
real Socket.IO clients on real sockets; persistence through a real worker (`drain`)."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp

from app.storage.models import MessageRow
from tests.realtime.conftest import eventually


async def ok(client, event: str, payload: dict) -> dict:
    answer = await client.ack(event, payload)
    assert answer["ok"], answer
    return answer["data"]


async def refused(client, event: str, payload: dict) -> str:
    answer = await client.ack(event, payload)
    assert not answer["ok"], answer
    return answer["error"]["code"]


async def test_an_edit_reaches_the_room_shows_in_history_and_is_persisted_once(node, rest, user_id, drain, db):
    alice, bob, eve = user_id("alice"), user_id("bob"), user_id("eve")
    room = await rest.create_room(alice, bob)
    a, b, e = await node.connect(alice), await node.connect(bob), await node.connect(eve)
    await b.join(room)
    sent = (await a.send(room, "helo"))["data"]
    edited = (await ok(a, "message:edit", {"message_id": sent["id"], "content": "hello"}))["message"]
    assert (edited["content"], edited["seq"]) == ("hello", sent["seq"])
    assert edited["edited_at"] and int(edited["version"]) > 0
    live = await b.next("message:updated")
    assert live["message"]["content"] == "hello" and live["message"]["version"] == edited["version"]
    # Before and after the worker ran, history shows the edit.
    assert [m["content"] for m in (await rest.history(bob, room))["messages"]] == ["hello"]
    await drain()
    row = MessageRow.get(MessageRow.id == int(sent["id"]))
    assert (row.content, str(row.version)) == ("hello", edited["version"])
    assert [m["content"] for m in (await rest.history(bob, room))["messages"]] == ["hello"]
    # Others may not edit: a member who is not the sender, and someone outside the room.
    assert await refused(b, "message:edit", {"message_id": sent["id"], "content": "mine now"}) == "not_sender"
    assert await refused(e, "message:edit", {"message_id": sent["id"], "content": "x"}) == "message_not_found"
    assert await refused(a, "message:edit", {"message_id": sent["id"], "content": "  "}) == "content_empty"
    assert await refused(a, "message:edit", {"message_id": "123456789", "content": "x"}) == "message_not_found"
    assert await refused(a, "message:edit", {"message_id": "../1", "content": "x"}) == "invalid_payload"


async def test_a_delete_leaves_a_tombstone_the_owner_may_delete_any_message(node, rest, user_id, drain):
    owner, bob, carol = user_id("owner"), user_id("bob"), user_id("carol")
    room = await rest.create_room(owner, bob, carol)
    o, b, c = await node.connect(owner), await node.connect(bob), await node.connect(carol)
    await o.join(room)
    first = (await b.send(room, "first"))["data"]
    second = (await b.send(room, "second"))["data"]
    assert await refused(c, "message:delete", {"message_id": first["id"]}) == "not_sender"
    gone = await ok(b, "message:delete", {"message_id": first["id"]})
    assert (gone["id"], gone["seq"], gone["deleted_by"]) == (first["id"], first["seq"], bob)
    assert (await o.next("message:deleted"))["id"] == first["id"]
    status, body = await rest.call("DELETE", f"/api/v1/messages/{second['id']}", owner)  # the owner, over REST
    assert status == 200 and body["deleted_by"] == owner, body
    for _ in range(2):  # before and after persistence
        messages = (await rest.history(carol, room))["messages"]
        assert [(m["seq"], m["content"], bool(m["deleted_at"])) for m in messages][-2:] == [
            (first["seq"], "", True),
            (second["seq"], "", True),
        ]
        await drain()
    assert await refused(b, "message:delete", {"message_id": first["id"]}) == "message_deleted"
    assert await refused(b, "message:edit", {"message_id": first["id"], "content": "back"}) == "message_deleted"


async def test_reactions_toggle_live_and_over_rest_and_history_groups_them(node, rest, user_id, drain):
    alice, bob, eve = user_id("alice"), user_id("bob"), user_id("eve")
    room = await rest.create_room(alice, bob)
    a, b, e = await node.connect(alice), await node.connect(bob), await node.connect(eve)
    await a.join(room)
    sent = (await a.send(room, "react to me"))["data"]
    on = await ok(b, "reaction:toggle", {"message_id": sent["id"], "emoji": "👍🏽"})
    assert (on["reacted"], on["changed"]) == (True, True)
    assert on["reactions"] == [{"emoji": "👍🏽", "count": 1, "user_ids": [bob]}]
    assert (await a.next("reaction:update"))["reactions"] == on["reactions"]
    status, body = await rest.call("POST", f"/api/v1/messages/{sent['id']}/reactions", alice, {"emoji": "👍🏽"})
    assert status == 200 and body["reactions"] == [{"emoji": "👍🏽", "count": 2, "user_ids": [bob, alice]}], body
    await ok(a, "reaction:toggle", {"message_id": sent["id"], "emoji": "🇫🇷"})
    off = await ok(b, "reaction:toggle", {"message_id": sent["id"], "emoji": "👍🏽"})
    assert off["reacted"] is False
    status, body = await rest.call("DELETE", f"/api/v1/messages/{sent['id']}/reactions/{quote('🇫🇷')}", alice)
    assert status == 200 and body["changed"] is True, body
    await drain()
    [message] = (await rest.history(bob, room))["messages"]
    assert message["reactions"] == [{"emoji": "👍🏽", "count": 1, "user_ids": [alice]}]
    for bad in ("abc", "👍👍", "", "<script>", "👍 "):
        assert await refused(b, "reaction:toggle", {"message_id": sent["id"], "emoji": bad}) == "invalid_emoji", bad
    assert await refused(e, "reaction:toggle", {"message_id": sent["id"], "emoji": "👍"}) == "message_not_found"


async def test_replies_name_a_message_of_the_same_room_and_types_are_checked(node, rest, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room, other = await rest.create_room(alice, bob), await rest.create_room(alice, bob, name="other")
    a = await node.connect(alice)
    await a.join(room)
    first = (await a.send(room, "question?"))["data"]
    reply = await ok(a, "message:send", {"room_id": room, "content": "answer", "reply_to": first["id"]})
    live = await a.wait_message(room, reply["seq"])
    assert live["reply_to"] == first["id"]
    foreign = await refused(a, "message:send", {"room_id": other, "content": "x", "reply_to": first["id"]})
    assert foreign == "reply_not_found"
    image = await ok(a, "message:send", {"room_id": room, "content": "https://example.org/cat.png", "type": "image"})
    assert (await a.wait_message(room, image["seq"]))["type"] == "image"
    assert await refused(a, "message:send", {"room_id": room, "content": "x", "type": "system"}) == "invalid_payload"
    status, body = await rest.call("POST", f"/api/v1/rooms/{room}/messages", alice, {"content": "x", "type": "system"})
    assert (status, body["code"]) == (400, "invalid_payload")


async def test_membership_changes_and_direct_chats_leave_system_messages(node, rest, user_id):
    alice, bob, carol = user_id("alice"), user_id("bob"), user_id("carol")
    a = await node.connect(alice)
    direct = (await ok(a, "direct:start", {"user_id": bob}))["room"]["id"]
    [started] = (await rest.history(alice, direct))["messages"]
    assert (started["type"], started["content"], started["meta"]["event"]) == (
        "system",
        "Direct chat started",
        "direct_started",
    )
    room = await rest.create_room(alice, bob)
    await rest.add_members(alice, room, carol)
    await rest.remove_member(alice, room, bob)
    events = [m["meta"] for m in (await rest.history(carol, room))["messages"] if m["type"] == "system"]
    assert events == [
        {"event": "members_added", "user_ids": [carol], "by": alice},
        {"event": "member_removed", "user_ids": [bob], "by": alice},
    ]
    system_id = (await rest.history(carol, room))["messages"][0]["id"]
    assert await refused(a, "message:edit", {"message_id": system_id, "content": "x"}) == "system_message"


async def test_favorites_and_people_come_on_connect_and_changes_are_pushed(node, rest, user_id):
    alice, bob, carol, dave = user_id("alice"), user_id("bob"), user_id("carol"), user_id("dave")
    room = await rest.create_room(alice, bob)
    await rest.create_room(dave, name="dave's")  # dave exists but shares no room with alice
    a1 = await node.connect(alice)
    ready = a1.all("session:ready")[0]
    assert [p["user_id"] for p in ready["people"]] == [bob] and ready["favorites"] == []
    b = await node.connect(bob)
    a2 = await node.connect(alice)
    marked = await ok(a1, "favorite:toggle", {"id": room, "type": "ROOM"})
    assert marked["favorite"] is True and [(f["type"], f["id"]) for f in marked["favorites"]] == [("room", room)]
    assert (await a2.next("favorites:update"))["favorites"] == marked["favorites"]
    status, body = await rest.call("PUT", f"/api/v1/me/favorites/user/{bob}", alice)
    assert status == 200 and [f["id"] for f in body["favorites"]] == [room, bob], body
    assert (await ok(a1, "favorite:toggle", {"id": room, "type": "room"}))["favorite"] is False
    assert await refused(a1, "favorite:toggle", {"id": "999999999", "type": "room"}) == "room_not_found"
    assert await refused(a1, "favorite:toggle", {"id": "nobody-at-all", "type": "user"}) == "user_not_found"
    assert await refused(a1, "favorite:toggle", {"id": room, "type": "planet"}) == "invalid_payload"
    # A new member: both sides learn of each other; a removed one: both forget.
    await rest.add_members(alice, room, carol)
    added = await a1.next("people:update")
    assert [p["user_id"] for p in added["added"]] == [carol] and added["removed"] == []
    assert {p["user_id"] for p in (await b.next("people:update"))["added"]} == {carol}
    await rest.remove_member(alice, room, carol)
    await eventually(lambda: any(u["removed"] == [carol] for u in a1.all("people:update")), what="removal")
    status, body = await rest.call("GET", "/api/v1/me/people", alice)
    assert status == 200 and [p["user_id"] for p in body["people"]] == [bob], body
    a3 = await node.connect(alice)
    assert [f["id"] for f in a3.all("session:ready")[0]["favorites"]] == [bob]


async def test_a_removed_members_room_favorite_no_longer_shows_and_can_be_dropped(node, rest, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    status, body = await rest.call("PUT", f"/api/v1/me/favorites/room/{room}", bob)
    assert status == 200 and [f["id"] for f in body["favorites"]] == [room], body
    await rest.remove_member(alice, room, bob)
    status, body = await rest.call("GET", "/api/v1/me/favorites", bob)
    assert status == 200 and body["favorites"] == [], body
    b = await node.connect(bob)
    assert b.all("session:ready")[0]["favorites"] == []
    # Marking it again needs membership; dropping it does not.
    assert await refused(b, "favorite:toggle", {"id": room, "type": "room", "on": True}) == "not_member"
    dropped = await ok(b, "favorite:toggle", {"id": room, "type": "room", "on": False})
    assert dropped == {"favorite": False, "favorites": []}
    await rest.add_members(alice, room, bob)  # back in the room: the favorite was dropped, it does not return
    status, body = await rest.call("GET", "/api/v1/me/favorites", bob)
    assert status == 200 and body["favorites"] == [], body


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a1f8e5ee0000000049454e44ae426082"
)


async def upload(node, user: str, data: bytes, name: str) -> dict:
    form = aiohttp.FormData()
    form.add_field("myFile", data, filename=name, content_type="text/html")  # the claim is ignored
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {node.token(user)}"}
        async with session.post(node.url.rstrip("/") + "/api/v1/attachments", data=form, headers=headers) as response:
            assert response.status == 201, await response.text()
            return await response.json()


async def test_a_message_with_an_attachment_carries_a_fresh_link_to_members_only(node, rest, user_id, drain):
    alice, bob, eve = user_id("alice"), user_id("bob"), user_id("eve")
    room = await rest.create_room(alice, bob)
    a, b = await node.connect(alice), await node.connect(bob)
    await b.join(room)
    uploaded = await upload(node, alice, PNG, "../../cat.png")
    assert (uploaded["content_type"], uploaded["kind"], uploaded["name"]) == ("image/png", "image", "cat.png")
    # Someone else's upload cannot be sent; the uploader's can, the caption is optional, the type is the file's.
    refused_code = await refused(b, "message:send", {"room_id": room, "attachment_id": uploaded["id"]})
    assert refused_code == "attachment_not_found"
    sent = await ok(a, "message:send", {"room_id": room, "attachment_id": uploaded["id"], "type": "text"})
    live = await b.wait_message(room, sent["seq"])
    assert (live["type"], live["content"], live["attachment"]["id"]) == ("image", "", uploaded["id"])
    async with aiohttp.ClientSession() as session:
        async with session.get(node.url.rstrip("/") + live["attachment"]["url"]) as response:
            assert response.status == 200 and await response.read() == PNG
    # A fresh link by message id, before and after persistence; not for someone outside the room.
    for _ in range(2):
        status, body = await rest.call("GET", f"/api/v1/messages/{sent['id']}/attachment-url", bob)
        assert status == 200 and body["id"] == uploaded["id"], body
        await drain()
    status, body = await rest.call("GET", f"/api/v1/messages/{sent['id']}/attachment-url", eve)
    assert status in (403, 404), body
    [message] = (await rest.history(bob, room))["messages"]
    assert message["attachment"]["url"] and message["attachment"]["name"] == "cat.png"
