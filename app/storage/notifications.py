"""Stored notifications: written in batches by the notification workers, listed and acknowledged by
their users."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import peewee
from psycopg2.extras import execute_values

from app.chat.model import Notification
from app.storage.database import AsyncDatabase
from app.storage.models import NotificationRow, UserRow
from app.storage.prepared import Prepared

_INSERT = (
    "INSERT INTO notifications (user_id, room_id, message_id, seq, sender_id, excerpt, created_at) VALUES %s "
    "ON CONFLICT (user_id, message_id) DO NOTHING RETURNING id, user_id, message_id"
)


def insert_batch(db: peewee.PostgresqlDatabase, notifications: Sequence[Notification]) -> list[Notification]:
    """Store notifications; return those that were new, with their ids (a retried job stores nothing twice)."""
    if not notifications:
        return []
    rows = sorted(
        (n.user_id, int(n.room_id), int(n.message_id), n.seq, n.sender_id, n.excerpt, n.created_at)
        for n in notifications
    )
    by_key = {(n.user_id, n.message_id): n for n in notifications}
    with db.atomic():
        inserted = execute_values(db.cursor(), _INSERT, rows, page_size=len(rows), fetch=True)
    stored = []
    for pk, user_id, message_id in inserted:
        n = by_key[(user_id, str(message_id))]
        stored.append(
            Notification(
                str(pk), n.user_id, n.room_id, n.message_id, n.seq, n.sender_id, n.sender_name, n.excerpt, n.created_at
            )
        )
    return stored


def _notification(row) -> Notification:
    return Notification(
        id=str(row.id),
        user_id=row.user_id,
        room_id=str(row.room_id),
        message_id=str(row.message_id),
        seq=row.seq,
        sender_id=row.sender_id,
        sender_name=row.sender_name,
        excerpt=row.excerpt,
        created_at=row.created_at,
    )


def _pending_query(user_id: str, limit: int) -> peewee.ModelSelect:
    waiting = NotificationRow.user_id == user_id
    waiting &= NotificationRow.delivered_at.is_null()
    # One query on every connect: the window count is taken before LIMIT applies.
    return (
        NotificationRow.select(
            NotificationRow,
            UserRow.name.alias("sender_name"),
            peewee.fn.COUNT(NotificationRow.id).over().alias("total"),
        )
        .join(UserRow, peewee.JOIN.LEFT_OUTER, on=(UserRow.id == NotificationRow.sender_id))
        .where(waiting)
        .order_by(NotificationRow.id.desc())
        .limit(limit)
    )


_PENDING = Prepared(_pending_query, str, int)


def pending(user_id: str, limit: int) -> tuple[list[Notification], int]:
    rows = list(_PENDING.select(NotificationRow, user_id, limit).objects())
    return [_notification(row) for row in reversed(rows)], rows[0].total if rows else 0


def acknowledge(user_id: str, ids: Sequence[str], now: datetime) -> int:
    pks = [int(i) for i in ids if i.isascii() and i.isdigit() and len(i) <= 18]
    if not pks:
        return 0
    return (
        NotificationRow.update(delivered_at=now)
        .where(
            (NotificationRow.user_id == user_id) & NotificationRow.id.in_(pks) & NotificationRow.delivered_at.is_null()
        )
        .execute()
    )


class PgNotificationStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db

    async def pending(self, user_id: str, limit: int) -> tuple[list[Notification], int]:
        return await self._db.run(pending, user_id, limit)

    async def acknowledge(self, user_id: str, ids: Sequence[str], now: datetime) -> int:
        return await self._db.run(acknowledge, user_id, list(ids), now)
