"""The push webhook, end to end through a real worker process: a persisted message's notify job stores
notifications for offline members and enqueues one signed POST of them; a receiver that fails gets it
again after each of WEBHOOK_RETRY_INTERVALS, and a delivery that never succeeds stays in the failed
registry of the `notifications` queue with its reason. The receiver is a real HTTP server on localhost."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time

import orjson
import pytest
from aiohttp import web
from rq.registry import FailedJobRegistry

from app.jobs.names import DELIVER_WEBHOOK
from app.jobs.queues import enqueue_persist, open_queue
from app.state.keys import MESSAGES_QUEUE, NOTIFICATIONS_QUEUE
from app.storage.models import MembershipRow
from tests.worker.conftest import now_ms

SECRET = "webhook-secret-" + "s" * 24


class Receiver:
    """Answers each POST with the next status of `statuses` (the last one repeats), keeping the requests."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((dict(request.headers), body))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return web.json_response({"received": len(self.requests)}, status=status)


@pytest.fixture
def receiver(aiohttp_server):
    async def start(*statuses: int) -> tuple[Receiver, str]:
        hook = Receiver(*statuses)
        app = web.Application()
        app.router.add_post("/hook", hook.handle)
        server = await aiohttp_server(app)
        return hook, str(server.make_url("/hook"))

    return start


def verified(headers: dict[str, str], body: bytes, secret: str = SECRET) -> bool:
    """Check `X-Chat-Signature` as a receiver does: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    parts = dict(part.split("=", 1) for part in headers["X-Chat-Signature"].split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 120


async def pending_ids(client, token, user: str) -> list[str]:
    response = await client.get("/api/v1/notifications", headers={"Authorization": f"Bearer {token(user)}"})
    assert response.status == 200, await response.text()
    return [n["id"] for n in (await response.json())["notifications"]]


def persist(lane, group, *contents: str) -> list[dict]:
    """Messages from the group's owner, written to the outbox as a web node does and enqueued for the worker."""
    created = now_ms()
    fields = [lane.put(group.room_id, seq, group.owner, created + seq, text) for seq, text in enumerate(contents, 1)]
    records = [lane.record(field) for field in fields]
    enqueue_persist(open_queue(lane.redis, lane.keys, MESSAGES_QUEUE), fields, timeout=30, retry_intervals=[])
    return records


def failed_jobs(lane) -> list:
    queue = open_queue(lane.redis, lane.keys, NOTIFICATIONS_QUEUE)
    return [queue.fetch_job(job_id) for job_id in FailedJobRegistry(queue=queue).get_job_ids()]


async def test_a_failed_delivery_is_retried_and_each_attempt_is_signed(lane, group, receiver, drain, client, token):
    lane = lane()
    owner, bob, carol = group.members
    hook, url = await receiver(500, 200)
    records = persist(lane, group, "first  one", "second\none")
    # carol read both messages already (her cursor, as the web node moves it): she is not pushed.
    lane.redis.hset(lane.keys.read_cursors(carol), group.room_id, 2)

    await drain(**lane.env, PUSH_WEBHOOK_URL=url, PUSH_WEBHOOK_SECRET=SECRET)

    assert len(hook.requests) == 2, hook.requests  # 500, then the retry that got 200
    (first_headers, first_body), (headers, body) = hook.requests
    for h, b in hook.requests:
        assert verified(h, b)
        assert not verified(h, b, secret="another-secret-" + "x" * 20)
        assert h["Content-Type"] == "application/json"
    assert body == first_body  # the same delivery, resent
    payload = orjson.loads(body)
    assert headers["X-Chat-Delivery"] == first_headers["X-Chat-Delivery"] == payload["delivery_id"]
    assert payload["delivery_id"]
    notes = sorted(payload["notifications"], key=lambda n: n["seq"])
    assert [
        {k: n[k] for k in ("user_id", "room_id", "message_id", "seq", "sender_id", "excerpt", "created_at")}
        for n in notes
    ] == [
        {
            "user_id": bob,
            "room_id": group.room_id,
            "message_id": r["id"],
            "seq": r["seq"],
            "sender_id": owner,
            "excerpt": excerpt,
            "created_at": r["created_at"],
        }
        for r, excerpt in zip(records, ("first one", "second one"), strict=True)
    ]
    # The ids are those of the stored notifications the user can list and acknowledge.
    assert [n["id"] for n in notes] == await pending_ids(client, token, bob)
    assert await pending_ids(client, token, carol) == []
    assert await pending_ids(client, token, owner) == []
    assert failed_jobs(lane) == []


