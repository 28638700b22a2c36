"""`python run.py` with nothing configured: embedded Postgres and Redis under DATA_DIR, one web
node, one worker; a message sent over REST is persisted; Ctrl-C (SIGINT to its process group,
as a terminal sends it) stops everything, children and embedded servers, with exit code 0."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import psycopg2
import pytest
import redis

import config
from app.state.keys import Keys
from tests.system.conftest import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.system

SETTING_NAMES = {name for _section, name, _default, _doc in config.options()}
STOP_BOUND = 30.0


def call(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def poll(check, timeout: float, what: str, log: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (after {timeout}s)\n{log}")
        time.sleep(0.1)


def cmdline(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(proc.cmdline())
    return ""


def mentioning(*needles: str) -> list[psutil.Process]:
    """Live processes whose command line mentions any of `needles`."""
    found = []
    for proc in psutil.process_iter():
        line = cmdline(proc)
        with contextlib.suppress(psutil.Error):
            if any(needle in line for needle in needles) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def redis_socket(server: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        for conn in server.net_connections(kind="unix"):
            if conn.laddr and str(conn.laddr).endswith(".sock"):
                return str(conn.laddr)
    match = re.search(r"unixsocket:(\S+)", cmdline(server))
    assert match, f"cannot find the embedded Redis socket of {cmdline(server)!r}"
    return match.group(1)


@pytest.fixture
def data_dir():
    # Short, in /tmp: the embedded Postgres puts its Unix socket in here (paths are limited to ~100 bytes).
    path = Path(tempfile.mkdtemp(prefix="chat-aio-"))
    yield path
    # Whatever happened, leave no server behind: a fast shutdown first, then SIGKILL.
    leftovers = mentioning(str(path))
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    psutil.wait_procs(leftovers, timeout=10)
    for proc in mentioning(str(path)):
        with contextlib.suppress(psutil.Error):
            proc.kill()
    shutil.rmtree(path, ignore_errors=True)


def test_the_all_in_one_serves_persists_and_stops_everything_on_ctrl_c(procs, data_dir):
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name not in SETTING_NAMES}
    env.update(DATA_DIR=str(data_dir), PORT=str(port), LOG_LEVEL="INFO")
    proc = procs.start("all-in-one", [], env, port=port)
    wait_healthy(proc, timeout=90)

    # The process tree: the supervisor's children (web, worker and its RQ scheduler, Redis) and
    # the embedded Postgres, which pg_ctl daemonises (it is nobody's child but lives in DATA_DIR).
    supervisor = psutil.Process(proc.pid)
    children = supervisor.children(recursive=True)
    lines = [cmdline(child) for child in children]
    assert any(line.endswith("run.py web") for line in lines), lines
    assert any(line.endswith("run.py worker") for line in lines), lines
    [redis_server] = [child for child in children if "redis-server" in cmdline(child)]
    postgres = [p for p in mentioning(str(data_dir / "postgres")) if p.name() == "postgres"]
    assert postgres, "no embedded Postgres is running"
    tree = [supervisor, *children, *postgres, *[c for p in postgres for c in p.children(recursive=True)]]
    socket_path = redis_socket(redis_server)

    # A message over REST, with a token minted as the README says: `run.py token` in another
    # terminal, with no settings but the same DATA_DIR (the all-in-one made the development secret).
    minted = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "token", "alice", "--name", "Alice"],
        env={**env, "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    status, room = call("POST", f"{proc.url}/api/v1/rooms", token, {"name": "All in one", "participants": ["bob"]})
    assert status == 201, room
    for i in range(3):
        status, sent = call("POST", f"{proc.url}/api/v1/rooms/{room['id']}/messages", token, {"content": f"hi {i} ✓"})
        assert status == 201 and sent["seq"] == i + 1, sent
    status, page = call("GET", f"{proc.url}/api/v1/rooms/{room['id']}/messages", token)
    assert status == 200 and [m["content"] for m in page["messages"]] == ["hi 0 ✓", "hi 1 ✓", "hi 2 ✓"]

    # Persisted by the worker: the rows are in the embedded Postgres and the outbox is empty.
    embedded_redis = redis.Redis(unix_socket_path=socket_path)
    outbox = Keys(config.load(env).redis.redis_prefix).outbox
    pg = psycopg2.connect(host=str(data_dir / "postgres"), dbname="chat", user="postgres")
    pg.autocommit = True
    try:

        def persisted() -> bool:
            with pg.cursor() as cursor:
                cursor.execute("SELECT seq, content FROM messages WHERE room_id = %s ORDER BY seq", (int(room["id"]),))
                rows = cursor.fetchall()
            return rows == [(1, "hi 0 ✓"), (2, "hi 1 ✓"), (3, "hi 2 ✓")] and embedded_redis.hlen(outbox) == 0

        poll(persisted, 30, "the messages never reached the embedded Postgres", proc.tail())
    finally:
        pg.close()
        embedded_redis.close()

    # Ctrl-C: SIGINT to the foreground process group.
    stopped_at = time.monotonic()
    procs.signal(proc, signal.SIGINT)
    try:
        code = proc.popen.wait(STOP_BOUND)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the all-in-one did not stop within {STOP_BOUND}s\n{proc.tail()}") from None
    took = time.monotonic() - stopped_at
    log = proc.log.read_text(errors="replace")
    assert code == 0, proc.tail()
    assert took < STOP_BOUND
    psutil.wait_procs(tree, timeout=5)
    alive = [f"{p.pid} {cmdline(p)}" for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left running after Ctrl-C: {alive}"
    assert mentioning(str(data_dir), socket_path) == []
    assert not Path(socket_path).exists()
    assert "Traceback" not in log, proc.tail(80)
