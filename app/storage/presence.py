"""Writing presence to Postgres: last-seen times, chosen statuses, devices and read cursors, in one
transaction per flush (workers)."""

from __future__ import annotations

from collections.abc import Sequence

import peewee
from psycopg2.extras import execute_values

from app.chat.model import from_ms

_USERS = (
    "UPDATE users AS u SET last_seen_at = GREATEST(u.last_seen_at, v.seen), status = COALESCE(v.status, u.status) "
    "FROM (VALUES %s) AS v (id, seen, status) WHERE u.id = v.id"
)
_DEVICES = (
    "INSERT INTO devices AS d (user_id, device_id, preferred_language, first_seen_at, last_seen_at) VALUES %s "
    "ON CONFLICT (user_id, device_id) DO UPDATE SET "
    "preferred_language = COALESCE(EXCLUDED.preferred_language, d.preferred_language), "
    "last_seen_at = GREATEST(d.last_seen_at, EXCLUDED.last_seen_at)"
)
_LANGUAGES = (
    "UPDATE users AS u SET preferred_language = v.language FROM (VALUES %s) AS v (id, language) WHERE u.id = v.id"
)
_READS = (
    "UPDATE memberships AS m SET last_read_seq = v.seq FROM (VALUES %s) AS v (room_id, user_id, seq) "
    "WHERE m.room_id = v.room_id AND m.user_id = v.user_id AND m.last_read_seq < v.seq"
)


def write(
    db: peewee.PostgresqlDatabase,
    users: Sequence[tuple[str, int | None, str | None]],
    devices: Sequence[tuple[str, str, str | None, int]],
    reads: Sequence[tuple[int, str, int]],
) -> dict:
    """Copy changes into Postgres in one transaction: users (id, last seen ms, chosen status), devices
    (user, device id, language, seen ms), read cursors (room, user, seq). Values only move forward.
    Rows are sorted so concurrent flushes lock in the same order. Returns counts."""
    users = sorted({u: (u, from_ms(ms) if ms is not None else None, status) for u, ms, status in users}.values())
    languages = sorted({u: lang for u, _, lang, _ in devices if lang}.items())
    devices = sorted(
        {(u, d): (u, d, lang, from_ms(ms), from_ms(ms)) for u, d, lang, ms in devices}.values(),
        key=lambda row: row[:2],
    )
    reads = sorted(reads)
    with db.atomic():
        cursor = db.cursor()
        if users:
            execute_values(cursor, _USERS, users, template="(%s, %s::timestamptz, %s)", page_size=1000)
        if devices:
            # A device row needs its user: users who connected have one (sign-in creates it).
            execute_values(cursor, _DEVICES, devices, page_size=1000)
        if languages:
            execute_values(cursor, _LANGUAGES, languages, page_size=1000)
        if reads:
            execute_values(cursor, _READS, reads, page_size=1000)
    return {"users": len(users), "devices": len(devices), "reads": len(reads)}
