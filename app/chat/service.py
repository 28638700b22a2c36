"""The chat core as one object: the services, wired to their ports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.chat import events
from app.chat.access import Access
from app.chat.attachments import AttachmentOptions, Attachments
from app.chat.events import Event
from app.chat.lists import Lists
from app.chat.messages import Messages
from app.chat.model import Receipt
from app.chat.notifications import Notifications
from app.chat.ports import (
    AttachmentStore,
    BlobStore,
    Clock,
    FavoriteStore,
    FlushQueue,
    IdGenerator,
    MessageLog,
    MessageStore,
    NotificationStore,
    PersistQueue,
    PresenceState,
    Publisher,
    ReactionStore,
    RoomStore,
    SearchIndex,
    UserStore,
    ViewerState,
)
from app.chat.presence import Presence
from app.chat.reads import Reads
from app.chat.rooms import Rooms
from app.chat.rules import Limits
from app.chat.search import Search
from app.chat.timeline import Timeline
from app.chat.typing_status import Typing
from app.chat.users import Users
from app.chat.viewers import Viewers


@dataclass(frozen=True)
class Chat:
    users: Users
    rooms: Rooms
    messages: Messages
    access: Access
    presence: Presence
    typing: Typing
    reads: Reads
    notifications: Notifications
    attachments: Attachments
    lists: Lists
    search: Search
    viewers: Viewers

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
    presence_state: PresenceState,
    notification_store: NotificationStore,
    reaction_store: ReactionStore,
    favorite_store: FavoriteStore,
    flush: FlushQueue,
    bus: Publisher,
    ids: IdGenerator,
    clock: Clock,
    limits: Limits,
    attachment_store: AttachmentStore,
    blobs: BlobStore,
    attachment_options: AttachmentOptions,
    is_emoji: Callable[[str], bool],
    search_index: SearchIndex,
    viewer_state: ViewerState,
) -> Chat:
    access = Access(room_store, ttl=limits.membership_cache_ttl)
    timeline = Timeline(message_store, log)
    attachments = Attachments(attachment_store, blobs, access, timeline.by_id, ids, clock, attachment_options)
    messages = Messages(access, timeline, log, persist, reaction_store, attachments, bus, ids, clock, limits, is_emoji)
    viewers = Viewers(viewer_state, access, bus, clock)
    presence = Presence(
        presence_state,
        room_store,
        user_store,
        bus,
        flush,
        clock,
        limits.presence_ttl,
        on_gone=viewers.gone,
        on_alive=viewers.keep_alive,
        contacts=access.contacts,
    )
    lists = Lists(favorite_store, room_store, user_store, access, presence, bus, clock)
    reads = Reads(access, room_store, timeline, log, bus, flush, clock)

    async def announce(room_id: str, actor_id: str, content: str, meta: dict) -> Receipt:
        """A system message, which is not unread for members who had read the room (app/chat/reads.py)."""
        # The members as stored now (a member just added may not be in this node's membership cache yet).
        readers = {member.user_id: member.last_read_seq for member in await room_store.members(room_id)}
        appended = await messages.announce(room_id, actor_id, content, meta, readers)
        if appended.flush:
            flush.request()
        return appended.receipt

    rooms = Rooms(room_store, user_store, access, timeline, log, bus, clock, limits, announce, lists.members_changed)
    return Chat(
        users=Users(user_store, clock, limits.user_cache_ttl),
        rooms=rooms,
        messages=messages,
        access=access,
        presence=presence,
        typing=Typing(access, bus, limits.typing_timeout),
        reads=reads,
        notifications=Notifications(notification_store, clock, limits.pending_notifications_max),
        attachments=attachments,
        lists=lists,
        search=Search(access, search_index, limits),
        viewers=viewers,
    )