@pytest.mark.parametrize("intervals", ["0,0", "0"])
async def test_a_delivery_that_keeps_failing_ends_in_the_failed_registry_with_its_reason(
    lane, group, receiver, drain, client, token, intervals
):
    lane = lane(WEBHOOK_RETRY_INTERVALS=intervals)
    _owner, bob, carol = group.members
    hook, url = await receiver(500)
    persist(lane, group, "never delivered")

    await drain(**lane.env, PUSH_WEBHOOK_URL=url, PUSH_WEBHOOK_SECRET=SECRET)

    retries = len(intervals.split(","))
    assert len(hook.requests) == 1 + retries
    assert len({h["X-Chat-Delivery"] for h, _ in hook.requests}) == 1
    assert all(verified(h, b) for h, b in hook.requests)
    [job] = failed_jobs(lane)
    assert job.func_name == DELIVER_WEBHOOK
    assert job.retries_left == 0
    assert "HTTP 500" in job.latest_result().exc_string
    assert {n["user_id"] for n in job.args[0]["notifications"]} == {bob, carol}
    # The push failed; the notifications themselves are still pending for the users.
    assert len(await pending_ids(client, token, bob)) == 1
    assert len(await pending_ids(client, token, carol)) == 1


async def test_an_unreachable_webhook_fails_with_the_reason(lane, group, drain):
    lane = lane(WEBHOOK_RETRY_INTERVALS="0", WEBHOOK_TIMEOUT=2)
    with socket.socket() as probe:  # a local port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    persist(lane, group, "nobody home")

    await drain(**lane.env, PUSH_WEBHOOK_URL=f"http://127.0.0.1:{port}/hook", PUSH_WEBHOOK_SECRET=SECRET)

    [job] = failed_jobs(lane)
    assert job.func_name == DELIVER_WEBHOOK and job.retries_left == 0
    assert "could not be reached" in job.latest_result().exc_string


async def test_without_a_webhook_url_nothing_is_pushed_and_the_notifications_are_stored(
    lane, group, drain, client, token
):
    lane = lane()
    _owner, bob, carol = group.members
    persist(lane, group, "quiet")
    await drain(**lane.env, PUSH_WEBHOOK_URL="")
    assert failed_jobs(lane) == []
    for user in (bob, carol):
        assert len(await pending_ids(client, token, user)) == 1


async def test_a_member_who_read_the_messages_per_postgres_alone_is_not_notified(lane, group, drain, client, token, db):
    """After a Redis data loss the read cursors live only in Postgres (memberships.last_read_seq): the notify
    job takes the further of the two, so a member who had read the messages is not notified again."""
    lane = lane()
    _owner, bob, carol = group.members
    MembershipRow.update(last_read_seq=2).where(
        (MembershipRow.room_id == int(group.room_id)) & (MembershipRow.user_id == carol)
    ).execute()
    lane.redis.hset(lane.keys.read_cursors(bob), group.room_id, 1)  # Redis ahead of Postgres for bob
    persist(lane, group, "one", "two")
    await drain(**lane.env, PUSH_WEBHOOK_URL="")
    assert await pending_ids(client, token, carol) == []
    assert len(await pending_ids(client, token, bob)) == 1  # the second message only
