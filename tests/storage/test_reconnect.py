"""AsyncDatabase after Postgres restarts: pooled connections the server dropped are found before use and
replaced, and a call whose connection dies under it is retried once when nothing it sent can have been
committed (reads; a transaction that had not reached COMMIT), and never after a statement that may have
(an autocommitted write, a COMMIT), which is UNAVAILABLE as before.

The restart is a TCP proxy between the pool and the shared Postgres, cut and restored (which ends every
pooled connection as a restart does), or the server ending one backend (`pg_terminate_backend`)."""

from __future__ import annotations

import asyncio
import time
import uuid

import peewee
import pytest

from app.chat.errors import ChatError, Code
from app.storage.database import AsyncDatabase, connect_params
from tests.ops.proxy import Proxy

THREADS = 4


@pytest.fixture
def proxy(services):
    _name, params = connect_params(services.database_url)
    host, port = params.get("host", "127.0.0.1"), int(params.get("port", 5432))
    target = Proxy(f"{host}/.s.PGSQL.{port}", None) if host.startswith("/") else Proxy(host, port)
    yield target
    target.close()


@pytest.fixture
def proxied(services, proxy):
    """(peewee database through the proxy, AsyncDatabase on it). A database object of its own: open_database
    would rebind the models for the whole session."""
    name, params = connect_params(services.database_url)
    db = peewee.PostgresqlDatabase(name, **{**params, "host": "127.0.0.1", "port": proxy.port, "connect_timeout": 3})
    adb = AsyncDatabase(db, threads=THREADS)
    yield db, adb
    adb.close()


@pytest.fixture
def table(pg):
    name = f"reconnect_{uuid.uuid4().hex[:10]}"
    pg(f"CREATE TABLE {name} (id serial PRIMARY KEY, note text NOT NULL)")
    yield name
    pg(f"DROP TABLE {name}")


def backend_pid(db: peewee.Database) -> int:
    return db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


async def warm(db, adb) -> set[int]:
    """Open a connection on every pool thread (concurrent calls, each holding its thread a moment)."""

    def hold() -> int:
        db.execute_sql("SELECT pg_sleep(0.05)")
        return backend_pid(db)

    return set(await asyncio.gather(*(adb.run(hold) for _ in range(THREADS * 3))))


def terminate(pg, pid: int) -> None:
    """The server ends that backend (as a restart or a failover would), and its socket is closed."""
    assert pg("SELECT pg_terminate_backend(%s, 5000)", (pid,))[0][0] is True
    time.sleep(0.05)


# --- After a restart: every pooled connection is dead, and no call fails for it -----------------------------


