"""The chat core as one object: the services, wired to their ports."""

from __future__ import annotations

from dataclasses import dataclass

from app.chat import events
from app.chat.access import Access
from app.chat.events import Event
from app.chat.messages import Messages
from app.chat.ports import (
    Clock,
    IdGenerator,
    MessageLog,
    MessageStore,
    PersistQueue,
    Publisher,
    RoomStore,
    UserStore,
)
from app.chat.rooms import Rooms
from app.chat.rules import Limits
from app.chat.timeline import Timeline
from app.chat.users import Users


@dataclass(frozen=True)
class Chat:
    users: Users
    rooms: Rooms
    messages: Messages
    access: Access

    def on_system_event(self, event: Event) -> None:
        """An event published on the `system` topic by any node (including this one)."""
        if event.name == events.ROOM_INVALIDATED:
            self.access.invalidate(event.data["room_id"])
        elif event.name in (events.USER_DISABLED, events.USER_ENABLED):
            self.users.forget(event.data["user_id"])


def build_chat(
    *,
    user_store: UserStore,
    room_store: RoomStore,
    message_store: MessageStore,
    log: MessageLog,
    persist: PersistQueue,
    bus: Publisher,
    ids: IdGenerator,
    clock: Clock,
    limits: Limits,
) -> Chat:
    access = Access(room_store, ttl=limits.membership_cache_ttl)
    timeline = Timeline(message_store, log)
    return Chat(
        users=Users(user_store, clock, limits.user_cache_ttl),
        rooms=Rooms(room_store, user_store, access, timeline, log, bus, clock, limits),
        messages=Messages(access, timeline, log, persist, ids, clock, limits),
        access=access,
    )
