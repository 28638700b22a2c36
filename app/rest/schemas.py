"""What clients send over REST: request bodies and query strings."""

from __future__ import annotations

import tomllib

from marshmallow import RAISE, Schema, fields, validate

from app.chat.rules import MAX_CLIENT_REF_LENGTH, MAX_ROOM_NAME_LENGTH, STATUSES
from app.schemas.fields import (
    END,
    NOT_BLANK,
    PRINTABLE_TEXT,
    Identifier,
    MessageIdentifier,
    Sequence,
    UserIdentifier,
    Version,
)
from app.schemas.payloads import TIME, RoomViewSchema, UserSchema
from config.settings import DEFAULTS_FILE

_LIMITS = tomllib.loads(DEFAULTS_FILE.read_text())["limits"]
MAX_MESSAGE_LENGTH = _LIMITS["max_message_length"]  # the defaults: a deployment may set other limits
SEARCH_QUERY_MAX = _LIMITS["search_query_max"]

# The JSON Schema of texts the core checks (documented; the core's rules validate them).
ROOM_NAME = {"minLength": 1, "maxLength": MAX_ROOM_NAME_LENGTH, "pattern": NOT_BLANK}
CONTENT = {"minLength": 1, "maxLength": MAX_MESSAGE_LENGTH, "pattern": NOT_BLANK}
# A search query: 1 to 12 words of letters or digits (`_` separates, as any other character), each at most
# 100 characters long (app.chat.search.check_query), and no NUL.
_SEPARATOR = r"(?:_|[^\w\x00])"
SEARCH_QUERY = rf"^{_SEPARATOR}*(?:[^\W_]{{1,100}}{_SEPARATOR}+){{0,11}}[^\W_]{{1,100}}{_SEPARATOR}*{END}"
# One emoji: `format: emoji` (Unicode's emoji data decides, which no pattern states; at most 32 code points).
EMOJI = {"format": "emoji"}


class _Request(Schema):
    class Meta:
        unknown = RAISE


class CreateGroupSchema(_Request):
    name = fields.String(
        required=True,
        metadata={**ROOM_NAME, "description": "1 to 200 characters, not only white space (which is trimmed)."},
    )
    participants = fields.List(
        UserIdentifier(),
        load_default=list,
        metadata={"description": "User ids to add besides the creator (users who never connected are fine)."},
    )


class StartDirectSchema(_Request):
    user_id = UserIdentifier(required=True, metadata={"description": "The other user's id."})


class AddMembersSchema(_Request):
    user_ids = fields.List(UserIdentifier(), required=True, validate=validate.Length(min=1))


class SendMessageSchema(_Request):
    # Beyond its fields: `content`, or an attachment to carry.
    JSON_SCHEMA = {
        "anyOf": [
            {"required": ["content"]},
            {"required": ["attachment_id"], "properties": {"attachment_id": {"not": {"type": "null"}}}},
        ]
    }

    content = fields.String(
        load_default=None,
        allow_none=False,  # may be left out (with an attachment), never null
        metadata={
            **CONTENT,
            "description": f"At most MAX_MESSAGE_LENGTH ({MAX_MESSAGE_LENGTH} by default) characters, not only "
            "white space. Optional with an attachment (a caption, which may then be empty).",
        },
    )
    client_ref = fields.String(
        allow_none=True,
        load_default=None,
        metadata={
            "minLength": 1,
            "maxLength": MAX_CLIENT_REF_LENGTH,
            **PRINTABLE_TEXT,
            "description": f"Makes a resend idempotent: 1 to {MAX_CLIENT_REF_LENGTH} printable characters.",
        },
    )
    type = fields.String(load_default="text", validate=validate.OneOf(["text", "image", "file", "video", "audio"]))
    reply_to = MessageIdentifier(
        allow_none=True, load_default=None, metadata={"description": "A message of the same room."}
    )
    attachment_id = Identifier(allow_none=True, load_default=None, metadata={"description": "From an upload."})


class EditBodySchema(_Request):
    content = fields.String(
        required=True,
        metadata={**CONTENT, "description": "At most MAX_MESSAGE_LENGTH characters, not only white space."},
    )


class ReactionBodySchema(_Request):
    emoji = fields.String(required=True, metadata={**EMOJI, "description": "Exactly one emoji."})


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
        metadata={
            "enum": sorted(STATUSES),
            "description": "online, away, busy or offline; the synonyms listed are accepted (in any case, too).",
        },
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
            "minLength": 1,
            "maxLength": SEARCH_QUERY_MAX,
            "pattern": SEARCH_QUERY,
            "description": "The words to find, in any order (at most SEARCH_QUERY_MAX characters and 12 words of "
            "letters or digits, each at most 100 characters long; `_` and other characters separate them). "
            "Case and accents are ignored; a word of two or more characters (one, in Chinese, Japanese and "
            "Korean) also finds the words it begins.",
        },
    )
    room_id = MessageIdentifier(metadata={"description": "Only this room (one of mine)."})
    cursor = fields.String(metadata={"description": "`next_cursor` of the previous page."})
    limit = fields.Integer(
        load_default=20, validate=validate.Range(min=1), metadata={"description": "Hits per page, at most 50."}
    )
