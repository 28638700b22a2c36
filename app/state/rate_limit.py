"""Per-key rate limits shared by all nodes: the generic cell rate algorithm on Redis.

One key per (bucket, user) holds the theoretical arrival time of the next
token; a request is allowed while that time is at most `burst` intervals
ahead of now. One round trip, one small key that expires when idle.
"""

from __future__ import annotations

from redis.asyncio import Redis

from app.state.errors import translate_errors
from app.state.keys import Keys

# KEYS: 1 the bucket key. ARGV: 1 ms per token, 2 burst tolerance in ms. Returns ms to wait (0 = allowed).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - tonumber(ARGV[2])
if allow_at > now then return allow_at - now end
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now + 1000)
return 0
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._keys = keys
        self._script = redis.register_script(_GCRA)

    @translate_errors
    async def acquire(self, bucket: str, key: str, rate: float, burst: int) -> float:
        interval = max(1, round(1000 / rate))
        wait_ms = await self._script(keys=[self._keys.rate(bucket, key)], args=[interval, interval * burst])
        return int(wait_ms) / 1000
