"""Presence: who is online, their chosen status, and when they were last seen.

A user is online while at least one of their connections is alive. Each
connection is alive until an expiry that its node pushes forward every
third of PRESENCE_TTL (and that a client heartbeat pushes too); a node
that dies stops pushing, and any node's sweep then drops its connections.
So a user whose node vanished is shown offline within PRESENCE_TTL plus
the sweep interval.

The status a user chooses (online, away, busy, or offline to look
offline) is shown while they are connected; `offline` otherwise. Every
change of what others see is published to the user's own topic and to
the topic of everyone who shares a room with them, and to no one else.

Last-seen times and device details are written to Redis at once and to
Postgres by a flush job that runs at most once at a time, however many
heartbeats arrive meanwhile.

Others follow connections through two hooks: `on_gone` gets every
connection a sweep dropped, `on_alive` every connection a keep-alive
pushed forward (the rooms connections view, app/chat/viewers.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from app.chat import events
from app.chat.errors import ChatError, Code
from app.chat.model import Device, PresenceInfo, Status, User, from_ms
from app.chat.ports import Clock, FlushQueue, PresenceChange, PresenceState, Publisher, RoomStore, UserStore
from app.chat.rules import check_device, check_status, check_user_id

SWEEP_BATCH = 1000

ConnsHook = Callable[[list[tuple[str, str]]], Awaitable[None]]  # given (user_id, conn_id) connections


def shown(chosen: Status, online: bool) -> Status:
    """What others see: the chosen status while connected, offline otherwise."""
    return chosen if online else "offline"


class Presence:
    def __init__(
        self,
        state: PresenceState,
        rooms: RoomStore,
        users: UserStore,
        bus: Publisher,
        flush: FlushQueue,
        clock: Clock,
        ttl_s: int,
        on_gone: ConnsHook | None = None,
        on_alive: ConnsHook | None = None,
        contacts: Callable[[str], Awaitable[list[str]]] | None = None,
    ) -> None:
        """`on_gone` is given every connection a sweep dropped, `on_alive` every connection a keep-alive
        pushed forward (both after presence has announced what changed). `contacts` lists who shares a
        room with a user (default: the store's query; the core passes its membership cache's)."""
        self._state = state
        self._rooms = rooms
        self._users = users
        self._bus = bus
        self._flush = flush
        self._clock = clock
        self.ttl_ms = ttl_s * 1000
        self._on_gone = on_gone
        self._on_alive = on_alive
        self._contacts = contacts or rooms.contacts

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def connected(self, user: User, conn_id: str, device: Device) -> Status:
        """A connection of `user` opened; return the status the user chose."""
        check_device(device.device_id, device.preferred_language)
        now = self._now_ms()
        change = await self._state.connect(user.id, conn_id, device, now, now + self.ttl_ms)
        await self._after(user.id, change, online=True, now_ms=now)
        return change.status

    async def heartbeat(self, user: User, conn_id: str) -> Status:
        """A client's sign of life: keeps this connection alive and records the user as seen now."""
        now = self._now_ms()
        change = await self._state.touch(user.id, conn_id, now, now + self.ttl_ms)
        await self._after(user.id, change, online=True, now_ms=now)
        return change.status

    async def disconnected(self, user_id: str, conn_id: str) -> None:
        now = self._now_ms()
        change = await self._state.disconnect(user_id, conn_id, now)
        await self._after(user_id, change, online=False, now_ms=now)

    async def choose(self, user: User, raw_status: str) -> Status:
        """Set the status the user shows while connected (synonyms accepted); raise UNKNOWN_STATUS."""
        status = check_status(raw_status)
        now = self._now_ms()
        before, online, flush = await self._state.choose(user.id, status, now)
        if flush:
            self._flush.request()
        if online and before != status:
            await self._announce(PresenceInfo(user.id, status, from_ms(now)), to_self=True)
        return status

    async def keep_alive(self, conns: Sequence[tuple[str, str]]) -> None:
        """Push forward the expiry of a node's connections, (user_id, conn_id) each."""
        if not conns:
            return
        now = self._now_ms()
        back = await self._state.keep_alive(conns, now, now + self.ttl_ms)
        try:
            if back:
                records = await self._state.lookup(back, now)
                for user_id in back:
                    record = records[user_id]
                    if record.online and record.chosen != "offline":
                        await self._announce(PresenceInfo(user_id, record.chosen, from_ms(now)))
        finally:
            if self._on_alive is not None:
                await self._on_alive(list(conns))

    async def sweep(self) -> int:
        """Drop connections whose node stopped refreshing them; announce the users left offline, then
        hand every dropped connection to `on_gone`."""
        now = self._now_ms()
        gone, flush, conns = await self._state.sweep(now, self.ttl_ms, SWEEP_BATCH)
        if flush:
            self._flush.request()
        try:
            chosen = await self._state.lookup([user_id for user_id, _ in gone], now) if gone else {}
            for user_id, last_alive_ms in gone:
                if chosen[user_id].chosen != "offline":  # a user who looked offline was never shown online
                    await self._announce(PresenceInfo(user_id, "offline", from_ms(last_alive_ms)))
        finally:  # the connections are out of presence now: whatever failed above, they are handed on
            if conns and self._on_gone is not None:
                await self._on_gone(conns)
        return len(gone)

    async def get(self, actor: User, user_id: str) -> PresenceInfo:
        """A user's presence, for themselves or someone sharing a room with them; USER_NOT_FOUND otherwise."""
        check_user_id(user_id)
        if user_id != actor.id and not await self._rooms.shares_room(actor.id, user_id):
            raise ChatError(Code.USER_NOT_FOUND, f"no user {user_id!r} among the people you share a room with")
        return (await self.many([user_id], viewer=actor.id))[user_id]

    async def many(self, user_ids: Sequence[str], viewer: str | None = None) -> dict[str, PresenceInfo]:
        """Presence of users the viewer may see (no check here). A user who chose to look offline shows
        others no last-seen time, which would give their activity away."""
        records = await self._state.lookup(user_ids, self._now_ms())
        hidden = {u for u, record in records.items() if record.chosen == "offline" and u != viewer}
        missing = [user_id for user_id, record in records.items() if record.last_seen_ms is None]
        persisted = await self._users.last_seen(missing) if missing else {}
        return {
            user_id: PresenceInfo(
                user_id,
                shown(record.chosen, record.online),
                None
                if user_id in hidden
                else from_ms(record.last_seen_ms)
                if record.last_seen_ms is not None
                else persisted.get(user_id),
            )
            for user_id, record in records.items()
        }

    async def _after(self, user_id: str, change: PresenceChange, online: bool, now_ms: int) -> None:
        if change.flush:
            self._flush.request()
        if change.changed and change.status != "offline":
            await self._announce(PresenceInfo(user_id, change.status if online else "offline", from_ms(now_ms)))

    async def _announce(self, info: PresenceInfo, to_self: bool = False) -> None:
        """Tell everyone who shares a room with the user and, for a chosen status, every connection of
        the user (a connect or disconnect that changes what others see has no other device to tell)."""
        contacts = await self._contacts(info.user_id)
        topics = [events.user_topic(user_id) for user_id in ([info.user_id] if to_self else []) + contacts]
        await self._bus.publish_many(topics, events.presence_update(info))
