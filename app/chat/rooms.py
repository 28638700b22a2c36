"""Rooms: direct rooms (one per pair of users) and group rooms (name, owner, members)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from app.chat import events
from app.chat.access import Access
from app.chat.errors import ChatError, Code
from app.chat.model import Member, Membership, Message, Room, User
from app.chat.ports import Clock, MessageLog, Publisher, RoomStore, UserStore
from app.chat.rules import Limits, check_room_name, check_user_id
from app.chat.timeline import Timeline


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room as the acting user sees it."""

    room: Room
    member_count: int
    last_seq: int
    unread: int
    last_message: Message | None
    members: list[Member] | None = None  # in detail views
    peer: Member | None = None  # the other member of a direct room


class Rooms:
    def __init__(
        self,
        store: RoomStore,
        users: UserStore,
        access: Access,
        timeline: Timeline,
        log: MessageLog,
        bus: Publisher,
        clock: Clock,
        limits: Limits,
        announce: Callable[[str, str, str, dict], Awaitable[object]],
        members_changed: Callable[[str, Sequence[str], Sequence[str]], Awaitable[None]],
    ) -> None:
        self._store = store
        self._users = users
        self._access = access
        self._timeline = timeline
        self._log = log
        self._bus = bus
        self._clock = clock
        self._limits = limits
        self._announce = announce  # a system message in the timeline (Messages.announce)
        self._members_changed = members_changed  # people-list updates (Lists.members_changed)

    async def create_group(self, actor: User, name: str, participant_ids: Sequence[str]) -> RoomView:
        """Create a group owned by `actor` with the participants (who may never have connected)."""
        name = check_room_name(name)
        member_ids = self._checked_ids(participant_ids, exclude=actor.id)
        if len(member_ids) + 1 > self._limits.max_room_members:
            raise ChatError(Code.TOO_MANY_MEMBERS, f"a room holds at most {self._limits.max_room_members} members")
        now = self._clock.now()
        await self._users.ensure(member_ids, now)
        room = await self._store.create_group(name, actor.id, member_ids, now)
        await self._changed(room.id)
        for user_id in [actor.id, *member_ids]:
            await self._bus.publish(events.user_topic(user_id), events.room_added(room))
        await self._after_change(room.id, [actor.id, *member_ids], [], None)
        return await self.get(actor, room.id)

    async def start_direct(self, actor: User, other_id: str) -> tuple[RoomView, bool]:
        """The direct room of `actor` and `other_id`, created on first use; the flag says if it was."""
        check_user_id(other_id)
        now = self._clock.now()
        await self._users.ensure([other_id], now)
        room, created = await self._store.direct(actor.id, other_id, now)
        if created:
            await self._changed(room.id)
            for user_id in {actor.id, other_id}:
                await self._bus.publish(events.user_topic(user_id), events.room_added(room))
            system = (
                room.id,
                actor.id,
                "Direct chat started",
                {"event": "direct_started", "user_ids": [actor.id, other_id]},
            )
            await self._after_change(room.id, list({actor.id, other_id}), [], system)
        return await self.get(actor, room.id), created

    async def find_direct(self, actor: User, other_id: str) -> Room | None:
        """The direct room of `actor` and `other_id` if it exists; unlike `start_direct`, never creates it."""
        check_user_id(other_id)
        return await self._store.find_direct(actor.id, other_id)

    async def list(self, actor: User, with_members: bool = False) -> list[RoomView]:
        """The actor's rooms with last message and unread count, most recent activity first; `with_members`:
        each with its members too (read for all the rooms in one go)."""
        memberships = await self._store.rooms_of(actor.id)
        views = await self._views(actor, memberships)
        if with_members:
            members = await self._store.members_of([view.room.id for view in views])
            views = [replace(view, members=members.get(view.room.id, [])) for view in views]
        return sorted(views, key=_activity, reverse=True)

    async def ids_of(self, actor: User) -> list[str]:
        """The ids of the actor's rooms (one indexed query, nothing else read)."""
        return list(await self._store.read_positions(actor.id))

    async def get(self, actor: User, room_id: str) -> RoomView:
        """One room with its members. Raises ROOM_NOT_FOUND or NOT_MEMBER."""
        access = await self._access.require(room_id, actor.id)
        members = await self._store.members(room_id)
        me = next((m for m in members if m.user_id == actor.id), None)
        if me is None:  # removed since the cache was filled
            raise ChatError(Code.NOT_MEMBER, f"you are not a member of room {room_id}")
        peer = _peer(access.room, members, actor.id)
        [view] = await self._views(actor, [Membership(access.room, me, len(members), peer)])
        return RoomView(view.room, view.member_count, view.last_seq, view.unread, view.last_message, members, peer)

    async def add_members(self, actor: User, room_id: str, user_ids: Sequence[str]) -> RoomView:
        """Add users to a group (owner only); users already members are left as they are."""
        room = await self._owned_group(actor, room_id)
        new_ids = self._checked_ids(user_ids, exclude=actor.id)
        access = await self._access.get(room_id)
        current = access.member_ids if access else frozenset()
        if len(current | set(new_ids)) > self._limits.max_room_members:
            raise ChatError(Code.TOO_MANY_MEMBERS, f"a room holds at most {self._limits.max_room_members} members")
        now = self._clock.now()
        await self._users.ensure(new_ids, now)
        added = await self._store.add_members(room_id, new_ids, now)
        if added:
            await self._changed(room_id)
            # The system message goes first, so that the room lists the newcomers are sent (room:added) already
            # hold it as read (app/chat/reads.py: a system message is never unread).
            content = f"{actor.name or actor.id} added {', '.join(added)}"
            system = (room_id, actor.id, content, {"event": "members_added", "user_ids": added, "by": actor.id})
            if self._limits.system_messages:
                await self._announce(*system)
            await self._bus.publish(
                events.room_topic(room_id), events.members_changed(room_id, added, [], room.owner_id)
            )
            for user_id in added:
                await self._bus.publish(events.user_topic(user_id), events.room_added(room))
            await self._after_change(room_id, added, [], None)
        return await self.get(actor, room_id)

    async def remove_member(self, actor: User, room_id: str, user_id: str) -> None:
        """Remove a member from a group (owner only; removing oneself is leaving)."""
        if user_id == actor.id:
            return await self.leave(actor, room_id)
        # Only the owner gets past this, and the owner removing themselves is leaving (above),
        # so the owner is never removed by someone else.
        await self._owned_group(actor, room_id)
        await self._remove(room_id, user_id, "removed", actor)

    async def leave(self, actor: User, room_id: str) -> None:
        """Leave a group; an owner who leaves hands it to the longest-standing member."""
        access = await self._access.require(room_id, actor.id)
        if access.room.kind == "direct":
            raise ChatError(Code.DIRECT_ROOM_FIXED, "a direct room cannot be left")
        await self._remove(room_id, actor.id, "left", actor)

    async def _remove(self, room_id: str, user_id: str, reason: str, actor: User) -> None:
        removed, owner_id = await self._store.remove_member(room_id, user_id)
        if not removed:
            raise ChatError(Code.MEMBER_NOT_FOUND, f"{user_id} is not a member of room {room_id}")
        await self._changed(room_id)
        await self._bus.publish(events.user_topic(user_id), events.room_removed(room_id, reason))
        await self._bus.publish(events.room_topic(room_id), events.members_changed(room_id, [], [user_id], owner_id))
        if reason == "left":
            content, meta = f"{actor.name or actor.id} left", {"event": "member_left", "user_ids": [user_id]}
        else:
            content = f"{actor.name or actor.id} removed {user_id}"
            meta = {"event": "member_removed", "user_ids": [user_id], "by": actor.id}
        await self._after_change(room_id, [], [user_id], (room_id, actor.id, content, meta))

    async def _after_change(
        self, room_id: str, added: Sequence[str], removed: Sequence[str], system: tuple | None
    ) -> None:
        """What follows a membership change: the system message in the room's timeline (when the setting
        is on), and people-list updates."""
        if system is not None and self._limits.system_messages:
            await self._announce(*system)
        await self._members_changed(room_id, added, removed)

    async def _owned_group(self, actor: User, room_id: str) -> Room:
        room = (await self._access.require(room_id, actor.id)).room
        if room.kind == "direct":
            raise ChatError(Code.DIRECT_ROOM_FIXED, "members of a direct room cannot be changed")
        if room.owner_id != actor.id:
            raise ChatError(Code.NOT_OWNER, "only the room's owner may change its members")
        return room

    async def _changed(self, room_id: str) -> None:
        """Membership changed: drop this node's cache now and every other node's through `system`."""
        self._access.invalidate(room_id)
        await self._bus.publish(events.SYSTEM_TOPIC, events.room_invalidated(room_id))

    async def _views(self, actor: User, memberships: Sequence[Membership]) -> list[RoomView]:
        room_ids = [m.room.id for m in memberships]
        last_seqs = await self._timeline.last_seqs(room_ids)
        cursors = await self._log.read_cursors(actor.id, room_ids)
        last_messages = await self._timeline.at([(rid, seq) for rid, seq in last_seqs.items() if seq > 0])
        views = []
        for m in memberships:
            last_seq = last_seqs[m.room.id]
            read = max(m.me.last_read_seq, cursors.get(m.room.id, 0))
            views.append(
                RoomView(
                    room=m.room,
                    member_count=m.member_count,
                    last_seq=last_seq,
                    unread=max(0, last_seq - read),
                    last_message=last_messages.get((m.room.id, last_seq)),
                    peer=m.peer,
                )
            )
        return views

    @staticmethod
    def _checked_ids(user_ids: Sequence[str], exclude: str) -> list[str]:
        unique = list(dict.fromkeys(user_ids))
        for user_id in unique:
            check_user_id(user_id, "user_ids")
        return [user_id for user_id in unique if user_id != exclude]


def _peer(room: Room, members: Sequence[Member], me: str) -> Member | None:
    if room.kind != "direct":
        return None
    return next((m for m in members if m.user_id != me), None)


def _activity(view: RoomView):
    return view.last_message.created_at if view.last_message else view.room.created_at
