"""Presence on Redis: live connections per user, chosen statuses, last-seen times.

Each connection is a member of its user's sorted set `presence:conns:<user>`
and of the global `presence:expiry`, both scored by when it expires (ms).
A node pushes its connections' expiry forward every third of PRESENCE_TTL;
any node's sweep drops those past their expiry (their node is gone) and
reports users left with none, and every connection it dropped (so the
rooms they viewed can be closed, app/state/viewers.py). Every transition
is one Lua script, so two nodes racing over one user's last two
connections announce exactly one change.

Changes to last-seen times, devices and read cursors are marked in the
`flush:*` sets; the first mark after a flush sets `flush:requested` and
tells the caller to enqueue one flush job (see app/state/flush.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from redis.asyncio import Redis

from app.chat.model import Device, Status
from app.chat.ports import PresenceChange, PresenceRecord, Swept
from app.state.errors import translate_errors
from app.state.keys import Keys

SEPARATOR = "\x1f"  # between conn id and user id in `presence:expiry` (user ids are printable)
FLUSH_FLAG_TTL = 30  # seconds; a flush job lost before it ran is requested again after this
KEEP_ALIVE_CHUNK = 500

MARK = f"""
local function mark(set, member, flag)
  redis.call('SADD', set, member)
  if redis.call('SET', flag, '1', 'NX', 'EX', {FLUSH_FLAG_TTL}) then return 1 end
  return 0
end
"""

# KEYS: 1 user's conns, 2 expiry, 3 statuses, 4 last seen, 5 dirty users, 6 dirty devices, 7 flush flag
# ARGV: 1 conn id, 2 expiry member, 3 expires (ms), 4 now (ms), 5 user id, 6 device entry or '', 7 key TTL (ms)
# Returns {1 if the user had no live connection before, chosen status, 1 if a flush should be requested}.
_CONNECT = (
    MARK
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[5], ARGV[4])
local flush = mark(KEYS[5], ARGV[5], KEYS[7])
if ARGV[6] ~= '' then flush = math.max(flush, mark(KEYS[6], ARGV[6], KEYS[7])) end
local status = redis.call('HGET', KEYS[3], ARGV[5]) or 'online'
return {before == 0 and 1 or 0, status, flush}
"""
)

# KEYS: 1 user's conns, 2 expiry, 3 statuses, 4 last seen, 5 dirty users, 6 flush flag
# ARGV: 1 conn id, 2 expiry member, 3 now (ms), 4 user id
# Returns {1 if that was the user's last live connection, chosen status, flush}.
_DISCONNECT = (
    MARK
    + """
redis.call('ZREM', KEYS[2], ARGV[2])
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local left = redis.call('ZCARD', KEYS[1])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[3])
local flush = mark(KEYS[5], ARGV[4], KEYS[6])
local status = redis.call('HGET', KEYS[3], ARGV[4]) or 'online'
return {(removed == 1 and left == 0) and 1 or 0, status, flush}
"""
)

# KEYS: 1 expiry, 2.. each connection's user's conns
# ARGV: 1 expires (ms), 2 now (ms), 3 key TTL (ms), then per connection: conn id, expiry member, user id
# Returns the users who had no live connection before (swept while their node was alive but slow).
_KEEP_ALIVE = """
local back = {}
for i = 2, #KEYS do
  local base = 4 + (i - 2) * 3
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[2])
  local added = redis.call('ZADD', KEYS[i], ARGV[1], ARGV[base])
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[base + 1])
  if added == 1 and redis.call('ZCARD', KEYS[i]) == 1 then table.insert(back, ARGV[base + 2]) end
end
return back
"""

