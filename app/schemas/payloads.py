"""What the service returns: the shapes of `app.chat.payloads`, described for the API documents."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.chat.errors import Code

TIME = {"description": "ISO 8601 in UTC with milliseconds, e.g. 2026-11-21T12:00:00.123Z", "format": "date-time"}


class UserSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The identity provider's id (the token's `sub`)."})
    name = fields.String(allow_none=True, required=True)
    username = fields.String(allow_none=True, required=True)


MESSAGE_TYPES = ["text", "image", "file", "video", "audio", "system"]


class AttachmentSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "The uploaded file's name, cleaned."})
    content_type = fields.String(required=True, metadata={"description": "Decided by the server from the bytes."})
    size = fields.Integer(required=True, metadata={"description": "Bytes."})
    kind = fields.String(required=True, validate=validate.OneOf(["image", "video", "audio", "file"]))
    url = fields.String(
        allow_none=True, required=True, metadata={"description": "Signed download link; expires at url_expires_at."}
    )
    url_expires_at = fields.String(allow_none=True, required=True, metadata=TIME)


class ReactionGroupSchema(Schema):
    emoji = fields.String(required=True)
    count = fields.Integer(required=True)
    user_ids = fields.List(fields.String(), required=True, metadata={"description": "In the order they reacted."})


class MessageSchema(Schema):
    id = fields.String(required=True, metadata={"description": "Time-ordered 64-bit id, as a decimal string."})
    room_id = fields.String(required=True)
    seq = fields.Integer(required=True, metadata={"description": "Position in the room: 1, 2, 3… without gaps."})
    sender_id = fields.String(required=True)
    type = fields.String(
        required=True,
        validate=validate.OneOf(MESSAGE_TYPES),
        metadata={"description": "`system` messages are made by the service (meta says what happened)."},
    )
    content = fields.String(required=True, metadata={"description": "Empty for a deleted message."})
    client_ref = fields.String(allow_none=True, required=True)
    created_at = fields.String(required=True, metadata=TIME)
    reply_to = fields.String(allow_none=True, required=True, metadata={"description": "Id of the message replied to."})
    attachment = fields.Nested(AttachmentSchema, allow_none=True, required=True)
    meta = fields.Dict(
        allow_none=True,
        required=True,
        metadata={
            "description": "System messages: {event: direct_started|members_added|member_removed|member_left, "
            "user_ids, by}."
        },
    )
    edited_at = fields.String(allow_none=True, required=True, metadata=TIME)
    deleted_at = fields.String(allow_none=True, required=True, metadata=TIME)
    deleted_by = fields.String(allow_none=True, required=True)
    version = fields.String(
        required=True,
        metadata={"description": "Grows with every edit or delete (0: never changed); keep the highest one seen."},
    )
    reactions = fields.List(fields.Nested(ReactionGroupSchema), required=True)


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
    changed = fields.List(
        fields.Nested(MessageSchema),
        required=True,
        metadata={
            "description": "With `changes_since`: messages up to `since_seq` edited or deleted since, as they are "
            "now, oldest change first. Replace what you show when the version is higher."
        },
    )
    changes_cursor = fields.String(
        required=True, metadata={"description": "Give it as `changes_since` when you next join or sync this room."}
    )
    changes_more = fields.Boolean(
        required=True,
        metadata={"description": "More changes than one catch-up holds: page on with GET /api/v1/rooms/{id}/changes."},
    )


class ChangesSchema(Schema):
    messages = fields.List(
        fields.Nested(MessageSchema), required=True, metadata={"description": "As they are now, oldest change first."}
    )
    cursor = fields.String(required=True, metadata={"description": "Ask with it as `since` next time."})
    has_more = fields.Boolean(required=True, metadata={"description": "Ask again at once with the cursor."})


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


class FavoriteSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(["room", "user"]))
    id = fields.String(required=True)
    name = fields.String(allow_none=True, required=True, metadata={"description": "A direct room shows the peer's."})
    created_at = fields.String(required=True, metadata=TIME)


class FavoritesSchema(Schema):
    favorites = fields.List(fields.Nested(FavoriteSchema), required=True, metadata={"description": "Oldest first."})


class PersonSchema(PresenceSchema):
    name = fields.String(allow_none=True, required=True)


class PeopleSchema(Schema):
    people = fields.List(fields.Nested(PersonSchema), required=True)


class DeletedSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The message id."})
    room_id = fields.String(required=True)
    seq = fields.Integer(required=True)
    deleted_at = fields.String(required=True, metadata=TIME)
    deleted_by = fields.String(required=True)
    version = fields.String(required=True)


class ReactionsSchema(Schema):
    room_id = fields.String(required=True)
    message_id = fields.String(required=True)
    seq = fields.Integer(required=True)
    reactions = fields.List(fields.Nested(ReactionGroupSchema), required=True, metadata={"description": "All of them."})


class ReactedSchema(ReactionsSchema):
    emoji = fields.String(required=True)
    reacted = fields.Boolean(required=True, metadata={"description": "Whether my reaction is there now."})
    changed = fields.Boolean(required=True)


class FavoriteSetSchema(FavoritesSchema):
    favorite = fields.Boolean(required=True, metadata={"description": "Whether it is a favorite now."})


class EditedSchema(Schema):
    message = fields.Nested(MessageSchema, required=True)


class ExcerptSegmentSchema(Schema):
    text = fields.String(required=True)
    match = fields.Boolean(required=True, metadata={"description": "True where a word of the query matched."})


class SearchHitSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The message id."})
    room_id = fields.String(required=True)
    seq = fields.Integer(required=True, metadata={"description": "Where the message is in its room's history."})
    sender_id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(["text", "image", "file", "video", "audio"]))
    created_at = fields.String(required=True, metadata=TIME)
    edited_at = fields.String(allow_none=True, required=True, metadata=TIME)
    rank = fields.Float(required=True, metadata={"description": "Relevance: higher is better (within one search)."})
    excerpt = fields.List(
        fields.Nested(ExcerptSegmentSchema),
        required=True,
        metadata={
            "description": "The part of the message around its matches (about 160 characters, white space collapsed, "
            "`…` where cut), as consecutive segments: join their `text` to show it, mark those with `match`."
        },
    )


class SearchResultsSchema(Schema):
    hits = fields.List(
        fields.Nested(SearchHitSchema),
        required=True,
        metadata={"description": "Best first: by rank, then newest first."},
    )
    next_cursor = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `cursor` (with the same q and room_id) for the next page; null on the last."},
    )
