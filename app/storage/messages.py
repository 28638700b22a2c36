"""Messages: reads for history and catch-up; the batched, idempotent insert that workers run."""

from __future__ import annotations

import io
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import peewee
import psycopg2.errors
from psycopg2.extras import execute_values

from app.chat.model import Attachment, Change, Message
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


def seq_from_id(room_id: str, min_id: int) -> int | None:
    """The seq of the room's first persisted message whose id is at least `min_id`, None if there is none.

    Ids are time-ordered and seqs follow the order messages are sent, so ids grow with seqs: a binary search
    over seq finds it, each probe one lookup in the (room_id, seq) index (the first persisted row at or after
    a seq: a seq not yet persisted is skipped over). About log2(the room's messages) probes, on one connection.
    Where nodes' clocks disagree, ids are out of seq order by that much, and the seq found is where they cross."""
    pk = room_pk(room_id)
    if pk is None:
        return None
    in_room = MessageRow.room_id == pk
    columns = (MessageRow.seq, MessageRow.id)
    newest = MessageRow.select(*columns).where(in_room).order_by(MessageRow.seq.desc()).limit(1).tuples().first()
    if newest is None or newest[1] < min_id:
        return None
    found, lo, hi = newest[0], 1, newest[0] - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        query = MessageRow.select(*columns).where(in_room & (MessageRow.seq >= mid)).order_by(MessageRow.seq)
        seq, message_id = query.limit(1).tuples().first()  # there is one: `found` is above `mid`
        if message_id >= min_id:
            found, hi = seq, mid - 1
        else:
            lo = seq + 1
    return found


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


_COLUMNS = (
    "id, room_id, seq, sender_id, type, content, client_ref, created_at, reply_to, attachment, meta, edited_at, "
    "deleted_at, deleted_by, version"
)
# Rows reach Postgres through COPY into a per-connection staging table, then one INSERT ... SELECT: faster
# than a multi-row VALUES statement, which psycopg2 composes value by value and Postgres parses whole.
_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS incoming_messages (id bigint, room_id bigint, seq integer, sender_id text, "
    "type text, content text, client_ref text, created_at timestamptz, reply_to bigint, attachment jsonb, "
    "meta jsonb, edited_at timestamptz, deleted_at timestamptz, deleted_by text, version bigint) "
    "ON COMMIT DELETE ROWS"
)
_staged: weakref.WeakSet = weakref.WeakSet()  # the connections that have their staging table
_COPY = f"COPY incoming_messages ({_COLUMNS}) FROM STDIN"
_COPY_DIRECT = f"COPY messages ({_COLUMNS}) FROM STDIN"
_INSERT = (
    f"INSERT INTO messages ({_COLUMNS}) SELECT {_COLUMNS} FROM incoming_messages ORDER BY room_id, seq "
    "ON CONFLICT DO NOTHING RETURNING id"
)
# The senders' read cursors, locked in (room, user) order and moved in one statement; the rows come as three
# arrays, which psycopg2 adapts in one step (VALUES lists it composes value by value).
_MOVE_CURSORS = """
WITH v (room_id, user_id, seq) AS (SELECT * FROM unnest(%s::bigint[], %s::text[], %s::integer[])),
locked AS (
    SELECT m.room_id, m.user_id, v.seq FROM memberships m JOIN v ON m.room_id = v.room_id AND m.user_id = v.user_id
    WHERE m.last_read_seq < v.seq ORDER BY m.room_id, m.user_id FOR UPDATE OF m
)
UPDATE memberships AS m SET last_read_seq = l.seq FROM locked l
WHERE m.room_id = l.room_id AND m.user_id = l.user_id AND m.last_read_seq < l.seq
"""


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
    cursors: dict[tuple[int, str], int] = {}
    for r in records:
        key = (int(r["room_id"]), r["sender_id"])
        cursors[key] = max(cursors.get(key, 0), int(r["seq"]))
    cursor_rows = sorted((room, user, seq) for (room, user), seq in cursors.items())
    moves = [list(column) for column in zip(*cursor_rows, strict=True)]
    # In (room, seq) order, so two workers copying overlapping batches take the unique index's entries in one
    # order and wait for each other instead of deadlocking.
    lines = "".join(_copy_line(r) for r in sorted(records, key=_room_seq))
    try:
        # Nearly always every message of a batch is new: COPY them straight into the table (its own
        # transaction, or a savepoint inside the caller's), then move the cursors.
        with db.atomic():
            cursor = db.cursor()
            cursor.copy_expert(_COPY_DIRECT, io.StringIO(lines))
            cursor.execute(_MOVE_CURSORS, moves)
        return Inserted(len(records), [])
    except psycopg2.errors.UniqueViolation:
        pass  # all undone: a retried job, a redriven message stored already, or a seq another message holds
    # Staged, then inserted but for those (ON CONFLICT DO NOTHING).
    connection = db.connection()
    with db.atomic():
        cursor = db.cursor()
        if connection not in _staged:
            cursor.execute(_STAGE)  # IF NOT EXISTS: it may exist already (made by a call that was nested)
        if db.transaction_depth() > 1:  # inside an outer transaction: rows staged earlier in it are still there
            cursor.execute("DELETE FROM incoming_messages")
        cursor.copy_expert(_COPY, io.StringIO(lines))
        cursor.execute(_INSERT)
        inserted = cursor.fetchall()
        cursor.execute(_MOVE_CURSORS, moves)
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
    if db.transaction_depth() == 0:  # committed: the staging table is there for good (a rollback undoes it)
        _staged.add(connection)
    return Inserted(len(inserted), [r for r in skipped if int(r["id"]) not in stored])


def _room_seq(r: dict) -> tuple[int, int]:
    return int(r["room_id"]), int(r["seq"])


def _copy_line(r: dict) -> str:
    """One record as a line of COPY's text format: tab-separated, `\\N` for null, backslash escapes."""
    attachment, meta = r.get("attachment"), r.get("meta")
    fields = (
        str(int(r["id"])),
        str(int(r["room_id"])),
        str(int(r["seq"])),
        _copy_text(r["sender_id"]),
        _copy_text(r.get("type", "text")),
        _copy_text(r["content"]),
        _copy_text(r.get("client_ref")),
        r["created_at"],  # times are in the wire's one format (format_time): Postgres reads it as it is
        str(int(r["reply_to"])) if r.get("reply_to") else NULL,
        _copy_text(orjson.dumps(_stored_attachment(attachment)).decode()) if attachment else NULL,
        _copy_text(orjson.dumps(meta).decode()) if meta else NULL,
        r.get("edited_at") or NULL,
        r.get("deleted_at") or NULL,
        _copy_text(r.get("deleted_by")),
        str(int(r.get("version") or 0)),
    )
    return "\t".join(fields) + "\n"


NULL = "\\N"


def _copy_text(value: str | None) -> str:
    if value is None:
        return NULL
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:  # rare: test first, it is cheaper
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


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

    async def seq_from_id(self, room_id: str, min_id: int) -> int | None:
        return await self._db.run(seq_from_id, room_id, min_id)

    async def changed(self, room_id: str, since_version: int, upto_seq: int | None, limit: int) -> list[Message]:
        return await self._db.run(changed_messages, room_id, since_version, upto_seq, limit)
