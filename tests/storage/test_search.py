"""Search on the real database: relevance, partial words, a multilingual corpus, who sees what, paging, bad queries.

Each test makes its own users and rooms, so the rest of the session's messages never match: search
only ever looks at the rooms of the user searching.
"""

from __future__ import annotations

import random
import time
import unicodedata
from datetime import timedelta

import pytest

from app.chat.access import Access
from app.chat.errors import ChatError, Code
from app.chat.ids import Snowflake
from app.chat.model import User, format_time
from app.chat.rules import Limits
from app.chat.search import MAX_TERMS, PAGE_MAX, Search, excerpt, fold
from app.storage.messages import insert_batch
from app.storage.models import MessageRow
from app.storage.rooms import PgRoomStore, create_group, remove_member
from app.storage.search import PgSearchIndex, search_messages

_ids = Snowflake(node=random.randrange(1024))
TIMEOUT_MS = 10_000


def add(db, room_id: str, sender: str, now, *contents: str, type: str = "text", first_seq: int = 1) -> list[str]:
    """Persist messages (as the workers do); return their ids in order."""
    records = [
        {
            "id": str(_ids.next()),
            "room_id": room_id,
            "seq": first_seq + n,
            "sender_id": sender,
            "type": type,
            "content": content,
            "client_ref": None,
            "created_at": format_time(now + timedelta(milliseconds=n)),
        }
        for n, content in enumerate(contents)
    ]
    insert_batch(db, records)
    return [r["id"] for r in records]


def found(user: str, query: str, room_id: str | None = None, limit: int = 100) -> list[str]:
    """Contents of the hits, best first."""
    return [m.message.content for m in search_messages(user, query, room_id, None, limit, TIMEOUT_MS).matches]


@pytest.fixture
def room(db, make_users, now):
    """(room_id, owner, member) of a fresh group room."""
    owner, member = make_users("owner", "member")
    return create_group("Search", owner, [member], now).id, owner, member


@pytest.fixture
def search(adb) -> Search:
    """The core's search service on the real adapters."""
    return Search(Access(PgRoomStore(adb), ttl=60), PgSearchIndex(adb, TIMEOUT_MS / 1000), Limits())


# --- Relevance -------------------------------------------------------------------------------


def test_every_word_must_match_and_the_best_match_comes_first(db, room, now):
    room_id, owner, member = room
    add(
        db,
        room_id,
        owner,
        now,
        "Can we move the quarterly budget review to Friday? The room is booked on Thursday afternoon.",
        "budget",
        "budget budget: the budget is final",
        "the review went well",
        "lunch?",
    )
    hits = found(member, "budget")
    assert set(hits) == {
        "budget",
        "budget budget: the budget is final",
        "Can we move the quarterly budget review to Friday? The room is booked on Thursday afternoon.",
    }
    # Short and dense first, a long message that mentions the word once last.
    assert hits[0] == "budget"
    assert hits[-1].startswith("Can we move")
    assert found(member, "budget review") == [
        "Can we move the quarterly budget review to Friday? The room is booked on Thursday afternoon."
    ]
    assert found(member, "REVIEW budget") == found(member, "budget review"), "order and case do not matter"
    assert found(member, "budget holiday") == []


def test_a_word_finds_the_words_it_begins_and_whole_words_rank_first(db, room, now):
    room_id, owner, member = room
    add(
        db,
        room_id,
        owner,
        now,
        "conference call at ten",
        "the config is wrong",
        "conf",
        "a reconfigured box",
        "c is short",
    )
    assert set(found(member, "conf")) == {"conf", "conference call at ten", "the config is wrong"}
    assert found(member, "conf")[0] == "conf", "the whole word ranks above the words it begins"
    assert found(member, "confer") == ["conference call at ten"]
    # Not the middle or the end of a word: Postgres's index matches words by their beginning only.
    assert found(member, "figured") == [] and found(member, "ference") == []
    # A one-character word matches whole words only ("c:*" would match nearly everything).
    assert found(member, "c") == ["c is short"]


