"""Redis losing its last writes (a machine crash under `appendfsync everysec`, a failover to a lagging
replica) steps a room's counter back, so the next send is given a seq that a persisted message holds.
The message was acknowledged: the worker gives it the room's next free seq instead of dropping it, and
the room hears it again at that seq. Real node, real clients, a real worker process (`drain`)."""

from __future__ import annotations

from app.web import SERVICES
from tests.realtime.conftest import eventually


async def test_a_message_acknowledged_after_the_counter_stepped_back_is_stored_at_a_new_seq(
    node, rest, user_id, drain, pg
):
    alice, bob = user_id("alice"), user_id("bob")
    room = await rest.create_room(alice, bob)
    a, b = await node.connect(alice), await node.connect(bob)
    await a.join(room)
    await b.join(room)
    for i in range(1, 4):
        await a.send(room, f"before {i}")
    await drain()
    assert pg("SELECT seq FROM messages WHERE room_id = %s ORDER BY seq", (int(room),)) == [(1,), (2,), (3,)]

    services = node.app[SERVICES]
    await services.redis.set(services.keys.seq(room), 1)  # Redis came back one second behind
    sent = await a.send(room, "after the crash", client_ref="after-1")
    assert sent["ok"] and sent["data"]["seq"] == 2, sent  # a seq Postgres already holds
    message_id = sent["data"]["id"]
    await drain()

    stored = pg("SELECT seq, content FROM messages WHERE room_id = %s ORDER BY seq", (int(room),))
    assert stored == [(1, "before 1"), (2, "before 2"), (3, "before 3"), (4, "after the crash")]
    assert pg("SELECT count(*) FROM messages WHERE id = %s", (int(message_id),)) == [(1,)]
    # The room heard it again at its new seq; history and a resend with its client_ref agree.
    await eventually(lambda: [m["seq"] for m in b.messages(room) if m["id"] == message_id] == [2, 4], what="moved")
    status, page = await rest.call("GET", f"/api/v1/rooms/{room}/messages", bob)
    assert status == 200 and [(m["seq"], m["content"]) for m in page["messages"]][-2:] == [
        (3, "before 3"),
        (4, "after the crash"),
    ]
    again = await a.send(room, "after the crash", client_ref="after-1")
    assert (again["data"]["seq"], again["data"]["id"], again["data"]["duplicate"]) == (4, message_id, True)
    # The counter is past Postgres now: the next message takes the next seq, and nothing is left waiting.
    assert (await a.send(room, "next"))["data"]["seq"] == 5
    await drain()
    assert pg("SELECT max(seq), count(*) FROM messages WHERE room_id = %s", (int(room),)) == [(5, 5)]
    assert await services.redis.hlen(services.keys.outbox) == 0
