"""What clients send over REST: request bodies and query strings."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from app.schemas.fields import Identifier, Sequence, Version
from app.schemas.payloads import TIME, RoomViewSchema, UserSchema


class _Request(Schema):
    class Meta:
        unknown = RAISE


class CreateGroupSchema(_Request):
    name = fields.String(required=True, metadata={"description": "1 to 200 characters."})
    participants = fields.List(
        Identifier(),
        load_default=list,
        metadata={"description": "User ids to add besides the creator (users who never connected are fine)."},
    )


class StartDirectSchema(_Request):
    user_id = Identifier(required=True, metadata={"description": "The other user's id."})


class AddMembersSchema(_Request):
    user_ids = fields.List(Identifier(), required=True, validate=validate.Length(min=1))


class SendMessageSchema(_Request):
    content = fields.String(
        load_default=None,
        allow_none=False,  # may be left out (with an attachment), never null
        metadata={"description": "Optional with an attachment (a caption)."},
    )
    client_ref = fields.String(
        allow_none=True, load_default=None, metadata={"description": "Makes a resend idempotent."}
    )
    type = fields.String(load_default="text", validate=validate.OneOf(["text", "image", "file", "video", "audio"]))
    reply_to = Identifier(allow_none=True, load_default=None, metadata={"description": "A message of the same room."})
    attachment_id = Identifier(allow_none=True, load_default=None, metadata={"description": "From an upload."})


class EditBodySchema(_Request):
    content = fields.String(required=True)


class ReactionBodySchema(_Request):
    emoji = fields.String(required=True, metadata={"description": "Exactly one emoji."})


class HistoryQuerySchema(_Request):
    before = Sequence(strict=False, metadata={"description": "Only messages with a smaller seq."})
    after = Sequence(strict=False, metadata={"description": "Only messages with a larger seq (paging forward)."})
    limit = fields.Integer(
        load_default=50, validate=validate.Range(min=1), metadata={"description": "At most HISTORY_PAGE_MAX."}
    )


class ChangesQuerySchema(_Request):
    since = Version(
        load_default=None,
        metadata={
            "description": "A cursor from an earlier answer or a catch-up's `changes_cursor`; omitted: "
            "no messages, and a cursor to start from."
        },
    )


class ReadBodySchema(_Request):
    seq = Sequence(
        allow_none=True, load_default=None, metadata={"description": "Read up to this seq; omitted: all of the room."}
    )


class StatusBodySchema(_Request):
    status = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "online, away, busy or offline; synonyms such as available, idle, dnd are accepted."},
    )


class NotificationsQuerySchema(_Request):
    limit = fields.Integer(
        load_default=100, validate=validate.Range(min=1), metadata={"description": "At most PENDING_NOTIFICATIONS_MAX."}
    )


class AckBodySchema(_Request):
    ids = fields.List(Identifier(), required=True, validate=validate.Length(min=1, max=1000))


class AcknowledgedSchema(Schema):
    acknowledged = fields.Integer(required=True, metadata={"description": "How many were pending."})


class RoomListSchema(Schema):
    rooms = fields.List(
        fields.Nested(RoomViewSchema), required=True, metadata={"description": "Newest activity first."}
    )


class MeSchema(UserSchema):
    pass


class DeviceSchema(Schema):
    device_id = fields.String(required=True, metadata={"description": "The `device_unique_id` it connected with."})
    preferred_language = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The last `preferred_language` it connected with (null if it never named one)."},
    )
    first_seen_at = fields.String(required=True, metadata={**TIME, "description": "When it first connected."})
    last_seen_at = fields.String(required=True, metadata={**TIME, "description": "When it last connected."})


class DevicesSchema(Schema):
    devices = fields.List(
        fields.Nested(DeviceSchema),
        required=True,
        metadata={
            "description": "Most recently seen first. A connection shows here once the presence flush has written it "
            "(a worker's `presence` job, usually within a second or two of connecting); its times are the user's "
            "last-seen time at that flush."
        },
    )


class ErrorResponseSchema(Schema):
    error = fields.String(required=True, metadata={"description": "A human-readable message."})
    details = fields.Dict(allow_none=True, required=True, metadata={"description": "Per-field errors and the like."})
    code = fields.String(required=True, metadata={"description": "Stable machine-readable code; see the list above."})
    status = fields.Integer(required=True, metadata={"description": "The HTTP status, repeated."})


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.Equal("ok"))
    timestamp = fields.String(required=True, metadata={**TIME, "description": "The node's time now (seed 002)."})


class SearchQuerySchema(_Request):
    q = fields.String(
        required=True,
        metadata={
            "description": "The words to find, in any order (at most SEARCH_QUERY_MAX characters and 12 words). "
            "Case and accents are ignored; a word of two or more characters (one, in Chinese, Japanese and "
            "Korean) also finds the words it begins."
        },
    )
    room_id = Identifier(metadata={"description": "Only this room (one of mine)."})
    cursor = fields.String(metadata={"description": "`next_cursor` of the previous page."})
    limit = fields.Integer(
        load_default=20, validate=validate.Range(min=1), metadata={"description": "Hits per page, at most 50."}
    )
