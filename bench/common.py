"""What every benchmark shares: a throwaway database and key prefix, processes, and reporting.

Benchmarks use the Postgres and Redis given by BENCH_DATABASE_URL (an
admin URL) and BENCH_REDIS_URL, by default the local ones, with a fresh
database and key prefix that are dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import redis

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")


class Stage:
    """A fresh database (migrated) and key prefix, and the processes started on them."""

    def __init__(self, **env: object) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.database = f"chat_bench_{self.run_id}"
        with contextlib.closing(psycopg2.connect(ADMIN_URL)) as conn:
            conn.autocommit = True
            conn.cursor().execute(f'CREATE DATABASE "{self.database}"')
        parts = urlsplit(ADMIN_URL)
        self.database_url = urlunsplit((parts.scheme, parts.netloc, "/" + self.database, parts.query, ""))
        self.prefix = f"bench-{self.run_id}:"
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": self.prefix,
            "JWT_SECRET": "bench-secret-" + "x" * 40,
            "LOG_LEVEL": "WARNING",
            "MESSAGE_RATE": "100000",
            "MESSAGE_BURST": "100000",
            "EVENT_RATE": "100000",
            "EVENT_BURST": "100000",
            "API_RATE": "100000",
            "API_BURST": "100000",
        }
        self.env.update({k: str(v) for k, v in env.items()})
        self.processes: list[subprocess.Popen] = []
        self.run("migrate")

    def run(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, str(ROOT / "run.py"), *args], env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def start(self, *args: str, **env: object) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), *args],
            env={**self.env, **{k: str(v) for k, v in env.items()}},
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def start_web(self, **env: object) -> str:
        port = free_port()
        self.start("web", "--port", str(port), **env)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/health")
        return url

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(REDIS_URL)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        connection = self.redis()
        keys = list(connection.scan_iter(match=f"*{self.prefix}*", count=5000))
        for start in range(0, len(keys), 5000):
            connection.delete(*keys[start : start + 5000])
        with contextlib.closing(psycopg2.connect(ADMIN_URL)) as conn:
            conn.autocommit = True
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout}s") from None
            time.sleep(0.1)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    pg = "?"
    with contextlib.suppress(Exception), contextlib.closing(psycopg2.connect(ADMIN_URL)) as conn:
        cursor = conn.cursor()
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0].split()[0]
    rd = redis.Redis.from_url(REDIS_URL).info("server")["redis_version"]
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}; Linux {platform.release()}; Python {platform.python_version()}; "
        f"Postgres {pg}; Redis {rd}"
    )


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
