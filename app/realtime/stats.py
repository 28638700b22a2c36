"""What the session layer counts, per dialect, as plain integers: read by the metrics exporter at scrape time.

Counting must cost next to nothing on the hot path: an integer added to a dict entry per event or
frame, no lock (sessions live on one event loop thread), no task. Labels are bounded: each dialect
is a `transport` label; operations and frames are counted under the names the dialect declares,
anything else under `other`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

OTHER = "other"
# Upper bounds (seconds) of the acknowledgement-latency buckets; a last bucket takes the rest.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    """Counts per bucket (not cumulative) and the sum of what was observed."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(ACK_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(ACK_BUCKETS, seconds)] += 1
        self.total += seconds


class DialectStats:
    """The counters of one dialect (one `transport` label)."""

    def __init__(self, operations: Iterable[str], frames: Iterable[str]) -> None:
        operations = list(operations)
        self.received: dict[str, int] = dict.fromkeys([*operations, OTHER], 0)
        self.sent: dict[str, int] = dict.fromkeys([*frames, OTHER], 0)
        self.encoded: dict[str, int] = {}  # core event name -> times encoded for delivery (names are a closed set)
        self.ack_latency: dict[str, Histogram] = {name: Histogram() for name in operations}
        self.refusals: dict[str, int] = {}  # error code -> requests answered with it (codes are a closed enum)
        self.connections = 0  # open now
        self.connections_accepted = 0
        self.connections_refused = 0
        self.slow_consumers_cut = 0

    def count(self, operation: str) -> None:
        """One more `operation` received (an operation of the table: the label stays bounded even when the
        dialect did not declare it)."""
        if operation in self.received:
            self.received[operation] += 1
        else:
            self.received[operation] = 1
            self.ack_latency.setdefault(operation, Histogram())

    def latency(self, operation: str) -> Histogram:
        histogram = self.ack_latency.get(operation)
        if histogram is None:
            histogram = self.ack_latency[operation] = Histogram()
        return histogram

    def sent_event(self, name: str, frames: int = 1) -> None:
        if name in self.sent:
            self.sent[name] += frames
        else:
            self.sent[OTHER] += frames

    def encoded_event(self, name: str) -> None:
        self.encoded[name] = self.encoded.get(name, 0) + 1

    def refused(self, code: str) -> None:
        self.refusals[code] = self.refusals.get(code, 0) + 1


class SessionStats:
    """Every dialect's counters, by dialect name (the metrics' `transport` label)."""

    def __init__(self) -> None:
        self.dialects: dict[str, DialectStats] = {}
        # Transport sessions open with no session of the layer (an Engine.IO session with no Socket.IO namespace
        # connected), and those closed for staying so past CONNECT_TIMEOUT.
        self.unbound_transports = 0
        self.connect_timeouts = 0

    def register(self, dialect: str, operations: Iterable[str], frames: Iterable[str]) -> DialectStats:
        if dialect in self.dialects:
            raise ValueError(f"a dialect named {dialect!r} is registered already")
        self.dialects[dialect] = DialectStats(operations, frames)
        return self.dialects[dialect]

    @property
    def connections(self) -> int:
        return sum(stats.connections for stats in self.dialects.values())
