"""Seed 001's dialect (a NestJS gateway): Socket.IO namespace `/chat`, ids as JSON numbers.

Connect with `io('http://host/chat', {query: {userId, token}})` over WebSocket or long-polling (the
default transports, polling first, work too); `userId` must be the token's subject. A session follows
every conversation of its user from the start, as the gateway's personal room `user:<id>` did: the other
participants' messages arrive without a join.

- `join-conversation {conversationId, userId}` → `joined-conversation {conversationId, success: true}` (and
  the same as the acknowledgement); for someone else's conversation `error {message: 'Unauthorized to join
  this conversation'}`, an unknown one `error {message: 'Conversation not found'}`.
  `leave-conversation {conversationId}` stops that conversation's events on this connection.
- `send-message {sender_id, conversation_id, message_type, content}` → `message-sent` to this connection and
  `receive-message` to the others (the sender's other connections included), both `{id, sender_id,
  conversation_id, timestamp, message_type, content, conversation: {id, sender_id, receiver_id}}`; invalid
  input → `message-error {error}` in class-validator's words (`sender_id must be an integer number`).
- `typing {conversationId, userId, isTyping}` → `user-typing {conversationId, userId, isTyping}` to the others.
- `user:online` / `user:offline {userId}` for the people who share a conversation with the user.

Ids: a user id or room id is a JSON number when it is a decimal JavaScript holds exactly, else its
string (app.chat.ids.js_number); an id sent as a string is refused. A message's id is its numeric alias
(app.chat.ids.message_alias: room id * 2**32 + seq), since message ids are 64-bit (beyond the alias range,
its decimal string). A message and its conversation have the shapes of seed 001's REST (app.schemas.nestjs):
a conversation's `sender_id` and `receiver_id` are its pair in a stable order, the lower id first, whoever
sent the message. A group room has no pair: the message's sender and a null receiver. Acknowledgement
callbacks, where a client passes one, get the same payload as the event.
"""

from __future__ import annotations

import uuid

from engineio import packet as eio_packet

from app.chat import events
from app.chat.errors import ChatError, Code
from app.chat.events import Event
from app.chat.ids import MAX_SAFE_INTEGER, js_number
from app.gateways.socketio.namespace import Namespace, SioDialect, given
from app.realtime.hub import Hub
from app.realtime.session import Credentials, RecentRefs, Session
from app.schemas.nestjs import conversation_ref, nest_message

MESSAGE_TYPES = ("text", "image", "file")
SERVER_FRAMES = (
    "joined-conversation",
    "message-sent",
    "receive-message",
    "message-error",
    "user-typing",
    "user:online",
    "user:offline",
    "error",
)


def _integer_errors(data: dict, field: str) -> list[str]:
    """class-validator's messages for an `@IsNotEmpty() @IsInt()` field, as NestJS's ValidationPipe words them."""
    value = data.get(field)
    if value is None or value == "":
        return [f"{field} should not be empty", f"{field} must be an integer number"]
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{field} must be an integer number"]
    if value < 1:  # class-validator's @Min(1) and @Max(MAX_SAFE_INTEGER) words, as seed 001's REST answers
        return [f"{field} must not be less than 1"]
    if value > MAX_SAFE_INTEGER:
        return [f"{field} must not be greater than {MAX_SAFE_INTEGER}"]
    return []


def _conversation(data: dict, field: str) -> int:
    problems = _integer_errors(data, field)
    if problems:
        raise ChatError(Code.INVALID_PAYLOAD, ", ".join(problems), {"fields": {field: problems}})
    return data[field]


def _refs(session: Session) -> RecentRefs:
    refs = session.state.get("refs")
    if refs is None:
        refs = session.state["refs"] = RecentRefs()
    return refs


