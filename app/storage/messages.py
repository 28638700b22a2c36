"""Messages: reads for history and catch-up; the batched, idempotent insert that workers run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import peewee
from psycopg2.extras import Json, execute_values

from app.chat.model import Attachment, Change, Message, parse_time
from app.storage.database import AsyncDatabase
from app.storage.models import MessageRow, ReactionRow
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
        reply_to=str(row.reply_to) if row.reply_to is not None else None,
        attachment=Attachment.from_record(row.attachment) if row.attachment else None,
        meta=row.meta,
        edited_at=row.edited_at,
        deleted_at=row.deleted_at,
        deleted_by=row.deleted_by,
        version=row.version,
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


def changed_messages(room_id: str, since_version: int, upto_seq: int | None, limit: int) -> list[Message]:
    """The room's persisted messages edited or deleted after `since_version` (with seq <= `upto_seq`), by
    version ascending (the partial index `messages_changes` serves it)."""
    pk = room_pk(room_id)
    if pk is None:
        return []
    wanted = (MessageRow.room_id == pk) & (MessageRow.version > since_version)
    if upto_seq is not None:
        wanted &= MessageRow.seq <= upto_seq
    query = MessageRow.select().where(wanted).order_by(MessageRow.version).limit(limit)
    return [_message(row) for row in query]


def message_by_id(message_id: str) -> Message | None:
    pk = room_pk(message_id)  # message ids follow the same canonical decimal form
    row = MessageRow.get_or_none(MessageRow.id == pk) if pk is not None else None
    return _message(row) if row is not None else None


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
    "INSERT INTO messages (id, room_id, seq, sender_id, type, content, client_ref, created_at, reply_to, attachment, "
    "meta, edited_at, deleted_at, deleted_by, version) VALUES %s ON CONFLICT DO NOTHING RETURNING id"
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
    """Insert message records (see `insert_messages`); return how many were new."""
    return insert_messages(db, records).inserted


@dataclass(frozen=True)
class Inserted:
    inserted: int  # how many were new
    collided: list[dict]  # records whose (room, seq) another message holds: not stored (see Outbox.resequence)


def insert_messages(db: peewee.PostgresqlDatabase, records: Sequence[dict]) -> Inserted:
    """Insert message records (their canonical dicts) in one transaction.

    Idempotent: a message already stored (same id, or same room and seq) is
    skipped, so a retried or duplicated job changes nothing. Each sender's
    read cursor moves up to their own newest message. Rows and cursor locks
    are taken in (room, seq) and (room, user) order, so two workers running
    overlapping batches wait for each other instead of deadlocking.
    """
    if not records:
        return Inserted(0, [])
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
                int(r["reply_to"]) if r.get("reply_to") else None,
                Json(_stored_attachment(r.get("attachment"))) if r.get("attachment") else None,
                Json(r["meta"]) if r.get("meta") else None,
                parse_time(r["edited_at"]) if r.get("edited_at") else None,
                parse_time(r["deleted_at"]) if r.get("deleted_at") else None,
                r.get("deleted_by"),
                int(r.get("version") or 0),
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
        new = {row[0] for row in inserted}
        skipped = [r for r in records if int(r["id"]) not in new]
        # Skipped because stored already (a retried job), or because another message holds the seq.
        stored = (
            {
                row_id
                for (row_id,) in MessageRow.select(MessageRow.id)
                .where(MessageRow.id.in_([int(r["id"]) for r in skipped]))
                .tuples()
            }
            if skipped
            else set()
        )
    return Inserted(len(inserted), [r for r in skipped if int(r["id"]) not in stored])


def _stored_attachment(record: dict) -> dict:
    """An attachment as stored: its description, without a signed link (links are made when shown)."""
    return Attachment.from_record(record).description()


_APPLY = """
UPDATE messages AS m SET
    content = COALESCE(v.content, ''),
    edited_at = CASE WHEN v.content IS NULL THEN m.edited_at ELSE v.at END,
    deleted_at = CASE WHEN v.content IS NULL THEN v.at END,
    deleted_by = CASE WHEN v.content IS NULL THEN v.by END,
    attachment = CASE WHEN v.content IS NULL THEN NULL ELSE m.attachment END,
    version = v.version
FROM (VALUES %s) AS v (id, content, at, by, version)
WHERE m.id = v.id AND m.deleted_at IS NULL AND (v.content IS NULL OR m.version < v.version)
"""
_APPLY_ROW = "(%s::bigint, %s::text, %s::timestamptz, %s::text, %s::bigint)"


def apply_changes(db: peewee.PostgresqlDatabase, changes: Sequence[Change]) -> set[str]:
    """Apply edits and deletes in one transaction; return the ids of the messages that exist (for each, its
    change is now applied or was beaten by a later one). Idempotent and order-proof: an edit applies only
    over an older version and never over a tombstone; a delete always applies, empties the content and
    the attachment, and drops the message's reactions."""
    if not changes:
        return set()
    latest: dict[int, Change] = {}
    for change in changes:  # one row per message in a statement: the winner among this batch's changes
        key = int(change.message_id)
        held = latest.get(key)
        if held is None or (not held.deletes and (change.deletes or change.version > held.version)):
            latest[key] = change
    rows = [(key, c.content, c.at, c.by, c.version) for key, c in sorted(latest.items())]
    deleted = [key for key, c in latest.items() if c.deletes]
    with db.atomic():
        cursor = db.cursor()
        execute_values(cursor, _APPLY, rows, template=_APPLY_ROW, page_size=len(rows))
        if deleted:
            ReactionRow.delete().where(ReactionRow.message_id.in_(deleted)).execute()
        present = MessageRow.select(MessageRow.id).where(MessageRow.id.in_(list(latest)))
        return {str(row_id) for (row_id,) in present.tuples()}


class PgMessageStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db

    async def range(self, room_id: str, lo: int, hi: int) -> list[Message]:
        return await self._db.run(message_range, room_id, lo, hi)

    async def at(self, keys: Sequence[tuple[str, int]]) -> list[Message]:
        return await self._db.run(messages_at, list(keys))

    async def max_seqs(self, room_ids: Sequence[str]) -> dict[str, int]:
        return await self._db.run(max_seqs, list(room_ids))

    async def by_id(self, message_id: str) -> Message | None:
        return await self._db.run(message_by_id, message_id)

    async def changed(self, room_id: str, since_version: int, upto_seq: int | None, limit: int) -> list[Message]:
        return await self._db.run(changed_messages, room_id, since_version, upto_seq, limit)
