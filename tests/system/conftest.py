"""System-tier fixtures: real `run.py` processes (web nodes, workers) on the run's Postgres and Redis.

Every process is started in its own session, so it and its children (the RQ scheduler, pool
workers) form one process group that the tests SIGKILL or SIGTERM as a whole; the finalizers
stop every group still alive, whatever the outcome. Each process writes its output to a log
file, whose tail failing assertions quote. Every wait is bounded.

The system tier uses its own REDIS_PREFIX (under the run's prefix, so the session deletes its
keys), so its workers never touch the keys of tests running in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
import pytest
import redis
from rq import Queue, Worker

from app.auth.tokens import mint
from app.jobs.queues import open_queue
from app.state.keys import MESSAGES_QUEUE, Keys
from tests.conftest import RecordingClient
from tests.ops.proxy import proxy  # noqa: F401 (fixture: a TCP proxy that cuts a process off a server)
from tests.services import TestServices

ROOT = Path(__file__).resolve().parents[2]
RUN_PY = ROOT / "run.py"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def group(self) -> list[psutil.Process]:
        """The live processes of its group (the leader, its children, orphans it left)."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if os.getpgid(proc.pid) == self.pid and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        return found

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return f"--- {self.name} (pid {self.pid}) {self.log} ---\n" + "\n".join(text[-lines:])


