"""Fault tests of one worker process (`run.py worker`, RQ's non-forking worker): its Redis SIGKILLed and
started again while messages stream in (the worker idle, mid-job, and meeting Redis while it reloads its
append-only file), its Postgres made unreachable, and persistence stalled with no worker at all.

Each test runs real processes: a web node (`run.py web`) that acknowledges messages sent over REST, one
worker, and a throwaway Redis of the test's own (tests/system/redis_server.py, never the machine's shared
one) with durability on, so a restart reloads what it held. Afterwards the drain is checked: every
acknowledged message is in Postgres once, as acknowledged, each room's seqs without a gap; and the worker
that persisted them is the process started at the beginning, alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field

import aiohttp
import psutil
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from rq import Worker
from rq.registry import FailedJobRegistry, StartedJobRegistry

from app.jobs.queues import open_queue
from app.state.keys import MESSAGES_QUEUE, QUEUES, Keys
from tests.system.conftest import Proc, Processes, create_room, free_port, wait_healthy, wait_until
from tests.system.redis_server import RedisServer

pytestmark = pytest.mark.system

FILLER_KEYS = 5_000
LOAD_DELAY_US = 150  # 5,000 keys: Redis answers LOADING for 1-3 s after each restart (0.75 s of delays)
UNREACHABLE = "Redis is unreachable"
BACK = "Redis answers again"
PG_UNREACHABLE = "Postgres is unreachable"
PG_BACK = "Postgres answers again"


@pytest.fixture
def own_redis(tmp_path):
    """own_redis(load_delay_us) -> a started RedisServer of this test; all killed at the end."""
    servers: list[RedisServer] = []

    def make(load_delay_us: int = 0) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers)}", load_delay_us)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.kill()


@dataclass
class Stream:
    """Sends messages to a room over REST, one after another, until stopped; keeps what was acknowledged."""

    http: aiohttp.ClientSession
    node: Proc
    token: str
    room: str
    tag: str
    acks: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # client_ref -> (id, seq, content)
    sent: dict[str, str] = field(default_factory=dict)  # client_ref -> content, acknowledged or not
    refusals: int = 0
    stopped: bool = False
    last: int = 0  # the last message number used: a run after a stop goes on from there (new client_refs)

    async def send(self, n: int) -> bool:
        self.last = max(self.last, n)
        ref, content = f"{self.tag}-{n}", f"{self.tag} #{n} ✓ «{time.monotonic_ns():x}»"
        self.sent[ref] = content
        try:
            async with self.http.post(
                f"{self.node.url}/api/v1/rooms/{self.room}/messages",
                json={"content": content, "client_ref": ref},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response:
                body = await response.json(content_type=None)
                if response.status in (200, 201):
                    self.acks[ref] = (str(body["id"]), int(body["seq"]), content)
                    return True
        except (aiohttp.ClientError, TimeoutError, ValueError):
            pass
        self.refusals += 1
        return False

    async def run(self) -> None:
        while not self.stopped:
            self.last += 1
            if not await self.send(self.last):
                await asyncio.sleep(0.05)  # Redis is gone: the node refuses sends (503) until it is back

    async def acked_more(self, count: int, timeout: float, *procs: Proc) -> None:
        target = len(self.acks) + count
        await wait_until(lambda: len(self.acks) >= target, timeout, f"{count} more sends never acknowledged", *procs)


@dataclass
class Rig:
    """The processes of one test: a web node and a worker on `redis_url`, the run's Postgres (or a proxy)."""

    procs: Processes
    env: dict[str, str]
    keys: Keys
    redis: redis.Redis
    web: Proc | None = None
    worker: Proc | None = None

    def start_web(self, **env: str) -> Proc:
        port = free_port()
        self.web = self.procs.start("web", ["web", "--port", str(port)], {**self.env, **env}, port=port)
        wait_healthy(self.web)
        return self.web

    def start_worker(self, **env: str) -> Proc:
        self.worker = self.procs.start("worker", ["worker"], {**self.env, **env})
        return self.worker

    async def wait_registered(self, proc: Proc) -> None:
        queue = open_queue(self.redis, self.keys, MESSAGES_QUEUE)
        pids = {p.pid for p in proc.group()} | {proc.pid}
        await wait_until(
            lambda: any(w.pid in pids for w in Worker.all(queue=queue)), 30, f"{proc.name} never registered", proc
        )

    def waiting(self) -> int:
        """Outbox entries and queued persistence jobs left."""
        queue = open_queue(self.redis, self.keys, MESSAGES_QUEUE)
        return self.redis.hlen(self.keys.outbox) + self.redis.zcard(self.keys.outbox_since) + queue.count

    async def idle(self, timeout: float) -> None:
        """Every queue empty and no job running."""

        def idle() -> bool:
            queues = [open_queue(self.redis, self.keys, name) for name in QUEUES]
            return all(q.count == 0 and StartedJobRegistry(queue=q).count == 0 for q in queues)

        procs = [p for p in (self.web, self.worker) if p is not None]
        await wait_until(idle, timeout, "the worker never went idle", *procs, interval=0.2)

    async def drained(self, timeout: float) -> None:
        procs = [p for p in (self.web, self.worker) if p is not None]
        await wait_until(lambda: self.waiting() == 0, timeout, "the outbox never emptied", *procs, interval=0.2)


