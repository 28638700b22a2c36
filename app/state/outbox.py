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

from app.chat.model import parse_time
from app.state.keys import Keys

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


class Outbox:
    def __init__(self, connection: redis.Redis, keys: Keys) -> None:
        self._redis = connection
        self._keys = keys
        self._forget_if_same = connection.register_script(_FORGET_IF_SAME)

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

    def done(self, fields: Sequence[str], message_ids: Sequence[str] = ()) -> None:
        """Forget message fields (and their ids) whose messages are committed to Postgres. A message's
        body never changes once appended, so a plain delete is safe."""
        if not fields:
            return
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._keys.outbox, *fields)
            pipe.zrem(self._keys.outbox_since, *fields)
            if message_ids:
                pipe.hdel(self._keys.outbox_ids, *message_ids)
            pipe.execute()

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
