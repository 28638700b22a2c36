"""Per-key rate limits shared by all nodes: the generic cell rate algorithm on Redis.

One key per (bucket, user) holds the theoretical arrival time of the next
token; a request is allowed while that time is at most `burst` intervals
ahead of now. One round trip, one small key that expires when idle.
"""

from __future__ import annotations

from redis.asyncio import Redis

from app.state.errors import translate_errors
from app.state.keys import Keys

# gcra(key, ms per token, burst tolerance in ms) takes a token; returns 0, or the ms to wait.
GCRA_FUNCTION = """
local function gcra(key, interval, tolerance)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local next_tat = tat + interval
  local wait = next_tat - tolerance - now
  if wait > 0 then return wait end
  redis.call('SET', key, next_tat, 'PX', next_tat - now + 1000)
  return 0
end
"""

# KEYS: 1 the bucket key. ARGV: 1 ms per token, 2 burst tolerance in ms. Returns ms to wait (0 = allowed).
_ACQUIRE = GCRA_FUNCTION + "return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))"


def gcra_args(rate: float, burst: int) -> tuple[int, int]:
    """(ms per token, burst tolerance in ms) for `rate` tokens per second and bursts of `burst`."""
    interval = max(1, round(1000 / rate))
    return interval, interval * burst


class RedisRateLimiter:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._keys = keys
        self._script = redis.register_script(_ACQUIRE)

    @translate_errors
    async def acquire(self, bucket: str, key: str, rate: float, burst: int) -> float:
        wait_ms = await self._script(keys=[self._keys.rate(bucket, key)], args=list(gcra_args(rate, burst)))
        return int(wait_ms) / 1000
