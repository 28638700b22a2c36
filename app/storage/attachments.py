"""Attachments: the records of uploaded files (the bytes are in the blob store)."""

from __future__ import annotations

from datetime import datetime

import peewee

from app.chat.model import Attachment
from app.chat.ports import StoredFile
from app.storage.database import AsyncDatabase
from app.storage.models import AttachmentRow
from app.storage.rooms import room_pk


def _stored(row: AttachmentRow) -> StoredFile:
    attachment = Attachment(str(row.id), row.name, row.content_type, row.size, row.kind)
    room_id = str(row.room_id) if row.room_id is not None else None
    return StoredFile(attachment, row.uploader_id, room_id, row.storage_key, row.created_at)


def insert(stored: StoredFile) -> None:
    a = stored.attachment
    AttachmentRow.insert(
        id=int(a.id),
        uploader_id=stored.uploader_id,
        room_id=int(stored.room_id) if stored.room_id else None,
        name=a.name,
        content_type=a.content_type,
        size=a.size,
        kind=a.kind,
        storage_key=stored.storage_key,
        created_at=stored.created_at,
    ).execute()


def get(attachment_id: str) -> StoredFile | None:
    pk = room_pk(attachment_id)  # the same canonical decimal form as room ids
    if pk is None:
        return None
    row = AttachmentRow.get_or_none(AttachmentRow.id == pk)
    return _stored(row) if row is not None else None


def bind(attachment_id: str, uploader_id: str, room_id: str) -> StoredFile | None:
    """Give the uploader's attachment its room, in one statement (two sends racing cannot bind it twice)."""
    pk, room = room_pk(attachment_id), room_pk(room_id)
    if pk is None or room is None:
        return None
    query = (
        AttachmentRow.update(room_id=room)
        .where(
            (AttachmentRow.id == pk)
            & (AttachmentRow.uploader_id == uploader_id)
            & (AttachmentRow.room_id.is_null() | (AttachmentRow.room_id == room))
        )
        .returning(AttachmentRow)
    )
    rows = list(query.execute())
    return _stored(rows[0]) if rows else None


def delete(attachment_id: str) -> None:
    pk = room_pk(attachment_id)
    if pk is not None:
        AttachmentRow.delete().where(AttachmentRow.id == pk).execute()


# One batch of the sweep of unsent uploads. The batch is picked in a CTE, which Postgres runs once: in
# `DELETE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` the planner may run the sub-select
# again for each row, each time skipping the rows just locked, and delete far more than n.
_DELETE_UNSENT = """
WITH batch AS MATERIALIZED (
    SELECT id FROM attachments
    WHERE room_id IS NULL AND created_at < %(cutoff)s
    ORDER BY created_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM attachments
USING batch
WHERE attachments.id = batch.id AND attachments.room_id IS NULL AND attachments.created_at < %(cutoff)s
RETURNING attachments.id, attachments.storage_key, attachments.created_at
"""


def delete_unsent(db: peewee.PostgresqlDatabase, cutoff: datetime, limit: int) -> list[tuple[str, str]]:
    """Delete up to `limit` uploads no message sent and made before `cutoff`, oldest first, in one statement;
    return (id, storage key) of the rows this call deleted, oldest first: their files are now the caller's
    to remove.

    Safe against a send claiming one of them at the same moment (`bind`): the claim and the delete both
    lock the row, and each re-checks `room_id IS NULL` on the row as it is once it holds the lock
    (Postgres's READ COMMITTED re-evaluation), so exactly one of them succeeds: either the delete comes
    first and the claim finds no row (`attachment_not_found`), or the claim comes first and the delete
    leaves the row alone. Rows another transaction holds are skipped (`SKIP LOCKED`), so two sweeps at
    once take different rows instead of waiting on each other; a row is returned by one delete only."""
    rows = db.execute_sql(_DELETE_UNSENT, {"cutoff": cutoff, "limit": limit}).fetchall()
    return [(str(pk), key) for pk, key, _created in sorted(rows, key=lambda r: (r[2], r[0]))]


def any_unsent_before(cutoff: datetime) -> bool:
    """Whether some upload no message sent was made before `cutoff`."""
    unsent = AttachmentRow.room_id.is_null() & (AttachmentRow.created_at < cutoff)
    return AttachmentRow.select(AttachmentRow.id).where(unsent).limit(1).exists()


class PgAttachmentStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db

    async def insert(self, stored: StoredFile) -> None:
        await self._db.run(insert, stored)

    async def get(self, attachment_id: str) -> StoredFile | None:
        return await self._db.run(get, attachment_id)

    async def bind(self, attachment_id: str, uploader_id: str, room_id: str) -> StoredFile | None:
        return await self._db.run(bind, attachment_id, uploader_id, room_id)

    async def delete(self, attachment_id: str) -> None:
        await self._db.run(delete, attachment_id)
