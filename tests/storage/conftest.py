"""Helpers for the storage tests: users to own rooms and messages, and real threads on real connections."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from app.storage.database import AsyncDatabase
from app.storage.users import ensure_users


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def make_users(db, user_id, now) -> Callable[..., list[str]]:
    """make_users("a", "b") -> fresh ids with bare user rows."""

    def make(*names: str) -> list[str]:
        ids = [user_id(name) for name in names]
        ensure_users(ids, now)
        return ids

    return make


@pytest.fixture
def in_threads(db) -> Callable[..., list]:
    """in_threads(fn, fn, ...) runs each on its own thread and connection, released together by a barrier.

    Each thread's statements time out after 20 s, so a lock wait cannot hang the run; the
    thread closes its connection when done. Returns the results in order (re-raises the first error).
    """

    def run(*fns: Callable[[], object], timeout: float = 30.0) -> list:
        barrier = threading.Barrier(len(fns))

        def call(fn: Callable[[], object]) -> object:
            try:
                db.execute_sql("SET statement_timeout = '20s'")
                barrier.wait(timeout)
                return fn()
            finally:
                db.close()

        with ThreadPoolExecutor(max_workers=len(fns)) as pool:
            futures = [pool.submit(call, fn) for fn in fns]
            return [future.result(timeout=timeout) for future in futures]

    return run


@pytest.fixture
def adb(db):
    """The session's database run off the event loop, as the web process runs it."""
    database = AsyncDatabase(db, threads=4)
    yield database
    database.close()
