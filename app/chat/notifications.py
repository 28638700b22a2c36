"""Notifications: telling members about messages in rooms they are not looking at.

For each new message, every other member of its room who has not read it
yet gets a notification (room, sender, excerpt, time, the room's unread
count):
- a member with a live connection gets it on their personal topic; each
  of their connections that follows the room already shows the message
  and is skipped, the others display it;
- a member with no live connection gets it stored as pending (and pushed
  to the webhook when one is configured). Pending notifications are sent
  as one list when the member next connects, and stay pending until the
  client acknowledges them. A stored one is also published, in case the
  member connected in the meantime.

`plan` decides; the notification workers carry it out in batches, off
the send path.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from app.chat.model import Message, Notification, User
from app.chat.ports import Clock, NotificationStore
from app.chat.rules import excerpt


@dataclass
class Plan:
    live: list[tuple[Notification, int]] = field(default_factory=list)  # (notification, unread count)
    store: list[tuple[Notification, int]] = field(default_factory=list)


def plan(
    messages: Iterable[Message],
    members: Mapping[str, Collection[str]],
    online: set[str],
    cursors: Mapping[tuple[str, str], int],
    names: Mapping[str, str | None],
    excerpt_length: int,
) -> Plan:
    """Who gets which notification. `members`: room_id -> member ids; `cursors`: (user_id, room_id) ->
    read cursor; `names`: sender id -> display name."""
    result = Plan()
    for message in messages:
        if message.type == "system":
            continue  # not unread (app/chat/reads.py): nobody is told of it
        for user_id in members.get(message.room_id, ()):
            if user_id == message.sender_id:
                continue
            cursor = cursors.get((user_id, message.room_id), 0)
            if cursor >= message.seq:
                continue  # read already (on another device, or the message was old news)
            notification = Notification(
                id=None,
                user_id=user_id,
                room_id=message.room_id,
                message_id=message.id,
                seq=message.seq,
                sender_id=message.sender_id,
                sender_name=names.get(message.sender_id),
                excerpt=excerpt(message.content, excerpt_length),
                created_at=message.created_at,
            )
            (result.live if user_id in online else result.store).append((notification, message.seq - cursor))
    return result


class Notifications:
    def __init__(self, store: NotificationStore, clock: Clock, pending_max: int) -> None:
        self._store = store
        self._clock = clock
        self._pending_max = pending_max

    async def pending(self, actor: User, limit: int | None = None) -> tuple[list[Notification], int]:
        """The actor's newest pending notifications (oldest first) and how many are pending in all."""
        limit = self._pending_max if limit is None else max(1, min(limit, self._pending_max))
        return await self._store.pending(actor.id, limit)

    async def acknowledge(self, actor: User, ids: Sequence[str]) -> int:
        """Mark the actor's notifications delivered; ids of others' notifications are ignored."""
        if not ids:
            return 0
        return await self._store.acknowledge(actor.id, list(dict.fromkeys(ids)), self._clock.now())