MULTILINGUAL = [
    "Der Ärger mit der Straße war groß, sagte Herr Müller.",  # German
    "Un café crème pour l'élève, s'il vous plaît. Le cœur a ses raisons.",  # French
    "¿Dónde está el niño? Mañana vamos a la biblioteca.",  # Spanish
    "Привет! Купи йогурт и ёлку к Новому году.",  # Russian
    "Καλημέρα κόσμε, ο σοφός μαθητής ΔΙΑΒΑΖΕΙ.",  # Greek
    "東京タワーに行きました。大阪 も 楽しかった",  # Japanese (no spaces but one)
    "Tiếng Việt có dấu, Łódź i Øresund",  # Vietnamese, Polish, Danish
    "Das Donaudampfschiff fährt",  # a German compound
    "Le cafe\u0301 de\u0301compose\u0301",  # French typed in decomposed form (NFD)
    "שָׁלוֹם עֲלֵיכֶם וּמַה שְּׁלוֹמְךָ",  # Hebrew with points
    "مَرْحَبًا بِكُمْ في المكتبة",  # Arabic with harakat
    "서울에서 만나요 한국어 공부",  # Korean
]

# (query, the corpus entries it finds, by index)
EXPECTED = [
    ("ärger", {0}),
    ("ARGER", {0}),  # case and umlaut folded
    ("strasse", {0}),  # ß is ss
    ("Straße", {0}),
    ("mull", {0}),  # a prefix, without the umlaut
    ("cafe", {1, 8}),  # with and without the accent, composed or decomposed
    ("café crème", {1}),
    ("eleve", {1}),
    ("coeur", {1}),  # œ is oe
    ("cœur", {1}),
    ("donde nino", {2}),
    ("MAÑANA", {2}),
    ("привет", {3}),
    ("ПРИВЕТ", {3}),
    ("йогу", {3}),
    ("елку", {3}),  # ё is е
    ("иогурт", set()),  # but й is not и
    ("καλημερα", {4}),
    ("ΚΑΛΗΜΈΡΑ", {4}),
    ("σοφοσ", {4}),  # final sigma
    ("διαβαζει", {4}),
    ("東京", {5}),  # the beginning of a run of Japanese text
    ("大阪", {5}),
    ("タワー", set()),  # the middle of a run: Postgres has no Japanese word splitter
    ("tieng viet", {6}),
    ("lodz", {6}),
    ("oresund", {6}),
    ("donaudampf", {7}),
    ("dampfschiff", set()),  # the middle of a compound: no decompounding
    ("decompose", {8}),
    ("décomposé", {8}),
    ("שלום", {9}),  # unpointed finds pointed
    ("שָׁלוֹם", {9}),
    ("مرحبا", {10}),
    ("المكتبة", {10}),
    ("서울", {11}),  # Korean words are split by spaces; a word finds the words it begins
    ("한국어", {11}),
    ("공", {11}),  # one character of an East Asian script is a word of its own: it finds words it begins
    ("부", set()),
]


@pytest.mark.parametrize(("query", "expected"), EXPECTED, ids=[q for q, _ in EXPECTED])
def test_a_multilingual_corpus(db, make_users, now, query, expected):
    (owner,) = make_users("polyglot")
    room_id = create_group("Babel", owner, [], now).id
    add(db, room_id, owner, now, *MULTILINGUAL)
    assert set(found(owner, query)) == {MULTILINGUAL[i] for i in expected}


# Latin (Vietnamese included), Greek, Cyrillic and their extensions, character by character; and samples of
# scripts the folding leaves alone but must not break (Armenian, Hebrew, Arabic, Hangul, kana, CJK).
FOLD_RANGES = ((0x20, 0x7E), (0xA0, 0x6FF), (0x1E00, 0x1FFF), (0x3040, 0x30FF), (0xAC00, 0xAC80))
FOLD_SAMPLES = [
    "İSTANBUL ẞ Æsir Œuvre ǅ Ørsted Đorđe Łódź",
    unicodedata.normalize("NFD", "Ça déçoit, Ἀθῆναι, Ёлка, Йод, Tiếng Việt"),
    "Բարև שָׁלוֹם مَرْحَبًا 한국어 がっこう パン 東京 😀👍🏽",
    "plain ascii, 123 and symbols !?",
]


