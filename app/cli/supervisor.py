"""`python run.py`: everything on one machine, for a first run and for QA.

Starts embedded Postgres and Redis unless DATABASE_URL / REDIS_URL are
set, applies migrations, then runs one web node and one worker as child
processes (`run.py web`, `run.py worker`). Ctrl-C (or SIGTERM) stops the
children first, letting the web node flush and the worker finish its
job, then the embedded servers. If a child dies, everything stops.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import config
from app.cli.embedded import Embedded
from app.storage import migrate
from app.storage.database import open_database

log = logging.getLogger(__name__)

RUN_PY = Path(__file__).resolve().parents[2] / "run.py"
STOP_TIMEOUT = 20.0


def run_all(env: dict[str, str]) -> int:
    env = dict(env)
    # With no configuration, the all-in-one is a development setup: it makes its own secret.
    env.setdefault("DEV_MODE", "1")
    settings = config.load(env)
    data_dir = Path(settings.paths.data_dir).resolve()
    env["DATA_DIR"] = str(data_dir)
    embedded = Embedded(data_dir)
    children: list[subprocess.Popen] = []
    stopping = False

    def request_stop(signum, _frame):
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not settings.database.database_url:
            env["DATABASE_URL"] = embedded.start_postgres()
        if not settings.redis.redis_url:
            env["REDIS_URL"] = embedded.start_redis()
        settings = config.load(env, require=("server", "auth", "database", "redis", "queue", "worker"))
        db = open_database(settings.database.database_url, application_name="chat-migrate")
        applied = migrate.migrate(db)
        db.close()
        if applied:
            log.info("applied migrations %s", ", ".join(applied))
        for command in ("web", "worker"):
            children.append(subprocess.Popen([sys.executable, str(RUN_PY), command], env=env, start_new_session=True))
        log.info("serving on http://%s:%d (Ctrl-C stops everything)", settings.server.host, settings.server.port)
        while not stopping:
            if any(child.poll() is not None for child in children):
                log.error("a child process exited; stopping")
                return 1
            time.sleep(0.2)
        return 0
    finally:
        _stop(children)
        embedded.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
    except ProcessLookupError:
        pass
