"""Messages: reads for history and catch-up; the batched, idempotent insert that workers run."""

from __future__ import annotations

from collections.abc import Sequence

import peewee
from psycopg2.extras import execute_values

from app.chat.model import Message, parse_time
from app.storage.database import AsyncDatabase
from app.storage.models import MessageRow
from app.storage.rooms import room_pk


def _message(row: MessageRow) -> Message:
    return Message(
        id=str(row.id),
        room_id=str(row.room_id),
        seq=row.seq,
        sender_id=row.sender_id,
        type=row.type,
        content=row.content,
        client_ref=row.client_ref,
        created_at=row.created_at,
    )


def message_range(room_id: str, lo: int, hi: int) -> list[Message]:
    pk = room_pk(room_id)
    if pk is None or hi < lo:
        return []
    query = (
        MessageRow.select()
        .where((MessageRow.room_id == pk) & (MessageRow.seq.between(lo, hi)))
        .order_by(MessageRow.seq)
    )
    return [_message(row) for row in query]


def messages_at(keys: Sequence[tuple[str, int]]) -> list[Message]:
    pairs = [(pk, seq) for room_id, seq in keys if (pk := room_pk(room_id)) is not None]
    if not pairs:
        return []
    wanted = peewee.Tuple(MessageRow.room_id, MessageRow.seq).in_([peewee.Tuple(pk, seq) for pk, seq in pairs])
    return [_message(row) for row in MessageRow.select().where(wanted)]


def max_seqs(room_ids: Sequence[str]) -> dict[str, int]:
    """Highest persisted seq of each room asked for (0 when it has none); ids that cannot name a room are left out."""
    pks = {room_id: pk for room_id in room_ids if (pk := room_pk(room_id)) is not None}
    if not pks:
        return {}
    query = (
        MessageRow.select(MessageRow.room_id, peewee.fn.MAX(MessageRow.seq).alias("last"))
        .where(MessageRow.room_id.in_(list(pks.values())))
        .group_by(MessageRow.room_id)
    )
    last = {row.room_id: row.last for row in query}
    return {room_id: last.get(pk, 0) for room_id, pk in pks.items()}


_INSERT = (
    "INSERT INTO messages (id, room_id, seq, sender_id, type, content, client_ref, created_at) VALUES %s "
    "ON CONFLICT DO NOTHING RETURNING id"
)
_LOCK_CURSORS = (
    "SELECT 1 FROM memberships WHERE (room_id, user_id) IN (SELECT * FROM (VALUES %s) AS v (room_id, user_id)) "
    "ORDER BY room_id, user_id FOR UPDATE"
)
_MOVE_CURSORS = (
    "UPDATE memberships AS m SET last_read_seq = v.seq FROM (VALUES %s) AS v (room_id, user_id, seq) "
    "WHERE m.room_id = v.room_id AND m.user_id = v.user_id AND m.last_read_seq < v.seq"
)


def insert_batch(db: peewee.PostgresqlDatabase, records: Sequence[dict]) -> int:
    """Insert message records (their canonical dicts) in one transaction; return how many were new.

    Idempotent: a message already stored (same id, or same room and seq) is
    skipped, so a retried or duplicated job changes nothing. Each sender's
    read cursor moves up to their own newest message. Rows and cursor locks
    are taken in (room, seq) and (room, user) order, so two workers running
    overlapping batches wait for each other instead of deadlocking.
    """
    if not records:
        return 0
    rows = sorted(
        (
            (
                int(r["id"]),
                int(r["room_id"]),
                int(r["seq"]),
                r["sender_id"],
                r.get("type", "text"),
                r["content"],
                r.get("client_ref"),
                parse_time(r["created_at"]),
            )
            for r in records
        ),
        key=lambda row: (row[1], row[2]),
    )
    cursors: dict[tuple[int, str], int] = {}
    for row in rows:
        key = (row[1], row[3])
        cursors[key] = max(cursors.get(key, 0), row[2])
    cursor_rows = sorted((room, user, seq) for (room, user), seq in cursors.items())
    with db.atomic():
        cursor = db.cursor()
        inserted = execute_values(cursor, _INSERT, rows, page_size=len(rows), fetch=True)
        execute_values(cursor, _LOCK_CURSORS, [(room, user) for room, user, _ in cursor_rows], page_size=len(rows))
        execute_values(cursor, _MOVE_CURSORS, cursor_rows, page_size=len(rows))
    return len(inserted)


class PgMessageStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db

    async def range(self, room_id: str, lo: int, hi: int) -> list[Message]:
        return await self._db.run(message_range, room_id, lo, hi)

    async def at(self, keys: Sequence[tuple[str, int]]) -> list[Message]:
        return await self._db.run(messages_at, list(keys))

    async def max_seqs(self, room_ids: Sequence[str]) -> dict[str, int]:
        return await self._db.run(max_seqs, list(room_ids))
