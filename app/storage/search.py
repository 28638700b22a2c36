"""Search over persisted messages with Postgres's text search (migration 0005, docs/architecture.md "Search").

`messages.search_vector` holds each message's folded words (`search_fold`,
then the `simple` configuration's parser) under a GIN index. A query is
split by the same parser, so it has the same words a message with the
same text would have (a host name, an e-mail address or `e-mail` split
alike); each word of two or more characters (or one East Asian character)
matches the words it begins (`word:*`), and every word must match. Ranking covers every match of the
caller's rooms, so it runs under a statement timeout.
"""

from __future__ import annotations

import peewee
from psycopg2.errors import QueryCanceled

from app.chat.errors import ChatError, Code
from app.chat.model import Message
from app.chat.ports import SearchMatch, SearchMatches, SearchWord
from app.storage.database import AsyncDatabase
from app.storage.models import MessageRow
from app.storage.rooms import room_pk

PREFIX_MIN = 2  # a one-character word matches whole words only: `a:*` would match nearly everything...
EAST_ASIAN = 0x2E80  # ...except in the scripts from here on (CJK, kana, Hangul), where one character is a word


def _prefix(lexeme: str) -> bool:
    return len(lexeme) >= PREFIX_MIN or ord(lexeme[0]) >= EAST_ASIAN


_WORDS = "SELECT lexeme FROM unnest(to_tsvector('simple', search_fold(%(query)s)))"

# The rank: ts_rank of all words as prefixes plus ts_rank of any word as a whole word (so `conf` ranks
# `conf` above `conference`), each normalised by the message's length (flag 1: divided by 1 + log(length)).
# Rank and id are compared as they are sorted, so a page starts exactly after the cursor's hit.
_SEARCH = """
SELECT id, room_id, seq, sender_id, type, content, client_ref, created_at, edited_at, rank
FROM (
    SELECT m.id, m.room_id, m.seq, m.sender_id, m.type, m.content, m.client_ref, m.created_at, m.edited_at,
           (ts_rank(m.search_vector, %(match)s::tsquery, 1)
            + ts_rank(m.search_vector, %(whole)s::tsquery, 1))::float8 AS rank
    FROM messages m
    JOIN memberships ms ON ms.room_id = m.room_id AND ms.user_id = %(user_id)s
    WHERE m.search_vector @@ %(match)s::tsquery
      AND m.deleted_at IS NULL
      AND m.type <> 'system'
      {room}
) hits
{after}
ORDER BY rank DESC, id DESC
LIMIT %(limit)s
"""


def _quoted(lexeme: str) -> str:
    """A lexeme as a tsquery operand: quoted, with quotes and backslashes doubled."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def search_messages(
    user_id: str,
    query: str,
    room_id: str | None,
    after: tuple[float, str] | None,
    limit: int,
    timeout_ms: int,
) -> SearchMatches:
    """The `SearchIndex.search` query, synchronous. Raises SEARCH_TOO_BROAD after `timeout_ms`."""
    params: dict = {"query": query, "user_id": user_id, "limit": limit}
    room = after_clause = ""
    if room_id is not None:
        params["room"] = room_pk(room_id)
        if params["room"] is None:
            return SearchMatches((), [])
        room = "AND m.room_id = %(room)s"
    if after is not None:
        params["rank"], params["id"] = after[0], int(after[1])
        after_clause = "WHERE (rank, id) < (%(rank)s::float8, %(id)s)"
    db = MessageRow._meta.database
    try:
        with db.atomic():
            # Local to this transaction: the connection goes back to the pool unchanged.
            db.execute_sql(
                "SELECT set_config('statement_timeout', %s, true), set_config('extra_float_digits', '3', true)",
                (str(timeout_ms),),
            )
            lexemes = sorted({row[0] for row in db.execute_sql(_WORDS, params).fetchall()})
            words = tuple(SearchWord(lexeme, _prefix(lexeme)) for lexeme in lexemes)
            if not words:
                return SearchMatches((), [])
            params["match"] = " & ".join(_quoted(w.text) + (":*" if w.prefix else "") for w in words)
            params["whole"] = " | ".join(_quoted(w.text) for w in words)
            rows = db.execute_sql(_SEARCH.format(room=room, after=after_clause), params).fetchall()
    except peewee.OperationalError as exc:
        if isinstance(exc.__context__, QueryCanceled) or (exc.args and isinstance(exc.args[0], QueryCanceled)):
            raise ChatError(
                Code.SEARCH_TOO_BROAD,
                "the search matched too many messages to rank in time; add or lengthen words, or pick a room",
                {"timeout_ms": timeout_ms},
            ) from None
        raise
    matches = [
        SearchMatch(
            Message(
                id=str(row[0]),
                room_id=str(row[1]),
                seq=row[2],
                sender_id=row[3],
                type=row[4],
                content=row[5],
                client_ref=row[6],
                created_at=row[7],
                edited_at=row[8],
            ),
            row[9],
        )
        for row in rows
    ]
    return SearchMatches(words, matches)


class PgSearchIndex:
    def __init__(self, db: AsyncDatabase, timeout: float) -> None:
        self._db = db
        self._timeout_ms = max(1, int(timeout * 1000))

    async def search(
        self, user_id: str, query: str, room_id: str | None, after: tuple[float, str] | None, limit: int
    ) -> SearchMatches:
        return await self._db.run(search_messages, user_id, query, room_id, after, limit, self._timeout_ms)
