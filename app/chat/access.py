"""Who may act in a room: the node's cache of rooms and their member ids.

Every send checks membership, so the answer must not cost a database
read. Each node keeps the room and its member ids for a bounded time;
membership changes invalidate the entry on every node at once (through
the `system` topic), and the time bound covers a lost invalidation.

The same entries answer who shares a room with a user (`contacts`, for
presence and the people list): a room's member ids are read once and
shared by everyone in it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app.chat.errors import ChatError, Code
from app.chat.model import Room
from app.chat.ports import RoomStore


@dataclass(frozen=True, slots=True)
class RoomAccess:
    room: Room
    member_ids: frozenset[str]


FEW_ROOMS_TO_LOAD = 8  # more rooms of a user missing from the cache than this: one store query instead


class Access:
    def __init__(
        self,
        rooms: RoomStore,
        ttl: float,
        max_entries: int = 50_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rooms = rooms
        self._ttl = ttl
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[str, tuple[float, RoomAccess | None]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[RoomAccess | None]] = {}
        # Rooms invalidated while their load was in flight: that load's result is stale, and a
        # get() that starts now must not join it but start a fresh load.
        self._stale_loads: set[str] = set()

    async def get(self, room_id: str) -> RoomAccess | None:
        entry = self._entries.get(room_id)
        if entry is not None and entry[0] > self._monotonic():
            self._entries.move_to_end(room_id)
            return entry[1]
        pending = self._loading.get(room_id)
        if pending is not None and room_id not in self._stale_loads:
            return await asyncio.shield(pending)
        return await self._load(room_id)

    async def require(self, room_id: str, user_id: str) -> RoomAccess:
        """The room, if `user_id` is a member. Raises ROOM_NOT_FOUND or NOT_MEMBER."""
        access = await self.get(room_id)
        if access is None:
            raise ChatError(Code.ROOM_NOT_FOUND, f"room {room_id} does not exist")
        if user_id not in access.member_ids:
            raise ChatError(Code.NOT_MEMBER, f"you are not a member of room {room_id}")
        return access

    async def contacts(self, user_id: str) -> list[str]:
        """Everyone who shares a room with the user (the user excluded): the user's room ids (one indexed read)
        and each room's member ids from this cache. A thousand people connecting to one room so read its
        members once, not 999 rows each. A user with more than FEW_ROOMS_TO_LOAD rooms not cached gets the
        store's one query instead of a load per room."""
        room_ids = list(await self._rooms.read_positions(user_id))
        now = self._monotonic()
        missing = sum(1 for room_id in room_ids if (entry := self._entries.get(room_id)) is None or entry[0] <= now)
        if missing > FEW_ROOMS_TO_LOAD:
            return await self._rooms.contacts(user_id)
        people: set[str] = set()
        for access in await asyncio.gather(*(self.get(room_id) for room_id in room_ids)):
            if access is not None and user_id in access.member_ids:
                people |= access.member_ids
        people.discard(user_id)
        return list(people)

    def invalidate(self, room_id: str) -> None:
        self._entries.pop(room_id, None)
        if room_id in self._loading:
            self._stale_loads.add(room_id)

    async def _load(self, room_id: str) -> RoomAccess | None:
        future: asyncio.Future[RoomAccess | None] = asyncio.get_running_loop().create_future()
        self._loading[room_id] = future
        self._stale_loads.discard(room_id)  # this load starts after every invalidation so far
        try:
            room = await self._rooms.get(room_id)
            access = None
            if room is not None:
                members = await self._rooms.members(room_id)
                access = RoomAccess(room, frozenset(m.user_id for m in members))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters get it, nobody else must
            raise
        finally:
            if self._loading.get(room_id) is future:
                del self._loading[room_id]
                stale = room_id in self._stale_loads
                self._stale_loads.discard(room_id)
            else:
                stale = True  # a load that started after an invalidation superseded this one
        if not stale:
            self._store(room_id, access)
        future.set_result(access)
        return access

    def _store(self, room_id: str, access: RoomAccess | None) -> None:
        # Unknown rooms are cached briefly too, so a flood of sends to a bad id costs no reads.
        ttl = self._ttl if access is not None else min(self._ttl, 5.0)
        self._entries[room_id] = (self._monotonic() + ttl, access)
        self._entries.move_to_end(room_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
