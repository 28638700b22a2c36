"""Time-ordered 64-bit ids: 41 bits of milliseconds since 2024, 10 of node, 12 of sequence.

Ids sort by creation time across nodes (to the millisecond), are unique as
long as live nodes hold distinct node numbers, and need no coordination
per id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NODE_BITS = 10
SEQUENCE_BITS = 12
MAX_NODE = (1 << NODE_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Snowflake:
    def __init__(self, node: int, clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self._clock_ms = clock_ms
        self._last_ms = 0
        self._sequence = 0
        self.assign(node)

    @property
    def node(self) -> int:
        return self._node

    def assign(self, node: int) -> None:
        """Set the node number (drawn at start-up, before the first id)."""
        if not 0 <= node <= MAX_NODE:
            raise ValueError(f"node must be between 0 and {MAX_NODE}")
        self._node = node

    def next(self) -> int:
        # A clock that steps back must not produce an id twice: keep using the
        # last millisecond until the clock catches up.
        now = max(self._clock_ms(), self._last_ms)
        if now == self._last_ms:
            self._sequence = (self._sequence + 1) & MAX_SEQUENCE
            if self._sequence == 0:
                now = self._last_ms + 1
                while self._clock_ms() < now:
                    time.sleep(0.0001)
        else:
            self._sequence = 0
        self._last_ms = now
        return ((now - EPOCH_MS) << (NODE_BITS + SEQUENCE_BITS)) | (self._node << SEQUENCE_BITS) | self._sequence


def first_id_at(when: datetime) -> int:
    """The smallest id any node makes at `when`'s millisecond: ids made later are above it."""
    return max(0, int(when.timestamp() * 1000) - EPOCH_MS) << (NODE_BITS + SEQUENCE_BITS)


def id_time(snowflake: int) -> datetime:
    """When an id was made (for diagnostics)."""
    ms = (snowflake >> (NODE_BITS + SEQUENCE_BITS)) + EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, UTC)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


# Ids as JSON numbers, for clients that take them so (seed 001): exact in JavaScript up to 2**53 - 1.
MAX_SAFE_INTEGER = (1 << 53) - 1
ALIAS_SEQ_BITS = 32  # a message's numeric alias: its room id above 32 bits of its seq
MAX_ALIAS_ROOM = MAX_SAFE_INTEGER >> ALIAS_SEQ_BITS  # 2,097,151 rooms


def js_number(value: str) -> int | str:
    """A decimal id as a JSON number when JavaScript holds it exactly (a canonical decimal, at most
    2**53 - 1); any other id stays the string it is."""
    if value.isascii() and value.isdigit() and (value == "0" or not value.startswith("0")):
        number = int(value)
        if number <= MAX_SAFE_INTEGER:
            return number
    return value


def message_alias(room_id: str, seq: int) -> int | None:
    """A message's unique numeric id that JavaScript holds exactly: room id * 2**32 + seq. Message ids are
    64-bit and do not fit; (room, seq) names a message once and for all. None for a room id above
    MAX_ALIAS_ROOM or a seq of 2**32 or more, which no alias can name."""
    room = int(room_id)
    if room > MAX_ALIAS_ROOM or not 0 <= seq < (1 << ALIAS_SEQ_BITS):
        return None
    return (room << ALIAS_SEQ_BITS) | seq


def alias_parts(alias: int) -> tuple[str, int]:
    """(room id, seq) of a message's numeric alias."""
    return str(alias >> ALIAS_SEQ_BITS), alias & ((1 << ALIAS_SEQ_BITS) - 1)
