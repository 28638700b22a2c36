"""Seed 004's dialect (a FastAPI service): `/ws/{user_id}?token=…`, JSON frames keyed by `event`.

One socket per user, following every conversation of the user from the start (no join step).

- Refused sessions are accepted, then closed: 4001 bad or missing token, 4002 the token's user is not
  the path's, 4003 a disabled user (1013 while the node stops, 1011 on an internal error).
- Client frames: `typing {conversationId}`, `message_read {conversationId, messageId}`, `heartbeat`,
  `status_change {status}` (`available` is online; `away`, `busy`; the synonyms of presence:set).
  Answers: `heartbeat_ack`, `status_change_ack {status}`; typing and reads are answered only when
  refused. Every refusal is `error {message, code}`, with `conversationId` echoed as the client wrote it.
- Server frames: `new_message`, `typing`, `message_read` and `user_status_change`, from the core's
  `message:new`, `typing:update` (starts only), `receipt:read` and `presence:update`. Nothing is sent
  unprompted on connect.
"""

from __future__ import annotations

import orjson

from app.chat import events
from app.chat.errors import ChatError, Code
from app.chat.events import Event
from app.gateways.websocket.binding import JsonDialect, Request, frame
from app.realtime.session import Credentials, Session
from app.schemas.fields import INVALID

# The client's events and the operations they perform, with the fields they carry (dialect -> operation).
EVENTS: dict[str, tuple[str, dict[str, str]]] = {
    "typing": ("typing:start", {"conversationId": "room_id"}),
    "message_read": ("room:read", {"conversationId": "room_id", "messageId": "message_id"}),
    "heartbeat": ("presence:heartbeat", {}),
    "status_change": ("presence:set", {"status": "status"}),
}
FIELD_NAMES = {"room_id": "conversationId", "message_id": "messageId", "status": "status"}
# Statuses as this dialect's clients name them.
STATUSES = {"online": "available", "away": "away", "busy": "busy", "offline": "offline"}
CLOSE_CODES = {
    Code.AUTH_REQUIRED: 4001,
    Code.INVALID_TOKEN: 4001,
    Code.TOKEN_EXPIRED: 4001,
    Code.USER_MISMATCH: 4002,
    Code.USER_DISABLED: 4003,
    Code.UNAVAILABLE: 1013,  # try again later
    Code.INTERNAL_ERROR: 1011,
}
SERVER_FRAMES = (
    "new_message",
    "typing",
    "message_read",
    "user_status_change",
    "heartbeat_ack",
    "status_change_ack",
    "error",
)


class FastapiDialect(JsonDialect):
    name = "fastapi"
    operations = tuple(operation for operation, _fields in EVENTS.values())
    frames = (*SERVER_FRAMES, events.MESSAGE_NEW, events.TYPING_UPDATE, events.RECEIPT_READ, events.PRESENCE_UPDATE)
    follows_all_rooms = True

    def credentials(self, request) -> Credentials:
        return Credentials(token=request.query.get("token"), user_id=request.match_info["user_id"])

    def decode(self, session: Session, message: object) -> Request:
        if not isinstance(message, dict):
            raise ChatError(Code.INVALID_PAYLOAD, "a frame must be a JSON object with an `event`")
        event = message.get("event")
        if not isinstance(event, str) or event not in EVENTS:  # a list or an object is no event name
            name = event if isinstance(event, str) else None
            raise ChatError(Code.UNKNOWN_EVENT, f"Unknown event: {name}" if name else "`event` is required")
        operation, fields = EVENTS[event]
        missing = [name for name in fields if message.get(name) is None]
        if missing:
            raise ChatError(
                Code.INVALID_PAYLOAD,
                f"{missing[0]} is required",
                {"fields": {name: ["Missing data for required field."] for name in missing}},
            )
        return Request(operation, {ours: message[theirs] for theirs, ours in fields.items()}, message)

    def reply(self, request: Request, result: dict) -> tuple[bytes, str] | None:
        if request.operation == "presence:heartbeat":
            return frame({"event": "heartbeat_ack"}), "heartbeat_ack"
        if request.operation == "presence:set":
            return frame({"event": "status_change_ack", "status": STATUSES[result["status"]]}), "status_change_ack"
        return None

    def error(self, error: ChatError, request: Request | None) -> bytes:
        body: dict = {"event": "error", "message": _message(error), "code": error.code.value}
        if request is not None and "conversationId" in request.frame:
            body["conversationId"] = request.frame["conversationId"]
            try:
                return frame(body)
            except orjson.JSONEncodeError:  # nested deeper than JSON is written (254 levels): not echoed
                del body["conversationId"]
        return frame(body)

    def close_code(self, error: ChatError) -> int:
        return CLOSE_CODES.get(error.code, 1008)

    async def encode(self, event: Event) -> bytes | None:
        data = event.data
        name = event.name
        if name == events.MESSAGE_NEW:
            return frame(
                {
                    "event": "new_message",
                    "conversationId": data["room_id"],
                    "messageId": data["id"],
                    "senderId": data["sender_id"],
                    "content": data["content"],
                    "messageType": data["type"],
                    "timestamp": data["created_at"],
                }
            )
        if name == events.TYPING_UPDATE and data["typing"]:
            return frame({"event": "typing", "conversationId": data["room_id"], "userId": data["user_id"]})
        if name == events.RECEIPT_READ and data.get("message_id") is not None:
            return frame(
                {
                    "event": "message_read",
                    "conversationId": data["room_id"],
                    "messageId": data["message_id"],
                    "userId": data["user_id"],
                }
            )
        if name == events.PRESENCE_UPDATE:
            return frame({"event": "user_status_change", "userId": data["user_id"], "status": STATUSES[data["status"]]})
        return None


def _message(error: ChatError) -> str:
    """The error's message; for a payload that failed validation, what was wrong with each field, named as
    this dialect's clients name it."""
    fields = (error.details or {}).get("fields") if error.message == INVALID else None
    if isinstance(fields, dict) and fields:
        return "; ".join(f"{FIELD_NAMES.get(name, name)}: {' '.join(map(str, msgs))}" for name, msgs in fields.items())
    return error.message
