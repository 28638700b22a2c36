"""The message log on Redis: sequence numbers, the outbox, idempotency, read cursors.

`append` is one Lua script and one round trip, so a message takes a token
of its sender's quota, gets its seq, enters the outbox (where it stays
until a worker has committed it to Postgres), is remembered under
(sender, client_ref), moves the sender's read cursor (and, for a system
message, the cursors of the members who had read the room) and is
published to its room all at once or not at all. Publishing inside the
script makes every node see a room's messages in seq order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
from redis.asyncio import Redis

from app.chat import events
from app.chat.events import Event
from app.chat.model import Change, Message, Receipt, parse_time, to_ms
from app.chat.ports import Appended, Quota, RateLimited, SequenceUnknown
from app.state.bus import envelope, envelope_head
from app.state.errors import translate_errors
from app.state.keys import Keys, change_field, outbox_field
from app.state.presence import MARK
from app.state.rate_limit import GCRA_FUNCTION, gcra_args

# KEYS: 1 seq counter, 2 outbox hash, 3 outbox-since zset, 4 idempotency key, 5 sender's read cursors,
#       6 the quota's bucket, 7 outbox ids, 8 dirty reads, 9 flush flag, 10... each reader's read cursors
# ARGV: 1 message JSON up to its seq (ends with `"seq":`), 2 receipt up to its seq, 3 idempotency TTL,
#       4 room id, 5 when the redrive is due (ms), 6 "1" when there is a client_ref, 7 channel,
#       8 event envelope up to the message, 9 ms per quota token, 10 quota burst tolerance (ms), 11 message id,
#       then for each reader: their persisted cursor, their dirty-reads entry
# A reader whose cursor (the larger of Redis's and the persisted one) is at the message before this one has
# their cursor moved onto it, in the same step as the append: nobody can read the room in between.
# Returns {1, receipt, 1 if a flush should be requested}, {0, first receipt} for a resend, {-1, ''} without a
# counter, {-2, ms to wait}.
_APPEND = (
    GCRA_FUNCTION
    + MARK
    + """
if ARGV[6] == '1' then
  local prior = redis.call('GET', KEYS[4])
  if prior then return {0, prior} end
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, ''} end
local wait = gcra(KEYS[6], tonumber(ARGV[9]), tonumber(ARGV[10]))
if wait > 0 then return {-2, tostring(wait)} end
local seq = redis.call('INCR', KEYS[1])
local field = ARGV[4] .. ':' .. seq
local body = ARGV[1] .. seq .. '}'
redis.call('HSET', KEYS[2], field, body)
redis.call('HSET', KEYS[7], ARGV[11], field)
redis.call('ZADD', KEYS[3], ARGV[5], field)
local receipt = ARGV[2] .. seq
if ARGV[6] == '1' then redis.call('SET', KEYS[4], receipt, 'EX', ARGV[3]) end
local cursor = tonumber(redis.call('HGET', KEYS[5], ARGV[4]) or '0')
if cursor < seq then redis.call('HSET', KEYS[5], ARGV[4], seq) end
local flush = 0
for i = 10, #KEYS do
  local j = 12 + (i - 10) * 2
  local read = math.max(tonumber(redis.call('HGET', KEYS[i], ARGV[4]) or '0'), tonumber(ARGV[j]))
  if read == seq - 1 then
    redis.call('HSET', KEYS[i], ARGV[4], seq)
    if mark(KEYS[8], ARGV[j + 1], KEYS[9]) == 1 then flush = 1 end
  end
end
redis.call('PUBLISH', ARGV[7], ARGV[8] .. body .. '}')
return {1, receipt, flush}
"""
)

# KEYS: 1 the user's read cursors, 2 dirty reads, 3 flush flag. ARGV: 1 room id, 2 seq, 3 dirty entry.
# Returns {cursor before, 1 if a flush should be requested}.
_ADVANCE_READ = (
    MARK
    + """
local before = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local flush = 0
if tonumber(ARGV[2]) > before then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  flush = mark(KEYS[2], ARGV[3], KEYS[3])
end
return {before, flush}
"""
)


# KEYS: 1 outbox hash, 2 outbox-since zset, 3 the room's pending-changes set. ARGV: 1 the change's field,
#       2 change JSON, 3 its version, 4 "1" for a delete, 5 when the redrive is due (ms), 6 channel,
#       7 event envelope, 8 the message id.
# Returns 1 when stored and published; 0 when a pending delete or a later pending edit wins.
_CHANGE = """
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior then
  local p = cjson.decode(prior)
  if p['content'] == cjson.null then return 0 end
  if ARGV[4] ~= '1' then
    local v, w = p['version'], ARGV[3]
    if #v > #w or (#v == #w and v > w) then return 0 end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[8])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 1
