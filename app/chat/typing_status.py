"""Typing indicators: start and stop, throttled, and cleared when not refreshed.

Clients send `start` as often as they like (some on every keystroke). The
members following the room are told once, and again only when half of
TYPING_TIMEOUT has passed, so a receiver's indicator (which lasts
`expires_in` seconds) never lapses while the user keeps typing. A typing
state not refreshed within TYPING_TIMEOUT is cleared with a `typing: false`
update; so is every state of a connection that closes. The state lives on
the typing connection's node; if that node dies, receivers clear the
indicator themselves after `expires_in`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from app.chat import events
from app.chat.access import Access
from app.chat.model import User
from app.chat.ports import Publisher


@dataclass(slots=True)
class _Typing:
    user_id: str
    announced_at: float
    refreshed_at: float


class Typing:
    def __init__(
        self, access: Access, bus: Publisher, timeout_s: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._access = access
        self._bus = bus
        self._timeout = timeout_s
        self._monotonic = monotonic
        self._states: dict[tuple[str, str], _Typing] = {}  # (conn_id, room_id) -> state

    async def start(self, actor: User, conn_id: str, room_id: str) -> bool:
        """The connection's user is typing in the room (members only); True when the room was told."""
        await self._access.require(room_id, actor.id)
        now = self._monotonic()
        key = (conn_id, room_id)
        state = self._states.get(key)
        if state is not None and now - state.announced_at < self._timeout / 2:
            state.refreshed_at = now
            return False
        self._states[key] = _Typing(actor.id, now, now)
        await self._publish(room_id, actor.id, True)
        return True

    async def stop(self, actor: User, conn_id: str, room_id: str) -> bool:
        """The user stopped typing (members only); True when the room was told."""
        await self._access.require(room_id, actor.id)
        if self._states.pop((conn_id, room_id), None) is None:
            return False
        await self._publish(room_id, actor.id, False)
        return True

    async def gone(self, conn_id: str) -> None:
        """The connection closed: clear each room it was typing in."""
        for key in [key for key in self._states if key[0] == conn_id]:
            state = self._states.pop(key)
            await self._publish(key[1], state.user_id, False)

    async def expire(self) -> int:
        """Clear the typing states not refreshed within the timeout; return how many."""
        deadline = self._monotonic() - self._timeout
        stale = [key for key, state in self._states.items() if state.refreshed_at <= deadline]
        for key in stale:
            state = self._states.pop(key)
            await self._publish(key[1], state.user_id, False)
        return len(stale)

    async def _publish(self, room_id: str, user_id: str, typing: bool) -> None:
        await self._bus.publish(
            events.room_topic(room_id), events.typing_update(room_id, user_id, typing, self._timeout)
        )