def test_the_folding_in_postgres_is_the_folding_in_python(db):
    """Migration 0005's search_fold and app/chat/search.py's fold must agree, or highlights drift from matches."""
    chars = [chr(cp) for lo, hi in FOLD_RANGES for cp in range(lo, hi + 1)]
    inputs = chars + FOLD_SAMPLES
    rows = db.execute_sql(
        "SELECT search_fold(t) FROM unnest(%s::text[]) WITH ORDINALITY AS u (t, n) ORDER BY n", (inputs,)
    )
    in_sql = [row[0] for row in rows.fetchall()]
    differ = [(text, in_sql[n], fold(text)) for n, text in enumerate(inputs) if in_sql[n] != fold(text)]
    assert not differ, differ[:20]
    assert fold("ÀÉÎÕÜ ß æ œ Й й ς") == "aeiou ss ae oe й й σ"
    assert fold("e\u0301") == fold("é") == "e"
    assert all(fold(fold(text)) == fold(text) for text in inputs), "folding twice changes nothing"


# --- What is never found ---------------------------------------------------------------------


def test_deleted_and_system_messages_are_never_found(db, room, now):
    room_id, owner, member = room
    kept, tombstone, half_deleted = add(db, room_id, owner, now, "secret plan A", "secret plan B", "secret plan C")
    add(db, room_id, owner, now, "secret plan D added by the system", type="system", first_seq=4)
    # A delete as persisted: the content emptied, deleted_at set (a tombstone)...
    MessageRow.update(content="", deleted_at=now, deleted_by=owner).where(MessageRow.id == int(tombstone)).execute()
    # ...and a row marked deleted whose content is still there: deleted_at alone keeps it out.
    MessageRow.update(deleted_at=now, deleted_by=owner).where(MessageRow.id == int(half_deleted)).execute()
    assert found(member, "secret plan") == ["secret plan A"]
    # An edit is searched as edited.
    MessageRow.update(content="public plan A", edited_at=now).where(MessageRow.id == int(kept)).execute()
    assert found(member, "secret") == []
    assert found(member, "public") == ["public plan A"]


def test_only_the_rooms_the_user_belongs_to_are_searched(db, make_users, now):
    alice, bob, carol = make_users("alice", "bob", "carol")
    shared = create_group("Shared", alice, [bob], now).id
    private = create_group("Private", carol, [], now).id
    add(db, shared, alice, now, "launch codes in the shared room")
    add(db, private, carol, now, "launch codes in the private room")
    assert found(bob, "launch codes") == ["launch codes in the shared room"]
    assert set(found(carol, "launch")) == {"launch codes in the private room"}
    assert found(bob, "launch", room_id=private) == [], "a room filter never widens what a user sees"
    assert found(bob, "launch", room_id="not-a-room") == []
    assert found(alice, "launch", room_id=shared) == ["launch codes in the shared room"]
    remove_member(shared, bob)
    assert found(bob, "launch") == [], "a user who left a room no longer finds its messages"


async def test_the_service_checks_membership_of_the_room_filter(search, db, room, make_users, now):
    room_id, owner, member = room
    (outsider,) = make_users("outsider")
    add(db, room_id, owner, now, "quarterly numbers")
    results = await search.search(User(member), "quarterly", room_id=room_id)
    assert [h.message.content for h in results.hits] == ["quarterly numbers"]
    with pytest.raises(ChatError) as refused:
        await search.search(User(outsider), "quarterly", room_id=room_id)
    assert refused.value.code is Code.NOT_MEMBER
    with pytest.raises(ChatError) as refused:
        await search.search(User(outsider), "quarterly", room_id="999999999999")
    assert refused.value.code is Code.ROOM_NOT_FOUND
    assert (await search.search(User(outsider), "quarterly")).hits == []


# --- Paging ----------------------------------------------------------------------------------


