"""Persistence jobs, run by a real non-forking RQ worker against real Redis and Postgres."""

import orjson
import pytest
from rq.registry import FailedJobRegistry

from app.jobs.queues import enqueue_persist, open_queue
from app.state.keys import MESSAGES_QUEUE, Keys, outbox_field
from app.storage.models import MessageRow


@pytest.fixture
async def room(client, token, user_id):
    owner = user_id("owner")
    response = await client.post(
        "/api/v1/rooms", json={"name": "W"}, headers={"Authorization": f"Bearer {token(owner)}"}
    )
    return (await response.json())["id"], owner


async def test_acknowledged_messages_are_persisted_once_and_leave_the_outbox(
    client, room, token, drain, sync_redis, settings
):
    room_id, owner = room
    headers = {"Authorization": f"Bearer {token(owner)}"}
    for i in range(5):
        response = await client.post(f"/api/v1/rooms/{room_id}/messages", json={"content": f"m{i}"}, headers=headers)
        assert response.status == 201
    keys = Keys(settings.redis.redis_prefix)
    assert sync_redis.hexists(keys.outbox, outbox_field(room_id, 5))
    await drain()
    rows = list(MessageRow.select().where(MessageRow.room_id == int(room_id)).order_by(MessageRow.seq))
    assert [(r.seq, r.content) for r in rows] == [(i + 1, f"m{i}") for i in range(5)]
    assert not sync_redis.hexists(keys.outbox, outbox_field(room_id, 5))


async def test_a_duplicated_job_inserts_nothing_twice(client, room, token, drain, sync_redis, settings):
    room_id, owner = room
    headers = {"Authorization": f"Bearer {token(owner)}"}
    await client.post(f"/api/v1/rooms/{room_id}/messages", json={"content": "once"}, headers=headers)
    keys = Keys(settings.redis.redis_prefix)
    body = sync_redis.hget(keys.outbox, outbox_field(room_id, 1))
    await drain()
    # The same message enqueued again after it was persisted: put it back in the outbox and enqueue twice.
    sync_redis.hset(keys.outbox, outbox_field(room_id, 1), body)
    queue = open_queue(sync_redis, keys, MESSAGES_QUEUE)
    for _ in range(2):
        enqueue_persist(queue, [outbox_field(room_id, 1)], timeout=30, retry_intervals=[])
    await drain()
    assert MessageRow.select().where(MessageRow.room_id == int(room_id)).count() == 1


async def test_a_job_that_keeps_failing_is_retried_and_kept_in_the_failed_registry_with_its_reason(
    sync_redis, settings, drain, room
):
    room_id, _owner = room
    keys = Keys(settings.redis.redis_prefix)
    # A message whose sender has no user row: Postgres refuses it (foreign key), every time.
    record = {
        "id": "999000111", "room_id": room_id, "seq": 77, "sender_id": "nobody-at-all", "type": "text",
        "content": "x", "client_ref": None, "created_at": "2026-01-01T00:00:00.000Z",
    }  # fmt: skip
    field = outbox_field(room_id, 77)
    sync_redis.hset(keys.outbox, field, orjson.dumps(record))
    queue = open_queue(sync_redis, keys, MESSAGES_QUEUE)
    job_id = enqueue_persist(queue, [field], timeout=30, retry_intervals=settings.queue.retry_intervals)
    await drain()
    registry = FailedJobRegistry(queue=queue)
    assert job_id in registry.get_job_ids()
    job = queue.fetch_job(job_id)
    assert job.retries_left == 0
    assert "ForeignKeyViolation" in job.latest_result().exc_string
    # Nothing was dropped: the message is still waiting in the outbox.
    assert sync_redis.hexists(keys.outbox, field)
    sync_redis.hdel(keys.outbox, field)
