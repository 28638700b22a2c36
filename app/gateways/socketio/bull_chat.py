"""Seed 002's dialect (a Socket.IO + Redis + Bull service): namespace `/chat/` (the trailing slash kept).

Connect with `io('ws://host/chat/', {transports: ['websocket'], auth: {token: 'Bearer …', userId}})`. A
missing or non-`Bearer ` token, a bad or expired JWT, a missing or mismatched `userId` are refused at
connect (`connect_error` with `{code, message}`), never accepted and then dropped. On connect:
`chat:init_data {rooms, people, favorites}`.

- `chat:join(roomId)` / `chat:leave(roomId)`: follow a room's events on this connection.
- `chat:send_message {roomId, content, type?}` (`TEXT` or `FILE`) → `chat:message` to the connections that
  joined the room (the sender's too): `{id, roomId, roomType: 'GROUP'|'DIRECT', type: 'TEXT'|'SYSTEM'|'FILE',
  content, senderId, sender: {id, name}, timestamp, seq}`.
- `chat:typing {roomId, isTyping}` → `chat:typing_status {userId, roomId, isTyping}` to the others;
  `chat:presence('online'|'offline'|'away')` → `chat:presence_update {userId, status}` to the people who
  share a room with the user and to the user's own connections.
- `chat:update_message {messageId, content}` → `chat:message_update {roomId, message}`;
  `chat:delete_message(messageId)` → `chat:message_delete {roomId, messageId}`.
- `chat:start_direct(userId)` → the pair's one direct room, followed by this connection, confirmed to the
  caller on every call by the SYSTEM `chat:message` "Direct chat started".
- `chat:toggle_favorite {id, type: 'ROOM'|'USER'}` → `chat:favorites_update` (the whole list), on every
  connection of the user. `chat:room_list_update` and `chat:people_list_update` (whole lists) follow
  changes of the user's rooms and people.
- Errors: `chat:error {message, code}`. Where a client passes an acknowledgement callback, it gets the
  result (the message, the list...) or `{error, code}`.

Statuses as this seed names them: `busy` is shown as `away`.
"""

from __future__ import annotations

import asyncio
import logging

from engineio import packet as eio_packet

from app.chat import events
from app.chat.errors import ChatError, Code
from app.chat.events import Event
from app.gateways.socketio.namespace import Namespace, SioDialect
from app.realtime.hub import Hub
from app.realtime.session import Credentials, Session

log = logging.getLogger(__name__)

TYPES = {"text": "TEXT", "system": "SYSTEM", "image": "FILE", "file": "FILE", "video": "FILE", "audio": "FILE"}
SENT_TYPES = {"TEXT": "text", "FILE": "file"}
STATUSES = {"online": "online", "away": "away", "busy": "away", "offline": "offline"}
ROOM_KINDS = {"direct": "DIRECT", "group": "GROUP"}
LIST_CHANGES = (events.ROOM_ADDED, events.ROOM_REMOVED, events.ROOM_MEMBERS_CHANGED, events.PEOPLE_UPDATE)
SERVER_FRAMES = (
    "chat:init_data",
    "chat:message",
    "chat:typing_status",
    "chat:presence_update",
    "chat:message_update",
    "chat:message_delete",
    "chat:favorites_update",
    "chat:room_list_update",
    "chat:people_list_update",
    "chat:error",
)


def room(view: dict) -> dict:
    """A room of the canonical room list as seed 002 shows one."""
    peer = view.get("peer") or {}
    last = view.get("last_message")
    shown = {
        "id": view["id"],
        "name": view["name"] or peer.get("name") or peer.get("user_id") or view["id"],
        "type": ROOM_KINDS[view["type"]],
        "unreadCount": view["unread_count"],
    }
    if last is not None:
        shown["lastMessage"] = {
            "content": last["content"],
            "timestamp": last["created_at"],
            "type": TYPES[last["type"]],
        }
    return shown


def person(record: dict) -> dict:
    return {
        "id": record["user_id"],
        "name": record["name"] or record["user_id"],
        "status": STATUSES[record["status"]],
        "lastSeen": record["last_seen_at"],
    }


def favorite(record: dict) -> dict:
    return {"id": record["id"], "type": record["type"].upper(), "name": record["name"] or record["id"]}


def _string(data: dict, field: str) -> object:
    """A field the document types as a string, as given (None when absent): any other type is refused, as
    an id must come back in the type it was given and this seed's ids are strings."""
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        raise ChatError(Code.INVALID_PAYLOAD, f"{field} must be a string", {"fields": {field: ["not a string"]}})
    return value


