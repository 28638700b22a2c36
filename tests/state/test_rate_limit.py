"""The GCRA rate limiter on real Redis: a burst, then refusal with a wait, then refill."""

from __future__ import annotations

import asyncio

from app.state.rate_limit import RedisRateLimiter


async def test_a_burst_is_allowed_then_refused_with_a_positive_wait(redis_client, keys):
    limiter = RedisRateLimiter(redis_client, keys)
    waits = [await limiter.acquire("message", "ann", rate=2, burst=4) for _ in range(4)]
    assert waits == [0, 0, 0, 0]
    refused = await limiter.acquire("message", "ann", rate=2, burst=4)
    assert 0 < refused <= 0.5
    # A refusal costs nothing: asking again right away gives about the same wait.
    assert 0 < await limiter.acquire("message", "ann", rate=2, burst=4) <= refused


async def test_tokens_come_back_at_the_rate(redis_client, keys):
    limiter = RedisRateLimiter(redis_client, keys)
    rate, burst = 5, 2  # one token every 200 ms
    assert [await limiter.acquire("api", "bob", rate, burst) for _ in range(burst)] == [0, 0]
    wait = await limiter.acquire("api", "bob", rate, burst)
    assert 0 < wait <= 0.2
    await asyncio.sleep(wait + 0.03)
    assert await limiter.acquire("api", "bob", rate, burst) == 0  # one token came back
    assert await limiter.acquire("api", "bob", rate, burst) > 0  # and only one
    # After a long enough pause the whole burst is back, and no more.
    await asyncio.sleep(burst / rate + 0.05)
    assert [await limiter.acquire("api", "bob", rate, burst) for _ in range(burst)] == [0, 0]
    assert await limiter.acquire("api", "bob", rate, burst) > 0


async def test_keys_and_buckets_are_independent(redis_client, keys):
    limiter = RedisRateLimiter(redis_client, keys)
    assert await limiter.acquire("message", "ann", 1, 1) == 0
    assert await limiter.acquire("message", "ann", 1, 1) > 0
    assert await limiter.acquire("message", "bob", 1, 1) == 0
    assert await limiter.acquire("api", "ann", 1, 1) == 0
    assert await limiter.acquire("message", "ann", 1, 1) > 0


async def test_concurrent_requests_from_several_connections_share_one_budget(new_redis, keys):
    limiters = [RedisRateLimiter(new_redis(), keys) for _ in range(3)]
    # One token every 5 s: none comes back while the 30 requests race.
    waits = await asyncio.gather(*(limiters[i % 3].acquire("event", "eve", 0.2, 10) for i in range(30)))
    assert sum(1 for wait in waits if wait == 0) == 10


async def test_an_idle_key_expires(redis_client, keys):
    limiter = RedisRateLimiter(redis_client, keys)
    await limiter.acquire("message", "idle", rate=100, burst=5)
    ttl_ms = await redis_client.pttl(keys.rate("message", "idle"))
    assert 0 < ttl_ms <= 1010 + 10