async def test_no_call_fails_after_a_restart_that_killed_every_pooled_connection(proxied, proxy, table):
    db, adb = proxied
    before = await warm(db, adb)
    assert len(before) == THREADS
    proxy.cut()  # every pooled connection is gone, as when the server restarts
    proxy.restore()

    def read() -> tuple:
        return db.execute_sql("SELECT 1 FROM pg_sleep(0.02)").fetchone()

    def write(i: int) -> None:  # autocommitted: safe, as the dead connection is found before the INSERT is sent
        db.execute_sql("SELECT pg_sleep(0.02)")  # (a read first: the writes land on every pool thread too)
        db.execute_sql(f"INSERT INTO {table} (note) VALUES (%s)", (str(i),))

    # 20 calls, as a web node makes them: several at once, so that every pool thread (and connection) serves some.
    calls = [adb.run(write, i) if i % 2 == 0 else adb.run(read) for i in range(20)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    failures = [(i, result) for i, result in enumerate(results) if isinstance(result, BaseException)]
    assert failures == []
    rows = await adb.run(lambda: db.execute_sql(f"SELECT note FROM {table} ORDER BY id").fetchall())
    # Each write exactly once (in any order: the calls run on several pool threads at once).
    assert sorted((r[0] for r in rows), key=int) == [str(i) for i in range(0, 20, 2)]
    assert not before & await warm(db, adb)  # new backends


async def test_while_the_server_is_down_calls_are_unavailable_and_work_again_once_it_is_back(proxied, proxy):
    db, adb = proxied
    await warm(db, adb)
    proxy.cut()
    with pytest.raises(ChatError) as down:
        await adb.run(lambda: db.execute_sql("SELECT 1").fetchone())
    assert down.value.code is Code.UNAVAILABLE
    proxy.restore()
    for _ in range(THREADS * 2):
        assert await adb.run(lambda: db.execute_sql("SELECT 1").fetchone()) == (1,)


# --- A connection that dies during a call ----------------------------------------------------------------


async def test_a_read_whose_connection_dies_under_it_is_retried_once(proxied, pg):
    db, adb = proxied
    attempts = []

    def read() -> int:
        attempts.append(backend_pid(db))
        if len(attempts) == 1:
            terminate(pg, attempts[0])
        return db.execute_sql("SELECT 41 + 1").fetchone()[0]

    assert await adb.run(read) == 42
    assert len(attempts) == 2 and attempts[0] != attempts[1]


async def test_a_transaction_that_died_before_commit_is_retried_and_applied_once(proxied, pg, table):
    db, adb = proxied
    attempts = []

    def write() -> None:
        with db.atomic():
            attempts.append(backend_pid(db))
            db.execute_sql(f"INSERT INTO {table} (note) VALUES ('first')")
            if len(attempts) == 1:
                terminate(pg, attempts[0])  # the transaction is rolled back with the backend
            db.execute_sql(f"INSERT INTO {table} (note) VALUES ('second')")

    await adb.run(write)
    assert len(attempts) == 2
    assert [r[0] for r in pg(f"SELECT note FROM {table} ORDER BY id")] == ["first", "second"]


async def test_an_autocommitted_write_sent_on_a_dying_connection_is_not_retried(proxied, pg, table):
    """Once a statement that commits by itself has been sent, the server may have applied it: retrying
    could apply it twice, so the call is UNAVAILABLE (the client retries, with its own idempotency)."""
    db, adb = proxied
    attempts = []

    def write() -> None:
        attempts.append(backend_pid(db))
        db.execute_sql(f"INSERT INTO {table} (note) VALUES ('once')")
        terminate(pg, attempts[-1])
        db.execute_sql("SELECT 1")

    with pytest.raises(ChatError) as lost:
        await adb.run(write)
    assert lost.value.code is Code.UNAVAILABLE
    assert len(attempts) == 1
    assert [r[0] for r in pg(f"SELECT note FROM {table}")] == ["once"]
    assert await adb.run(lambda: db.execute_sql("SELECT 1").fetchone()) == (1,)  # and the next call reconnects


async def test_a_commit_sent_on_a_dying_connection_is_not_retried(proxied, pg, table):
    db, adb = proxied
    attempts = []

    def write() -> None:
        attempts.append(backend_pid(db))
        with db.atomic():
            db.execute_sql(f"INSERT INTO {table} (note) VALUES ('maybe')")
            terminate(pg, attempts[-1])
        # leaving the block sends COMMIT, on a dead connection: whether a commit was applied is unknown

    with pytest.raises(ChatError) as lost:
        await adb.run(write)
    assert lost.value.code is Code.UNAVAILABLE
    assert len(attempts) == 1


async def test_a_read_is_retried_only_once(proxied, pg):
    db, adb = proxied
    attempts = []

    def doomed() -> None:
        attempts.append(backend_pid(db))
        terminate(pg, attempts[-1])
        db.execute_sql("SELECT 1")

    with pytest.raises(ChatError) as lost:
        await adb.run(doomed)
    assert lost.value.code is Code.UNAVAILABLE
    assert len(attempts) == 2


async def test_an_error_that_is_not_about_the_connection_is_not_retried(proxied):
    db, adb = proxied
    attempts = []

    def wrong() -> None:
        attempts.append(1)
        db.execute_sql("SELECT no_such_column FROM pg_class")

    with pytest.raises(peewee.ProgrammingError):
        await adb.run(wrong)
    assert attempts == [1]
