"""Search: the messages of a user's rooms that hold every word of a query, best first.

The index is Postgres's own text search (`SearchIndex`, `app/storage/search.py`):
each persisted message's content is folded (`fold`: lower case, accents and
other diacritics dropped, ß as ss) and split into words by Postgres's
parser with the `simple` configuration (no stemming, no stop words, so
any language is split the same way). A query matches a message when
every word of the query starts a word of the message (a word of one
character must match whole, except in East Asian scripts). Results are ranked by `ts_rank` (frequency,
normalised by the message's length, with a bonus for whole-word matches)
and paged by an opaque cursor on (rank, message id).

This module checks the query, pages, and makes the highlighted excerpts.
The same folding is installed in Postgres by migration 0005 (a test checks
that both agree).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from app.chat.access import Access
from app.chat.errors import ChatError, Code
from app.chat.model import Message, User, format_time
from app.chat.ports import SearchIndex, SearchWord
from app.chat.rules import Limits, check_text

MAX_TERMS = 12  # words in one query
MAX_TERM_LENGTH = 100  # characters of one word (Postgres refuses words over 2047 bytes)
PAGE_DEFAULT = 20
PAGE_MAX = 50
EXCERPT_WIDTH = 160  # characters of an excerpt, about two lines
MAX_CURSOR_LENGTH = 200

# ---------------------------------------------------------------------------------------------
# Folding, step by step as the SQL function `search_fold` of migration 0005 does it (a test checks
# that both agree): lower case; canonical decomposition (NFD), so é is e and a combining accent;
# Russian й put back together (a letter of its own, never typed as и); the combining diacritical
# marks U+0300-U+036F dropped, and Hebrew points and Arabic harakat (vowel signs) too; recomposition
# (NFC) of what is left (Hangul; kana with dakuten, which changes the sound, so it stays);
# letters whose mark is not a combining one mapped to their base; ß, æ, œ spelled ss, ae, oe.
# Text that is all ASCII is only lower-cased: nothing else applies to it, and it is most text.

_MARKS = re.compile("[\u0300-\u036f\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u0610-\u061a\u064b-\u065f\u0670]")
SPECIAL_FROM = "øđðłħıŧς"
SPECIAL_TO = "oddlhitσ"
_SPECIAL = str.maketrans(SPECIAL_FROM, SPECIAL_TO)
EXPANSIONS = (("ß", "ss"), ("æ", "ae"), ("œ", "oe"))


def fold(text: str) -> str:
    """What the index sees of `text`: lower case, without diacritics (the SQL function `search_fold`)."""
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFD", text.lower()).replace("и\u0306", "й")
    folded = unicodedata.normalize("NFC", _MARKS.sub("", folded)).translate(_SPECIAL)
    for old, new in EXPANSIONS:
        folded = folded.replace(old, new)
    return folded


def _fold_with_origins(text: str) -> tuple[str, list[int]]:
    """`fold(text)` character by character, with the index in `text` each folded character came from."""
    chars: list[str] = []
    origins: list[int] = []
    for index, char in enumerate(text):
        piece = fold(char)
        chars.append(piece)
        origins.extend([index] * len(piece))
    return "".join(chars), origins


# ---------------------------------------------------------------------------------------------
# Queries.

_WORD = re.compile(r"[^\W_]+")


def _refuse(reason: str, message: str, **details: object) -> ChatError:
    return ChatError(Code.SEARCH_QUERY_INVALID, message, {"reason": reason, **details})


def check_query(query: str, max_length: int) -> str:
    """The query without surrounding white space; raise SEARCH_QUERY_INVALID (with `details.reason`)."""
    text = query.strip()
    if not text:
        raise _refuse("empty", "the search query is empty")
    if len(text) > max_length:
        raise _refuse("too_long", f"the search query is longer than {max_length} characters", max_length=max_length)
    try:
        check_text(text, "q")
    except ChatError:
        raise _refuse("invalid_text", "the search query holds NUL characters or unpaired surrogates") from None
    words = _WORD.findall(fold(text))
    if not words:
        raise _refuse("no_words", "the search query has no letters or digits to look for")
    if len(set(words)) > MAX_TERMS:
        raise _refuse(
            "too_many_terms", f"the search query has more than {MAX_TERMS} different words", max_terms=MAX_TERMS
        )
    if max(len(word) for word in words) > MAX_TERM_LENGTH:
        raise _refuse(
            "term_too_long",
            f"a word of the search query is longer than {MAX_TERM_LENGTH} characters",
            max_term_length=MAX_TERM_LENGTH,
        )
    return text


# ---------------------------------------------------------------------------------------------
# Cursors: (rank, message id) of the last hit of a page, bound to the query and room they came from.


def _fingerprint(query: str, room_id: str | None) -> str:
    key = " ".join(fold(query).split()) + "\x00" + (room_id or "")
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def encode_cursor(rank: float, message_id: str, fingerprint: str) -> str:
    raw = json.dumps([rank, message_id, fingerprint], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, fingerprint: str) -> tuple[float, str]:
    """(rank, message id) of a cursor this search returned; raise INVALID_PAYLOAD for anything else."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        rank, message_id, seen = json.loads(raw)
        if (
            seen != fingerprint
            or isinstance(rank, bool)
            or not isinstance(rank, (int, float))
            or not math.isfinite(rank)
            or not isinstance(message_id, str)
            or not message_id.isascii()
            or not message_id.isdigit()
            or len(message_id) > 19
        ):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ChatError(
            Code.INVALID_PAYLOAD,
            "cursor is not one that this search (same query and room) returned",
            {"fields": {"cursor": ["not a cursor of this search"]}},
        ) from None
    return float(rank), message_id


