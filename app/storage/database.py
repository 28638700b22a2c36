"""Connecting to Postgres, and running Peewee off the event loop.

Peewee and psycopg2 block. The web process runs every query in a bounded
thread pool (`AsyncDatabase.run`), each thread holding its own connection,
so the pool size bounds both threads and connections. Workers are
synchronous and use the database directly.

Connections die with the server (a restart, a failover, a proxy between).
`AsyncDatabase` deals with that in two steps, so that a restart costs no call:

- Before a call, its thread's connection is checked, without a round trip:
  an idle connection has nothing to read, so one that has (the server's
  farewell, a reset) is pinged and replaced when the ping fails. A restart
  between calls is found here, before anything of the call is sent, so any
  call (writes included) simply runs on a new connection.
- A connection that dies during a call (psycopg2's OperationalError or
  InterfaceError, the connection closed) is replaced and the call run once
  more, but only when nothing it sent can have been committed. Every
  statement is classified as it is sent: outside a transaction block, any
  statement but a read (SELECT, SHOW, SET, BEGIN, ROLLBACK, ...) commits by
  itself; inside one, only COMMIT (or END) does. From the first statement that
  may have committed, the call is not retried, since the server may have
  applied it before the connection was lost and a second run would apply it
  twice: it fails with UNAVAILABLE, as every lost connection did before. So a
  read, and a transaction lost before its COMMIT was sent, are retried; an
  autocommitted INSERT or a COMMIT whose answer was lost are not. A statement
  beginning with SELECT is taken as a read: none here calls a function that
  writes (`nextval`, advisory locks lose nothing to a second run).

The functions given to `run` are re-run on such a retry, so they must depend
only on their arguments and the database (as every storage function does).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import select
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee
import psycopg2
import psycopg2.extensions

from app.chat.errors import ChatError, Code
from app.storage.models import MODELS

T = TypeVar("T")
log = logging.getLogger(__name__)


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
    """Runs synchronous storage functions in a thread pool, one connection per thread (see the module's
    docstring for what happens when a connection dies)."""

    def __init__(self, db: peewee.PostgresqlDatabase, threads: int) -> None:
        self.db = db
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="db")

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn(*args, **kwargs)` on a pool thread. A dead pooled connection is replaced first; a connection
        lost during the call is replaced and the call retried once when nothing it sent can have committed.
        Otherwise a lost or refused connection raises ChatError(UNAVAILABLE) and is dropped, so the next call
        reconnects."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._call, fn, args, kwargs))

    def _call(self, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        self._replace_if_dead()
        for attempt in (1, 2):
            _sent.may_have_committed = False
            try:
                self.db.connect(reuse_if_open=True)
                _track(self.db.connection())
                return fn(*args, **kwargs)
            except (peewee.OperationalError, peewee.InterfaceError) as exc:
                lost = self._lost()
                self._drop()
                if attempt == 1 and lost and not _sent.may_have_committed:
                    log.warning("the database connection was lost (%s); retrying on a new one", _first_line(exc))
                    continue
                raise ChatError(Code.UNAVAILABLE, "the database is unavailable; retry later") from exc
            finally:
                _sent.may_have_committed = True  # statements outside a call are never retried
        raise AssertionError("unreachable")

    def _replace_if_dead(self) -> None:
        """Drop this thread's connection if the server has closed it (a restart since the last call)."""
        if self.db.is_closed() or self.db.in_transaction():
            return
        conn = self.db.connection()
        if not isinstance(conn, psycopg2.extensions.connection):
            return
        if not conn.closed and not _has_input(conn):
            return  # idle, and nothing came from the server: alive as far as can be told without a round trip
        try:
            if not conn.closed:  # something came: the server's farewell most likely; a ping tells
                with conn.cursor() as cursor:
                    cursor.execute("SELECT 1")
                return
        except psycopg2.Error:
            pass
        log.info("a pooled database connection was closed by the server; reconnecting")
        self._drop()

    def _lost(self) -> bool:
        """Whether this thread's connection is gone (rather than a statement having failed on a live one)."""
        if self.db.is_closed():
            return True
        conn = self.db.connection()
        return bool(getattr(conn, "closed", False))

    def _drop(self) -> None:
        """Close this thread's connection and forget it (and any transaction on it), so the next use reconnects."""
        if self.db.is_closed():
            return
        try:
            self.db.connection().close()
        except Exception:  # closing a broken connection may complain; it is being dropped either way
            pass
        self.db.dispose()  # Peewee's state: no connection, no transaction (close() refuses inside a transaction)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


# -- what a call has sent ------------------------------------------------------------------------------------

_sent = threading.local()  # .may_have_committed: the call on this pool thread sent a statement that may commit
_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.S)  # space, comments, parentheses
_WORD = re.compile(r"[A-Za-z]+")
# Statements that change nothing durable when sent outside a transaction block.
_NO_COMMIT = frozenset({"SELECT", "SHOW", "SET", "RESET", "BEGIN", "START", "ROLLBACK", "VALUES", "TABLE", "EXPLAIN"})
_IN_BLOCK = (psycopg2.extensions.TRANSACTION_STATUS_INTRANS, psycopg2.extensions.TRANSACTION_STATUS_INERROR)


def _first_word(query: object) -> str:
    if isinstance(query, bytes):
        query = query[:200].decode("ascii", "replace")
    if not isinstance(query, str):
        return ""  # a composed statement: unknown, so it may commit
    start = _LEADING.match(query).end()
    word = _WORD.match(query, start)
    return word.group(0).upper() if word else ""


def _may_commit(query: object, status: int) -> bool:
    word = _first_word(query)
    if status in _IN_BLOCK:
        return word in ("COMMIT", "END", "PREPARE")
    if word == "EXPLAIN":  # EXPLAIN ANALYZE runs the statement
        return "ANALYZE" in str(query)[:200].upper()
    return word not in _NO_COMMIT


class _TrackingCursor(psycopg2.extensions.cursor):
    """Notes, before sending it, a statement that may commit (see `_may_commit`)."""

    def execute(self, query, vars=None):
        if not getattr(_sent, "may_have_committed", True) and _may_commit(
            query, self.connection.info.transaction_status
        ):
            _sent.may_have_committed = True
        return super().execute(query, vars)

    def executemany(self, query, vars_list):
        _sent.may_have_committed = True
        return super().executemany(query, vars_list)

    def callproc(self, procname, parameters=None):
        _sent.may_have_committed = True
        return super().callproc(procname, parameters)


def _track(conn: object) -> None:
    if isinstance(conn, psycopg2.extensions.connection) and conn.cursor_factory is not _TrackingCursor:
        conn.cursor_factory = _TrackingCursor


def _has_input(conn: psycopg2.extensions.connection) -> bool:
    """Whether the server sent anything (or closed) while the connection sat idle: it never does while alive."""
    try:
        fd = conn.fileno()
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLPRI)
            return bool(poller.poll(0))
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError, psycopg2.Error):
        return True


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
