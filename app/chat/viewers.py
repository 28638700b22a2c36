"""Viewers of a room: the connections that have it open right now, on any node and any transport.

A connection opens a room (members only) and views it until it closes it,
opens another one, or dies. It counts only while it is alive in presence,
so a connection must be connected there first (`Presence.connected`) and
stops counting as soon as its expiry passes, before any sweep. A user is
viewing a room while at least one of their connections counts: the room's
topic hears `viewer:joined` when the first one opens it and `viewer:left`
when the last one closes it, dies (the presence sweep hands dead
connections to `gone`), or is found dead by a later call about the room.
Each is published once, however many nodes race.

A connection the sweep dropped while its node was only slow stops viewing
even if a keep-alive then brings it back to presence; it must open the
room again to count.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.chat import events
from app.chat.access import Access
from app.chat.errors import ChatError, Code
from app.chat.model import User
from app.chat.ports import Clock, Publisher, ViewerState


class Viewers:
    def __init__(self, state: ViewerState, access: Access, bus: Publisher, clock: Clock) -> None:
        self._state = state
        self._access = access
        self._bus = bus
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def open(self, actor: User, room_id: str, conn_id: str) -> list[str]:
        """Connection `conn_id` of `actor` now views the room (and no longer the one it viewed before, if
        another). The actor must be a member: raises ROOM_NOT_FOUND or NOT_MEMBER; and the connection alive
        in presence: raises UNAVAILABLE, recording nothing. Returns the ids of the users viewing the room
        now, each once, the actor included, in the order they started viewing (by their earliest
        connection still viewing). Publishes `viewer:joined` to the room's topic when the actor had no
        other live connection viewing it."""
        await self._access.require(room_id, actor.id)
        opened = await self._state.open(room_id, actor.id, conn_id, self._now_ms())
        if not opened.live:
            raise ChatError(Code.UNAVAILABLE, "this connection is not online any more; connect again")
        await self._left(opened.left)
        if opened.joined:
            await self._bus.publish(events.room_topic(room_id), events.viewer_joined(room_id, actor.id))
        return opened.viewers

    async def close(self, user_id: str, room_id: str, conn_id: str) -> None:
        """Connection `conn_id` no longer views the room (nothing if it did not). Publishes `viewer:left`
        when that was the user's last live connection viewing it. Call it before `Presence.disconnected`,
        so a node dying in between leaves the connection to the sweep."""
        left = await self._state.close(room_id, user_id, conn_id, self._now_ms())
        await self._left([(room_id, user) for user in left])

    async def gone(self, conns: Sequence[tuple[str, str]]) -> None:
        """(user_id, conn_id) connections found dead by the presence sweep: close whatever room each viewed."""
        if conns:
            await self._left(await self._state.gone(conns, self._now_ms()))

    async def keep_alive(self, conns: Sequence[tuple[str, str]]) -> None:
        """(user_id, conn_id) connections a node keeps alive: their viewing must not expire meanwhile."""
        if conns:
            await self._state.keep_alive(conns)

    async def viewing(self, room_id: str) -> list[str]:
        """The users viewing the room now, as `open` returns them; changes nothing, checks nothing."""
        return await self._state.viewing(room_id, self._now_ms())

    async def _left(self, left: Sequence[tuple[str, str]]) -> None:
        for room_id, user_id in left:
            await self._bus.publish(events.room_topic(room_id), events.viewer_left(room_id, user_id))
