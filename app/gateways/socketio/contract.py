"""The canonical Socket.IO protocol as data: every event, its payload schema, its acknowledgement.

Its client events are the session layer's operations, under the same names (`CLIENT_EVENTS`); its
server events are the core's events under their own names, plus `session:ready`, `server:shutdown`
and `error`. The AsyncAPI document is generated from these tables; tests validate real payloads
against it.

`SioChannel` is what every Socket.IO dialect's channel of the document is made from (this protocol's, and
seeds 001's and 002's in `seed_contract`): its namespace, how it connects, its client events (`ClientEvent`:
the payload, the acknowledgement when it succeeds and when it is refused) and server events (`ServerEvent`).
A shape of a payload is a marshmallow schema (class or instance), a marshmallow field (a string, a list...),
or, for the canonical acknowledgement's envelope, `OkData`.
"""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import EXCLUDE, Schema, fields, validate

from app.chat import events
from app.chat.errors import Code
from app.realtime.operations import OPERATIONS, Operation
from app.schemas.payloads import (
    STATUS,
    DeletedSchema,
    EditedSchema,
    ErrorSchema,
    FavoriteSchema,
    FavoritesSchema,
    MessageSchema,
    NotificationSchema,
    PendingNotificationsSchema,
    PersonSchema,
    PresenceSchema,
    ReactionsSchema,
    ReadStateSchema,
    RoomSchema,
    RoomViewSchema,
    UserSchema,
)

CLIENT_EVENTS: dict[str, Operation] = OPERATIONS  # the canonical protocol speaks every operation by its name


@dataclass(frozen=True)
class OkData:
    """The canonical acknowledgement of a success: `{ok: true, data: <the schema>}`."""

    data: type[Schema]


Shape = type[Schema] | Schema | fields.Field | OkData  # what a payload is described with


@dataclass(frozen=True)
class ServerEvent:
    payload: Shape
    summary: str


@dataclass(frozen=True)
class ClientEvent:
    """A client event of a Socket.IO channel: its payload (the argument the server reads), the value of its
    acknowledgement when the server performs it (`ack`) and when it refuses it (`ack_error`), and the error
    codes a refusal may carry."""

    payload: Shape
    summary: str
    ack: Shape
    ack_error: Shape
    errors: tuple[Code, ...] = ()
    optional_payload: bool = False  # no payload at all is read as {}


@dataclass(frozen=True)
class SioChannel:
    """One Socket.IO namespace of the one server (Engine.IO path `/socket.io/`): how a client connects (the
    handshake's query string and the CONNECT packet's `auth`, both optional here: the description says which
    fields go where), its events both ways, and how a refusal of a client event shows: the server events that
    tell it (`refusals`; with `refusal_with_ack`, sent even when the event asked for an acknowledgement, whose
    value then says it too) and the acknowledgement of an event the namespace does not know. `arguments`:
    "all" when an event's one argument is its payload (several are read as an array, none as null), "first"
    when the first is (the others are ignored)."""

    namespace: str
    title: str
    description: str
    transports: tuple[str, ...]
    query: type[Schema]
    auth: type[Schema]
    client: dict[str, ClientEvent]
    server: dict[str, ServerEvent]
    refusals: tuple[str, ...]
    refusal_with_ack: bool
    unknown_event_ack: Shape
    arguments: str = "all"
    path: str = "/socket.io/"


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
    message_id = fields.String(
        allow_none=True, required=True, metadata={"description": "The message at `read_seq` (null at seq 0)."}
    )
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


# -- the channel: namespace `/` ----------------------------------------------------------------------------


class _Handshake(Schema):
    class Meta:
        unknown = EXCLUDE  # fields the server does not read are ignored


class CanonicalQuerySchema(_Handshake):
    token = fields.String(metadata={"description": "The JWT, when `auth` does not carry it."})
    device_unique_id = fields.String(metadata={"description": "This device's id (its devices list, push)."})
    preferred_language = fields.String(metadata={"description": "A language tag, e.g. `en_GB`."})


class CanonicalAuthSchema(CanonicalQuerySchema):
    token = fields.String(metadata={"description": "The JWT (a `Bearer ` prefix is accepted)."})
    user_id = fields.Raw(
        metadata={
            "type": ["string", "integer"],
            "description": "Optional: a user id claimed beside the token, which must be its subject.",
        }
    )
    userId = fields.Raw(metadata={"type": ["string", "integer"], "description": "The same as `user_id`."})


SOCKET = SioChannel(
    namespace="/",
    title="Socket.IO: the canonical protocol",
    description="""\
Socket.IO (Engine.IO v4) on namespace `/`, path `/socket.io/`. Connect with `auth: {token: "<JWT>"}`
(a `Bearer ` prefix is accepted; `?token=` in the URL too). A refused connection gets `connect_error`
with `data: {code, message}`.

Every client event takes an acknowledgement callback, answered `{ok: true, data}` or
`{ok: false, error: {code, message, details}}`. Without a callback a failure arrives as an `error` event.""",
    transports=("websocket", "polling"),
    query=CanonicalQuerySchema,
    auth=CanonicalAuthSchema,
    client={
        name: ClientEvent(
            operation.payload,
            operation.summary,
            OkData(operation.ack),
            AckErrorSchema,
            operation.errors,
            operation.optional_payload,
        )
        for name, operation in CLIENT_EVENTS.items()
    },
    server=SERVER_EVENTS,
    refusals=("error",),
    refusal_with_ack=False,
    unknown_event_ack=AckErrorSchema,
)
