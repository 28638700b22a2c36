"""Versioned schema migrations: `migrations/NNNN_name.sql`, applied in order, once.

Each file runs in its own transaction and is recorded in `schema_migrations`.
An advisory lock serialises concurrent runs (several nodes starting at once),
so running `migrate` twice, or twice at the same time, is safe.
"""

from __future__ import annotations

import re
from pathlib import Path

import peewee

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
LOCK_ID = 0x63686174  # arbitrary, constant: "chat"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available() -> list[tuple[str, Path]]:
    """(version, path) of every migration file, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.iterdir()):
        match = _NAME.match(path.name)
        if match:
            found.append((match.group(1), path))
    return found


def applied(db: peewee.Database) -> set[str]:
    _ensure_table(db)
    return {row[0] for row in db.execute_sql("SELECT version FROM schema_migrations").fetchall()}


def migrate(db: peewee.Database) -> list[str]:
    """Apply the pending migrations; return the versions applied now."""
    db.connect(reuse_if_open=True)
    done: list[str] = []
    db.execute_sql("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
    try:
        already = applied(db)
        for version, path in available():
            if version in already:
                continue
            with db.atomic():
                db.execute_sql(path.read_text())
                db.execute_sql(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, now())",
                    (version, path.stem),
                )
            done.append(version)
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    return done


def _ensure_table(db: peewee.Database) -> None:
    db.execute_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version TEXT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