"""


def read_entry(room_id: str, user_id: str) -> str:
    """The `flush:reads` member of a read cursor (room ids are digits, so the first `:` splits)."""
    return f"{room_id}:{user_id}"


class RedisMessageLog:
    def __init__(self, redis: Redis, keys: Keys, redrive_after_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self._redrive_after_ms = redrive_after_s * 1000
        self._append = redis.register_script(_APPEND)
        self._advance_read = redis.register_script(_ADVANCE_READ)
        self._change = redis.register_script(_CHANGE)

    @translate_errors
    async def append(
        self, message: Message, idempotency_ttl: int, quota: Quota, readers: Mapping[str, int] | None = None
    ) -> Appended:
        readers = readers or {}
        record = message.record()
        del record["seq"]
        head = orjson.dumps(record)[:-1] + b',"seq":'
        receipt_head = f"{message.room_id}|{message.id}|{record['created_at']}|"
        ref = message.client_ref
        idem_key = self._keys.idempotency(message.sender_id, ref) if ref else self._keys.idempotency("", "-")
        status, receipt, *flush = await self._append(
            keys=[
                self._keys.seq(message.room_id),
                self._keys.outbox,
                self._keys.outbox_since,
                idem_key,
                self._keys.read_cursors(message.sender_id),
                self._keys.rate(quota.bucket, quota.key),
                self._keys.outbox_ids,
                self._keys.dirty("reads"),
                self._keys.flush_requested,
                *(self._keys.read_cursors(user_id) for user_id in readers),
            ],
            args=[
                head,
                receipt_head,
                idempotency_ttl,
                message.room_id,
                int(message.created_at.timestamp() * 1000) + self._redrive_after_ms,
                "1" if ref else "0",
                self._keys.channel(events.room_topic(message.room_id)),
                envelope_head(events.MESSAGE_NEW),
                *gcra_args(quota.rate, quota.burst),
                message.id,
                *(arg for user_id, read in readers.items() for arg in (read, read_entry(message.room_id, user_id))),
            ],
        )
        if status == -1:
            raise SequenceUnknown(message.room_id)
        if status == -2:
            raise RateLimited(int(receipt) / 1000)
        room_id, message_id, created_at, seq = receipt.decode().split("|")
        receipt = Receipt(room_id, int(seq), message_id, parse_time(created_at), ref)
        return Appended(receipt, duplicate=status == 0, flush=flush == [1])

    @translate_errors
    async def seed(self, room_id: str, last_seq: int) -> None:
        await self._redis.set(self._keys.seq(room_id), last_seq, nx=True)

    @translate_errors
    async def last_seqs(self, room_ids: Sequence[str]) -> dict[str, int | None]:
        values = await self._redis.mget([self._keys.seq(room_id) for room_id in room_ids])
        return {room_id: None if value is None else int(value) for room_id, value in zip(room_ids, values, strict=True)}

    @translate_errors
    async def pending(self, keys: Sequence[tuple[str, int]]) -> list[Message]:
        if not keys:
            return []
        bodies = await self._redis.hmget(self._keys.outbox, [outbox_field(room_id, seq) for room_id, seq in keys])
        return [Message.from_record(orjson.loads(body)) for body in bodies if body is not None]

    @translate_errors
    async def pending_by_id(self, message_id: str) -> Message | None:
        field = await self._redis.hget(self._keys.outbox_ids, message_id)
        body = await self._redis.hget(self._keys.outbox, field) if field is not None else None
        return Message.from_record(orjson.loads(body)) if body is not None else None

    @translate_errors
    async def change(self, change: Change, event: Event) -> bool:
        stored = await self._change(
            keys=[self._keys.outbox, self._keys.outbox_since, self._keys.pending_changes(change.room_id)],
            args=[
                change_field(change.message_id),
                orjson.dumps(change.record()),
                str(change.version),
                "1" if change.deletes else "0",
                to_ms(change.at) + self._redrive_after_ms,
                self._keys.channel(events.room_topic(change.room_id)),
                envelope(event.name, event.data),
                change.message_id,
            ],
        )
        return stored == 1

    @translate_errors
    async def pending_changes(self, room_id: str) -> list[Change]:
        ids = [m.decode() for m in await self._redis.smembers(self._keys.pending_changes(room_id))]
        return list((await self.changes(ids)).values())

    @translate_errors
    async def changes(self, message_ids: Sequence[str]) -> dict[str, Change]:
        if not message_ids:
            return {}
        bodies = await self._redis.hmget(self._keys.outbox, [change_field(m) for m in message_ids])
        return {m: Change.from_record(orjson.loads(b)) for m, b in zip(message_ids, bodies, strict=True) if b}

    @translate_errors
    async def read_cursors(self, user_id: str, room_ids: Sequence[str]) -> dict[str, int]:
        if not room_ids:
            return {}
        values = await self._redis.hmget(self._keys.read_cursors(user_id), list(room_ids))
        return {room_id: int(value) for room_id, value in zip(room_ids, values, strict=True) if value is not None}

    @translate_errors
    async def advance_read(self, user_id: str, room_id: str, seq: int) -> tuple[int, bool]:
        before, flush = await self._advance_read(
            keys=[self._keys.read_cursors(user_id), self._keys.dirty("reads"), self._keys.flush_requested],
            args=[room_id, seq, read_entry(room_id, user_id)],
        )
        return int(before), flush == 1