class BullDialect(SioDialect):
    name = "bull"
    namespace = "/chat/"
    client_events = (
        "chat:join",
        "chat:leave",
        "chat:send_message",
        "chat:typing",
        "chat:presence",
        "chat:update_message",
        "chat:delete_message",
        "chat:start_direct",
        "chat:toggle_favorite",
    )
    operations = (
        "room:join",
        "room:leave",
        "message:send",
        "typing:start",
        "typing:stop",
        "presence:set",
        "message:edit",
        "message:delete",
        "direct:start",
        "favorite:toggle",
    )
    frames = (*SERVER_FRAMES, *LIST_CHANGES)

    def __init__(self, server, hub: Hub) -> None:
        super().__init__(server)
        self._hub = hub
        self._tasks: set[asyncio.Task] = set()

    def credentials(self, environ: dict, auth: object) -> Credentials:
        auth = auth if isinstance(auth, dict) else {}
        token, user_id = auth.get("token"), auth.get("userId")
        if not token:
            raise ChatError(Code.AUTH_REQUIRED, "auth.token is required")
        if not isinstance(token, str) or not token.startswith("Bearer "):
            raise ChatError(Code.INVALID_TOKEN, "auth.token must start with 'Bearer '")
        if user_id is None or user_id == "":
            raise ChatError(Code.INVALID_PAYLOAD, "auth.userId is required", {"fields": {"userId": ["missing"]}})
        return Credentials(token=token, user_id=str(user_id))

    async def opened(self, binding: Namespace, session: Session) -> None:
        binding.send(session, "chat:init_data", await self._lists(binding.hub, session))

    async def _lists(self, hub: Hub, session: Session) -> dict:
        overview, errors = await hub.overview(session)
        if errors:
            raise errors[0]
        return {
            "rooms": [room(view) for view in overview["rooms"]],
            "people": [person(record) for record in overview["people"]],
            "favorites": [favorite(record) for record in overview["favorites"]],
        }

    # -- client events -------------------------------------------------------------------------------

    async def handle(self, binding: Namespace, session: Session, event: str, args: list) -> object:
        hub = binding.hub
        try:
            try:  # what the dialect checks itself is counted, and spends the event budget, like any refusal
                operation, payload = self._decode(event, args)
            except ChatError as exc:
                raise hub.reject(session, exc) from None
            result = await hub.perform(session, operation, payload)
            return await self._answer(binding, session, event, result)
        except ChatError as exc:
            return await self.refuse(binding, session, event, exc, args)

    async def refuse(self, binding: Namespace, session: Session, event: str | None, error: ChatError, args: list):
        """`chat:error {message, code}`, and `{error, code}` as the acknowledgement."""
        binding.send(session, "chat:error", {"message": error.message, "code": error.code.value})
        return {"error": error.message, "code": error.code.value}

    def _decode(self, event: str, args: list) -> tuple[str, dict]:
        if event not in self.client_events:
            raise ChatError(Code.UNKNOWN_EVENT, f"unknown event {event!r}")
        first = args[0] if args else None
        if event in ("chat:join", "chat:leave", "chat:delete_message", "chat:start_direct", "chat:presence"):
            if not isinstance(first, str) or not first:
                raise ChatError(Code.INVALID_PAYLOAD, f"{event} takes a non-empty string")
            field = {"chat:delete_message": "message_id", "chat:start_direct": "user_id", "chat:presence": "status"}
            operation = {
                "chat:join": "room:join",
                "chat:leave": "room:leave",
                "chat:delete_message": "message:delete",
                "chat:start_direct": "direct:start",
                "chat:presence": "presence:set",
            }[event]
            return operation, {field.get(event, "room_id"): first}
        if not isinstance(first, dict):
            raise ChatError(Code.INVALID_PAYLOAD, f"{event} takes an object")
        if event == "chat:send_message":
            kind = first.get("type", "TEXT")
            if kind not in SENT_TYPES:
                raise ChatError(Code.UNKNOWN_MESSAGE_TYPE, "type must be TEXT or FILE")
            return "message:send", {
                "room_id": _string(first, "roomId"),
                "content": first.get("content"),
                "type": SENT_TYPES[kind],
            }
        if event == "chat:typing":
            typing = first.get("isTyping")
            if not isinstance(typing, bool):
                raise ChatError(Code.INVALID_PAYLOAD, "isTyping must be true or false")
            return ("typing:start" if typing else "typing:stop"), {"room_id": _string(first, "roomId")}
        if event == "chat:update_message":
            return "message:edit", {"message_id": _string(first, "messageId"), "content": first.get("content")}
        kind = first.get("type")
        if kind not in ("ROOM", "USER"):
            raise ChatError(Code.INVALID_PAYLOAD, "type must be ROOM or USER")
        return "favorite:toggle", {"id": _string(first, "id"), "type": kind}

    async def _answer(self, binding: Namespace, session: Session, event: str, result: dict) -> object:
        if event == "chat:send_message":
            return {
                "id": result["id"],
                "roomId": result["room_id"],
                "seq": result["seq"],
                "timestamp": result["created_at"],
            }
        if event == "chat:start_direct":
            view = result["room"]
            await binding.hub.follow(session, view["id"])
            started = await self._started(binding.hub, session, view)
            binding.send(session, "chat:message", started)
            return started
        if event == "chat:update_message":
            return await self._message(result["message"])
        if event == "chat:delete_message":
            return {"roomId": result["room_id"], "messageId": result["id"]}
        if event == "chat:toggle_favorite":
            return [favorite(record) for record in result["favorites"]]
        if event == "chat:presence":
            return {"status": STATUSES[result["status"]]}
        return {"success": True}

    async def _started(self, hub: Hub, session: Session, view: dict) -> dict:
        """The confirmation of chat:start_direct: the room's "Direct chat started" when the call made it,
        one of the same shape otherwise (every call gets one: it is what the client waits for)."""
        last = view.get("last_message")
        if last is not None and last["type"] == "system" and (last.get("meta") or {}).get("event") == "direct_started":
            return await self._message(last)
        name = session.user.name or session.user.id
        return {
            "id": f"direct-started-{view['id']}",
            "roomId": view["id"],
            "roomType": "DIRECT",
            "type": "SYSTEM",
            "content": "Direct chat started",
            "senderId": session.user.id,
            "sender": {"id": session.user.id, "name": name},
            "timestamp": view["created_at"],
        }

    # -- server events -------------------------------------------------------------------------------

    async def _message(self, message: dict) -> dict:
        room_id, sender = message["room_id"], message["sender_id"]
        found = await self._hub.room(room_id)
        users = await self._hub.users([sender])
        name = users[sender].name if sender in users else None
        return {
            "id": message["id"],
            "roomId": room_id,
            "roomType": ROOM_KINDS[found.kind] if found is not None else "GROUP",
            "type": TYPES[message["type"]],
            "content": message["content"],
            "senderId": sender,
            "sender": {"id": sender, "name": name or sender},
            "timestamp": message["created_at"],
            "seq": message["seq"],
        }

    async def encode(self, event: Event) -> eio_packet.Packet | None:
        data = event.data
        name = event.name
        if name == events.MESSAGE_NEW:
            return self.frame("chat:message", await self._message(data))
        if name == events.TYPING_UPDATE:
            typing = {"userId": data["user_id"], "roomId": data["room_id"], "isTyping": data["typing"]}
            return self.frame("chat:typing_status", typing)
        if name == events.PRESENCE_UPDATE:
            return self.frame("chat:presence_update", {"userId": data["user_id"], "status": STATUSES[data["status"]]})
        if name == events.MESSAGE_UPDATED:
            message = data["message"]
            return self.frame(
                "chat:message_update", {"roomId": message["room_id"], "message": await self._message(message)}
            )
        if name == events.MESSAGE_DELETED:
            return self.frame("chat:message_delete", {"roomId": data["room_id"], "messageId": data["id"]})
        if name == events.FAVORITES_UPDATE:
            return self.frame("chat:favorites_update", [favorite(record) for record in data["favorites"]])
        if name in LIST_CHANGES:
            return event  # the whole list again, read for each connection (see select)
        return None

    def select(self, session: Session, event: Event, encoded: object):
        if event.name in LIST_CHANGES:
            name = "chat:people_list_update" if event.name == events.PEOPLE_UPDATE else "chat:room_list_update"
            refreshing: dict = session.state.setdefault("refreshing", {})
            if name in refreshing:
                refreshing[name] = True  # read again once the read in flight is sent: lists are sent in order
            else:
                refreshing[name] = False
                self._spawn(self._refresh(session, name))
            return ()
        return (encoded,)

    async def _refresh(self, session: Session, name: str) -> None:
        """Send a connection its room list (or people list) again, after it changed; one read at a time per
        list and connection, so that a newer list is never overtaken by an older one."""
        refreshing = session.state["refreshing"]
        try:
            while True:
                refreshing[name] = False
                try:
                    lists = await self._lists(self._hub, session)
                except ChatError as exc:
                    log.info("a list could not be read again: %s", exc.code.value)
                    return
                key = "people" if name == "chat:people_list_update" else "rooms"
                self._hub.send(session, self.frame(name, lists[key]), name)
                if not refreshing[name]:
                    return
        finally:
            refreshing.pop(name, None)

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def notice(self, error: ChatError) -> eio_packet.Packet:
        return self.frame("chat:error", {"message": error.message, "code": error.code.value})
