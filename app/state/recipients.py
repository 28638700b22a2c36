"""What the notification workers read from Redis about recipients, and how they publish to them
(synchronous Redis, for workers)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis

from app.chat.events import Event
from app.state.bus import FANOUT_TOPIC, batch_messages
from app.state.keys import Keys


def online_users(connection: redis.Redis, keys: Keys, user_ids: Sequence[str], now_ms: int) -> set[str]:
    """The users among `user_ids` with at least one live connection."""
    if not user_ids:
        return set()
    with connection.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.zcount(keys.presence_conns(user_id), f"({now_ms}", "+inf")
        counts = pipe.execute()
    return {user_id for user_id, count in zip(user_ids, counts, strict=True) if count > 0}


def read_cursors(connection: redis.Redis, keys: Keys, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(user_id, room_id) -> the read cursor in Redis, where there is one."""
    if not pairs:
        return {}
    with connection.pipeline(transaction=False) as pipe:
        for user_id, room_id in pairs:
            pipe.hget(keys.read_cursors(user_id), room_id)
        values = pipe.execute()
    return {pair: int(value) for pair, value in zip(pairs, values, strict=True) if value is not None}


def publish(connection: redis.Redis, keys: Keys, items: Iterable[tuple[str, Event]]) -> None:
    """Publish (topic, event) pairs in one round trip, batched on the shared `fanout` channel (app/state/bus.py):
    a few messages (`batch_messages` bounds them), not one per pair."""
    messages = list(batch_messages(items))
    if not messages:
        return
    channel = keys.channel(FANOUT_TOPIC)
    with connection.pipeline(transaction=False) as pipe:
        for message in messages:
            pipe.publish(channel, message)
        pipe.execute()
