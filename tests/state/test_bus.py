"""The pub/sub bus on real Redis: confirmed subscriptions, reference counts, races and failing handlers."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from redis.asyncio import Redis

from app.chat.events import SYSTEM_TOPIC, Event
from app.state import recipients
from app.state.bus import FANOUT_TOPIC, RedisBus, batch_messages, envelope


class Inbox:
    """The bus handler of a test: every (topic, event) delivered, awaitable."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, Event]] = asyncio.Queue()
        self.fail_on: set[str] = set()

    async def __call__(self, topic: str, event: Event) -> None:
        await self.queue.put((topic, event))
        if event.data.get("tag") in self.fail_on:
            raise RuntimeError("handler failed")

    async def next(self, timeout: float = 5.0) -> tuple[str, Event]:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def nothing_until(self, bus: RedisBus, timeout: float = 5.0) -> list[tuple[str, Event]]:
        """Publish a sentinel on `system` and return what was delivered before it (in order)."""
        await bus.publish(SYSTEM_TOPIC, Event("sentinel", {"tag": "sentinel"}))
        before = []
        while True:
            topic, event = await self.next(timeout)
            if event.name == "sentinel":
                return before
            before.append((topic, event))


@pytest.fixture
async def bus_and_inbox(new_redis, keys):
    inbox = Inbox()
    bus = RedisBus(new_redis(), keys)
    await bus.start(inbox)
    yield bus, inbox
    await bus.stop()


def event(tag: str) -> Event:
    return Event("test:event", {"tag": tag})


async def subscribers(redis, channel: str) -> int:
    return dict(await redis.pubsub_numsub(channel))[channel.encode()]


