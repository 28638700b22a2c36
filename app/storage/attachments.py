"""Attachments: the records of uploaded files (the bytes are in the blob store)."""

from __future__ import annotations

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
