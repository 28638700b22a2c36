"""AsyncDatabase: a refused or lost connection is the core's UNAVAILABLE, and the next call reconnects."""

from __future__ import annotations

import socket

import peewee
import pytest

from app.chat.errors import ChatError, Code
from app.storage.database import AsyncDatabase, connect_params
from app.storage.rooms import PgRoomStore, create_group


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def backend_pid(db: peewee.Database) -> int:
    return db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


async def test_a_refused_connection_is_unavailable_and_the_next_call_connects(services):
    name, params = connect_params(services.database_url)
    real_host, real_port = params.get("host"), params.get("port")
    # A database object of its own (open_database would rebind the models for the whole session).
    db = peewee.PostgresqlDatabase(name, **{**params, "host": "127.0.0.1", "port": free_port(), "connect_timeout": 3})
    adb = AsyncDatabase(db, threads=1)
    try:
        with pytest.raises(ChatError) as refused:
            await adb.run(lambda: db.execute_sql("SELECT 1").fetchone())
        assert refused.value.code is Code.UNAVAILABLE
        with pytest.raises(ChatError) as again:
            await adb.run(lambda: db.execute_sql("SELECT 1").fetchone())
        assert again.value.code is Code.UNAVAILABLE
        # The server is back (here: the right address): the next call works.
        db.connect_params.update(host=real_host, port=real_port)
        assert await adb.run(lambda: db.execute_sql("SELECT 1").fetchone()) == (1,)
    finally:
        await adb.run(db.close)
        adb.close()


async def test_a_connection_the_server_ended_between_calls_is_replaced_and_costs_no_call(db, make_users, now):
    """A restart or failover between two calls: the next call runs on a new connection instead of failing
    (tests/storage/test_reconnect.py covers a connection lost during a call, and Postgres unreachable)."""
    (owner,) = make_users("owner")
    room = create_group("Lost", owner, [], now)
    adb = AsyncDatabase(db, threads=1)
    store = PgRoomStore(adb)
    try:
        assert await store.get(room.id) == room
        pid = await adb.run(backend_pid, db)
        # The server ends the pool thread's session (as a restart or a failover would).
        assert db.execute_sql("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()[0] is True
        assert await store.get(room.id) == room
        assert await adb.run(backend_pid, db) != pid
    finally:
        await adb.run(db.close)
        adb.close()


async def test_errors_that_are_not_about_the_connection_pass_through(db, adb):
    with pytest.raises(peewee.ProgrammingError):
        await adb.run(lambda: db.execute_sql("SELECT no_such_column FROM users").fetchone())
    # The connection survived the failed statement.
    assert await adb.run(lambda: db.execute_sql("SELECT 1").fetchone()) == (1,)
