"""What a connection is, whatever its wire: a session, the transport under it, and the dialect it speaks.

- A `Transport` moves frames: it queues a frame for sending (never waiting), says how many are
  waiting, and closes. Each binding (python-socketio, aiohttp's WebSocket) has its own.
- A `Dialect` translates: it encodes a core event into its frame (once per event on a node, for all its
  sessions), and may pick, per session, what to send of it. Decoding client frames into operations
  happens in the binding that reads them, which calls `Hub.perform`.
- A `Session` is one connection of a signed-in user: its transport and dialect, the rooms it follows,
  the status the user chose, its event budget, and whatever the dialect keeps for it (`state`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from app.chat.errors import ChatError
from app.chat.events import Event
from app.chat.model import User
from app.realtime.stats import DialectStats


class Transport(Protocol):
    def send(self, frame: object) -> bool:
        """Queue a frame (never waits); False when the connection is closed."""

    def backlog(self) -> int:
        """How many frames wait to be written."""

    def cut(self) -> None:
        """Drop what is queued and abort the connection at once (a peer that stopped reading)."""

    async def end(self, notice: object | None, code: int, reason: str) -> None:
        """The server ends this session (a disabled user): send `notice` if any, then close for good."""

    async def shutdown(self, notice: object | None) -> None:
        """The node stops: send `notice` if any, then close so that the client reconnects elsewhere."""


class Dialect:
    """What a wire protocol tells the session layer. A dialect module subclasses it and overrides what it needs.

    `name` is the metrics' `transport` label; `operations` and `frames` are the names its counters use.
    A session of a dialect with `follows_all_rooms` follows every room of its user from the moment it
    connects, and rooms the user is added to later, with no join (seed 004's `new_message` "for every
    conversation the user is in").
    """

    name: str = ""
    operations: Iterable[str] = ()
    frames: Iterable[str] = ()
    follows_all_rooms: bool = False
    # Per session, after `encode`: the frames to send this session for the event (none to skip it).
    # None (the default) sends the encoded frame to every receiving session, with no call per recipient.
    select: Callable[[Session, Event, object], Iterable[object]] | None = None

    async def encode(self, event: Event) -> object | None:
        """The frame showing `event` to this dialect's sessions, or None when the dialect does not show it.
        Called once per event on a node, whatever the number of recipients."""
        return None

    def notice(self, error: ChatError) -> object | None:
        """The frame telling a session why the server ends it (sent before closing), if the dialect has one."""
        return None

    def close_code(self, error: ChatError) -> int:
        """The WebSocket close code for a session the server ends with `error`."""
        return 1008  # policy violation

    def shutdown_notice(self, reconnect_in_ms: int) -> object | None:
        """The frame telling a session that the node stops, if the dialect has one."""
        return None


REMEMBERED_REFS = 1000


class RecentRefs:
    """The client refs of a session's last REMEMBERED_REFS sends: dialects whose protocol confirms a send to
    its sender in a frame of its own (Phoenix's message_sent, seed 001's message-sent) use them to keep the
    sender's connection from getting its own message again as a broadcast."""

    __slots__ = ("_order", "_refs")

    def __init__(self) -> None:
        self._order: deque[str] = deque()
        self._refs: set[str] = set()

    def add(self, ref: str) -> None:
        if ref in self._refs:
            return
        self._refs.add(ref)
        self._order.append(ref)
        if len(self._order) > REMEMBERED_REFS:
            self._refs.discard(self._order.popleft())

    def __contains__(self, ref: object) -> bool:
        return ref in self._refs


class TokenBucket:
    def __init__(self, rate: float, burst: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._monotonic = monotonic
        self._tokens = float(burst)
        self._last = monotonic()

    def take(self) -> bool:
        now = self._monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass(frozen=True)
class Credentials:
    """What a client presents when it connects, whatever its dialect."""

    # As the client sent them (the hub checks their types): a string or None each.
    token: object
    user_id: str | None = None  # an id the client claims beside the token: it must be the token's subject
    device_id: object = None
    preferred_language: object = None


@dataclass(eq=False)
class Session:
    id: str  # unique across nodes: it names the connection in presence
    user: User
    dialect: Dialect
    transport: Transport
    bucket: TokenBucket
    stats: DialectStats
    rooms: set[str] = field(default_factory=set)  # the rooms it follows
    status: str = "online"  # the status the user chose
    viewing: str | None = None  # the room it has open (app.chat.viewers), if any
    state: dict = field(default_factory=dict)  # the dialect's own
    cut: bool = False  # cut off as a slow consumer