async def _all_pages(search: Search, user: str, query: str, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        results = await search.search(User(user), query, cursor=cursor, limit=limit)
        pages.append([h.message.id for h in results.hits])
        cursor = results.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 100


async def test_pages_hold_every_hit_once_in_rank_order(search, db, room, now):
    room_id, owner, member = room
    rng = random.Random(7)
    # Many equal ranks (identical contents) and many different ones.
    contents = ["status update"] * 12 + [
        " ".join(rng.choice(["status", "update", "report", "weekly", "team"]) for _ in range(rng.randint(1, 12)))
        + " status"
        for _ in range(40)
    ]
    add(db, room_id, owner, now, *contents, "nothing to see")
    everything = search_messages(member, "status", None, None, 1000, TIMEOUT_MS).matches
    assert len(everything) == 52
    ranks = [(m.rank, int(m.message.id)) for m in everything]
    assert ranks == sorted(ranks, reverse=True)
    for limit in (1, 7, 52, 60):
        pages = await _all_pages(search, member, "status", limit)
        flat = [message_id for page in pages for message_id in page]
        assert flat == [m.message.id for m in everything], f"limit {limit}: no duplicates, no gaps, same order"
        assert all(len(page) == min(limit, PAGE_MAX) for page in pages[:-1])


async def test_messages_arriving_between_pages_cause_no_duplicates(search, db, room, now):
    room_id, owner, member = room
    ids = add(db, room_id, owner, now, *[f"invoice number {n} is paid" for n in range(20)])
    first = await search.search(User(member), "invoice paid", limit=8)
    # New messages, ranked above and below the cursor.
    add(db, room_id, owner, now, "invoice paid", "invoice " + "long " * 50 + "paid", first_seq=21)
    seen = [h.message.id for h in first.hits]
    cursor = first.next_cursor
    while cursor:
        page = await search.search(User(member), "invoice paid", cursor=cursor, limit=8)
        seen += [h.message.id for h in page.hits]
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)), "no hit twice"
    assert set(ids) <= set(seen), "every message that was there from the start"


async def test_a_cursor_works_only_for_the_search_that_made_it(search, db, room, now):
    room_id, owner, member = room
    add(db, room_id, owner, now, *["alpha beta"] * 5)
    first = await search.search(User(member), "alpha", limit=2)
    assert first.next_cursor
    # The same search, however typed, goes on.
    again = await search.search(User(member), "  ALPHA ", cursor=first.next_cursor, limit=2)
    assert len(again.hits) == 2
    for query, room_filter, cursor in [
        ("beta", None, first.next_cursor),
        ("alpha", room_id, first.next_cursor),
        ("alpha", None, "not-a-cursor"),
        ("alpha", None, "W10"),  # "[]"
        ("alpha", None, first.next_cursor[:-2]),
        ("alpha", None, "x" * 500),
    ]:
        with pytest.raises(ChatError) as refused:
            await search.search(User(member), query, room_id=room_filter, cursor=cursor)
        assert refused.value.code is Code.INVALID_PAYLOAD
        assert "cursor" in refused.value.details["fields"]


# --- Bad queries -----------------------------------------------------------------------------

REFUSED = [
    ("", "empty"),
    ("   \t\n", "empty"),
    ("!!!", "no_words"),
    ("&|!():*<->", "no_words"),
    ("🙂 👍", "no_words"),
    ("___", "no_words"),
    ("a" * 10_000, "too_long"),
    ("word " * 2_000, "too_long"),
    ("x\x00y", "invalid_text"),
    ("bad \ud800 surrogate", "invalid_text"),
    (" ".join(f"w{n}" for n in range(MAX_TERMS + 1)), "too_many_terms"),
    ("b" * 101, "term_too_long"),
]


@pytest.mark.parametrize(("query", "reason"), REFUSED, ids=[r for _, r in REFUSED])
async def test_pathological_queries_are_refused_with_a_reason(search, room, query, reason):
    _room_id, _owner, member = room
    with pytest.raises(ChatError) as refused:
        await search.search(User(member), query)
    assert refused.value.code is Code.SEARCH_QUERY_INVALID
    assert refused.value.details["reason"] == reason


