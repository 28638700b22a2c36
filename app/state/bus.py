"""Fan-out between nodes over Redis pub/sub: one channel per topic, and one shared channel for an event
to many topics.

A node subscribes only to the topics its own connections need (the rooms
they joined, their users, and `system`), so it decodes only events it
will deliver. An event is encoded once by its publisher and decoded once
per node. An event for many topics at once (a presence change, to
everyone who shares a room with the user) is one message on the `fanout`
channel, which every node follows, naming its topics: Redis publishes it
once instead of once per topic, and each node decodes it once and hands
the same event to each of those topics it follows (so delivery encodes
it once per dialect, not once per topic). Events that differ per topic
(the notifications of a worker's job, one per recipient) go as one
`fanout` message listing each topic with its event (`batch_messages`):
one PUBLISH, and one message to decode on each node, instead of one per
recipient. Redis sends one connection's messages in publish order
whatever their channels, so events keep their order. `subscribe()` returns only after Redis confirmed the
subscription, so a caller can read state afterwards without missing an
event published in between.

While the Redis connection is down no events arrive; redis-py reconnects
and resubscribes, and clients recover what they missed by sequence number.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.chat.events import SYSTEM_TOPIC, Event
from app.state.errors import translate_errors
from app.state.keys import Keys

log = logging.getLogger(__name__)

EventHandler = Callable[[str, Event], Awaitable[None]]
CONFIRM_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
PUBLISH_MANY_CHUNK = 1000  # topics per `fanout` message, so that one message stays small
PUBLISH_BATCH_BYTES = 256 * 1024  # and about this many bytes of events in one batch message
FANOUT_TOPIC = "fanout"


def envelope_head(name: str) -> bytes:
    """The wire form of an event up to its data: `{"event": name, "data": <data>}`."""
    return b'{"event":' + orjson.dumps(name) + b',"data":'


def envelope(name: str, data: dict) -> bytes:
    return envelope_head(name) + orjson.dumps(data) + b"}"


def batch_messages(items: Iterable[tuple[str, Event]]) -> Iterator[bytes]:
    """`fanout` messages carrying (topic, event) pairs, in order, at most PUBLISH_MANY_CHUNK pairs and about
    PUBLISH_BATCH_BYTES to a message (one larger pair goes alone):
    `{"events": [[topic, {"event": name, "data": data}], ...]}`."""
    chunk: list[bytes] = []
    size = 0
    for topic, event in items:
        entry = b"[" + orjson.dumps(topic) + b"," + envelope(event.name, event.data) + b"]"
        if chunk and (len(chunk) == PUBLISH_MANY_CHUNK or size + len(entry) > PUBLISH_BATCH_BYTES):
            yield b'{"events":[' + b",".join(chunk) + b"]}"
            chunk, size = [], 0
        chunk.append(entry)
        size += len(entry)
    if chunk:
        yield b'{"events":[' + b",".join(chunk) + b"]}"


class RedisBus:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._handler: EventHandler | None = None
        self._pubsub = redis.pubsub(ignore_subscribe_messages=False)
        self._refs: dict[str, int] = {}
        self._confirmations: dict[bytes, deque[asyncio.Future[None]]] = {}
        self._reader: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._stopping = False
        self._fanout_channel = keys.channel(FANOUT_TOPIC).encode()

    async def start(self, handler: EventHandler) -> None:
        self._handler = handler
        self._reader = asyncio.create_task(self._read(), name="bus-reader")
        await self.subscribe(SYSTEM_TOPIC)
        await self.subscribe(FANOUT_TOPIC)

    async def stop(self) -> None:
        # A flag as well as a cancel: redis-py can swallow a CancelledError inside a read, and the
        # reader then goes on; the flag ends it at its next turn (each read waits at most 1 s).
        self._stopping = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait({self._reader}, timeout=STOP_TIMEOUT)
        await self._pubsub.aclose()

    @translate_errors
    async def publish(self, topic: str, event: Event) -> None:
        await self._redis.publish(self._keys.channel(topic), envelope(event.name, event.data))

    @translate_errors
    async def publish_many(self, topics, event: Event) -> None:
        """`event` to each of `topics`: one `fanout` message per PUBLISH_MANY_CHUNK topics."""
        topics = list(topics)
        if not topics:
            return
        tail = b"," + envelope(event.name, event.data)[1:]  # `"event": ..., "data": ...}` after the topics
        for start in range(0, len(topics), PUBLISH_MANY_CHUNK):
            head = b'{"topics":' + orjson.dumps(topics[start : start + PUBLISH_MANY_CHUNK])
            await self._redis.publish(self._fanout_channel, head + tail)

    def is_subscribed(self, topic: str) -> bool:
        return topic in self._refs

    @translate_errors
    async def subscribe(self, topic: str) -> None:
        """Count one more local interest in `topic`; return once the node receives its events."""
        channel = self._keys.channel(topic).encode()
        async with self._lock:
            count = self._refs.get(topic, 0)
            self._refs[topic] = count + 1
            pending = self._confirmations.setdefault(channel, deque())
            if count == 0:
                waiter = asyncio.get_running_loop().create_future()
                pending.append(waiter)
                await self._pubsub.subscribe(channel)
            elif pending:
                waiter = pending[-1]
            else:
                return
        await asyncio.wait_for(asyncio.shield(waiter), CONFIRM_TIMEOUT)

    @translate_errors
    async def unsubscribe(self, topic: str) -> None:
        """Count one less local interest; the channel is left when nobody here needs it."""
        async with self._lock:
            count = self._refs.get(topic, 0)
            if count > 1:
                self._refs[topic] = count - 1
                return
            if count == 1:
                del self._refs[topic]
                await self._pubsub.unsubscribe(self._keys.channel(topic).encode())

    async def _read(self) -> None:
        while not self._stopping:
            try:
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.warning("bus: Redis connection lost (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            except Exception:
                # The reader is this node's only ear: whatever went wrong, keep listening.
                log.exception("bus: reading from Redis failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            kind = message["type"]
            if kind == "message":
                await self._deliver(message["channel"], message["data"])
            elif kind == "subscribe":
                pending = self._confirmations.get(message["channel"])
                if pending:
                    waiter = pending.popleft()
                    if not waiter.done():
                        waiter.set_result(None)
                if not pending:
                    self._confirmations.pop(message["channel"], None)

    async def _deliver(self, channel: bytes, data: bytes) -> None:
        try:
            payload = orjson.loads(data)
            if channel != self._fanout_channel:
                each = [(self._keys.topic(channel.decode()), Event(payload["event"], payload["data"]))]
            elif "events" in payload:  # a batch of per-topic events: those followed here
                refs = self._refs
                each = [(t, Event(e["event"], e["data"])) for t, e in payload["events"] if t in refs]
            else:  # one event for many topics: each followed here is given the same event object
                event = Event(payload["event"], payload["data"])
                each = [(topic, event) for topic in payload["topics"] if topic in self._refs]
        except Exception:
            log.exception("bus: decoding an event failed")
            return
        for topic, event in each:
            try:
                await self._handler(topic, event)
            except Exception:
                log.exception("bus: delivering an event failed")
