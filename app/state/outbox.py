"""The outbox as the workers see it (synchronous Redis).

Acknowledged messages wait in the outbox hash until a worker has committed
them to Postgres; the `since` sorted set scores each by when it is next
due for a redrive. Web nodes write it (in the append script); workers
read, clear and redrive it.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import redis

from app.chat.events import MESSAGE_NEW, room_topic
from app.chat.model import parse_time
from app.state.bus import envelope_head
from app.state.keys import Keys, outbox_field

MAX_REDRIVE_DELAY_MS = 3600 * 1000

# KEYS: 1 outbox, 2 outbox-since, then for each change its room's pending-changes set.
# ARGV: field, body, message id, field, body, message id, ...
_FORGET_IF_SAME = """
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('SREM', KEYS[2 + (i + 2) / 3], ARGV[i + 2])
  end
end
return 1
"""


# KEYS: 1 the room's seq counter, 2 outbox, 3 outbox-since, 4 outbox ids, 5 the sender's idempotency key.
# ARGV: 1 the message's field, 2 its id, 3 the room's highest seq in Postgres, 4 room id, 5 its body up to
#       its seq (ends with `"seq":`), 6 when the redrive is due (ms), 7 channel, 8 event envelope up to the
#       message, 9 receipt up to its seq, 10 "1" when there is a client_ref.
# Returns the new seq, or -1 when the message is no longer at that field (moved by an earlier try, or gone).
_RESEQUENCE = """
if redis.call('HGET', KEYS[4], ARGV[2]) ~= ARGV[1] or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then
  return -1
end
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq < tonumber(ARGV[3]) then seq = tonumber(ARGV[3]) end
seq = seq + 1
redis.call('SET', KEYS[1], seq)
local field = ARGV[4] .. ':' .. seq
local body = ARGV[5] .. seq .. '}'
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[2], field, body)
redis.call('HSET', KEYS[4], ARGV[2], field)
redis.call('ZADD', KEYS[3], ARGV[6], field)
if ARGV[10] == '1' then redis.call('SET', KEYS[5], ARGV[9] .. seq, 'XX', 'KEEPTTL') end
redis.call('PUBLISH', ARGV[7], ARGV[8] .. body .. '}')
return seq
"""


class Outbox:
    def __init__(self, connection: redis.Redis, keys: Keys) -> None:
        self._redis = connection
        self._keys = keys
        self._forget_if_same = connection.register_script(_FORGET_IF_SAME)
        self._resequence = connection.register_script(_RESEQUENCE)

    def resequence(self, record: dict, persisted_max: int, due_ms: int) -> dict | None:
        """Give a waiting message whose seq another message already holds in Postgres the room's next free
        seq (above `persisted_max`), atomically: move it in the outbox, raise the room's counter past
        Postgres, fix the sender's receipt, and publish it again as `message:new` at its new seq. That
        happens only after Redis lost writes (a machine crash under `appendfsync everysec`, a failover):
        its counter stepped back and handed out seqs that were already taken. Returns the moved record, or
        None when it was moved already (by an earlier try of the same job) or is gone."""
        room_id, message_id = str(record["room_id"]), str(record["id"])
        head = {key: value for key, value in record.items() if key != "seq"}
        ref = record.get("client_ref")
        seq = self._resequence(
            keys=[
                self._keys.seq(room_id),
                self._keys.outbox,
                self._keys.outbox_since,
                self._keys.outbox_ids,
                self._keys.idempotency(record["sender_id"], ref) if ref else self._keys.idempotency("", "-"),
            ],
            args=[
                outbox_field(room_id, record["seq"]),
                message_id,
                persisted_max,
                room_id,
                orjson.dumps(head)[:-1] + b',"seq":',
                due_ms,
                self._keys.channel(room_topic(room_id)),
                envelope_head(MESSAGE_NEW),
                f"{room_id}|{message_id}|{record['created_at']}|",
                "1" if ref else "0",
            ],
        )
        return None if seq == -1 else {**record, "seq": int(seq)}

    def take_raw(self, fields: Sequence[str]) -> dict[str, bytes]:
        """field -> body, for the fields still waiting."""
        if not fields:
            return {}
        bodies = self._redis.hmget(self._keys.outbox, list(fields))
        return {field: body for field, body in zip(fields, bodies, strict=True) if body is not None}

    def take(self, fields: Sequence[str]) -> list[dict]:
        """The message records still waiting among `fields` (others were persisted already)."""
        if not fields:
            return []
        return [orjson.loads(body) for body in self._redis.hmget(self._keys.outbox, list(fields)) if body is not None]

    def done(
        self, fields: Sequence[str], message_ids: Sequence[str] = (), pipeline: redis.client.Pipeline | None = None
    ) -> None:
        """Forget message fields (and their ids) whose messages are committed to Postgres. A message's
        body never changes once appended, so a plain delete is safe. With `pipeline` (a transaction), the
        commands are only queued on it, to run with whatever else the caller queued there."""
        if not fields:
            return
        if pipeline is not None:
            self._forget(pipeline, fields, message_ids)
            return
        with self._redis.pipeline(transaction=True) as pipe:
            self._forget(pipe, fields, message_ids)
            pipe.execute()

    def _forget(self, pipe: redis.client.Pipeline, fields: Sequence[str], message_ids: Sequence[str]) -> None:
        pipe.hdel(self._keys.outbox, *fields)
        pipe.zrem(self._keys.outbox_since, *fields)
        if message_ids:
            pipe.hdel(self._keys.outbox_ids, *message_ids)

    def changes_done(self, applied: dict[str, bytes]) -> None:
        """Forget change fields committed to Postgres, each only if it still holds the body that was
        applied: an edit that arrived meanwhile replaced it and waits for its own job."""
        if not applied:
            return
        keys, args = [self._keys.outbox, self._keys.outbox_since], []
        for field, body in applied.items():
            change = orjson.loads(body)
            keys.append(self._keys.pending_changes(str(change["room_id"])))
            args += [field, body, str(change["message_id"])]
        self._forget_if_same(keys=keys, args=args)

    def locate(self, message_ids: Sequence[str]) -> list[str]:
        """The outbox fields of those messages that are still waiting there."""
        if not message_ids:
            return []
        return [f.decode() for f in self._redis.hmget(self._keys.outbox_ids, list(message_ids)) if f is not None]

    def due(self, now_ms: int, limit: int) -> list[str]:
        """Fields whose redrive time has come, oldest first."""
        return [f.decode() for f in self._redis.zrangebyscore(self._keys.outbox_since, "-inf", now_ms, 0, limit)]

    def postpone(self, fields: Sequence[str], now_ms: int, base_delay_ms: int) -> list[str]:
        """Push the next redrive of each field back, further the older its message is
        (a message that keeps failing is retried about as often as its age, at most
        hourly); return the fields that are still waiting."""
        bodies = self._redis.hmget(self._keys.outbox, list(fields)) if fields else []
        waiting = {}
        for field, body in zip(fields, bodies, strict=True):
            if body is None:
                continue
            created_ms = int(parse_time(orjson.loads(body)["created_at"]).timestamp() * 1000)
            delay = min(max(base_delay_ms, now_ms - created_ms), MAX_REDRIVE_DELAY_MS)
            waiting[field] = now_ms + delay
        if waiting:
            self._redis.zadd(self._keys.outbox_since, waiting, xx=True)
        stale = [field for field in fields if field not in waiting]
        if stale:
            self._redis.zrem(self._keys.outbox_since, *stale)
        return list(waiting)

    def size(self) -> int:
        return self._redis.hlen(self._keys.outbox)