async def eventually_subscribers(redis, channel: str, count: int, timeout: float = 5.0) -> None:
    """Wait until Redis counts `count` subscribers of `channel` (an unsubscribe is not confirmed to the caller)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (found := await subscribers(redis, channel)) != count:
        assert loop.time() < deadline, f"{channel} has {found} subscribers, not {count}"
        await asyncio.sleep(0.01)


async def eventually_no_subscriber(redis, channel: str, timeout: float = 5.0) -> None:
    await eventually_subscribers(redis, channel, 0, timeout)


async def test_the_system_topic_is_subscribed_on_start(bus_and_inbox, redis_client, keys):
    bus, inbox = bus_and_inbox
    assert bus.is_subscribed(SYSTEM_TOPIC)
    assert await subscribers(redis_client, keys.channel(SYSTEM_TOPIC)) == 1
    # Published by another node (another connection), in the wire form.
    await redis_client.publish(keys.channel(SYSTEM_TOPIC), envelope("room:invalidated", {"room_id": "1"}))
    assert await inbox.next() == (SYSTEM_TOPIC, Event("room:invalidated", {"room_id": "1"}))


async def test_a_publish_right_after_subscribe_returns_is_always_received(bus_and_inbox, redis_client, keys):
    bus, inbox = bus_and_inbox
    for i in range(50):
        topic = f"room:{i}"
        await bus.subscribe(topic)
        receivers = await redis_client.publish(keys.channel(topic), envelope("test:event", {"tag": str(i)}))
        assert receivers == 1, f"subscription {i} was not in place when subscribe() returned"
        assert await inbox.next() == (topic, event(str(i)))


async def test_subscribe_then_unsubscribe_of_the_same_topic_50_times(bus_and_inbox, redis_client, keys):
    bus, inbox = bus_and_inbox
    for i in range(50):
        await bus.subscribe("room:again")
        await bus.publish("room:again", event(str(i)))
        assert await inbox.next() == ("room:again", event(str(i)))
        await bus.unsubscribe("room:again")
        assert not bus.is_subscribed("room:again")
    await eventually_no_subscriber(redis_client, keys.channel("room:again"))


async def test_the_last_unsubscribe_of_a_topic_leaves_its_channel(bus_and_inbox, redis_client, keys):
    bus, inbox = bus_and_inbox
    await bus.subscribe("user:ann")
    await bus.subscribe("user:ann")
    await bus.unsubscribe("user:ann")
    assert bus.is_subscribed("user:ann")
    await bus.publish("user:ann", event("still"))
    assert await inbox.next() == ("user:ann", event("still"))
    await bus.unsubscribe("user:ann")
    assert not bus.is_subscribed("user:ann")
    await eventually_no_subscriber(redis_client, keys.channel("user:ann"))
    await bus.publish("user:ann", event("gone"))
    assert await inbox.nothing_until(bus) == []
    await bus.unsubscribe("user:ann")  # one too many is harmless
    assert not bus.is_subscribed("user:ann")


async def test_concurrent_subscribes_all_wait_for_the_one_confirmation(bus_and_inbox, redis_client, keys):
    bus, inbox = bus_and_inbox
    await asyncio.wait_for(asyncio.gather(*(bus.subscribe("room:many") for _ in range(10))), 10)
    assert await redis_client.publish(keys.channel("room:many"), envelope("test:event", {"tag": "x"})) == 1
    assert await inbox.next() == ("room:many", event("x"))
    for _ in range(9):
        await bus.unsubscribe("room:many")
    assert bus.is_subscribed("room:many")
    await bus.unsubscribe("room:many")
    await eventually_no_subscriber(redis_client, keys.channel("room:many"))


async def test_subscribe_unsubscribe_subscribe_races_end_subscribed(bus_and_inbox, redis_client, keys):
    bus, inbox = bus_and_inbox
    for i in range(20):
        topic = f"room:race{i}"
        await asyncio.wait_for(
            asyncio.gather(bus.subscribe(topic), bus.unsubscribe(topic), bus.subscribe(topic)),
            10,
        )
        assert bus.is_subscribed(topic)
        # The last subscribe returned: the channel is live, whatever order Redis saw the commands in.
        assert await redis_client.publish(keys.channel(topic), envelope("test:event", {"tag": str(i)})) == 1
        assert await inbox.next() == (topic, event(str(i)))
        await bus.unsubscribe(topic)
        await eventually_no_subscriber(redis_client, keys.channel(topic))


async def test_interleaved_subscribes_and_unsubscribes_settle_on_the_reference_count(bus_and_inbox, redis_client, keys):
    bus, inbox = bus_and_inbox
    topic = "room:interleaved"
    operations = [bus.subscribe, bus.subscribe, bus.unsubscribe, bus.subscribe, bus.unsubscribe, bus.subscribe]
    await asyncio.wait_for(asyncio.gather(*(operation(topic) for operation in operations)), 10)
    # Two subscriptions remain: one unsubscribe keeps the channel, the second leaves it.
    await bus.publish(topic, event("a"))
    assert await inbox.next() == (topic, event("a"))
    await bus.unsubscribe(topic)
    await bus.publish(topic, event("b"))
    assert await inbox.next() == (topic, event("b"))
    await bus.unsubscribe(topic)
    await eventually_no_subscriber(redis_client, keys.channel(topic))


async def test_a_handler_that_raises_does_not_stop_later_deliveries(bus_and_inbox, redis_client, keys):
    bus, inbox = bus_and_inbox
    inbox.fail_on = {"boom"}
    await bus.subscribe("room:h")
    await bus.publish("room:h", event("boom"))
    await redis_client.publish(keys.channel("room:h"), b"not json at all")  # undecodable: logged and skipped
    await bus.publish("room:h", event("after"))
    assert await inbox.next() == ("room:h", event("boom"))
    assert await inbox.next() == ("room:h", event("after"))


async def test_events_of_one_topic_arrive_in_publish_order(bus_and_inbox):
    bus, inbox = bus_and_inbox
    await bus.subscribe("room:order")
    for i in range(100):
        await bus.publish("room:order", event(str(i)))
    assert [(await inbox.next())[1].data["tag"] for _ in range(100)] == [str(i) for i in range(100)]


async def test_two_nodes_share_a_topic_and_each_leaves_on_its_own(new_redis, keys, redis_client):
    inboxes = [Inbox(), Inbox()]
    buses = [RedisBus(new_redis(), keys) for _ in inboxes]
    for bus, inbox in zip(buses, inboxes, strict=True):
        await bus.start(inbox)
    try:
        for bus in buses:
            await bus.subscribe("room:shared")
        await buses[0].publish("room:shared", event("both"))
        assert [await inbox.next() for inbox in inboxes] == [("room:shared", event("both"))] * 2
        await buses[1].unsubscribe("room:shared")
        await eventually_subscribers(redis_client, keys.channel("room:shared"), 1)
        await buses[0].publish("room:shared", event("first only"))
        assert await inboxes[0].next() == ("room:shared", event("first only"))
        assert await inboxes[1].nothing_until(buses[1]) == []
    finally:
        for bus in buses:
            await bus.stop()


async def test_after_redis_drops_the_connection_the_bus_resubscribes_and_delivers_again(services, keys, redis_client):
    name = f"bus-{uuid.uuid4().hex[:8]}"
    inbox = Inbox()
    connection = Redis.from_url(services.redis_url, client_name=name)
    bus = RedisBus(connection, keys)
    await bus.start(inbox)
    try:
        await bus.subscribe("room:kept")
        # Redis closes this bus's connections (a restart or failover would close them all).
        ours = [client["id"] for client in await redis_client.client_list() if client.get("name") == name]
        assert ours
        for client_id in ours:
            await redis_client.execute_command("CLIENT", "KILL", "ID", client_id)
        # Events published while it is down are lost (clients recover them by seq); once back,
        # both the system topic and the room are subscribed again.
        await eventually_subscribers(redis_client, keys.channel("room:kept"), 1, timeout=10)
        await eventually_subscribers(redis_client, keys.channel(SYSTEM_TOPIC), 1, timeout=10)
        await redis_client.publish(keys.channel("room:kept"), envelope("test:event", {"tag": "back"}))
        assert await inbox.next() == ("room:kept", event("back"))
        await asyncio.wait_for(bus.subscribe("room:new"), 10)
        assert await redis_client.publish(keys.channel("room:new"), envelope("test:event", {"tag": "new"})) == 1
        assert await inbox.next() == ("room:new", event("new"))
    finally:
        await bus.stop()
        await connection.aclose()


async def test_publish_many_reaches_each_subscribed_topic_once_across_chunks(
    bus_and_inbox, monkeypatch, keys, subscribe
):
    bus, inbox = bus_and_inbox
    monkeypatch.setattr("app.state.bus.PUBLISH_MANY_CHUNK", 7)  # 25 topics: four messages
    fanout = await subscribe(keys.channel(FANOUT_TOPIC))
    topics = [f"user:{uuid.uuid4().hex}" for _ in range(25)]
    followed = topics[::4]
    for topic in followed:
        await bus.subscribe(topic)
    await bus.publish_many(topics, Event("presence:update", {"tag": "many", "n": [1, "ü"]}))
    await bus.publish_many([], Event("presence:update", {"tag": "none"}))
    delivered = await inbox.nothing_until(bus)
    assert sorted(delivered) == sorted(
        (topic, Event("presence:update", {"tag": "many", "n": [1, "ü"]})) for topic in followed
    )
    # Four Redis messages on the shared channel, not one per topic; each message's event is one object,
    # handed to each of its topics followed here (so that delivery encodes it once).
    chunk_of = {topic: topics.index(topic) // 7 for topic in topics}
    objects = {chunk_of[topic]: set() for topic in followed}
    for topic, event in delivered:
        objects[chunk_of[topic]].add(id(event))
    assert [len(ids) for ids in objects.values()] == [1, 1, 1, 1]
    messages = [await fanout.next() for _ in range(4)]
    assert [len(m["topics"]) for m in messages] == [7, 7, 7, 4]
    assert [topic for m in messages for topic in m["topics"]] == topics
    assert await fanout.next(timeout=0.3) is None


async def test_a_workers_per_topic_events_go_as_batches_and_reach_each_followed_topic_in_order(
    bus_and_inbox, monkeypatch, keys, subscribe, sync_redis
):
    """A notification job's events, one per recipient with its own data, are published as a few `fanout`
    messages (app/state/recipients.publish, the worker's synchronous Redis), not one per recipient: each node
    decodes one message per chunk and delivers, in order, the events of the topics it follows."""
    bus, inbox = bus_and_inbox
    monkeypatch.setattr("app.state.bus.PUBLISH_MANY_CHUNK", 4)  # 10 events: three messages
    fanout = await subscribe(keys.channel(FANOUT_TOPIC))
    users = [f"user:{uuid.uuid4().hex}" for _ in range(5)]
    for topic in users[:3]:
        await bus.subscribe(topic)
    items = [(users[i % 5], Event("notification:new", {"tag": f"n{i}", "n": i, "s": "ü"})) for i in range(10)]
    recipients.publish(sync_redis, keys, items)
    recipients.publish(sync_redis, keys, [])
    delivered = await inbox.nothing_until(bus)
    assert delivered == [(topic, event) for topic, event in items if topic in users[:3]]
    messages = [await fanout.next() for _ in range(3)]
    assert [len(m["events"]) for m in messages] == [4, 4, 2]
    assert [topic for m in messages for topic, _ in m["events"]] == [topic for topic, _ in items]
    assert await fanout.next(timeout=0.3) is None


async def test_a_batch_message_holds_about_publish_batch_bytes_and_a_larger_event_goes_alone(monkeypatch):
    monkeypatch.setattr("app.state.bus.PUBLISH_BATCH_BYTES", 250)  # two of the small events (103 bytes each)
    small = [("user:a", Event("notification:new", {"n": i, "pad": "x" * 40})) for i in range(6)]
    large = ("user:b", Event("notification:batch", {"pad": "y" * 500}))
    messages = [orjson.loads(m) for m in batch_messages([*small[:3], large, *small[3:]])]
    assert [[e["event"] for _, e in m["events"]] for m in messages] == [
        ["notification:new", "notification:new"],
        ["notification:new"],
        ["notification:batch"],
        ["notification:new", "notification:new"],
        ["notification:new"],
    ]
    assert [e["data"].get("n") for m in messages for _, e in m["events"]] == [0, 1, 2, None, 3, 4, 5]


async def test_a_fanout_to_topics_this_node_does_not_follow_is_dropped_here(bus_and_inbox):
    bus, inbox = bus_and_inbox
    await bus.publish_many([f"user:{uuid.uuid4().hex}" for _ in range(3)], Event("presence:update", {}))
    assert await inbox.nothing_until(bus) == []
