"""`python run.py`: everything on one machine, for a first run and for QA.

Starts embedded Postgres and Redis unless DATABASE_URL / REDIS_URL are
set, applies migrations, then runs one web node and one worker as child
processes (`run.py web`, `run.py worker`). Ctrl-C (or SIGTERM) stops the
children first, letting the web node flush and the worker finish its
job, then the embedded servers.

A worker that exits (whatever the cause: an OOM kill, a crash) is started
again, after RESTART_FIRST seconds doubling per quick death up to
RESTART_MAX, back to RESTART_FIRST once a worker has lived RESTART_RESET
seconds; each exit and restart is logged (ERROR, WARNING). Acknowledged
messages wait in the outbox meanwhile and are persisted once it runs. If
the web node dies, everything stops (a port taken would only die again).

One all-in-one per DATA_DIR: it takes DATA_DIR/run.lock before starting
anything, and refuses to start (one line, exit 2) when another holds it.
It writes the URLs of its embedded servers to DATA_DIR/servers.json for
the other commands run next to it (app/cli/instance.py), logs where they
listen, and says "serving on" once the web node has bound its port.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import config
from app.cli import instance
from app.cli.embedded import Embedded, die_with_parent, stop_orphaned_redis
from app.cli.instance import InstanceLock, cannot_listen
from app.storage import migrate
from app.storage.database import open_database

log = logging.getLogger(__name__)

RUN_PY = Path(__file__).resolve().parents[2] / "run.py"
STOP_TIMEOUT = 20.0
RESTART_FIRST = 1.0  # seconds before a dead worker is started again...
RESTART_MAX = 30.0  # ...doubled per death that follows quickly, up to this
RESTART_RESET = 60.0  # a worker that lived this long restarts after RESTART_FIRST again
POLL = 0.2
READY_FD = "CHAT_READY_FD"  # the web node writes a byte to this descriptor once it listens


def run_all(env: dict[str, str]) -> int:
    env = dict(env)
    # With no configuration, the all-in-one is a development setup: it makes its own secret.
    env.setdefault("DEV_MODE", "1")
    settings = config.load(env)
    data_dir = Path(settings.paths.data_dir).resolve()
    env["DATA_DIR"] = str(data_dir)
    lock = InstanceLock(data_dir)
    lock.acquire()  # before anything else: a second all-in-one on this DATA_DIR stops here
    try:
        check_port_free(settings.server.host, settings.server.port)
        return _run(env, settings, data_dir)
    finally:
        lock.release()


def check_port_free(host: str, port: int) -> None:
    """Raise CannotStart when the web node could not listen on host:port (bound the way aiohttp does)."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise cannot_listen(host, port, exc) from None


def _run(env: dict[str, str], settings: config.Settings, data_dir: Path) -> int:
    stale = instance.recorded(data_dir)
    if stale is not None:  # left by an all-in-one that was killed: what it started may still run
        stop_orphaned_redis(stale.get("redis_pid"), stale.get("redis_url"))
        instance.forget(data_dir)
    embedded = Embedded(data_dir)
    children: list[subprocess.Popen] = []
    stopping = False
    ready_read, ready_write = os.pipe()

    def request_stop(signum, _frame):
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        servers: dict[str, object] = {}
        if not settings.database.database_url:
            env["DATABASE_URL"] = servers["database_url"] = embedded.start_postgres()
        if not settings.redis.redis_url:
            env["REDIS_URL"] = servers["redis_url"] = embedded.start_redis()
            servers["redis_pid"] = embedded.redis_pid
        settings = config.load(env, require=("server", "auth", "database", "redis", "queue", "worker"))
        db = open_database(settings.database.database_url, application_name="chat-migrate")
        applied = migrate.migrate(db)
        db.close()
        if applied:
            log.info("applied migrations %s", ", ".join(applied))
        url = f"http://{settings.server.host}:{settings.server.port}"
        if servers:
            recorded = instance.record(data_dir, {**servers, "web": url, "dev_mode": settings.auth.dev_mode})
            log.info("`run.py migrate|user|web|worker` with this DATA_DIR use these servers (%s)", recorded)
        web = _spawn("web", {**env, READY_FD: str(ready_write)}, pass_fds=(ready_write,))
        os.close(ready_write)
        ready_write = -1
        children.append(web)
        worker = Restarting("worker", env)
        children.append(worker.start())
        bound = False
        while not stopping:
            if not bound and select.select([ready_read], [], [], 0)[0]:
                bound = os.read(ready_read, 1) == b"1"
                if bound:
                    log.info("serving on %s (Ctrl-C stops everything)", url)
            if web.poll() is not None:
                if bound or web.returncode != 2:  # 2: it said why (a port taken) in one line
                    log.error("the web node (pid %d) exited with code %s; stopping", web.pid, web.returncode)
                return web.returncode if not bound and web.returncode == 2 else 1
            restarted = worker.check()
            if restarted is not None:
                children[1] = restarted
            time.sleep(POLL)
        return 0
    finally:
        _stop(children)
        embedded.stop()
        instance.forget(data_dir)
        for fd in (ready_read, ready_write):
            if fd >= 0:
                os.close(fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _spawn(command: str, env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(RUN_PY), command],
        env=env,
        start_new_session=True,
        pass_fds=pass_fds,
        preexec_fn=die_with_parent,  # a killed supervisor leaves none behind
    )


class Restarting:
    """A child process started again whenever it exits, with back-off, until the supervisor stops."""

    def __init__(self, command: str, env: dict[str, str], clock=time.monotonic) -> None:
        self.command = command
        self._env = env
        self._clock = clock
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._started = 0.0
        self._delay = 0.0
        self._due: float | None = None

    def start(self) -> subprocess.Popen:
        self.process = _spawn(self.command, self._env)
        self._started = self._clock()
        return self.process

    def check(self) -> subprocess.Popen | None:
        """If the child exited, schedule (and log) its restart; if one is due, start it and return it."""
        now = self._clock()
        if self._due is None:
            assert self.process is not None
            if self.process.poll() is None:
                return None
            lived = now - self._started
            quick = lived < RESTART_RESET and self._delay > 0
            self._delay = min(self._delay * 2, RESTART_MAX) if quick else RESTART_FIRST
            self._due = now + self._delay
            log.error(
                "the %s (pid %d) exited with code %s after %.1fs; starting it again in %gs",
                self.command,
                self.process.pid,
                self.process.returncode,
                lived,
                self._delay,
            )
            # What it started (RQ's scheduler) stops with it.
            _signal_group(self.process, signal.SIGTERM)
            return None
        if now < self._due:
            return None
        self._due = None
        self.restarts += 1
        process = self.start()
        log.warning("restarted the %s (restart %d): pid %d", self.command, self.restarts, process.pid)
        return process


def _stop(children: list[subprocess.Popen]) -> None:
    # Each child leads its own process group (its session): signal the group, so what it
    # started (RQ's scheduler, a worker pool's processes) stops with it.
    for child in children:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("pid %d did not stop in %ss; killing it", child.pid, STOP_TIMEOUT)
            _signal_group(child, signal.SIGKILL)
            child.wait()


def _signal_group(child: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