def rig(procs: Processes, system_env, redis_url: str, prefix: str | None = None, **env: str) -> Rig:
    built = system_env(REDIS_URL=redis_url, **({"REDIS_PREFIX": prefix} if prefix else {}), **env)
    keys = Keys(built["REDIS_PREFIX"])
    return Rig(procs, built, keys, redis.Redis.from_url(redis_url, socket_timeout=5))


def check_drained(pg, room: str, stream: Stream) -> None:
    """Every acknowledged message stored once, as acknowledged; the room's seqs 1..N; nothing else but
    messages whose answer was lost with Redis (sent, stored, never acknowledged)."""
    rows = pg("SELECT id, seq, content, client_ref FROM messages WHERE room_id = %s ORDER BY seq", (int(room),))
    seqs = [seq for _id, seq, _content, _ref in rows]
    assert seqs == list(range(1, len(rows) + 1)), f"seqs are not 1..{len(rows)}: {seqs}"
    assert len({mid for mid, *_ in rows}) == len(rows), "a message is stored twice"
    stored = {ref: (str(mid), seq, content) for mid, seq, content, ref in rows if ref is not None}
    missing = {ref: ack for ref, ack in stream.acks.items() if stored.get(ref) != ack}
    assert not missing, (
        f"{len(missing)} of {len(stream.acks)} acknowledged messages are not stored as acknowledged: "
        f"{list(missing.items())[:5]}"
    )
    unknown = set(stored) - set(stream.sent)
    assert not unknown, f"stored but never sent: {sorted(unknown)[:5]}"


def worker_log(proc: Proc) -> str:
    return proc.log.read_text(errors="replace")


def assert_rode_out(worker: Proc, pid: int, outages: int) -> None:
    """The worker is the process started at the beginning, alive; it said so once per outage."""
    log = worker_log(worker)
    assert worker.alive() and worker.pid == pid, f"the worker exited ({worker.popen.returncode})\n{worker.tail(60)}"
    assert "unhandled exception" not in log and "quitting" not in log, worker.tail(60)
    lost, back = log.count(UNREACHABLE), log.count(BACK)
    assert 1 <= lost <= outages, f"{lost} '{UNREACHABLE}' lines for {outages} outages\n{worker.tail(60)}"
    assert back == lost, f"{lost} outages logged but {back} recoveries\n{worker.tail(60)}"


async def test_a_worker_rides_out_its_redis_killed_and_restarted_while_messages_stream_in(
    procs, system_env, own_redis, sys_token, pg, user_id, http
):
    server = own_redis(load_delay_us=LOAD_DELAY_US)
    server.slow_loading(FILLER_KEYS)
    r = rig(procs, system_env, server.url)
    web = r.start_web()
    worker = r.start_worker()
    await r.wait_registered(worker)
    pid = worker.pid
    owner = user_id("owner")
    room = await create_room(http, web, sys_token(owner), "Outages", [user_id("bob")])
    stream = Stream(http, web, sys_token(owner), room, owner)
    sending = asyncio.create_task(stream.run())
    try:
        await stream.acked_more(100, 20, web, worker)
        for _round in range(2):
            # Killed while jobs run and queue up; started again, it answers LOADING for a while.
            server.kill()
            await asyncio.sleep(1.0)
            server.start(wait_loaded=False)
            await stream.acked_more(100, 30, web, worker)
        # The worker idle: nothing was sent for a while when Redis goes.
        stream.stopped = True
        await sending
        await r.drained(20)
        server.kill()
        await asyncio.sleep(1.0)
        server.start(wait_loaded=False)
        stream.stopped = False
        sending = asyncio.create_task(stream.run())
        await stream.acked_more(50, 30, web, worker)
    finally:
        stream.stopped = True
        await sending
    await r.drained(20)
    check_drained(pg, room, stream)
    assert_rode_out(worker, pid, outages=3)


