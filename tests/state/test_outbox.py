"""The outbox as workers see it (synchronous Redis): take, done, due and postpone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from app.chat.model import format_time
from app.state.keys import outbox_field
from app.state.outbox import MAX_REDRIVE_DELAY_MS, Outbox

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


@pytest.fixture
def outbox(sync_redis, keys) -> Outbox:
    return Outbox(sync_redis, keys)


@pytest.fixture
def put(sync_redis, keys):
    """put(room, seq, age_s, due_ms) stores a record as the append script does."""

    def store(room_id: str, seq: int, age_s: float = 0, due_ms: int = NOW_MS) -> dict:
        record = {
            "id": str(1000 + seq),
            "room_id": room_id,
            "seq": seq,
            "sender_id": "ann",
            "type": "text",
            "content": f"m{seq}",
            "client_ref": None,
            "created_at": format_time(NOW - timedelta(seconds=age_s)),
        }
        field = outbox_field(room_id, seq)
        sync_redis.hset(keys.outbox, field, orjson.dumps(record))
        sync_redis.zadd(keys.outbox_since, {field: due_ms})
        return record

    return store


def test_take_returns_the_records_still_waiting(outbox, put):
    records = [put("1", seq) for seq in (1, 2, 3)]
    assert outbox.take(["1:1", "1:3", "1:9", "2:1"]) == [records[0], records[2]]
    assert outbox.take([]) == []
    assert outbox.size() == 3


def test_done_forgets_both_the_message_and_its_redrive(outbox, put, sync_redis, keys):
    put("1", 1)
    put("1", 2)
    outbox.done(["1:1", "1:7"])
    assert outbox.take(["1:1", "1:2"]) == [orjson.loads(sync_redis.hget(keys.outbox, "1:2"))]
    assert sync_redis.zscore(keys.outbox_since, "1:1") is None
    assert outbox.size() == 1
    outbox.done([])
    outbox.done(["1:2"])
    assert outbox.size() == 0 and sync_redis.zcard(keys.outbox_since) == 0


def test_due_lists_fields_whose_time_has_come_oldest_first_up_to_a_limit(outbox, put):
    put("1", 1, due_ms=NOW_MS - 3000)
    put("1", 2, due_ms=NOW_MS - 1000)
    put("2", 1, due_ms=NOW_MS - 2000)
    put("2", 2, due_ms=NOW_MS + 5000)
    assert outbox.due(NOW_MS, 10) == ["1:1", "2:1", "1:2"]
    assert outbox.due(NOW_MS, 2) == ["1:1", "2:1"]
    assert outbox.due(NOW_MS + 5000, 10) == ["1:1", "2:1", "1:2", "2:2"]
    assert outbox.due(NOW_MS - 10_000, 10) == []


def test_postpone_pushes_redrives_back_by_the_messages_age_within_bounds(outbox, put, sync_redis, keys):
    put("1", 1, age_s=1)  # young: the base delay
    put("1", 2, age_s=120)  # two minutes old: two minutes
    put("1", 3, age_s=10 * 3600)  # very old: at most an hour
    put("1", 4)
    outbox.done(["1:4"])
    sync_redis.zadd(keys.outbox_since, {"1:5": NOW_MS})  # a stray redrive entry without a message
    waiting = outbox.postpone(["1:1", "1:2", "1:3", "1:4", "1:5"], NOW_MS, base_delay_ms=5000)
    assert waiting == ["1:1", "1:2", "1:3"]
    assert sync_redis.zscore(keys.outbox_since, "1:1") == NOW_MS + 5000
    assert sync_redis.zscore(keys.outbox_since, "1:2") == NOW_MS + 120_000
    assert sync_redis.zscore(keys.outbox_since, "1:3") == NOW_MS + MAX_REDRIVE_DELAY_MS
    assert sync_redis.zscore(keys.outbox_since, "1:4") is None  # persisted meanwhile: not re-added
    assert sync_redis.zscore(keys.outbox_since, "1:5") is None  # stale entries are dropped
    assert outbox.due(NOW_MS + 4999, 10) == []
    assert outbox.due(NOW_MS + 5000, 10) == ["1:1"]
    assert outbox.postpone([], NOW_MS, 5000) == []
