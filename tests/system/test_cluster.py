"""Two real web nodes and real workers: delivery across nodes, and persistence that survives
a web node killed before it enqueued its batch and a worker killed in the middle of a job."""

from __future__ import annotations

import asyncio
import time

import psycopg2
import pytest
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from tests.system.conftest import create_room, stored_messages, wait_until

pytestmark = pytest.mark.system


def expected_rows(acks: list[dict], sent: dict[str, tuple[str, str]]) -> list[tuple]:
    """The rows the acknowledgements promise: (room, seq, id, sender, content, client_ref), by room and seq."""
    rows = []
    for ack in acks:
        data = ack["data"]
        sender, content = sent[data["client_ref"]]
        rows.append((data["room_id"], data["seq"], data["id"], sender, content, data["client_ref"]))
    return sorted(rows, key=lambda row: (int(row[0]), row[1]))


async def test_a_message_sent_on_one_node_reaches_the_other_node_once_and_postgres_once(
    cluster, http, sio, sys_token, pg, user_id
):
    node1, node2 = cluster.nodes
    worker = cluster.worker()
    alice, bob = user_id("alice"), user_id("bob")
    room = await create_room(http, node2, sys_token(alice), "Across", [bob])
    a, b = await sio(node1, alice), await sio(node2, bob)
    for client in (a, b):
        joined = await client.ack("room:join", {"room_id": room}, timeout=10)
        assert joined["ok"], joined

    sent: dict[str, tuple[str, str]] = {}
    acks = []
    for i in range(10):
        client, sender, node = (a, alice, 1) if i % 2 == 0 else (b, bob, 2)
        ref, content = f"{sender}-{i}", f"#{i} from node {node}: héllo ✓ 🚀"
        sent[ref] = (sender, content)
        ack = await client.ack("message:send", {"room_id": room, "content": content, "client_ref": ref}, timeout=10)
        assert ack["ok"] and ack["data"]["status"] == "sent" and not ack["data"]["duplicate"], ack
        acks.append(ack)
        # The other node's member gets it before the next one is sent.
        other = b if client is a else a
        delivered = await other.wait_for_count("message:new", i + 1, timeout=10)
        assert delivered[i]["content"] == content and delivered[i]["sender_id"] == sender

    # A resend with the same client_ref on the *other* node (over REST) is recognised: no second message.
    first = acks[0]["data"]
    async with http.post(
        f"{node2.url}/api/v1/rooms/{room}/messages",
        json={"content": sent[first["client_ref"]][1], "client_ref": first["client_ref"]},
        headers={"Authorization": f"Bearer {sys_token(alice)}"},
    ) as response:
        again = await response.json()
        assert response.status == 200 and again["duplicate"] and again["id"] == first["id"], again

    await a.ack("room:join", {"room_id": room}, timeout=10)  # a round trip on each node, then a moment
    await b.ack("room:join", {"room_id": room}, timeout=10)  # for anything duplicated to show up
    await asyncio.sleep(0.5)
    for client in (a, b):
        seqs = [m["seq"] for m in client.all("message:new")]
        assert seqs == list(range(1, 11)), f"each message exactly once, in order: {seqs}"
        assert [m["id"] for m in client.all("message:new")] == [ack["data"]["id"] for ack in acks]

    await wait_until(lambda: not cluster.outbox_fields({room}), 20, "the outbox never emptied", worker)
    assert stored_messages(pg, [room]) == expected_rows(acks, sent)


