"""A first path through Socket.IO: two users, one room, one message."""


async def test_a_message_reaches_the_other_member_once(connect, client, token, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    response = await client.post(
        "/api/rooms", json={"name": "T", "participants": [bob]}, headers={"Authorization": f"Bearer {token(alice)}"}
    )
    room_id = (await response.json())["id"]
    a, b = await connect(alice), await connect(bob)
    assert (await b.ack("room:join", {"room_id": room_id}))["ok"]
    ack = await a.ack("message:send", {"room_id": room_id, "content": "hello", "client_ref": "c1"})
    assert ack["ok"] and ack["data"]["status"] == "sent" and ack["data"]["seq"] == 1
    [message] = await b.wait_for_count("message:new", 1)
    assert message["content"] == "hello" and message["sender_id"] == alice
