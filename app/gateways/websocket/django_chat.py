"""Seed 003's dialect (a Django Channels service): JSON frames keyed by `type`, people named by username.

Three sockets, each a dialect of its own here (they show different events), all with `?token=`:

- `/ws/<username>/`, the direct conversation with that user (created on first use). On open,
  `online_user_list {users}`: who has this conversation open now, oneself included. The others get
  `user_join {user}` when a user opens it (their first socket on it) and `user_leave {user}` when they
  close it (their last), or when their node dies (the presence sweep). Client frames: `chat_message
  {message, multimedia_url, file_identifier, multimedia_url_expiration, room}` (a `file_identifier` from
  `POST /api/rooms/upload` sends that file) and `read_messages` (marks the conversation read). Everyone
  in the conversation, the sender included, gets `chat_message {message, multimedia_url, date_added,
  from_user: {username}, room}`. An open conversation socket marks nothing read by itself.
- `/ws/notifications/`: `unread_count {unread_count}` (over every conversation) on open and on every
  change, and `new_message_notification` per message from someone else.
- `/ws/notifications/<username>/`: the same for the conversation with that user
  (`single_conversation_unread_count`, `single_conversation_new_message_notification`).

`room` is the conversation's id (a string), the same for both users; a user without a username is shown
by their user id. System messages (the "Direct chat started" of a new conversation) are not shown, as 003
has none, and are not unread (as in every dialect: a room read up to the message before a system message stays
read; docs/architecture.md, "Read receipts and unread counts"): 003 counts the messages one has not read,
and a message it never shows is not one of them.

Refusals: the socket is accepted, then closed after an `error` frame: 4001 bad or missing token, 4003 a
disabled user (oneself, or the one named), 4004 no user with that username, 4000 a conversation with
oneself.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.chat import events
from app.chat.errors import ChatError, Code
from app.chat.events import Event
from app.chat.model import User
from app.gateways.websocket.binding import JsonDialect, Request, frame
from app.realtime.hub import Hub
from app.realtime.session import Session

CLOSE_CODES = {
    Code.AUTH_REQUIRED: 4001,
    Code.INVALID_TOKEN: 4001,
    Code.TOKEN_EXPIRED: 4001,
    Code.USER_DISABLED: 4003,
    Code.USER_NOT_FOUND: 4004,
    Code.INVALID_PAYLOAD: 4000,
    Code.UNAVAILABLE: 1013,
    Code.INTERNAL_ERROR: 1011,
}


class _Dialect(JsonDialect):
    """What the three sockets share: refusals and errors keyed by `type`, usernames."""

    def close_code(self, error: ChatError) -> int:
        return CLOSE_CODES.get(error.code, 1008)

    def error(self, error: ChatError, request: Request | None) -> bytes:
        return frame({"type": "error", "message": error.message, "code": error.code.value})

    def decode(self, session: Session, message: object) -> Request:
        kind = message.get("type") if isinstance(message, dict) else None
        if not isinstance(kind, str):
            raise ChatError(Code.INVALID_PAYLOAD, "a frame must be a JSON object with a `type`")
        raise ChatError(Code.UNKNOWN_EVENT, f"unknown message type {kind!r}")


async def _peer(hub: Hub, user: User, request) -> User:
    """The user the path names, someone else and enabled (raises USER_NOT_FOUND, INVALID_PAYLOAD,
    USER_DISABLED)."""
    peer = await hub.find_user(request.match_info["username"])
    if peer.id == user.id:
        raise ChatError(Code.INVALID_PAYLOAD, "a conversation needs another user than oneself")
    if not peer.is_active:
        raise ChatError(Code.USER_DISABLED, f"{request.match_info['username']} is disabled")
    return peer


async def _open_direct(hub: Hub, session: Session) -> str:
    """The direct room with the admitted peer (created on first use), followed from now on."""
    peer: User = session.state["admitted"]
    started = await hub.perform(session, "direct:start", {"user_id": peer.id})
    room_id = started["room"]["id"]
    await hub.follow(session, room_id)
    session.state["room_id"] = room_id
    return room_id


async def _names(hub: Hub, user_ids: list[str]) -> list[str]:
    found = await hub.users(user_ids)
    return [(found[u].username if u in found else None) or u for u in user_ids]


class ConversationDialect(_Dialect):
    """`/ws/<username>/`: one direct conversation."""

    name = "django"
    operations = ("direct:start", "message:send", "room:read")
    frames = ("online_user_list", "user_join", "user_leave", "chat_message", "error", events.MESSAGE_NEW)

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def admit(self, hub: Hub, user: User, request) -> User:
        return await _peer(hub, user, request)

    async def opened(self, hub: Hub, session: Session, request) -> None:
        room_id = await _open_direct(hub, session)
        viewers = await hub.view(session, room_id)
        hub.send(session, frame({"type": "online_user_list", "users": await _names(hub, viewers)}), "online_user_list")

    def decode(self, session: Session, message: object) -> Request:
        kind = message.get("type") if isinstance(message, dict) else None
        room_id = session.state["room_id"]
        if kind == "read_messages":
            return Request("room:read", {"room_id": room_id}, message)
        if kind != "chat_message":
            return super().decode(session, message)
        text = message.get("message", "")
        if not isinstance(text, str):
            raise ChatError(Code.INVALID_PAYLOAD, "message must be a string", {"fields": {"message": ["not a string"]}})
        file_id = message.get("file_identifier") or None
        return Request("message:send", {"room_id": room_id, "content": text, "attachment_id": file_id}, message)

    async def encode(self, event: Event) -> bytes | None:
        data = event.data
        if event.name == events.MESSAGE_NEW:
            if data["type"] == "system":  # 003 has no such messages: "Direct chat started" is not shown
                return None
            [username] = await _names(self._hub, [data["sender_id"]])
            attachment = data.get("attachment") or {}
            return frame(
                {
                    "type": "chat_message",
                    "message": data["content"],
                    "multimedia_url": attachment.get("url") or "",
                    "date_added": data["created_at"],
                    "from_user": {"username": username},
                    "room": data["room_id"],
                }
            )
        if event.name in (events.VIEWER_JOINED, events.VIEWER_LEFT):
            [username] = await _names(self._hub, [data["user_id"]])
            kind = "user_join" if event.name == events.VIEWER_JOINED else "user_leave"
            return frame({"type": kind, "user": username})
        return None

    @staticmethod
    def select(session: Session, event: Event, encoded: object) -> Iterable[object]:
        # One's own arrival and departure are not news to oneself (online_user_list says who is there).
        if event.name in (events.VIEWER_JOINED, events.VIEWER_LEFT) and event.data["user_id"] == session.user.id:
            return ()
        return (encoded,)


class _Counts(_Dialect):
    """The notification sockets. Each session keeps, per room it counts, the room's last seq and the user's
    read cursor (unread = their difference): `message:new` moves the first, `unread:update` the second, so a
    repeated or late event changes nothing and the counts stay exact without a query per message."""

    operations = ("direct:start",)
    count_frame = "unread_count"
    new_frame = "new_message_notification"
    counts_new_rooms = True  # rooms the user joins later count too

    def __init__(self) -> None:
        self.frames = (self.count_frame, self.new_frame, "error", events.MESSAGE_NEW, events.UNREAD_UPDATE)

    def _count(self, session: Session) -> bytes:
        unread = sum(max(0, last - read) for last, read in session.state["rooms"].values())
        return frame({"type": self.count_frame, "unread_count": unread})

    async def encode(self, event: Event) -> object | None:
        # The frames depend on each session's counts: `select` makes them.
        if event.name in (events.MESSAGE_NEW, events.UNREAD_UPDATE, events.ROOM_REMOVED):
            return event
        return None

    def select(self, session: Session, event: Event, _encoded: object) -> Iterable[object]:
        rooms: dict[str, tuple[int, int]] | None = session.state.get("rooms")
        data = event.data
        room_id = data["room_id"]
        if rooms is None:  # opening: applied once the counts are read (`_show`), as they may not include it
            session.state.setdefault("early", []).append(event)
            return ()
        if event.name == events.ROOM_REMOVED:
            return (self._count(session),) if rooms.pop(room_id, None) is not None else ()
        if room_id not in rooms:
            if not self.counts_new_rooms:
                return ()
            rooms[room_id] = (0, 0)  # a room the user was just added to: nothing of it read yet
        last, read = rooms[room_id]
        if event.name == events.UNREAD_UPDATE:
            read = max(read, data["read_seq"])  # cursors only move forward (an early event may be older)
            rooms[room_id] = (max(last, data["read_seq"] + data["unread_count"]), read)
            return (self._count(session),)
        seq = data["seq"]
        if seq <= last and data["sender_id"] != session.user.id:
            return ()  # counted already (it was in the counts read on opening)
        if data["sender_id"] == session.user.id:  # one's own messages are read
            rooms[room_id] = (max(last, seq), max(read, seq))
            # Sending moves the sender's read cursor (the core's rule, with no unread:update of its own):
            # a room that had unread messages is read now, and the total shown must say so.
            changed = max(0, last - read) != max(0, rooms[room_id][0] - rooms[room_id][1])
            return (self._count(session),) if changed else ()
        if data["type"] == "system":
            # Not shown on 003's sockets, and not unread (the core's rule, `Reads.system_message`): a room read
            # up to the message before stays read. No notification: 003 has no such messages.
            rooms[room_id] = (seq, seq if read >= seq - 1 else read)
            changed = max(0, last - read) != max(0, rooms[room_id][0] - rooms[room_id][1])
            return (self._count(session),) if changed else ()
        rooms[room_id] = (seq, read)
        return frame({"type": self.new_frame}), self._count(session)

    def _show(self, hub: Hub, session: Session, rooms: dict[str, tuple[int, int]]) -> None:
        """Keep the counts read on opening and send the total; then apply the events delivered while they
        were read (they may be in the counts or not: the seqs tell), so none is lost."""
        session.state["rooms"] = rooms
        shown = self._count(session)
        hub.send(session, shown, self.count_frame)
        notice = frame({"type": self.new_frame})
        for event in session.state.pop("early", ()):
            for chosen in self.select(session, event, event):
                if chosen == notice:
                    hub.send(session, chosen, self.new_frame)
                elif chosen != shown:  # not the same total again
                    shown = chosen
                    hub.send(session, chosen, self.count_frame)


class NotificationsDialect(_Counts):
    """`/ws/notifications/`: every conversation of the user."""

    name = "django-notifications"
    follows_all_rooms = True

    async def opened(self, hub: Hub, session: Session, request) -> None:
        self._show(hub, session, await hub.unread(session))


class ConversationNotificationsDialect(_Counts):
    """`/ws/notifications/<username>/`: the conversation with one user."""

    name = "django-conversation-notifications"
    count_frame = "single_conversation_unread_count"
    new_frame = "single_conversation_new_message_notification"
    counts_new_rooms = False

    async def admit(self, hub: Hub, user: User, request) -> User:
        return await _peer(hub, user, request)

    async def opened(self, hub: Hub, session: Session, request) -> None:
        room_id = await _open_direct(hub, session)
        self._show(hub, session, {room_id: (await hub.unread(session)).get(room_id, (0, 0))})
