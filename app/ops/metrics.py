"""`GET /metrics`: the node's Prometheus metrics, and the seeds' JSON queue counts.

Two sources, both read when scraped, never kept up to date in between:

- the session layer's own counters (`SessionStats`: plain integers it adds to per event and per
  frame, no lock, no task), one set per dialect (the `transport` label), turned into metric families here;
- what Redis holds for the whole deployment: RQ's queues and registries, and the outbox of
  acknowledged messages not yet in Postgres. Two pipelined round trips of the asyncio client,
  bounded by a timeout; if Redis does not answer, those metrics are left out and
  `chat_state_scrape_ok` is 0.

Each application has its own `CollectorRegistry` (several apps in one test process do not collide).
Metric names, meanings and when to worry: docs/operations.md.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, GCCollector, ProcessCollector
from prometheus_client import generate_latest as render
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from rq.job import Job
from rq.queue import Queue
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.utils import utcparse
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from app.chat.ids import id_time
from app.ops.persistence import stall_reason
from app.realtime.stats import ACK_BUCKETS, SessionStats
from app.state.keys import MESSAGES_QUEUE, NOTIFICATIONS_QUEUE, PRESENCE_QUEUE, QUEUES, Keys

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Up to this many waiting messages, the outbox's oldest is found exactly (from the ids, which carry
# their creation time); beyond, the age is a lower bound read from the redrive schedule.
EXACT_OUTBOX_SCAN = 10_000
READS_PER_QUEUE = 6  # the commands `RedisState.read` pipelines for each queue
MAX_WORKERS_READ = 1000  # worker registrations checked per read (chat_workers counts up to this many)
# The seeds' JSON names its queues like this (the Bull queues of seed 002); notifications is ours.
SEED_QUEUE_KEYS = {
    MESSAGES_QUEUE: "messageQueueJobs",
    PRESENCE_QUEUE: "presenceQueueJobs",
    NOTIFICATIONS_QUEUE: "notificationQueueJobs",
}


@dataclass(frozen=True)
class QueueState:
    waiting: int
    oldest_age: float  # seconds since the job at the head was enqueued; 0 when empty
    started: int
    scheduled: int
    failed: int
    finished: int


@dataclass(frozen=True)
class State:
    queues: dict[str, QueueState]
    outbox_entries: int
    outbox_oldest_age: float
    outbox_overdue: int
    workers: int = 0  # live workers listening on the messages queue (app.ops.persistence)
    stalled: str = ""  # why persistence is stalled, "" when it is not (app.ops.persistence)


class RedisState:
    """Reads the deployment's queues and outbox from Redis (asyncio client, two round trips)."""

    def __init__(
        self, connection: aioredis.Redis, keys: Keys, redrive_after_s: int, stall_after_s: float = 60.0
    ) -> None:
        self._redis = connection
        self._keys = keys
        self._redrive_after_ms = redrive_after_s * 1000
        self._stall_after = stall_after_s
        self._workers_key = WORKERS_BY_QUEUE_KEY % keys.queue(MESSAGES_QUEUE)
        self._queue_keys = {}
        for name in QUEUES:
            rq_name = keys.queue(name)
            self._queue_keys[name] = (
                Queue.redis_queue_namespace_prefix + rq_name,
                StartedJobRegistry.key_template.format(rq_name),
                ScheduledJobRegistry.key_template.format(rq_name),
                FailedJobRegistry.key_template.format(rq_name),
                FinishedJobRegistry.key_template.format(rq_name),
            )

    async def read(self) -> State:
        now = time.time()
        now_ms = int(now * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            for queue, started, scheduled, failed, finished in self._queue_keys.values():
                pipe.llen(queue)
                pipe.lindex(queue, 0)
                pipe.zcard(started)
                pipe.zcard(scheduled)
                pipe.zcount(failed, now, "+inf")  # scored by when each expires
                pipe.zcount(finished, now, "+inf")
            pipe.hlen(self._keys.outbox)
            pipe.hlen(self._keys.outbox_ids)
            pipe.zrange(self._keys.outbox_since, 0, 0, withscores=True)
            pipe.zcount(self._keys.outbox_since, "-inf", now_ms)
            pipe.srandmember(self._workers_key, MAX_WORKERS_READ)
            replies = await pipe.execute()
        n = READS_PER_QUEUE
        per_queue = {name: replies[i * n : i * n + n] for i, name in enumerate(self._queue_keys)}
        entries, ids, first_due, overdue, worker_keys = replies[len(self._queue_keys) * n :]
        heads = {name: values[1].decode() for name, values in per_queue.items() if values[1] is not None}
        scan = bool(entries) and 0 < ids <= EXACT_OUTBOX_SCAN
        async with self._redis.pipeline(transaction=False) as pipe:
            for job_id in heads.values():
                pipe.hget(Job.key_for(job_id), "enqueued_at")
            if scan:
                pipe.hkeys(self._keys.outbox_ids)
            for worker_key in worker_keys:
                pipe.exists(worker_key)  # a SIGKILLed worker stays in the set until its registration expires
            more = await pipe.execute() if heads or scan or worker_keys else []
        enqueued = dict(zip(heads, more[: len(heads)], strict=True))
        waiting_ids = more[len(heads)] if scan else []
        workers = sum(1 for alive in more[len(heads) + int(scan) :] if alive)
        queues = {}
        for name, (waiting, _head, started, scheduled, failed, finished) in per_queue.items():
            age = 0.0
            if enqueued.get(name):
                age = max(0.0, now - utcparse(enqueued[name].decode()).timestamp())
            queues[name] = QueueState(waiting, age, started, scheduled, failed, finished)
        oldest_ms = 0
        if entries and first_due:
            # Every entry's redrive time is at least its acknowledgement time + REDRIVE_AFTER: exact
            # for an entry never redriven, a lower bound for one redriven (pushed back by its age).
            oldest_ms = now_ms - (int(first_due[0][1]) - self._redrive_after_ms)
        if waiting_ids:
            made = id_time(min(int(message_id) for message_id in waiting_ids))
            oldest_ms = max(oldest_ms, now_ms - int(made.timestamp() * 1000))
        oldest_age = max(0, oldest_ms) / 1000
        stalled = stall_reason(entries, oldest_age, workers, self._stall_after)
        return State(queues, entries, oldest_age, overdue, workers, stalled)


class NodeMetrics:
    """The metrics of one web node: its registry, and the reads that fill it at scrape time."""

    def __init__(self, stats: SessionStats, draining: Callable[[], bool], state: RedisState, timeout: float) -> None:
        self._stats = stats
        self._draining = draining
        self._state = state
        self._timeout = timeout
        self._started = time.monotonic()
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.registry.register(_Sessions(stats, draining))
        self._snapshot = _Snapshot()
        self.registry.register(self._snapshot)

    async def read_state(self) -> State:
        return await asyncio.wait_for(self._state.read(), self._timeout)

    async def prometheus(self) -> bytes:
        """The text exposition format (0.0.4), Redis read now; without its part if Redis fails."""
        started = time.monotonic()
        try:
            state = await self.read_state()
        except Exception:
            state = None
        self._snapshot.state, self._snapshot.took = state, time.monotonic() - started
        return render(self.registry)

    async def seed_json(self) -> dict:
        """The seeds' `GET /metrics` JSON (seed 002): connections, counts per queue, memory, uptime."""
        state = await self.read_state()
        body: dict[str, object] = {"connections": self._stats.connections}
        for name, key in SEED_QUEUE_KEYS.items():
            queue = state.queues[name]
            body[key] = {
                "waiting": queue.waiting,
                "active": queue.started,
                "completed": queue.finished,
                "failed": queue.failed,
            }
        rss, peak = _memory()
        body["memoryUsage"] = {"heapUsed": rss, "heapTotal": max(rss, peak), "external": 0, "arrayBuffers": 0}
        body["uptime"] = round(time.monotonic() - self._started, 3)
        return body


class _Sessions:
    """The session layer's counters as metric families, labelled by dialect (`transport`)."""

    def __init__(self, stats: SessionStats, draining: Callable[[], bool]) -> None:
        self._stats = stats
        self._draining = draining

    def collect(self):
        dialects = self._stats.dialects
        yield GaugeMetricFamily(
            "chat_node_draining", "1 while this node is stopping (refusing connections).", value=int(self._draining())
        )
        per_dialect = {
            "connections": GaugeMetricFamily(
                "chat_connections", "Real-time connections open on this node.", labels=["transport"]
            ),
            "connections_accepted": CounterMetricFamily(
                "chat_connections_accepted", "Real-time connections accepted.", labels=["transport"]
            ),
            "connections_refused": CounterMetricFamily(
                "chat_connections_refused",
                "Real-time connections refused (bad token, disabled user, node stopping...).",
                labels=["transport"],
            ),
            "slow_consumers_cut": CounterMetricFamily(
                "chat_slow_consumers_disconnected",
                "Connections cut for being more than MAX_PENDING_FRAMES frames behind.",
                labels=["transport"],
            ),
        }
        for field, family in per_dialect.items():
            for name, stats in dialects.items():
                family.add_metric([name], getattr(stats, field))
            yield family
        received = CounterMetricFamily(
            "chat_events_received",
            "Client events (operations) received, by dialect and operation (`other`: unknown or undecodable).",
            labels=["transport", "event"],
        )
        sent = CounterMetricFamily(
            "chat_events_sent",
            "Frames sent, one per recipient connection, by dialect and event.",
            labels=["transport", "event"],
        )
        encoded = CounterMetricFamily(
            "chat_events_encoded",
            "Core events encoded for delivery, by dialect and event: once per event and dialect on a node, however "
            "many connections and topics it goes to (chat_events_sent over this is the fan-out).",
            labels=["transport", "event"],
        )
        refusals = CounterMetricFamily(
            "chat_refusals",
            "Client events answered with an error, by dialect and error code.",
            labels=["transport", "code"],
        )
        latency = HistogramMetricFamily(
            "chat_ack_seconds",
            "Time from a client event's arrival to its answer (or refusal) leaving its handler.",
            labels=["transport", "event"],
        )
        for dialect, stats in dialects.items():
            for name, count in stats.received.items():
                received.add_metric([dialect, name], count)
            for name, count in stats.sent.items():
                sent.add_metric([dialect, name], count)
            for name, count in sorted(stats.encoded.items()):
                encoded.add_metric([dialect, name], count)
            for code, count in sorted(stats.refusals.items()):
                refusals.add_metric([dialect, code], count)
            for name, histogram in stats.ack_latency.items():
                cumulative, buckets = 0, []
                for bound, count in zip((*ACK_BUCKETS, float("inf")), histogram.counts, strict=True):
                    cumulative += count
                    buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
                latency.add_metric([dialect, name], buckets, sum_value=histogram.total)
        yield from (received, sent, encoded, refusals, latency)
        yield GaugeMetricFamily(
            "chat_engineio_sessions_unbound",
            "Engine.IO sessions open with no Socket.IO namespace connected (not in chat_connections).",
            value=self._stats.unbound_transports,
        )
        yield CounterMetricFamily(
            "chat_connect_timeouts",
            "Engine.IO sessions closed for having no Socket.IO namespace connected within CONNECT_TIMEOUT.",
            value=self._stats.connect_timeouts,
        )


class _Snapshot:
    """The Redis part, as read for the current scrape."""

    def __init__(self) -> None:
        self.state: State | None = None
        self.took = 0.0

    def collect(self):
        yield GaugeMetricFamily(
            "chat_state_scrape_ok",
            "1 if Redis answered this scrape's reads (else the queue metrics are missing).",
            value=int(self.state is not None),
        )
        yield GaugeMetricFamily("chat_state_scrape_seconds", "Time the scrape's Redis reads took.", value=self.took)
        state = self.state
        if state is None:
            return
        families = {
            "waiting": GaugeMetricFamily("chat_queue_jobs", "Jobs waiting in the RQ queue.", labels=["queue"]),
            "oldest_age": GaugeMetricFamily(
                "chat_queue_oldest_job_age_seconds",
                "Age of the job at the head of the queue (0: empty).",
                labels=["queue"],
            ),
            "started": GaugeMetricFamily(
                "chat_queue_started_jobs", "Jobs a worker is running (RQ's started registry).", labels=["queue"]
            ),
            "scheduled": GaugeMetricFamily(
                "chat_queue_scheduled_jobs",
                "Failed jobs waiting for their retry (RQ's scheduled registry).",
                labels=["queue"],
            ),
            "failed": GaugeMetricFamily(
                "chat_queue_failed_jobs",
                "Jobs that failed every retry (RQ's failed registry, kept a week).",
                labels=["queue"],
            ),
        }
        for name, queue in state.queues.items():
            for field, family in families.items():
                family.add_metric([name], getattr(queue, field))
        yield from families.values()
        yield GaugeMetricFamily(
            "chat_outbox_entries",
            "Acknowledged messages (and edits/deletes) not yet committed to Postgres: the persistence lag.",
            value=state.outbox_entries,
        )
        yield GaugeMetricFamily(
            "chat_outbox_oldest_age_seconds",
            "How long ago the oldest of them was acknowledged (0: none waiting).",
            value=state.outbox_oldest_age,
        )
        yield GaugeMetricFamily(
            "chat_outbox_overdue_entries",
            "Entries whose redrive time has passed: no job persisted them within REDRIVE_AFTER.",
            value=state.outbox_overdue,
        )
        yield GaugeMetricFamily(
            "chat_workers",
            "Live workers listening on the messages queue (registered with RQ, registration not expired).",
            value=state.workers,
        )
        yield GaugeMetricFamily(
            "chat_persistence_stalled",
            "1 while acknowledged messages wait with no live worker, or the oldest longer than "
            "PERSISTENCE_STALL_AFTER (also the `persistence` check of /ready).",
            value=int(bool(state.stalled)),
        )


def _memory() -> tuple[int, int]:
    """(resident set size now, its peak), in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    try:
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = peak
    return rss, peak