# ---------------------------------------------------------------------------------------------
# Excerpts: a window of the message around its best cluster of matches, as segments.


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    match: bool


def _is_word(char: str) -> bool:
    return char.isalnum()


def _spans(content: str, words: Sequence[SearchWord]) -> list[tuple[int, int]]:
    """Where the words match in `content`, as sorted, disjoint (start, end) character ranges: a word
    matches at the start of a word of the content, whole or (prefix words) as its beginning."""
    folded, origins = _fold_with_origins(content)
    found: list[tuple[int, int]] = []
    for word in words:
        if not word.text:
            continue
        position = folded.find(word.text)
        while position != -1 and len(found) < 1000:
            end = position + len(word.text)
            starts_word = position == 0 or not _is_word(folded[position - 1])
            ends_word = end == len(folded) or not _is_word(folded[end])
            if starts_word and (word.prefix or ends_word):
                while end < len(folded) and _is_word(folded[end]):
                    end += 1
                found.append((origins[position], origins[end - 1] + 1))
            position = folded.find(word.text, position + 1)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _window(content: str, spans: list[tuple[int, int]], width: int) -> tuple[int, int]:
    if len(content) <= width:
        return 0, len(content)
    if not spans:
        start = 0
    else:
        # The window holding the most matches, starting a little before one of them; the earliest wins ties.
        lead = width // 4
        best, start = -1, 0
        for anchor, _ in spans:
            candidate = max(0, min(anchor - lead, len(content) - width))
            count = sum(1 for s, e in spans if s >= candidate and e <= candidate + width)
            if count > best:
                best, start = count, candidate
    end = min(len(content), start + width)
    # Cut at white space rather than inside a word, when that loses little.
    if start > 0:
        space = content.find(" ", start, start + 20)
        first = next((s for s, _ in spans if s >= start), end)
        if space != -1 and space < first:
            start = space + 1
    if end < len(content):
        space = content.rfind(" ", end - 20, end)
        last = max((e for _, e in spans if e <= end), default=start)
        if space != -1 and space >= last:
            end = space
    return start, end


def excerpt(content: str, words: Sequence[SearchWord], width: int = EXCERPT_WIDTH) -> list[Segment]:
    """The part of `content` to show for a hit, white space collapsed, matches marked; an ellipsis
    where the message was cut."""
    spans = _spans(content, words)
    start, end = _window(content, spans, width)
    pieces: list[tuple[str, bool]] = []
    position = start
    for s, e in spans:
        s, e = max(s, start), min(e, end)
        if s >= e:
            continue
        if s > position:
            pieces.append((content[position:s], False))
        pieces.append((content[s:e], True))
        position = e
    if position < end:
        pieces.append((content[position:end], False))
    if pieces:
        pieces[0] = (pieces[0][0].lstrip(), pieces[0][1])
        pieces[-1] = (pieces[-1][0].rstrip(), pieces[-1][1])
    if start > 0:
        pieces.insert(0, ("…", False))
    if end < len(content):
        pieces.append(("…", False))
    segments: list[Segment] = []
    for text, match in pieces:
        text = re.sub(r"\s+", " ", text)
        if not text:
            continue
        if segments and not match and not segments[-1].match:
            segments[-1] = Segment(segments[-1].text + text, False)
        else:
            segments.append(Segment(text, match))
    return segments


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchHit:
    message: Message
    rank: float
    excerpt: list[Segment]

    def record(self) -> dict:
        m = self.message
        return {
            "id": m.id,
            "room_id": m.room_id,
            "seq": m.seq,
            "sender_id": m.sender_id,
            "type": m.type,
            "created_at": format_time(m.created_at),
            "edited_at": format_time(m.edited_at) if m.edited_at else None,
            "rank": self.rank,
            "excerpt": [{"text": s.text, "match": s.match} for s in self.excerpt],
        }


@dataclass(frozen=True, slots=True)
class SearchResults:
    hits: list[SearchHit]
    next_cursor: str | None  # None: this was the last page

    def record(self) -> dict:
        return {"hits": [hit.record() for hit in self.hits], "next_cursor": self.next_cursor}


class Search:
    def __init__(self, access: Access, index: SearchIndex, limits: Limits) -> None:
        self._access = access
        self._index = index
        self._limits = limits

    async def search(
        self,
        actor: User,
        query: str,
        *,
        room_id: str | None = None,
        cursor: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> SearchResults:
        """A page of the persisted messages of the actor's rooms (or of `room_id`, a room of theirs)
        holding every word of `query`, best first. Raises SEARCH_QUERY_INVALID, INVALID_PAYLOAD (a
        cursor from another search), ROOM_NOT_FOUND, NOT_MEMBER or SEARCH_TOO_BROAD."""
        text = check_query(query, self._limits.search_query_max)
        limit = max(1, min(limit, PAGE_MAX))
        fingerprint = _fingerprint(text, room_id)
        after = decode_cursor(cursor, fingerprint) if cursor is not None else None
        if room_id is not None:
            await self._access.require(room_id, actor.id)
        found = await self._index.search(actor.id, text, room_id, after, limit + 1)
        page = found.matches[:limit]
        hits = [SearchHit(m.message, m.rank, excerpt(m.message.content, found.words)) for m in page]
        more = len(found.matches) > limit
        last = page[-1] if page else None
        next_cursor = encode_cursor(last.rank, last.message.id, fingerprint) if more and last else None
        return SearchResults(hits, next_cursor)
