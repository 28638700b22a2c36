"""Worker-tier fixtures: a private key prefix per test, the worker runtime opened in-process on it,
and outbox entries written the way the web node's append script writes them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import pytest
import redis

import config
from app.chat.model import Message
from app.state.keys import Keys, outbox_field
from tests.services import TestServices
from worker import runtime as worker_runtime


@dataclass
class Lane:
    """One test's own REDIS_PREFIX (under the run's prefix, so the session deletes its keys),
    its settings, environment overrides for worker processes, and the worker runtime on it."""

    settings: config.Settings
    env: dict[str, str]
    keys: Keys
    redis: redis.Redis
    runtime: worker_runtime.Runtime

    def put(self, room_id: str, seq: int, sender_id: str, created_ms: int, content: str | None = None) -> str:
        """Write one acknowledged message into the outbox as the append script does:
        the body in the hash, the field in `since` scored created + REDRIVE_AFTER."""
        record = Message(
            id=str(next_message_id()),
            room_id=room_id,
            seq=seq,
            sender_id=sender_id,
            type="text",
            content=content if content is not None else f"m{seq} ✓ ünïcödé",
            client_ref=f"ref-{seq}",
            created_at=datetime.fromtimestamp(created_ms / 1000, UTC),
        ).record()
        field = outbox_field(room_id, seq)
        self.redis.hset(self.keys.outbox, field, orjson.dumps(record))
        self.redis.hset(self.keys.outbox_ids, record["id"], field)
        self.redis.zadd(self.keys.outbox_since, {field: created_ms + self.settings.queue.redrive_after * 1000})
        return field

    def record(self, field: str) -> dict:
        return orjson.loads(self.redis.hget(self.keys.outbox, field))

    def since(self) -> dict[str, int]:
        return {f.decode(): int(s) for f, s in self.redis.zrange(self.keys.outbox_since, 0, -1, withscores=True)}

    def in_outbox(self) -> set[str]:
        return {f.decode() for f in self.redis.hkeys(self.keys.outbox)}


_last_id = 0


def next_message_id() -> int:
    """Unique, increasing message ids (the web node's are time-ordered too)."""
    global _last_id
    _last_id = max(_last_id + 1, time.time_ns() // 1000)
    return _last_id


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def lane(services: TestServices) -> Iterator[Callable[..., Lane]]:
    """lane(**env_overrides) -> a Lane on a fresh prefix; the worker runtime is configured for it."""
    opened: list[Lane] = []

    def make(**overrides: object) -> Lane:
        prefix = f"{services.prefix}w{uuid.uuid4().hex[:8]}:"
        env = {"REDIS_PREFIX": prefix, **{k: str(v) for k, v in overrides.items()}}
        settings = config.load(services.env(**env), require=("database", "redis", "queue", "worker"))
        worker_runtime.configure(settings)
        rt = worker_runtime.open_runtime()
        made = Lane(settings, env, rt.keys, rt.redis, rt)
        opened.append(made)
        return made

    yield make
    worker_runtime.close_runtime()


@dataclass
class Group:
    room_id: str
    owner: str
    members: list[str]


@pytest.fixture
async def group(client, token, user_id) -> Group:
    """A group room created over REST (so its users and memberships are real rows): an owner and two members."""
    owner, bob, carol = user_id("owner"), user_id("bob"), user_id("carol")
    response = await client.post(
        "/api/v1/rooms",
        json={"name": "W", "participants": [bob, carol]},
        headers={"Authorization": f"Bearer {token(owner)}"},
    )
    assert response.status == 201, await response.text()
    return Group((await response.json())["id"], owner, [owner, bob, carol])