async def test_a_worker_rides_out_its_redis_killed_in_the_middle_of_a_job(
    procs,
    system_env,
    own_redis,
    services,
    proxy,
    sys_token,
    pg,
    user_id,
    http,
):
    """The job is held inside its Postgres transaction (the worker's Postgres hangs, through a proxy) while
    Redis is killed; then its connection drops, and the job fails with Redis still gone: RQ has to record
    the failure in a Redis that is not there. Redis comes back, and the job is retried and persists."""
    server = own_redis()
    stalled_pg, database_url = proxy(services.database_url)
    r = rig(procs, system_env, server.url)
    web = r.start_web()
    worker = r.start_worker(DATABASE_URL=database_url)
    await r.wait_registered(worker)
    pid = worker.pid
    owner = user_id("owner")
    room = await create_room(http, web, sys_token(owner), "Mid-job", [user_id("bob")])
    stream = Stream(http, web, sys_token(owner), room, owner)
    for n in range(1, 6):
        assert await stream.send(n)
    await r.drained(15)
    await r.idle(15)  # their notification job done too: the next job the worker takes is a persistence one

    stalled_pg.stall()
    for n in range(6, 11):
        assert await stream.send(n)
    started = StartedJobRegistry(queue=open_queue(r.redis, r.keys, MESSAGES_QUEUE))
    await wait_until(lambda: started.count > 0, 10, "no job started", worker)
    await asyncio.sleep(0.3)  # the job waits for Postgres
    server.kill()
    stalled_pg.restore()  # the job's connection drops: it fails, with Redis gone
    await asyncio.sleep(1.5)
    server.start()
    for n in range(11, 16):
        assert await stream.send(n)
    await r.drained(20)
    check_drained(pg, room, stream)
    assert len(stream.acks) == 15
    assert_rode_out(worker, pid, outages=1)


async def test_a_worker_rides_out_its_postgres_going_away(
    procs,
    system_env,
    own_redis,
    services,
    proxy,
    sys_token,
    pg,
    user_id,
    http,
):
    """The first job to meet the outage fails (RQ retries it); the worker then takes no further job until
    Postgres answers again, saying so once each way, rather than failing every queued job through all its
    retries into the failed registry. The process stays, and persists everything once Postgres is back."""
    server = own_redis()
    cut_pg, database_url = proxy(services.database_url)
    r = rig(procs, system_env, server.url)
    web = r.start_web()
    worker = r.start_worker(DATABASE_URL=database_url)
    await r.wait_registered(worker)
    pid = worker.pid
    owner = user_id("owner")
    room = await create_room(http, web, sys_token(owner), "No Postgres", [user_id("bob")])
    stream = Stream(http, web, sys_token(owner), room, owner)
    sending = asyncio.create_task(stream.run())
    try:
        await stream.acked_more(50, 20, web, worker)
        cut_pg.cut()
        await stream.acked_more(100, 20, web, worker)  # acknowledged all the same: they wait in the outbox
        await asyncio.sleep(3.0)  # the worker waits for Postgres; jobs and the redrive queue up meanwhile
        assert r.redis.hlen(r.keys.outbox) > 0
        await wait_until(lambda: PG_UNREACHABLE in worker_log(worker), 10, "the outage was never logged", worker)
        cut_pg.restore()
        await stream.acked_more(50, 20, web, worker)
    finally:
        stream.stopped = True
        await sending
    await r.drained(25)
    check_drained(pg, room, stream)
    assert worker.alive() and worker.pid == pid, worker.tail(60)
    log = worker_log(worker)
    assert "unhandled exception" not in log, worker.tail(60)
    assert log.count(PG_UNREACHABLE) == 1 and log.count(PG_BACK) == 1, worker.tail(60)
    failed = FailedJobRegistry(queue=open_queue(r.redis, r.keys, MESSAGES_QUEUE))
    assert failed.count == 0, f"{failed.count} jobs failed for good while Postgres was away\n{worker.tail(60)}"


