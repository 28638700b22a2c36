"""What the service returns: the shapes of `app.chat.payloads`, described for the API documents."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.chat.errors import Code

TIME = {"description": "ISO 8601 in UTC with milliseconds, e.g. 2026-11-21T12:00:00.123Z", "format": "date-time"}


class UserSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The identity provider's id (the token's `sub`)."})
    name = fields.String(allow_none=True, required=True)
    username = fields.String(allow_none=True, required=True)


class MessageSchema(Schema):
    id = fields.String(required=True, metadata={"description": "Time-ordered 64-bit id, as a decimal string."})
    room_id = fields.String(required=True)
    seq = fields.Integer(required=True, metadata={"description": "Position in the room: 1, 2, 3… without gaps."})
    sender_id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(["text"]))
    content = fields.String(required=True)
    client_ref = fields.String(allow_none=True, required=True)
    created_at = fields.String(required=True, metadata=TIME)


class MemberSchema(Schema):
    user_id = fields.String(required=True)
    name = fields.String(allow_none=True, required=True)
    role = fields.String(required=True, validate=validate.OneOf(["owner", "member"]))
    joined_at = fields.String(required=True, metadata=TIME)


class RoomSchema(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(["direct", "group"]))
    name = fields.String(allow_none=True, required=True, metadata={"description": "Null for direct rooms."})
    owner_id = fields.String(allow_none=True, required=True, metadata={"description": "Null for direct rooms."})
    created_at = fields.String(required=True, metadata=TIME)


class RoomViewSchema(RoomSchema):
    member_count = fields.Integer(required=True)
    last_seq = fields.Integer(required=True, metadata={"description": "Seq of the room's newest message (0: none)."})
    unread_count = fields.Integer(required=True, metadata={"description": "Messages after the caller's read cursor."})
    last_message = fields.Nested(MessageSchema, allow_none=True, required=True)
    peer = fields.Nested(MemberSchema, allow_none=True, required=True, metadata={"description": "Direct rooms only."})
    members = fields.List(fields.Nested(MemberSchema), metadata={"description": "In single-room views only."})


class ReceiptSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["sent"]))
    id = fields.String(required=True, metadata={"description": "The message id."})
    room_id = fields.String(required=True)
    seq = fields.Integer(required=True)
    client_ref = fields.String(allow_none=True, required=True)
    created_at = fields.String(required=True, metadata=TIME)
    duplicate = fields.Boolean(
        required=True, metadata={"description": "True when this client_ref was seen before: nothing new was stored."}
    )


class PageSchema(Schema):
    messages = fields.List(fields.Nested(MessageSchema), required=True, metadata={"description": "Ascending seq."})
    last_seq = fields.Integer(required=True)
    has_more_before = fields.Boolean(required=True)
    has_more_after = fields.Boolean(required=True)


class CatchUpSchema(Schema):
    room_id = fields.String(required=True)
    last_seq = fields.Integer(required=True)
    messages = fields.List(fields.Nested(MessageSchema), required=True, metadata={"description": "Ascending seq."})
    has_more = fields.Boolean(required=True, metadata={"description": "More were missed than one catch-up holds."})


class ErrorSchema(Schema):
    code = fields.String(required=True, validate=validate.OneOf([c.value for c in Code]))
    message = fields.String(required=True)
    details = fields.Dict(allow_none=True)


STATUS = validate.OneOf(["online", "away", "busy", "offline"])


class PresenceSchema(Schema):
    user_id = fields.String(required=True)
    status = fields.String(
        required=True,
        validate=STATUS,
        metadata={
            "description": "The status the user chose while any connection of theirs is alive; offline otherwise."
        },
    )
    last_seen_at = fields.String(
        allow_none=True, required=True, metadata={**TIME, "description": "When a connection was last alive."}
    )


class NotificationSchema(Schema):
    id = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Set on stored (pending) notifications, to acknowledge them; null on live-only ones."},
    )
    room_id = fields.String(required=True)
    message_id = fields.String(required=True)
    seq = fields.Integer(required=True)
    sender_id = fields.String(required=True)
    sender_name = fields.String(allow_none=True, required=True)
    excerpt = fields.String(required=True, metadata={"description": "The start of the message."})
    created_at = fields.String(required=True, metadata=TIME)


class ReadStateSchema(Schema):
    room_id = fields.String(required=True)
    read_seq = fields.Integer(required=True, metadata={"description": "The read cursor now (it only moves forward)."})
    unread_count = fields.Integer(required=True)
    total_unread = fields.Integer(required=True, metadata={"description": "Over all my rooms."})


class RoomUnreadSchema(Schema):
    room_id = fields.String(required=True)
    last_seq = fields.Integer(required=True)
    read_seq = fields.Integer(required=True)
    unread_count = fields.Integer(required=True)


class UnreadSchema(Schema):
    total_unread = fields.Integer(required=True)
    rooms = fields.List(fields.Nested(RoomUnreadSchema), required=True)


class PendingNotificationsSchema(Schema):
    notifications = fields.List(
        fields.Nested(NotificationSchema), required=True, metadata={"description": "Oldest first."}
    )
    total = fields.Integer(required=True, metadata={"description": "How many are pending in all."})
