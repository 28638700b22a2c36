"""The lists a client keeps: favorites (rooms and people) and people (everyone who shares a room with
the user, with their presence). Both are sent on connect; changes are pushed to the user's topic:
`favorites:update` (the whole list, it is short) and `people:update` (who was added or removed).
The rooms list itself follows `room:added`, `room:removed`, `unread:update` and the messages."""

from __future__ import annotations

from collections.abc import Sequence

from app.chat import events
from app.chat.access import Access
from app.chat.errors import ChatError, Code
from app.chat.model import Favorite, User
from app.chat.ports import Clock, FavoriteStore, Publisher, RoomStore, UserStore
from app.chat.presence import Presence
from app.chat.rules import check_user_id

FAVORITE_KINDS = ("room", "user")


class Lists:
    def __init__(
        self,
        favorites: FavoriteStore,
        rooms: RoomStore,
        users: UserStore,
        access: Access,
        presence: Presence,
        bus: Publisher,
        clock: Clock,
    ) -> None:
        self._favorites = favorites
        self._rooms = rooms
        self._users = users
        self._access = access
        self._presence = presence
        self._bus = bus
        self._clock = clock

    async def favorites(self, actor: User) -> list[Favorite]:
        return await self._favorites.of_user(actor.id)

    async def set_favorite(
        self, actor: User, kind: str, target_id: str, on: bool | None = None
    ) -> tuple[bool, list[Favorite]]:
        """Mark (`on`), unmark (not `on`) or toggle (None) a room the actor belongs to or a user.
        Returns whether it is a favorite now, and the list. Raises INVALID_PAYLOAD, ROOM_NOT_FOUND,
        NOT_MEMBER or USER_NOT_FOUND. Unmarking needs no membership: a removed member may drop a room
        they marked while they belonged to it (it no longer shows in their list anyway).

        A person may be marked when the actor shares a room with them (or is them), and unmarked when they are
        marked already; anyone else is USER_NOT_FOUND, exactly as an id nobody has: whether a user exists, and
        their name (which the list carries), is not told to someone who shares no room with them."""
        kind = kind.lower() if isinstance(kind, str) else kind
        if kind not in FAVORITE_KINDS:
            raise ChatError(Code.INVALID_PAYLOAD, "type must be room or user", {"fields": {"type": ["room or user"]}})
        check_user_id(target_id, "id")  # a room id too: 1 to 255 printable characters
        if kind == "room":
            if on is not False:
                await self._access.require(target_id, actor.id)
        elif not await self._may_name(actor, target_id):
            raise ChatError(Code.USER_NOT_FOUND, f"no user {target_id!r}")
        now = self._clock.now()
        if on is None:  # toggle: mark; if it was marked already, unmark
            on = changed = await self._favorites.set(actor.id, kind, target_id, True, now)
            if not changed:
                changed = await self._favorites.set(actor.id, kind, target_id, False, now)
        else:
            changed = await self._favorites.set(actor.id, kind, target_id, on, now)
        favorites = await self._favorites.of_user(actor.id)
        if changed:
            await self._bus.publish(events.user_topic(actor.id), events.favorites_update(favorites))
        return on, favorites

    async def _may_name(self, actor: User, user_id: str) -> bool:
        """Whether the actor may learn of `user_id`: themselves, someone they share a room with, or someone
        already among their favorites (marked while they shared one)."""
        if user_id == actor.id or await self._rooms.shares_room(actor.id, user_id):
            return True
        return any(f.kind == "user" and f.target_id == user_id for f in await self._favorites.of_user(actor.id))

    async def people(self, actor: User) -> list[dict]:
        """Everyone who shares a room with the actor, with name and presence."""
        return await self._persons(await self._access.contacts(actor.id), actor.id)

    async def members_changed(self, room_id: str, added: Sequence[str], removed: Sequence[str]) -> None:
        """Push `people:update` after a room's members changed: new members and the others now know each
        other; a removed member and the others may no longer share any room."""
        members = [m.user_id for m in await self._rooms.members(room_id)]
        if added:
            added_set = set(added)
            others = [u for u in members if u not in added_set]
            everyone = await self._persons(members, None)
            by_id = {p["user_id"]: p for p in everyone}
            for user_id in added:
                peers = [p for p in everyone if p["user_id"] != user_id]
                if peers:
                    await self._bus.publish(events.user_topic(user_id), events.people_update(peers, []))
            newcomers = [by_id[u] for u in added if u in by_id]
            await self._bus.publish_many([events.user_topic(u) for u in others], events.people_update(newcomers, []))
        for user_id in removed:
            still = set(await self._access.contacts(user_id))
            gone = [u for u in members if u != user_id and u not in still]
            if gone:
                await self._bus.publish(events.user_topic(user_id), events.people_update([], gone))
                await self._bus.publish_many([events.user_topic(u) for u in gone], events.people_update([], [user_id]))

    async def _persons(self, user_ids: Sequence[str], viewer: str | None) -> list[dict]:
        if not user_ids:
            return []
        names = await self._users.names(user_ids)
        presence = await self._presence.many(user_ids, viewer=viewer)
        return [{"name": names.get(u), **presence[u].record()} for u in user_ids if u in presence]