# KEYS: 1 expiry, 2 last seen, 3 dirty users, 4 flush flag
# ARGV: 1 now (ms), 2 limit, 3 prefix of the users' conns keys, 4 TTL (ms)
# Returns {flush, {user, last alive ms, ...} for users left with no live connection,
#          {user, conn id, ...} for every connection dropped from `presence:expiry`}.
_SWEEP = (
    MARK
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local gone = {}
local swept = {}
local flush = 0
for i = 1, #due, 2 do
  local member = due[i]
  redis.call('ZREM', KEYS[1], member)
  local cut = string.find(member, '\\31', 1, true)
  local sid = string.sub(member, 1, cut - 1)
  local uid = string.sub(member, cut + 1)
  table.insert(swept, uid)
  table.insert(swept, sid)
  local key = ARGV[3] .. uid
  if redis.call('ZREM', key, sid) == 1 then
    -- The user's other expired connections go too: the latest of them says when the user was last alive.
    local latest = tonumber(due[i + 1])
    local other = redis.call('ZREVRANGEBYSCORE', key, ARGV[1], '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if other[2] and tonumber(other[2]) > latest then latest = tonumber(other[2]) end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
    if redis.call('ZCARD', key) == 0 then
      local seen = latest - tonumber(ARGV[4])
      local prior = tonumber(redis.call('HGET', KEYS[2], uid) or '0')
      if seen > prior then redis.call('HSET', KEYS[2], uid, string.format('%d', seen)) else seen = prior end
      flush = math.max(flush, mark(KEYS[3], uid, KEYS[4]))
      table.insert(gone, uid)
      table.insert(gone, string.format('%d', seen))
    end
  end
end
return {flush, gone, swept}
"""
)

# KEYS: 1 statuses, 2 user's conns, 3 dirty users, 4 flush flag
# ARGV: 1 user id, 2 status, 3 now (ms)
# Returns {status before, 1 if connected, flush}.
_CHOOSE = (
    MARK
    + """
local before = redis.call('HGET', KEYS[1], ARGV[1]) or 'online'
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local online = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[3], '+inf')
return {before, online > 0 and 1 or 0, mark(KEYS[3], ARGV[1], KEYS[4])}
"""
)


def device_entry(user_id: str, device: Device) -> str:
    """The `flush:devices` member for a device (empty when the connection named none)."""
    if device.device_id is None:
        return ""
    return orjson.dumps([user_id, device.device_id, device.preferred_language]).decode()


class RedisPresence:
    def __init__(self, redis: Redis, keys: Keys, ttl_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self._key_ttl_ms = ttl_s * 2000
        self._connect = redis.register_script(_CONNECT)
        self._disconnect = redis.register_script(_DISCONNECT)
        self._keep_alive = redis.register_script(_KEEP_ALIVE)
        self._sweep = redis.register_script(_SWEEP)
        self._choose = redis.register_script(_CHOOSE)

    def _member(self, user_id: str, conn_id: str) -> str:
        return f"{conn_id}{SEPARATOR}{user_id}"

    @translate_errors
    async def connect(self, user_id: str, conn_id: str, device: Device, now_ms: int, expires_ms: int) -> PresenceChange:
        return await self._live(user_id, conn_id, device_entry(user_id, device), now_ms, expires_ms)

    @translate_errors
    async def touch(self, user_id: str, conn_id: str, now_ms: int, expires_ms: int) -> PresenceChange:
        return await self._live(user_id, conn_id, "", now_ms, expires_ms)

    async def _live(self, user_id: str, conn_id: str, device: str, now_ms: int, expires_ms: int) -> PresenceChange:
        k = self._keys
        first, status, flush = await self._connect(
            keys=[
                k.presence_conns(user_id),
                k.presence_expiry,
                k.presence_status,
                k.last_seen,
                k.dirty("users"),
                k.dirty("devices"),
                k.flush_requested,
            ],
            args=[conn_id, self._member(user_id, conn_id), expires_ms, now_ms, user_id, device, self._key_ttl_ms],
        )
        return PresenceChange(first == 1, status.decode(), flush == 1)

    @translate_errors
    async def disconnect(self, user_id: str, conn_id: str, now_ms: int) -> PresenceChange:
        k = self._keys
        last, status, flush = await self._disconnect(
            keys=[
                k.presence_conns(user_id),
                k.presence_expiry,
                k.presence_status,
                k.last_seen,
                k.dirty("users"),
                k.flush_requested,
            ],
            args=[conn_id, self._member(user_id, conn_id), now_ms, user_id],
        )
        return PresenceChange(last == 1, status.decode(), flush == 1)

    @translate_errors
    async def keep_alive(self, conns: Sequence[tuple[str, str]], now_ms: int, expires_ms: int) -> list[str]:
        back: list[str] = []
        for start in range(0, len(conns), KEEP_ALIVE_CHUNK):
            chunk = conns[start : start + KEEP_ALIVE_CHUNK]
            args: list[object] = [expires_ms, now_ms, self._key_ttl_ms]
            for user_id, conn_id in chunk:
                args += [conn_id, self._member(user_id, conn_id), user_id]
            keys = [self._keys.presence_expiry, *(self._keys.presence_conns(user_id) for user_id, _ in chunk)]
            back += [user_id.decode() for user_id in await self._keep_alive(keys=keys, args=args)]
        return back

    @translate_errors
    async def sweep(self, now_ms: int, ttl_ms: int, limit: int) -> Swept:
        k = self._keys
        flush, gone, swept = await self._sweep(
            keys=[k.presence_expiry, k.last_seen, k.dirty("users"), k.flush_requested],
            args=[now_ms, limit, k.presence_conns_prefix, ttl_ms],
        )
        pairs = [(gone[i].decode(), int(gone[i + 1])) for i in range(0, len(gone), 2)]
        conns = [(swept[i].decode(), swept[i + 1].decode()) for i in range(0, len(swept), 2)]
        return Swept(pairs, flush == 1, conns)

    @translate_errors
    async def choose(self, user_id: str, status: Status, now_ms: int) -> tuple[Status, bool, bool]:
        k = self._keys
        before, online, flush = await self._choose(
            keys=[k.presence_status, k.presence_conns(user_id), k.dirty("users"), k.flush_requested],
            args=[user_id, status, now_ms],
        )
        return before.decode(), online == 1, flush == 1

    @translate_errors
    async def lookup(self, user_ids: Sequence[str], now_ms: int) -> dict[str, PresenceRecord]:
        if not user_ids:
            return {}
        ids = list(dict.fromkeys(user_ids))
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in ids:
                pipe.zcount(self._keys.presence_conns(user_id), f"({now_ms}", "+inf")
            pipe.hmget(self._keys.presence_status, ids)
            pipe.hmget(self._keys.last_seen, ids)
            *counts, statuses, seen = await pipe.execute()
        return {
            user_id: PresenceRecord(
                chosen=(status or b"online").decode(),
                online=count > 0,
                last_seen_ms=int(float(last)) if last is not None else None,
            )
            for user_id, count, status, last in zip(ids, counts, statuses, seen, strict=True)
        }