async def test_messages_acked_by_a_web_node_killed_before_it_enqueued_them_reach_postgres_once(
    cluster, http, sio, sys_token, pg, user_id
):
    worker = cluster.worker()
    # Its batch lingers 2 s (and never fills), so it is surely still in memory when the node dies.
    doomed = cluster.web("web-doomed", PERSIST_BATCH_LINGER_MS=2000, PERSIST_BATCH_MAX=10000)
    await cluster.wait_registered(worker)
    alice, bob = user_id("alice"), user_id("bob")
    room = await create_room(http, cluster.nodes[0], sys_token(alice), "Doomed", [bob])
    client = await sio(doomed, alice)

    started = time.monotonic()
    sent, acks = {}, []
    for i in range(40):
        ref, content = f"k{i}", f"before the crash {i} ✓"
        sent[ref] = (alice, content)
        ack = await client.ack("message:send", {"room_id": room, "content": content, "client_ref": ref}, timeout=10)
        assert ack["ok"], ack
        acks.append(ack)
    cluster.procs.kill(doomed)
    assert time.monotonic() - started < 1.8, "too slow: the node may have enqueued its batch before it died"

    # Nothing was enqueued: every acknowledged message still waits in the outbox, none is in Postgres.
    assert cluster.outbox_fields({room}) == {f"{room}:{seq}" for seq in range(1, 41)}
    assert stored_messages(pg, [room]) == []

    # The worker's redrive finds them after REDRIVE_AFTER (2 s) and persists them, once.
    await wait_until(lambda: not cluster.outbox_fields({room}), 30, "the redrive never emptied the outbox", worker)
    assert stored_messages(pg, [room]) == expected_rows(acks, sent)
    # The surviving node serves the whole history.
    async with http.get(
        f"{cluster.nodes[1].url}/api/v1/rooms/{room}/messages", headers={"Authorization": f"Bearer {sys_token(bob)}"}
    ) as response:
        page = await response.json()
    assert [m["content"] for m in page["messages"]] == [sent[f"k{i}"][1] for i in range(40)]


async def test_a_job_killed_mid_run_is_not_dropped_and_ends_in_rqs_failed_registry_harmlessly(
    cluster, http, sys_token, pg, user_id, services
):
    # No retries on this node's jobs: an abandoned job goes straight to the failed registry.
    node = cluster.web("web-noretry", PERSIST_RETRY_INTERVALS="")
    alice = user_id("alice")
    room = await create_room(http, node, sys_token(alice), "Mid-run", [])
    started = StartedJobRegistry(queue=cluster.queue())
    before = set(started.get_job_ids())

    # Hold a lock that blocks inserts into `messages`: the job hangs inside its transaction.
    locker = psycopg2.connect(services.database_url, application_name="chat-system-locker")
    try:
        locker.cursor().execute("LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE")
        doomed = cluster.worker("worker-doomed")
        sent, contents = [], {}
        for i in range(5):
            async with http.post(
                f"{node.url}/api/v1/rooms/{room}/messages",
                json={"content": f"mid-run {i}", "client_ref": f"m{i}"},
                headers={"Authorization": f"Bearer {sys_token(alice)}"},
            ) as response:
                body = await response.json()
                assert response.status == 201, body
                sent.append(body)
                contents[body["seq"]] = f"mid-run {i}"

        def running() -> set[str]:
            return set(started.get_job_ids()) - before

        await wait_until(running, 15, "the worker never started a job", doomed)
        [job_id] = running()
        await wait_until(
            lambda: pg(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'chat-worker' AND wait_event_type = 'Lock'"
            ),
            10,
            "the job is not waiting on the lock",
            doomed,
        )
        cluster.procs.kill(doomed)  # SIGKILL, in the middle of the job
    finally:
        locker.rollback()
        locker.close()

    worker = cluster.worker("worker-after")
    await wait_until(lambda: not cluster.outbox_fields({room}), 30, "the redrive never emptied the outbox", worker)
    expected = [(room, m["seq"], m["id"], alice, contents[m["seq"]], m["client_ref"]) for m in sent]
    assert stored_messages(pg, [room]) == expected

    # RQ itself has not noticed yet (it does once the execution's heartbeat expires, 90 s later):
    # the dead execution still counts as started. What its maintenance will do then, done now:
    assert job_id in started.get_job_ids()
    started.cleanup(timestamp=time.time() + 3600)
    failed = FailedJobRegistry(queue=cluster.queue())
    assert job_id in failed.get_job_ids()
    job = Job.fetch(job_id, connection=cluster.redis, serializer=JSONSerializer)
    assert "AbandonedJobError" in job.latest_result().exc_string
    assert {f"{room}:{m['seq']}" for m in sent} >= set(job.args[0])

    # An operator requeueing it changes nothing.
    failed.requeue(job_id)
    await wait_until(
        lambda: not Job.exists(job_id, connection=cluster.redis) or job.get_status() == "finished",
        15,
        "the requeued job never ran",
        worker,
    )
    assert stored_messages(pg, [room]) == expected
