"""Graceful stops of real processes.

- A web node that gets SIGTERM closes its port, tells each client `server:shutdown` (valid against the
  AsyncAPI document), closes them, enqueues the batch it was holding (its batches linger for a minute
  here, so only the stop can have enqueued them), and exits 0 in bounded time; a worker started then
  stores every acknowledged message exactly once.
- A worker that gets SIGTERM while a persistence job runs (held on a row lock the test takes) finishes
  the job, then exits 0; nothing fails, nothing is left behind.
- A second SIGTERM, a second or more after the first, stops a worker at once: its job fails where it
  stands and goes back to its queue for a retry (RQ's cold shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable

import aiohttp
import psycopg2
import pytest
from rq import Retry
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from app.auth.tokens import mint
from app.jobs.queues import open_queue
from app.state.keys import MESSAGES_QUEUE, Keys
from tests.conftest import RecordingClient
from tests.system.conftest import Proc, create_room, free_port, stored_messages, wait_healthy, wait_until

pytestmark = pytest.mark.system

SHUTDOWN_TIMEOUT = 3.0
RECONNECT_SPREAD_MS = 2000
MESSAGES = 30


@pytest.fixture
def env(services, prefix) -> Callable[..., dict[str, str]]:
    def build(**overrides: object) -> dict[str, str]:
        built = services.env(REDIS_PREFIX=prefix, **overrides)
        built["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
        return built

    return build


@pytest.fixture
def token(services) -> Callable[[str], str]:
    import config

    auth = config.load(services.env(), require=("auth",)).auth
    return lambda user: mint(auth, user, None, 3600)


@pytest.fixture
async def http() -> aiohttp.ClientSession:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


@pytest.fixture
async def clients() -> list[RecordingClient]:
    opened: list[RecordingClient] = []
    yield opened
    for client in opened:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 5)


def web(procs, env: dict[str, str]) -> Proc:
    port = free_port()
    proc = procs.start("web", ["web", "--port", str(port)], env, port=port)
    wait_healthy(proc)
    return proc


async def connect(clients: list, proc: Proc, token: str) -> RecordingClient:
    client = RecordingClient()
    clients.append(client)
    await client.connect(proc.url, auth={"token": token}, transports=["websocket"], wait_timeout=10)
    await client.next("session:ready", timeout=10)
    return client


async def send_all(client: RecordingClient, room: str, user: str, count: int) -> list[tuple[dict, str]]:
    acked = []
    for n in range(count):
        content = f"{user} says {n} before the deploy"
        answer = await client.ack("message:send", {"room_id": room, "content": content, "client_ref": f"{user}-{n}"})
        assert answer["ok"], answer
        acked.append((answer["data"], content))
    return acked


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_a_stopped_web_node_tells_its_clients_enqueues_what_it_acked_and_exits(
    procs, env, prefix, pg, token, http, clients, user_id, contract, sync_redis
):
    node_env = env(
        PERSIST_BATCH_LINGER_MS=60_000,
        SHUTDOWN_TIMEOUT=SHUTDOWN_TIMEOUT,
        RECONNECT_SPREAD_MS=RECONNECT_SPREAD_MS,
    )
    node = web(procs, node_env)
    alice, bob = user_id("alice"), user_id("bob")
    room = await create_room(http, node, token(alice), "Deploy", [bob])
    a, b = await connect(clients, node, token(alice)), await connect(clients, node, token(bob))
    for client in (a, b):
        assert (await client.ack("room:join", {"room_id": room}))["ok"]
    acked = await send_all(a, room, alice, MESSAGES)
    queue = open_queue(sync_redis, Keys(prefix), MESSAGES_QUEUE)
    assert queue.count == 0, "the batch lingers: nothing may be enqueued before the stop"

    stopped_at = time.monotonic()
    procs.signal(node, signal.SIGTERM)
    for client in (a, b):
        notice = await client.next("server:shutdown", timeout=SHUTDOWN_TIMEOUT)
        assert contract.server_event_errors("server:shutdown", notice) == [], notice
        assert notice["reason"] == "shutdown" and 0 <= notice["reconnect_in_ms"] <= RECONNECT_SPREAD_MS
    assert not port_open(node.port), "a stopping node must take no new connection"
    await wait_until(lambda: not a.connected and not b.connected, SHUTDOWN_TIMEOUT, "clients still connected", node)
    await wait_until(lambda: not node.alive(), 2 * SHUTDOWN_TIMEOUT + 5, "the node did not exit", node)
    assert node.popen.returncode == 0, node.tail()
    took = time.monotonic() - stopped_at
    assert took < 2 * SHUTDOWN_TIMEOUT + 5, took

    # Every acknowledged message was enqueued by the stop itself (no worker ran, so no redrive did).
    enqueued = {field for job in queue.get_jobs() for field in job.args[0]}
    assert {f"{data['room_id']}:{data['seq']}" for data, _content in acked} <= enqueued

    worker = procs.start("worker", ["worker", "--burst"], node_env)
    await wait_until(lambda: not worker.alive(), 30, "the worker did not drain the queues", worker)
    assert worker.popen.returncode == 0, worker.tail()
    rows = stored_messages(pg, [room])
    assert len({(r[0], r[1]) for r in rows}) == len(rows) == len({r[2] for r in rows})
    mine = [(seq, mid, content, ref) for _room, seq, mid, _sender, content, ref in rows if ref is not None]
    assert sorted(mine) == sorted((data["seq"], data["id"], content, data["client_ref"]) for data, content in acked), (
        "every acknowledged message, exactly once"
    )


def waiting_on_a_lock(pg, database: str) -> bool:
    rows = pg(
        "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND application_name = 'chat-worker' "
        "AND wait_event_type = 'Lock'",
        (database,),
    )
    return bool(rows)


async def test_a_worker_stopped_mid_job_finishes_it_then_exits(
    procs, env, prefix, pg, token, http, clients, user_id, services, sync_redis
):
    node = web(procs, env())
    alice, bob = user_id("alice"), user_id("bob")
    room = await create_room(http, node, token(alice), "Mid-job", [bob])
    a = await connect(clients, node, token(alice))
    acked = await send_all(a, room, alice, 5)
    connection = sync_redis
    queue = open_queue(connection, Keys(prefix), MESSAGES_QUEUE)
    await wait_until(lambda: queue.count >= 1, 10, "nothing was enqueued", node)

    # Hold the room's row: the job's INSERT waits on its foreign key check until the test lets go.
    lock = psycopg2.connect(services.database_url, application_name="chat-ops-lock")
    try:
        lock.cursor().execute("SELECT id FROM rooms WHERE id = %s FOR UPDATE", (int(room),))
        worker = procs.start("worker", ["worker"], env())
        await wait_until(lambda: waiting_on_a_lock(pg, services.database), 30, "no job reached the lock", worker)
        running = StartedJobRegistry(queue=queue).get_job_ids()
        assert len(running) == 1, running
        fields = Job.fetch(running[0], connection=connection, serializer=queue.serializer).args[0]
        procs.signal(worker, signal.SIGTERM)
        await asyncio.sleep(1.5)
        assert worker.alive(), "the worker left before its job was done"
    finally:
        lock.rollback()
        lock.close()
    await wait_until(lambda: not worker.alive(), 15, "the worker did not exit after its job", worker)
    assert worker.popen.returncode == 0, worker.tail()

    stored = {(str(room_id), seq) for room_id, seq, *_ in stored_messages(pg, [room])}
    job_messages = {(f.rpartition(":")[0], int(f.rpartition(":")[2])) for f in fields if not f.startswith("c:")}
    assert job_messages and job_messages <= stored, "the job that was running was finished"
    assert not FailedJobRegistry(queue=queue).get_job_ids()
    assert not StartedJobRegistry(queue=queue).get_job_ids()
    outbox = {f.decode() for f in connection.hkeys(Keys(prefix).outbox)}
    assert not outbox & set(fields), "a finished job clears its messages from the outbox"

    # What else was queued is still there, and a worker stores it all, each message once.
    drain = procs.start("worker", ["worker", "--burst"], env())
    await wait_until(lambda: not drain.alive(), 30, "the queues were not drained", drain)
    rows = stored_messages(pg, [room])
    assert len({(r[0], r[1]) for r in rows}) == len(rows)
    assert {(data["room_id"], data["seq"]) for data, _ in acked} <= {(r[0], r[1]) for r in rows}


async def test_a_second_signal_stops_a_worker_at_once_and_its_job_goes_back_for_a_retry(procs, env, prefix, sync_redis):
    connection = sync_redis
    queue = open_queue(connection, Keys(prefix), MESSAGES_QUEUE)
    job = queue.enqueue("time.sleep", 60, retry=Retry(max=1), description="a long job")
    worker = procs.start("worker", ["worker"], env())
    await wait_until(lambda: job.get_status(refresh=True) == JobStatus.STARTED, 30, "the job never started", worker)
    procs.signal(worker, signal.SIGTERM)
    await asyncio.sleep(1.5)  # RQ ignores a second signal within a second of the first (a pool's duplicate)
    assert worker.alive(), "the first signal lets the job go on"
    stopped_at = time.monotonic()
    procs.signal(worker, signal.SIGTERM)
    await wait_until(lambda: not worker.alive(), 10, "the second signal did not stop the worker", worker)
    assert time.monotonic() - stopped_at < 10
    assert worker.popen.returncode == 0, worker.tail()
    job.refresh()
    assert (job.get_status(), job.retries_left) == (JobStatus.QUEUED, 0), "failed once, queued again for its retry"
    assert job.id in queue.get_job_ids()
    assert "SystemExit" in worker.log.read_text(), "RQ's cold shutdown stops the job where it stands"