class NestjsDialect(SioDialect):
    name = "nestjs"
    namespace = "/chat"
    client_events = ("join-conversation", "leave-conversation", "send-message", "typing")
    operations = ("room:join", "room:leave", "message:send", "typing:start", "typing:stop")
    frames = (*SERVER_FRAMES, events.MESSAGE_NEW, events.TYPING_UPDATE, events.PRESENCE_UPDATE)
    follows_all_rooms = True

    def __init__(self, server, hub: Hub) -> None:
        super().__init__(server)
        self._hub = hub

    def credentials(self, environ: dict, auth: object) -> Credentials:
        user_id = given(environ, auth, "userId")
        if user_id is None:
            raise ChatError(Code.INVALID_PAYLOAD, "userId is required", {"fields": {"userId": ["missing"]}})
        return Credentials(token=given(environ, auth, "token"), user_id=str(user_id))

    # -- client events -------------------------------------------------------------------------------

    async def handle(self, binding: Namespace, session: Session, event: str, args: list) -> object:
        data = args[0] if args and isinstance(args[0], dict) else None
        if event == "send-message":
            return await self._send(binding, session, data)
        try:
            try:  # what the dialect checks itself is counted, and spends the event budget, like any refusal
                operation, payload, answer = self._decode(session, event, data)
            except ChatError as exc:
                raise binding.hub.reject(session, exc) from None
            await binding.hub.perform(session, operation, payload)
        except ChatError as exc:
            return await self.refuse(binding, session, event, exc, args)
        if event == "join-conversation":
            binding.send(session, "joined-conversation", answer)
        return answer

    def _decode(self, session: Session, event: str, data: dict | None) -> tuple[str, dict, dict]:
        """(operation, its payload, the answer once performed) of a client event other than send-message."""
        if event not in self.client_events:
            raise ChatError(Code.UNKNOWN_EVENT, f"There is no handler for event {event!r}")
        if data is None:
            raise ChatError(Code.INVALID_PAYLOAD, f"{event} takes an object")
        conversation = _conversation(data, "conversationId")
        room = {"room_id": str(conversation)}
        if event == "join-conversation":
            return "room:join", room, {"conversationId": conversation, "success": True}
        if event == "leave-conversation":
            return "room:leave", room, {"conversationId": conversation, "success": True}
        typing = data.get("isTyping", True)
        if not isinstance(typing, bool):
            raise ChatError(Code.INVALID_PAYLOAD, "isTyping must be a boolean value")
        answer = {"conversationId": conversation, "isTyping": typing, "success": True}
        return ("typing:start" if typing else "typing:stop"), room, answer

    async def _send(self, binding: Namespace, session: Session, data: dict | None) -> dict:
        try:
            try:
                request = self._message_request(session, data)
            except ChatError as exc:
                raise binding.hub.reject(session, exc) from None
            _refs(session).add(request["client_ref"])
            receipt = await binding.hub.perform(session, "message:send", request)
        except ChatError as exc:
            return await self.refuse(binding, session, "send-message", exc, [data])
        message = await self._message(
            {
                "id": receipt["id"],
                "room_id": receipt["room_id"],
                "seq": receipt["seq"],
                "sender_id": session.user.id,
                "created_at": receipt["created_at"],
                "type": request["type"],
                "content": request["content"],
            }
        )
        binding.send(session, "message-sent", message)
        return message

    async def refuse(
        self, binding: Namespace, session: Session, event: str | None, error: ChatError, args: list
    ) -> dict:
        """send-message's refusal is `message-error {error}` (and the same as its acknowledgement); any other
        event's, `error {message, code}`."""
        if event == "send-message":
            refusal = {"error": _wording(error)}
            binding.send(session, "message-error", refusal)
            return refusal
        binding.send(session, "error", self._error(error))
        return self._error(error)

    @staticmethod
    def _message_request(session: Session, data: dict | None) -> dict:
        if data is None:
            raise ChatError(Code.INVALID_PAYLOAD, "send-message takes an object")
        problems = _integer_errors(data, "sender_id") + _integer_errors(data, "conversation_id")
        if data.get("message_type") not in MESSAGE_TYPES:
            problems.append("message_type must be one of the following values: " + ", ".join(MESSAGE_TYPES))
        content = data.get("content")
        if content is None or content == "":
            problems.append("content should not be empty")
        if content is not None and not isinstance(content, str):
            problems.append("content must be a string")
        if problems:
            raise ChatError(Code.INVALID_PAYLOAD, ", ".join(problems))
        if str(data["sender_id"]) != session.user.id:
            raise ChatError(Code.USER_MISMATCH, "sender_id must be your own user id")
        return {
            "room_id": str(data["conversation_id"]),
            "content": content,
            "type": data["message_type"],
            "client_ref": uuid.uuid4().hex,  # so that this connection is sent message-sent, not receive-message
        }

    def _error(self, error: ChatError) -> dict:
        return {"message": _wording(error), "code": error.code.value}

    # -- server events -------------------------------------------------------------------------------

    async def _message(self, data: dict) -> dict:
        """The message as seed 001's REST shows it too (app.schemas.nestjs), its conversation's pair included."""
        members = await self._hub.members(data["room_id"])
        if 0 < len(members) <= 2:
            conversation = conversation_ref(data["room_id"], list(members))
        else:  # a group room has no pair
            room, sender = js_number(data["room_id"]), js_number(data["sender_id"])
            conversation = {"id": room, "sender_id": sender, "receiver_id": None}
        return nest_message(data, conversation)

    async def encode(self, event: Event) -> eio_packet.Packet | None:
        data = event.data
        if event.name == events.MESSAGE_NEW:
            if data["type"] == "system":  # 001 has none (its REST history leaves them out too)
                return None
            return self.frame("receive-message", await self._message(data))
        if event.name == events.TYPING_UPDATE:
            typing = {
                "conversationId": js_number(data["room_id"]),
                "userId": js_number(data["user_id"]),
                "isTyping": data["typing"],
            }
            return self.frame("user-typing", typing)
        if event.name == events.PRESENCE_UPDATE:
            name = "user:offline" if data["status"] == "offline" else "user:online"
            return self.frame(name, {"userId": js_number(data["user_id"])})
        return None

    @staticmethod
    def select(session: Session, event: Event, encoded: object):
        if event.name == events.MESSAGE_NEW:
            data = event.data
            if data["sender_id"] == session.user.id and data["client_ref"] in _refs(session):
                return ()  # this connection sent it: it had message-sent
        elif event.name == events.PRESENCE_UPDATE and event.data["user_id"] == session.user.id:
            return ()  # others' presence only
        return (encoded,)

    def notice(self, error: ChatError) -> eio_packet.Packet:
        return self.frame("error", self._error(error))


def _wording(error: ChatError) -> str:
    """The words seed 001's clients show (its document's), for the errors it names."""
    if error.code == Code.ROOM_NOT_FOUND:
        return "Conversation not found"
    if error.code == Code.NOT_MEMBER:
        return "Unauthorized to join this conversation"
    return error.message
