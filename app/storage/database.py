"""Connecting to Postgres, and running Peewee off the event loop.

Peewee and psycopg2 block. The web process runs every query in a bounded
thread pool (`AsyncDatabase.run`), each thread holding its own connection,
so the pool size bounds both threads and connections. Workers are
synchronous and use the database directly.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee

from app.chat.errors import ChatError, Code
from app.storage.models import MODELS

T = TypeVar("T")


def connect_params(url: str) -> tuple[str, dict]:
    """(database name, psycopg2 keyword arguments) from a postgresql:// URL.

    Query parameters pass through, so `?host=/path/to/socket/dir` selects a
    Unix socket (as the embedded Postgres uses).
    """
    parts = urlsplit(url)
    params: dict = dict(parse_qsl(parts.query))
    if parts.hostname:
        params.setdefault("host", unquote(parts.hostname))
    if parts.port:
        params["port"] = parts.port
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    name = unquote(parts.path.lstrip("/")) or params.pop("dbname", "postgres")
    return name, params


_databases: dict[str, peewee.PostgresqlDatabase] = {}


def open_database(url: str, application_name: str = "chat") -> peewee.PostgresqlDatabase:
    """The Peewee database for `url`, bound to the models. Connections open lazily, one per thread.

    Peewee binds models to a database object process-wide, so a process has
    one object per URL: a web node, a worker and a test session that each
    open the same URL share it (the first caller's application name stays).
    """
    if url in _databases:
        return _databases[url]
    name, params = connect_params(url)
    params.setdefault("application_name", application_name)
    params.setdefault("connect_timeout", 5)
    params.setdefault("options", "-c timezone=UTC")
    db = peewee.PostgresqlDatabase(name, **params)
    db.bind(MODELS)
    _databases[url] = db
    return db


class AsyncDatabase:
    """Runs synchronous storage functions in a thread pool, one connection per thread."""

    def __init__(self, db: peewee.PostgresqlDatabase, threads: int) -> None:
        self.db = db
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="db")

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn(*args, **kwargs)` on a pool thread. A lost or refused connection raises
        ChatError(UNAVAILABLE) and is dropped, so the next call reconnects."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._call, fn, args, kwargs))

    def _call(self, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        try:
            self.db.connect(reuse_if_open=True)
            return fn(*args, **kwargs)
        except (peewee.OperationalError, peewee.InterfaceError) as exc:
            if not self.db.is_closed():
                try:
                    self.db.close()
                except peewee.PeeweeException:
                    pass
            raise ChatError(Code.UNAVAILABLE, "the database is unavailable; retry later") from exc

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
