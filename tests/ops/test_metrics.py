"""`GET /metrics`: Prometheus text that `prometheus_client`'s own parser reads, whose values move with
real traffic (a connection, a send and its acknowledgement, an unknown event, a queued job, a failed
job run by a real worker); and the seeds' JSON queue counts. Each test on its own key prefix, so the
queue and outbox figures are its own."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from app.gateways.socketio.contract import CLIENT_EVENTS
from app.jobs.queues import FAILURE_TTL, open_queue
from app.rest.ops import prefers_json
from app.state.keys import NOTIFICATIONS_QUEUE, Keys

WAIT = 10.0


class Scrape:
    """One parsed scrape: sample values by sample name and labels."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples: dict[tuple[str, frozenset], float] = {}
        for family in self.families.values():
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def __call__(self, name: str, **labels: str) -> float:
        return self.samples[(name, frozenset(labels.items()))]

    def labels(self, name: str, label: str) -> set[str]:
        return {dict(labels)[label] for sample, labels in self.samples if sample == name}


async def scrape(node, headers: dict | None = None, query: str = "") -> Scrape:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        async with session.get(node.url.rstrip("/") + "/metrics" + query, headers=headers or {}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert response.headers["X-Request-Id"]
            return Scrape(await response.text())


async def get_json(node, path: str, headers: dict | None = None) -> dict:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        async with session.get(node.url.rstrip("/") + path, headers=headers or {}) as response:
            assert response.status == 200 and response.content_type == "application/json", response
            return await response.json()


async def until(node, predicate, what: str) -> Scrape:
    deadline = time.monotonic() + WAIT
    while True:
        metrics = await scrape(node)
        if predicate(metrics):
            return metrics
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_metrics_move_with_connections_events_acks_queues_and_failed_jobs(
    spawn, prefix, user_id, drain, sync_redis
):
    node = await spawn(REDIS_PREFIX=prefix)
    before = await scrape(node)
    assert before("chat_connections", transport="socketio") == 0
    assert before("chat_state_scrape_ok") == 1
    assert before("chat_queue_jobs", queue="messages") == 0
    assert before("chat_outbox_entries") == 0 and before("chat_outbox_oldest_age_seconds") == 0
    assert before.labels("chat_events_received_total", "event") == {*CLIENT_EVENTS, "other"}
    assert {"process_resident_memory_bytes", "python_gc_objects_collected_total"} <= {n for n, _ in before.samples}

    alice, bob = user_id("alice"), user_id("bob")
    room = await node.rest.create_room(alice, bob)
    client = await node.connect(alice)
    await client.join(room)
    sent = await client.send(room, "metrics, please", client_ref="m-1")
    assert sent["ok"], sent
    await client.wait_message(room, sent["data"]["seq"])
    unknown = await client.ack("no:such:event", {})
    assert unknown["error"]["code"] == "unknown_event"

    # The batcher enqueues the message; no worker runs yet, so it waits in the queue and the outbox.
    queued = await until(node, lambda m: m("chat_queue_jobs", queue="messages") >= 1, "a queued persistence job")
    assert queued("chat_connections", transport="socketio") == 1
    assert queued("chat_connections_accepted_total", transport="socketio") == 1
    assert queued("chat_events_received_total", transport="socketio", event="message:send") == 1
    assert queued("chat_events_received_total", transport="socketio", event="room:join") == 1
    assert queued("chat_events_received_total", transport="socketio", event="other") == 1
    assert "no:such:event" not in queued.labels("chat_events_received_total", "event")
    assert queued("chat_events_sent_total", transport="socketio", event="session:ready") == 1
    assert queued("chat_events_sent_total", transport="socketio", event="message:new") >= 1
    assert queued("chat_events_encoded_total", transport="socketio", event="message:new") >= 1
    assert queued("chat_refusals_total", transport="socketio", code="unknown_event") == 1
    assert queued("chat_ack_seconds_count", transport="socketio", event="message:send") == 1
    assert 0 < queued("chat_ack_seconds_sum", transport="socketio", event="message:send") < WAIT
    assert queued("chat_ack_seconds_bucket", transport="socketio", event="message:send", le="+Inf") == 1
    assert queued("chat_ack_seconds_bucket", transport="socketio", event="message:send", le="0.001") <= 1
    assert queued("chat_outbox_entries") >= 1

    await asyncio.sleep(0.4)
    waiting = await scrape(node)
    assert waiting("chat_queue_oldest_job_age_seconds", queue="messages") >= 0.4
    assert waiting("chat_outbox_oldest_age_seconds") >= 0.4
    seed = await get_json(node, "/api/metrics/queues")
    assert seed["connections"] == 1 and seed["messageQueueJobs"]["waiting"] >= 1
    assert set(seed) == {
        "connections",
        "messageQueueJobs",
        "presenceQueueJobs",
        "notificationQueueJobs",
        "memoryUsage",
        "uptime",
    }
    assert set(seed["memoryUsage"]) == {"heapUsed", "heapTotal", "external", "arrayBuffers"}
    assert seed["memoryUsage"]["heapUsed"] > 0 and seed["uptime"] > 0

    # A job that fails for real (json.loads of broken JSON, run by a real worker), next to the persistence.
    failing = open_queue(sync_redis, Keys(prefix), NOTIFICATIONS_QUEUE)
    failing.enqueue("json.loads", "{not json", failure_ttl=FAILURE_TTL, description="a job that fails")
    await drain(REDIS_PREFIX=prefix)
    after = await scrape(node)
    assert after("chat_queue_jobs", queue="messages") == 0
    assert after("chat_queue_oldest_job_age_seconds", queue="messages") == 0
    assert after("chat_queue_failed_jobs", queue="notifications") == 1
    assert after("chat_queue_failed_jobs", queue="messages") == 0
    assert after("chat_outbox_entries") == 0 and after("chat_outbox_oldest_age_seconds") == 0
    seed = await get_json(node, "/metrics?format=json")
    assert seed["notificationQueueJobs"]["failed"] == 1 and seed["messageQueueJobs"]["waiting"] == 0

    await client.disconnect()
    await until(node, lambda m: m("chat_connections", transport="socketio") == 0, "the connection to be gone")


async def test_the_seeds_json_is_served_at_metrics_to_clients_that_ask_for_json(spawn, prefix):
    node = await spawn(REDIS_PREFIX=prefix)
    axios = {"Accept": "application/json, text/plain, */*"}  # axios's default
    assert set(await get_json(node, "/metrics", axios)) >= {"connections", "messageQueueJobs", "presenceQueueJobs"}
    prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
    assert (await scrape(node, {"Accept": prometheus}))("chat_connections", transport="socketio") == 0
    assert (await scrape(node, {"Accept": "*/*"}))("chat_connections", transport="socketio") == 0


def test_only_an_accept_header_that_ranks_json_first_gets_json():
    assert prefers_json("application/json")
    assert prefers_json("application/json, text/plain, */*")
    assert prefers_json("text/plain;q=0.5, application/json")
    assert not prefers_json("")
    assert not prefers_json("*/*")
    assert not prefers_json("text/plain, application/json")
    assert not prefers_json("application/json;q=0, text/plain")
    assert not prefers_json("application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4")
