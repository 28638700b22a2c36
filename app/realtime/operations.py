"""The operations every dialect performs, as data: name, payload schema, result schema, summary, errors.

One table for every wire protocol: a dialect decodes its frame into an operation name and a payload of
the operation's schema, and encodes the result (or the error) into its own frame. The hub registers a
handler for each operation here (and refuses to start if one is missing); the canonical Socket.IO
protocol names its client events after them, and the AsyncAPI document is generated from this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import Schema, fields

from app.chat.errors import Code
from app.realtime import schemas
from app.schemas.payloads import (
    STATUS,
    CatchUpSchema,
    DeletedSchema,
    EditedSchema,
    ErrorSchema,
    FavoriteSetSchema,
    ReactedSchema,
    ReadStateSchema,
    ReceiptSchema,
    RoomViewSchema,
)


@dataclass(frozen=True)
class Operation:
    payload: type[Schema]
    ack: type[Schema]
    summary: str
    errors: tuple[Code, ...] = ()
    optional_payload: bool = False  # no payload at all is read as {}


class LeftSchema(Schema):
    room_id = fields.String(required=True)


class SyncRoomResultSchema(Schema):
    ok = fields.Boolean(required=True)
    data = fields.Nested(CatchUpSchema, metadata={"description": "When ok."})
    room_id = fields.String(metadata={"description": "When not ok."})
    error = fields.Nested(ErrorSchema, metadata={"description": "When not ok."})


class SyncResultSchema(Schema):
    rooms = fields.List(fields.Nested(SyncRoomResultSchema), required=True)


class DirectResultSchema(Schema):
    room = fields.Nested(RoomViewSchema, required=True)
    created = fields.Boolean(required=True)


class StatusResultSchema(Schema):
    status = fields.String(required=True, validate=STATUS, metadata={"description": "The canonical status set."})


class HeartbeatResultSchema(Schema):
    status = fields.String(required=True, validate=STATUS)
    server_time = fields.String(required=True, metadata={"format": "date-time"})
    presence_ttl = fields.Integer(
        required=True, metadata={"description": "Seconds a connection stays online without a sign of life."}
    )


class TypingResultSchema(Schema):
    room_id = fields.String(required=True)
    typing = fields.Boolean(required=True)
    announced = fields.Boolean(
        required=True, metadata={"description": "False when throttled (a repeat) or when there was nothing to stop."}
    )


class AcknowledgedSchema(Schema):
    acknowledged = fields.Integer(required=True, metadata={"description": "How many were pending."})


ROOM_ERRORS = (Code.ROOM_NOT_FOUND, Code.NOT_MEMBER)
CHANGE_ERRORS = (Code.MESSAGE_NOT_FOUND, Code.NOT_SENDER, Code.MESSAGE_DELETED)
COMMON_ERRORS = (Code.INVALID_PAYLOAD, Code.RATE_LIMITED, Code.UNAVAILABLE, Code.INTERNAL_ERROR)

OPERATIONS: dict[str, Operation] = {
    "room:join": Operation(
        schemas.JoinSchema,
        CatchUpSchema,
        "Follow a room's live messages. With `since_seq`, the acknowledgement holds the messages after it "
        "(each message then arrives exactly once: in the acknowledgement or live, never both). With "
        "`changes_since` (the `changes_cursor` of the last join), it also holds in `changed` the messages up to "
        "`since_seq` edited or deleted since.",
        ROOM_ERRORS,
    ),
    "room:leave": Operation(schemas.LeaveSchema, LeftSchema, "Stop following a room's live messages."),
    "message:send": Operation(
        schemas.SendSchema,
        ReceiptSchema,
        "Send a message. The acknowledgement is the receipt (status `sent`, id, seq); a failure's acknowledgement "
        "also carries `status: error` and the `client_ref`. A resend with the same client_ref returns the first "
        "receipt with `duplicate: true` and stores nothing.",
        (
            *ROOM_ERRORS,
            Code.CONTENT_EMPTY,
            Code.CONTENT_TOO_LONG,
            Code.CONTENT_INVALID,
            Code.DUPLICATE_CLIENT_REF,
            Code.UNKNOWN_MESSAGE_TYPE,
            Code.REPLY_NOT_FOUND,
            Code.ATTACHMENT_NOT_FOUND,
        ),
    ),
    "message:edit": Operation(
        schemas.EditSchema,
        EditedSchema,
        "Edit my message (its content; a caption for an attachment). The room gets `message:updated`; the "
        "edit is kept in Redis and persisted by the workers like a message.",
        (*CHANGE_ERRORS, Code.SYSTEM_MESSAGE, Code.CONTENT_EMPTY, Code.CONTENT_TOO_LONG, Code.CONTENT_INVALID),
    ),
    "message:delete": Operation(
        schemas.DeleteSchema,
        DeletedSchema,
        "Delete my message, or any message of a room I own. A tombstone stays (the seq is kept); the room "
        "gets `message:deleted`.",
        CHANGE_ERRORS,
    ),
    "reaction:toggle": Operation(
        schemas.ReactSchema,
        ReactedSchema,
        "React to a message with one emoji: `on` true adds, false removes, omitted toggles. The room gets "
        "`reaction:update` with all the message's reactions.",
        (Code.MESSAGE_NOT_FOUND, Code.MESSAGE_DELETED, Code.INVALID_EMOJI),
    ),
    "favorite:toggle": Operation(
        schemas.FavoriteToggleSchema,
        FavoriteSetSchema,
        "Mark a room (I belong to) or a person as a favorite: `on` true marks, false unmarks, omitted toggles. "
        "My connections get `favorites:update`.",
        (*ROOM_ERRORS, Code.USER_NOT_FOUND),
    ),
    "sync": Operation(
        schemas.SyncSchema,
        SyncResultSchema,
        "After a reconnect: join many rooms at once, each with the last seq seen; one result per distinct entry, "
        "in order. The acknowledgement holds at most CATCHUP_LIMIT messages in all, not per room: the missed ones "
        "shared fairly (a room that missed a little gets all of it), then the changed ones. A room cut short says "
        "`has_more` (page on with `GET /api/v1/rooms/{id}/messages?after=<last seq received>`) or `changes_more` "
        "(`GET /api/v1/rooms/{id}/changes?since=<changes_cursor>`).",
    ),
    "direct:start": Operation(
        schemas.DirectStartSchema, DirectResultSchema, "Start (or find) the direct room with a user."
    ),
    "presence:set": Operation(
        schemas.StatusSchema,
        StatusResultSchema,
        "Choose my status (online, away, busy, offline to look offline; synonyms accepted). Everyone who shares "
        "a room with me gets `presence:update` when what they see changes.",
        (Code.UNKNOWN_STATUS,),
    ),
    "presence:heartbeat": Operation(
        schemas.HeartbeatSchema,
        HeartbeatResultSchema,
        "A sign of life (the payload may be omitted): keeps this connection online and records me as seen now.",
        optional_payload=True,
    ),
    "typing:start": Operation(
        schemas.TypingSchema,
        TypingResultSchema,
        "I am typing in a room (members only). Send it as often as you like: the room is told at most every "
        "TYPING_TIMEOUT/2 seconds, and the state clears after TYPING_TIMEOUT without a repeat.",
        ROOM_ERRORS,
    ),
    "typing:stop": Operation(schemas.TypingSchema, TypingResultSchema, "I stopped typing in a room.", ROOM_ERRORS),
    "room:read": Operation(
        schemas.ReadSchema,
        ReadStateSchema,
        "Mark a room read up to a seq (default: its last message). The cursor only moves forward; when it "
        "moves, the room's followers get `receipt:read` and my connections `unread:update`.",
        (*ROOM_ERRORS, Code.READ_BEYOND_LAST),
    ),
    "notifications:ack": Operation(
        schemas.AckNotificationsSchema,
        AcknowledgedSchema,
        "Mark pending notifications delivered by id (ids that are not mine or not pending are ignored).",
    ),
}
