"""A first path through REST: create a group, send, read history."""


async def test_a_group_can_be_created_messaged_and_read(client, token, user_id):
    alice, bob = user_id("alice"), user_id("bob")
    headers = {"Authorization": f"Bearer {token(alice, 'Alice')}"}
    response = await client.post("/api/v1/rooms", json={"name": "Team", "participants": [bob]}, headers=headers)
    assert response.status == 201
    room = await response.json()
    assert [m["user_id"] for m in room["members"]] == [alice, bob]
    sent = await client.post(
        f"/api/v1/rooms/{room['id']}/messages", json={"content": "hi", "client_ref": "r1"}, headers=headers
    )
    assert sent.status == 201
    history = await client.get(
        f"/api/v1/rooms/{room['id']}/messages", headers={"Authorization": f"Bearer {token(bob)}"}
    )
    page = await history.json()
    assert [(m["seq"], m["content"], m["sender_id"]) for m in page["messages"]] == [(1, "hi", alice)]