ODD_BUT_FINE = [
    "a & | ! ( )",  # tsquery operators are not operators here: only the word "a" is looked for
    "'; DROP TABLE messages; --",
    "o'neil",
    "it's \\ back\\slash",
    "foo:* | bar:B",
    '"quoted words"',
    "100% _under_score_ *?",
    "x" * 100,
    "3.14 e-mail bob@example.com https://example.com/a?b=c",
]


@pytest.mark.parametrize("query", ODD_BUT_FINE)
async def test_operators_quotes_and_sql_in_queries_are_just_text(search, db, room, now, query):
    room_id, owner, member = room
    add(db, room_id, owner, now, query + " target")
    results = await search.search(User(member), query)
    assert [h.message.content for h in results.hits] == [query + " target"], "a message finds itself"
    assert db.execute_sql("SELECT count(*) FROM messages").fetchone()[0] > 0


def test_a_search_that_takes_too_long_is_refused_and_the_connection_still_works(db, make_users, now):
    (owner,) = make_users("prolific")
    room_id = create_group("Busy", owner, [], now).id
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "elit", "sed", "tempor"]
    for batch in range(6):
        add(
            db,
            room_id,
            owner,
            now,
            *[" ".join(random.choices(words, k=30)) + " lorem" for _ in range(1000)],
            first_seq=batch * 1000 + 1,
        )
    with pytest.raises(ChatError) as refused:
        search_messages(owner, "lorem", None, None, 20, 1)
    assert refused.value.code is Code.SEARCH_TOO_BROAD
    started = time.monotonic()
    assert len(search_messages(owner, "lorem", None, None, 20, TIMEOUT_MS).matches) == 20
    assert time.monotonic() - started < TIMEOUT_MS / 1000


def test_messages_whose_words_are_too_long_to_index_are_still_stored(db, room, now):
    """Postgres skips words over 2047 bytes (with a notice): persistence must never fail on the index."""
    room_id, owner, member = room
    add(db, room_id, owner, now, "x" * 3000 + " needle", "東" * 4000)
    assert found(member, "needle") == ["x" * 3000 + " needle"]
    assert found(member, "東") == []


# --- Excerpts --------------------------------------------------------------------------------


def test_excerpts_mark_the_matches_in_the_original_text(db, room, now):
    room_id, owner, member = room
    long = "Intro " + "filler words here " * 30 + "the Straße near the CAFÉ is closed " + "more filler " * 30
    add(db, room_id, owner, now, long, "Der Ärger\n\nmit   der Straße")
    matches = search_messages(member, "strasse cafe", None, None, 10, TIMEOUT_MS)
    [hit] = matches.matches
    segments = excerpt(hit.message.content, matches.words)
    text = "".join(s.text for s in segments)
    assert [s.text for s in segments if s.match] == ["Straße", "CAFÉ"]
    assert text.startswith("…") and text.endswith("…") and len(text) <= 170
    assert "  " not in text
    short = search_messages(member, "arg", None, None, 10, TIMEOUT_MS)
    segments = excerpt(short.matches[0].message.content, short.words)
    assert [(s.text, s.match) for s in segments] == [("Der ", False), ("Ärger", True), (" mit der Straße", False)]


def test_the_index_is_a_generated_column_under_gin_and_the_query_can_use_it(db, room, now):
    (generated,) = db.execute_sql(
        "SELECT is_generated FROM information_schema.columns WHERE table_name = 'messages' "
        "AND column_name = 'search_vector'"
    ).fetchone()
    assert generated == "ALWAYS"
    (definition,) = db.execute_sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'messages_search'").fetchone()
    assert "USING gin (search_vector)" in definition
    with db.atomic():
        db.execute_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            row[0]
            for row in db.execute_sql(
                "EXPLAIN SELECT id FROM messages WHERE search_vector @@ '''budget'':*'::tsquery"
            ).fetchall()
        )
    assert "messages_search" in plan
