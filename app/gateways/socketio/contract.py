"""The Socket.IO protocol as data: every event, its payload schema, its acknowledgement.

The gateway registers a handler for each client event here (and refuses
to start if one is missing); the AsyncAPI document is generated from
this table; tests validate real payloads against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import Schema, fields, validate

from app.chat import events
from app.chat.errors import Code
from app.gateways.socketio import schemas
from app.schemas.payloads import (
    STATUS,
    CatchUpSchema,
    DeletedSchema,
    EditedSchema,
    ErrorSchema,
    FavoriteSchema,
    FavoriteSetSchema,
    FavoritesSchema,
    MessageSchema,
    NotificationSchema,
    PendingNotificationsSchema,
    PersonSchema,
    PresenceSchema,
    ReactedSchema,
    ReactionsSchema,
    ReadStateSchema,
    ReceiptSchema,
    RoomSchema,
    RoomViewSchema,
    UserSchema,
)


@dataclass(frozen=True)
class ClientEvent:
    payload: type[Schema]
    ack: type[Schema]
    summary: str
    errors: tuple[Code, ...] = ()
    optional_payload: bool = False  # no payload at all is read as {}


@dataclass(frozen=True)
class ServerEvent:
    payload: type[Schema]
    summary: str


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


class SessionReadySchema(Schema):
    user = fields.Nested(UserSchema, required=True)
    status = fields.String(required=True, validate=STATUS, metadata={"description": "The status I chose."})
    total_unread = fields.Integer(
        allow_none=True, required=True, metadata={"description": "Unread messages over all my rooms."}
    )
    rooms = fields.List(
        fields.Nested(RoomViewSchema),
        allow_none=True,
        required=True,
        metadata={
            "description": "My rooms, newest activity first; null if they could not be read (an `error` follows)."
        },
    )
    people = fields.List(
        fields.Nested(PersonSchema),
        allow_none=True,
        required=True,
        metadata={"description": "Everyone who shares a room with me, with presence; null if unreadable."},
    )
    favorites = fields.List(
        fields.Nested(FavoriteSchema),
        allow_none=True,
        required=True,
        metadata={"description": "My favorite rooms and people, oldest first; null if unreadable."},
    )


class PeopleUpdateSchema(Schema):
    added = fields.List(
        fields.Nested(PersonSchema), required=True, metadata={"description": "Now share a room with me (or refreshed)."}
    )
    removed = fields.List(fields.String(), required=True, metadata={"description": "No longer share any room."})


class RoomAddedSchema(Schema):
    room = fields.Nested(RoomSchema, required=True)


class RoomRemovedSchema(Schema):
    room_id = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(["left", "removed"]))


class MembersChangedSchema(Schema):
    room_id = fields.String(required=True)
    added = fields.List(fields.String(), required=True)
    removed = fields.List(fields.String(), required=True)
    owner_id = fields.String(allow_none=True, required=True)


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


class TypingUpdateSchema(Schema):
    room_id = fields.String(required=True)
    user_id = fields.String(required=True)
    typing = fields.Boolean(required=True)
    expires_in = fields.Float(
        required=True, metadata={"description": "Seconds after which to clear the indicator if no update came."}
    )


class ReceiptReadSchema(Schema):
    room_id = fields.String(required=True)
    user_id = fields.String(required=True)
    read_seq = fields.Integer(required=True)
    read_at = fields.String(required=True, metadata={"format": "date-time"})


class NotificationNewSchema(NotificationSchema):
    unread_count = fields.Integer(required=True, metadata={"description": "My unread messages in the room."})


SERVER_SHUTDOWN = "server:shutdown"


class ShutdownSchema(Schema):
    reason = fields.String(
        required=True, validate=validate.OneOf(["shutdown"]), metadata={"description": "Why: the node is stopping."}
    )
    reconnect_in_ms = fields.Integer(
        required=True,
        validate=validate.Range(min=0),
        metadata={
            "description": "Wait about this long before reconnecting (a random spread, up to RECONNECT_SPREAD_MS, so "
            "the clients of a stopping node do not all arrive elsewhere at once)."
        },
    )


class ErrorEventSchema(ErrorSchema):
    event = fields.String(
        allow_none=True, required=True, metadata={"description": "The client event that failed (null: a bad packet)."}
    )
    client_ref = fields.String(metadata={"description": "Echoed from a failed message:send."})


ROOM_ERRORS = (Code.ROOM_NOT_FOUND, Code.NOT_MEMBER)
CHANGE_ERRORS = (Code.MESSAGE_NOT_FOUND, Code.NOT_SENDER, Code.MESSAGE_DELETED)
COMMON_ERRORS = (Code.INVALID_PAYLOAD, Code.RATE_LIMITED, Code.UNAVAILABLE, Code.INTERNAL_ERROR)

CLIENT_EVENTS: dict[str, ClientEvent] = {
    "room:join": ClientEvent(
        schemas.JoinSchema,
        CatchUpSchema,
        "Follow a room's live messages. With `since_seq`, the acknowledgement holds the messages after it "
        "(each message then arrives exactly once: in the acknowledgement or live, never both). With "
        "`changes_since` (the `changes_cursor` of the last join), it also holds in `changed` the messages up to "
        "`since_seq` edited or deleted since.",
        ROOM_ERRORS,
    ),
    "room:leave": ClientEvent(schemas.LeaveSchema, LeftSchema, "Stop following a room's live messages."),
    "message:send": ClientEvent(
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
    "message:edit": ClientEvent(
        schemas.EditSchema,
        EditedSchema,
        "Edit my message (its content; a caption for an attachment). The room gets `message:updated`; the "
        "edit is kept in Redis and persisted by the workers like a message.",
        (*CHANGE_ERRORS, Code.SYSTEM_MESSAGE, Code.CONTENT_EMPTY, Code.CONTENT_TOO_LONG, Code.CONTENT_INVALID),
    ),
    "message:delete": ClientEvent(
        schemas.DeleteSchema,
        DeletedSchema,
        "Delete my message, or any message of a room I own. A tombstone stays (the seq is kept); the room "
        "gets `message:deleted`.",
        CHANGE_ERRORS,
    ),
    "reaction:toggle": ClientEvent(
        schemas.ReactSchema,
        ReactedSchema,
        "React to a message with one emoji: `on` true adds, false removes, omitted toggles. The room gets "
        "`reaction:update` with all the message's reactions.",
        (Code.MESSAGE_NOT_FOUND, Code.MESSAGE_DELETED, Code.INVALID_EMOJI),
    ),
    "favorite:toggle": ClientEvent(
        schemas.FavoriteToggleSchema,
        FavoriteSetSchema,
        "Mark a room (I belong to) or a person as a favorite: `on` true marks, false unmarks, omitted toggles. "
        "My connections get `favorites:update`.",
        (*ROOM_ERRORS, Code.USER_NOT_FOUND),
    ),
    "sync": ClientEvent(
        schemas.SyncSchema,
        SyncResultSchema,
        "After a reconnect: join many rooms at once, each with the last seq seen; one result per room.",
    ),
    "direct:start": ClientEvent(
        schemas.DirectStartSchema, DirectResultSchema, "Start (or find) the direct room with a user."
    ),
    "presence:set": ClientEvent(
        schemas.StatusSchema,
        StatusResultSchema,
        "Choose my status (online, away, busy, offline to look offline; synonyms accepted). Everyone who shares "
        "a room with me gets `presence:update` when what they see changes.",
        (Code.UNKNOWN_STATUS,),
    ),
    "presence:heartbeat": ClientEvent(
        schemas.HeartbeatSchema,
        HeartbeatResultSchema,
        "A sign of life (the payload may be omitted): keeps this connection online and records me as seen now.",
        optional_payload=True,
    ),
    "typing:start": ClientEvent(
        schemas.TypingSchema,
        TypingResultSchema,
        "I am typing in a room (members only). Send it as often as you like: the room is told at most every "
        "TYPING_TIMEOUT/2 seconds, and the state clears after TYPING_TIMEOUT without a repeat.",
        ROOM_ERRORS,
    ),
    "typing:stop": ClientEvent(schemas.TypingSchema, TypingResultSchema, "I stopped typing in a room.", ROOM_ERRORS),
    "room:read": ClientEvent(
        schemas.ReadSchema,
        ReadStateSchema,
        "Mark a room read up to a seq (default: its last message). The cursor only moves forward; when it "
        "moves, the room's followers get `receipt:read` and my connections `unread:update`.",
        (*ROOM_ERRORS, Code.READ_BEYOND_LAST),
    ),
    "notifications:ack": ClientEvent(
        schemas.AckNotificationsSchema,
        AcknowledgedSchema,
        "Mark pending notifications delivered by id (ids that are not mine or not pending are ignored).",
    ),
}

SERVER_EVENTS: dict[str, ServerEvent] = {
    "session:ready": ServerEvent(
        SessionReadySchema,
        "Sent once after connecting: who I am, my status, my rooms (last message, unread counts), the people "
        "I share rooms with (presence) and my favorites.",
    ),
    events.NOTIFICATION_PENDING: ServerEvent(
        PendingNotificationsSchema,
        "Sent once after `session:ready` when notifications were stored while I was offline: the newest "
        "PENDING_NOTIFICATIONS_MAX). Acknowledge the event (its callback) to mark them delivered; unacknowledged "
        "ones come again on the next connect.",
    ),
    events.NOTIFICATION_NEW: ServerEvent(
        NotificationNewSchema,
        "A message arrived in one of my rooms that this connection does not follow (see room:join).",
    ),
    events.PRESENCE_UPDATE: ServerEvent(
        PresenceSchema,
        "Someone who shares a room with me changed what others see, or I chose a status "
        "(every connection of mine is told, the one that chose it too).",
    ),
    events.TYPING_UPDATE: ServerEvent(TypingUpdateSchema, "Someone started or stopped typing in a room I follow."),
    events.RECEIPT_READ: ServerEvent(ReceiptReadSchema, "Another member read a room I follow up to a seq."),
    events.UNREAD_UPDATE: ServerEvent(ReadStateSchema, "I read a room (on any device): its and my total unread."),
    events.MESSAGE_NEW: ServerEvent(
        MessageSchema,
        "A message in a room this connection joined (its own messages included), in seq order. Rarely, after "
        "Redis lost writes, a message already shown comes again with a new seq: keep messages by id and move it.",
    ),
    events.MESSAGE_UPDATED: ServerEvent(EditedSchema, "A message in a room this connection joined was edited."),
    events.MESSAGE_DELETED: ServerEvent(DeletedSchema, "A message in a room this connection joined was deleted."),
    events.REACTION_UPDATE: ServerEvent(
        ReactionsSchema, "A message's reactions changed, in a room this connection joined: all of them."
    ),
    events.FAVORITES_UPDATE: ServerEvent(FavoritesSchema, "My favorites changed (on any device): the whole list."),
    events.PEOPLE_UPDATE: ServerEvent(
        PeopleUpdateSchema, "People started or stopped sharing a room with me (their presence follows presence:update)."
    ),
    events.ROOM_ADDED: ServerEvent(RoomAddedSchema, "I was added to a room (or created one)."),
    events.ROOM_REMOVED: ServerEvent(
        RoomRemovedSchema, "I left or was removed from a room; my connections stop following it."
    ),
    events.ROOM_MEMBERS_CHANGED: ServerEvent(MembersChangedSchema, "Members joined or left a room I follow."),
    SERVER_SHUTDOWN: ServerEvent(
        ShutdownSchema,
        "This node is stopping (a deploy, a scale-down): it closes the connection right after. Reconnect, after "
        "`reconnect_in_ms`, through the load balancer to another node, and catch up with `sync` (or `room:join` "
        "with `since_seq`). The node closes the transport, not the Socket.IO session, so a socket.io client "
        "reconnects by itself; acknowledged messages are safe (they are in Redis before the acknowledgement).",
    ),
    "error": ServerEvent(
        ErrorEventSchema, "A client event without an acknowledgement callback failed, or a packet was malformed."
    ),
}


class AckErrorSchema(Schema):
    ok = fields.Boolean(required=True, validate=validate.Equal(False))
    error = fields.Nested(ErrorSchema, required=True)
    status = fields.String(validate=validate.Equal("error"), metadata={"description": "message:send only."})
    client_ref = fields.String(allow_none=True, metadata={"description": "message:send only."})