class Processes:
    """Starts `run.py` processes, each in its own process group, and stops them all at the end."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self.started: list[Proc] = []
        self._count = 0

    def start(self, name: str, args: list[str], env: dict[str, str], port: int | None = None) -> Proc:
        self._count += 1
        log = self._log_dir / f"{self._count:03d}-{name}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                [sys.executable, str(RUN_PY), *args],
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log, port)
        self.started.append(proc)
        return proc

    def signal(self, proc: Proc, sig: int) -> None:
        """Send `sig` to the process's whole group (a leader already gone may have left members)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def kill(self, proc: Proc, timeout: float = 10.0) -> None:
        """SIGKILL the group and reap the leader."""
        self.signal(proc, signal.SIGKILL)
        proc.popen.wait(timeout)

    def stop_all(self, timeout: float = 10.0) -> None:
        for proc in self.started:
            self.signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.started:
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            self.signal(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(5)

    def tails(self, lines: int = 30) -> str:
        return "\n".join(proc.tail(lines) for proc in self.started)


@pytest.fixture(scope="package")
def system_env(services: TestServices) -> Callable[..., dict[str, str]]:
    """The environment of system-tier processes: services.env() on the tier's own prefix."""
    prefix = f"{services.prefix}sys:"

    def build(**overrides: object) -> dict[str, str]:
        env = services.env(**{"REDIS_PREFIX": prefix, **overrides})
        env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
        return env

    return build


@pytest.fixture(scope="package")
def system_keys(services: TestServices) -> Keys:
    return Keys(f"{services.prefix}sys:")


@pytest.fixture(scope="package")
def sys_redis(services: TestServices) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(services.redis_url)
    yield connection
    connection.close()


def wait_healthy(proc: Proc, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}\n{proc.tail()}")
        try:
            with urllib.request.urlopen(proc.url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{proc.name} not healthy after {timeout}s\n{proc.tail()}")
        time.sleep(0.1)


@dataclass
class Cluster:
    """Web nodes and workers of one test, on the system prefix."""

    procs: Processes
    env: Callable[..., dict[str, str]]
    keys: Keys
    redis: redis.Redis
    nodes: list[Proc] = field(default_factory=list)

    def web(self, name: str = "web", **env: object) -> Proc:
        port = free_port()
        proc = self.procs.start(name, ["web", "--port", str(port)], self.env(**env), port=port)
        wait_healthy(proc)
        return proc

    def worker(self, name: str = "worker", processes: int = 1, **env: object) -> Proc:
        return self.procs.start(name, ["worker", "--processes", str(processes)], self.env(**env))

    def queue(self) -> Queue:
        return open_queue(self.redis, self.keys, MESSAGES_QUEUE)

    def registered(self, proc: Proc) -> bool:
        """Whether a worker of `proc`'s group has registered with RQ (it is about to take jobs)."""
        pids = {p.pid for p in proc.group()}
        return any(w.pid in pids for w in Worker.all(queue=self.queue()))

    async def wait_registered(self, proc: Proc, timeout: float = START_TIMEOUT) -> None:
        await wait_until(lambda: self.registered(proc), timeout, f"{proc.name} never registered", proc)

    def outbox_fields(self, room_ids: set[str]) -> set[str]:
        fields = {f.decode() for f in self.redis.hkeys(self.keys.outbox)}
        fields |= {f.decode() for f in self.redis.zrange(self.keys.outbox_since, 0, -1)}
        return {f for f in fields if f.rpartition(":")[0] in room_ids}


async def wait_until(
    check: Callable[[], bool | Awaitable[bool]], timeout: float, what: str, *procs: Proc, interval: float = 0.1
) -> None:
    """Poll `check` until it holds; fail with `what` and the processes' logs after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            logs = "\n".join(proc.tail() for proc in procs)
            raise AssertionError(f"{what} (after {timeout}s)\n{logs}")
        await asyncio.sleep(interval)


@pytest.fixture(scope="package")
def package_procs(tmp_path_factory) -> Iterator[Processes]:
    procs = Processes(tmp_path_factory.mktemp("system-logs"))
    yield procs
    procs.stop_all()


@pytest.fixture
def procs(tmp_path) -> Iterator[Processes]:
    procs = Processes(tmp_path / "logs")
    yield procs
    procs.stop_all()


@pytest.fixture(scope="package")
def nodes(package_procs, system_env) -> list[Proc]:
    """Two web nodes shared by the tier's tests (started once, in parallel)."""
    started = []
    for i in (1, 2):
        port = free_port()
        started.append(package_procs.start(f"web{i}", ["web", "--port", str(port)], system_env(), port=port))
    for proc in started:
        wait_healthy(proc)
    return started


@pytest.fixture
def cluster(procs, system_env, system_keys, sys_redis, nodes) -> Cluster:
    """This test's processes (stopped at its end) next to the two shared web nodes."""
    return Cluster(procs, system_env, system_keys, sys_redis, list(nodes))


@pytest.fixture(scope="package")
def sys_token(services: TestServices) -> Callable[..., str]:
    import config

    auth = config.load(services.env(), require=("auth",)).auth

    def make(user: str, name: str | None = None, ttl: int = 3600) -> str:
        return mint(auth, user, name, ttl)

    return make


@pytest.fixture
async def http() -> aiohttp.ClientSession:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


@pytest.fixture
async def sio(sys_token) -> Callable[..., Awaitable[RecordingClient]]:
    """sio(node, user) -> a Socket.IO client connected to that node, ready; all disconnected at the end."""
    clients: list[RecordingClient] = []

    async def open_client(node: Proc, user: str) -> RecordingClient:
        client = RecordingClient()
        clients.append(client)
        await client.connect(node.url, auth={"token": sys_token(user)}, transports=["websocket"], wait_timeout=10)
        await client.next("session:ready", timeout=10)
        return client

    yield open_client
    for client in clients:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 5)


async def create_room(http: aiohttp.ClientSession, node: Proc, token: str, name: str, participants: list[str]) -> str:
    async with http.post(
        node.url + "/api/v1/rooms",
        json={"name": name, "participants": participants},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        body = await response.json()
        assert response.status == 201, body
        return body["id"]


def stored_messages(pg, room_ids: set[str] | list[str]) -> list[tuple]:
    """(room_id, seq, id, sender_id, content, client_ref) of the rooms' rows in Postgres."""
    return [
        (str(room), seq, str(mid), sender, content, ref)
        for room, seq, mid, sender, content, ref in pg(
            "SELECT room_id, seq, id, sender_id, content, client_ref FROM messages "
            "WHERE room_id = ANY(%s) ORDER BY room_id, seq",
            ([int(r) for r in room_ids],),
        )
    ]