def metric(text: str, name: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return None


async def ready(http: aiohttp.ClientSession, node: Proc) -> tuple[int, dict]:
    async with http.get(node.url + "/ready") as response:
        return response.status, await response.json()


async def test_ready_and_a_metric_say_persistence_is_stalled_while_no_worker_runs(
    procs, system_env, services, sys_token, pg, user_id, http
):
    """Messages wait in the outbox with no worker alive: `chat_persistence_stalled` is 1 and `/ready`'s
    `persistence` check names the reason on every web node; one with READY_REQUIRES_PERSISTENCE answers 503,
    one without stays 200 (it still serves). A worker started drains them and both clear."""
    r = rig(procs, system_env, services.redis_url, prefix=f"{services.prefix}stall-{user_id('p')}:")
    strict = r.start_web(READY_REQUIRES_PERSISTENCE="true")
    lenient = r.start_web()
    for node in (strict, lenient):
        status, body = await ready(http, node)
        assert status == 200 and body["checks"]["persistence"] == "ok", body
    owner = user_id("owner")
    room = await create_room(http, strict, sys_token(owner), "Stalled", [user_id("bob")])
    stream = Stream(http, strict, sys_token(owner), room, owner)
    for n in range(1, 4):
        assert await stream.send(n)

    async def stalled() -> bool:
        status, body = await ready(http, strict)
        return status == 503 and body["checks"]["persistence"].startswith("error: PersistenceStalled")

    await wait_until(stalled, 15, "/ready never said persistence is stalled", strict)
    status, body = await ready(http, strict)
    assert body["checks"]["postgres"] == "ok" and body["checks"]["redis"] == "ok", body
    reason = body["checks"]["persistence"]
    assert "no worker" in reason and "3 acknowledged" in reason, reason
    status, body = await ready(http, lenient)
    assert status == 200 and body["status"] == "ready" and body["checks"]["persistence"] == reason, body
    for node in (strict, lenient):
        async with http.get(node.url + "/metrics") as response:
            text = await response.text()
        assert metric(text, "chat_persistence_stalled") == 1 and metric(text, "chat_workers") == 0, text

    worker = r.start_worker()
    await r.drained(20)
    await wait_until(lambda: _ready_ok(http, strict), 10, "/ready never recovered", strict, worker)
    status, body = await ready(http, lenient)
    assert status == 200 and body["checks"]["persistence"] == "ok", body
    async with http.get(strict.url + "/metrics") as response:
        text = await response.text()
    assert metric(text, "chat_persistence_stalled") == 0 and metric(text, "chat_workers") == 1, text
    check_drained(pg, room, stream)


async def _ready_ok(http: aiohttp.ClientSession, node: Proc) -> bool:
    status, _body = await ready(http, node)
    return status == 200


def worker_children(supervisor: Proc) -> list[psutil.Process]:
    """The all-in-one's live `run.py worker` children."""
    found = []
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(supervisor.pid).children():
            with contextlib.suppress(psutil.Error):
                if child.status() != psutil.STATUS_ZOMBIE and "worker" in child.cmdline()[2:]:
                    found.append(child)
    return found


async def test_the_all_in_one_starts_its_worker_again_when_it_dies(
    procs, system_env, services, sys_token, pg, user_id, http, tmp_path
):
    """`run.py` (web node + worker) whose worker is SIGKILLed: the supervisor logs it, starts another
    after a short back-off, and the messages acknowledged meanwhile are persisted; the web node and the
    supervisor never stopped."""
    port = free_port()
    prefix = f"{services.prefix}aio-{user_id('p')}:"
    env = system_env(REDIS_PREFIX=prefix, PORT=str(port), DATA_DIR=str(tmp_path / "data"))
    r = rig(procs, system_env, services.redis_url, prefix=prefix)
    allinone = procs.start("all-in-one", [], env, port=port)
    wait_healthy(allinone)
    queue = open_queue(r.redis, r.keys, MESSAGES_QUEUE)

    def registered() -> set[int]:
        return {w.pid for w in Worker.all(queue=queue)} & {c.pid for c in worker_children(allinone)}

    await wait_until(registered, 30, "the all-in-one's worker never registered", allinone)
    (first,) = registered()
    os.killpg(first, signal.SIGKILL)  # its process group: the worker and RQ's scheduler
    owner = user_id("owner")
    room = await create_room(http, allinone, sys_token(owner), "Restarted", [user_id("bob")])
    stream = Stream(http, allinone, sys_token(owner), room, owner)
    for n in range(1, 4):
        assert await stream.send(n)
    await wait_until(lambda: registered() - {first}, 20, "no new worker registered", allinone)
    await wait_until(lambda: r.waiting() == 0, 15, "the outbox never emptied", allinone, interval=0.2)
    check_drained(pg, room, stream)
    assert allinone.alive(), allinone.tail(40)
    log = worker_log(allinone)
    assert f"the worker (pid {first}) exited with code -9" in log, allinone.tail(40)
    assert "restarted the worker (restart 1)" in log, allinone.tail(40)
