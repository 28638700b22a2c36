"""Real Redis for the state tests: a key prefix of their own per test, async clients, a raw subscriber;
and real Postgres for the core pieces that sit on both (Timeline, Access)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest
from redis.asyncio import Redis

from app.chat.ids import Snowflake
from app.chat.model import Message
from app.state.keys import Keys
from app.state.message_log import RedisMessageLog
from app.storage.database import AsyncDatabase
from app.storage.rooms import create_group
from app.storage.users import ensure_users

_snowflake = Snowflake(node=7)


@pytest.fixture
def keys(services) -> Keys:
    return Keys(f"{services.prefix}{uuid.uuid4().hex[:8]}:")


@pytest.fixture
async def new_redis(services):
    """new_redis() -> a new async Redis client (its own connection pool), closed after the test."""
    clients: list[Redis] = []

    def make() -> Redis:
        client = Redis.from_url(services.redis_url, socket_timeout=10, socket_connect_timeout=5)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def redis_client(new_redis) -> Redis:
    return new_redis()


@pytest.fixture
def log(redis_client, keys) -> RedisMessageLog:
    return RedisMessageLog(redis_client, keys, redrive_after_s=60)


@pytest.fixture
def message() -> Callable[..., Message]:
    """message(room_id, sender, content=..., client_ref=...) -> a new message as the core builds it (seq 0)."""

    def make(room_id: str, sender: str, content: str = "hi", client_ref: str | None = None) -> Message:
        return Message(
            id=str(_snowflake.next()),
            room_id=room_id,
            seq=0,
            sender_id=sender,
            type="text",
            content=content,
            client_ref=client_ref,
            created_at=datetime.now(UTC),
        )

    return make


class Subscriber:
    """A raw pub/sub connection: every message published to one channel, in arrival order."""

    def __init__(self, redis: Redis, channel: str) -> None:
        self.pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self.channel = channel

    async def start(self) -> None:
        await self.pubsub.subscribe(self.channel)
        # Wait for Redis to confirm, so nothing published afterwards is missed.
        confirmed = await asyncio.wait_for(self.pubsub.parse_response(block=True), 5)
        assert confirmed[0] == b"subscribe"

    async def next(self, timeout: float = 5.0) -> dict | None:
        """The next message's decoded payload, or None when nothing arrives within `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=min(left, 1.0))
            if message is not None and message["type"] == "message":
                return orjson.loads(message["data"])
        return None

    async def close(self) -> None:
        await self.pubsub.aclose()


@pytest.fixture
async def subscribe(new_redis):
    """subscribe(channel) -> a confirmed raw Subscriber on its own connection."""
    subscribers: list[Subscriber] = []

    async def make(channel: str) -> Subscriber:
        subscriber = Subscriber(new_redis(), channel)
        await subscriber.start()
        subscribers.append(subscriber)
        return subscriber

    yield make
    for subscriber in subscribers:
        await subscriber.close()


@pytest.fixture
def adb(db):
    """The session's Postgres, run off the event loop as the web process runs it."""
    database = AsyncDatabase(db, threads=2)
    yield database
    database.close()


@pytest.fixture
def group(db, user_id):
    """group(*member_names) -> (room_id, [owner, *members]): a real room in Postgres."""

    def make(*names: str) -> tuple[str, list[str]]:
        now = datetime.now(UTC)
        ids = [user_id("owner"), *(user_id(name) for name in names)]
        ensure_users(ids, now)
        return create_group("State", ids[0], ids[1:], now).id, ids

    return make
