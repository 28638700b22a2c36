"""Versioned migrations on a scratch database: applied in order, once, safely twice and concurrently."""

from __future__ import annotations

import contextlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import peewee
import psycopg2
import pytest

from app.storage import migrate
from app.storage.database import connect_params

TABLES = {"users", "rooms", "memberships", "messages", "schema_migrations"}


@pytest.fixture
def scratch_url(services):
    """A fresh, empty database of its own, dropped afterwards."""
    name = f"{services.database}_scratch_{uuid.uuid4().hex[:6]}"
    with contextlib.closing(psycopg2.connect(services.admin_url)) as conn:
        conn.autocommit = True
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(services.admin_url)
    yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    with contextlib.closing(psycopg2.connect(services.admin_url)) as conn:
        conn.autocommit = True
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scratch_database(url: str) -> peewee.PostgresqlDatabase:
    # Not open_database: that would bind the models to the scratch database for the whole session.
    name, params = connect_params(url)
    return peewee.PostgresqlDatabase(name, connect_timeout=5, **params)


def tables(db: peewee.Database) -> set[str]:
    rows = db.execute_sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    return {row[0] for row in rows.fetchall()}


def recorded(db: peewee.Database) -> list[tuple[str, str]]:
    return list(db.execute_sql("SELECT version, name FROM schema_migrations ORDER BY version").fetchall())


def test_migration_files_are_versioned_in_order():
    found = migrate.available()
    versions = [version for version, _ in found]
    assert versions, "no migration files found"
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert all(len(version) == 4 and version.isdigit() for version in versions)
    assert found[0][0] == "0001"


def test_a_fresh_database_gets_every_migration_once_and_a_second_run_applies_nothing(scratch_url):
    db = scratch_database(scratch_url)
    try:
        everything = [version for version, _ in migrate.available()]
        assert migrate.migrate(db) == everything
        assert TABLES <= tables(db)
        assert recorded(db) == [(version, path.stem) for version, path in migrate.available()]
        assert migrate.applied(db) == set(everything)
        # Again, and with data in place: nothing is applied, nothing is lost.
        db.execute_sql("INSERT INTO users (id, created_at, updated_at) VALUES ('kept', now(), now())")
        assert migrate.migrate(db) == []
        assert recorded(db) == [(version, path.stem) for version, path in migrate.available()]
        assert db.execute_sql("SELECT count(*) FROM users").fetchone()[0] == 1
    finally:
        db.close()


def test_two_concurrent_runs_apply_each_migration_exactly_once(scratch_url):
    databases = [scratch_database(scratch_url) for _ in range(2)]  # two objects: two connections
    barrier = threading.Barrier(len(databases))

    def run(db: peewee.PostgresqlDatabase) -> list[str]:
        try:
            db.execute_sql("SET statement_timeout = '20s'")
            barrier.wait(10)
            return migrate.migrate(db)
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=len(databases)) as pool:
        results = [future.result(timeout=30) for future in [pool.submit(run, db) for db in databases]]
    everything = [version for version, _ in migrate.available()]
    assert sorted(results, key=len) == [[], everything]
    db = scratch_database(scratch_url)
    try:
        assert [version for version, _ in recorded(db)] == everything
        assert TABLES <= tables(db)
    finally:
        db.close()


def test_a_failing_migration_is_rolled_back_unrecorded_and_the_ones_before_it_stay(scratch_url, tmp_path, monkeypatch):
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id INT PRIMARY KEY);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE second_table (id INT); SELECT no_such_function();")
    (tmp_path / "README.txt").write_text("not a migration")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    db = scratch_database(scratch_url)
    try:
        with pytest.raises(peewee.ProgrammingError):
            migrate.migrate(db)
        assert [version for version, _ in recorded(db)] == ["0001"]
        assert "first_table" in tables(db)
        assert "second_table" not in tables(db)
        # The lock was released (another connection can take it), and a fixed file is applied by the next run.
        other = scratch_database(scratch_url)
        try:
            assert other.execute_sql("SELECT pg_try_advisory_lock(%s)", (migrate.LOCK_ID,)).fetchone()[0] is True
            other.execute_sql("SELECT pg_advisory_unlock(%s)", (migrate.LOCK_ID,))
        finally:
            other.close()
        (tmp_path / "0002_broken.sql").write_text("CREATE TABLE second_table (id INT);")
        assert migrate.migrate(db) == ["0002"]
        assert "second_table" in tables(db)
    finally:
        db.close()
