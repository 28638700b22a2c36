"""What clients send to perform an operation, whatever their dialect: one schema per operation.

Dialects translate their frames into these payloads. Unknown fields are ignored, so clients written
for a newer protocol keep working.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from app.schemas.fields import Identifier, Sequence, Version

# The most entries one `sync` may name. Its acknowledgement holds at most CATCHUP_LIMIT messages in all, so
# what is left per room is about one join's reads: 500 rooms never seen by the node took 1.7-2.8 s on a busy
# 2-core test machine (tests/realtime/test_sync_limits.py), all of it awaiting Postgres and Redis (/health
# answered within 20 ms meanwhile), with an acknowledgement of ~250 KB; a connection's events are handled one
# after another, so it runs one at a time. A client in more rooms sends several.
MAX_SYNC_ROOMS = 500


class _Event(Schema):
    class Meta:
        unknown = EXCLUDE


def changes_since() -> Version:
    return Version(
        allow_none=True,
        load_default=None,
        metadata={
            "description": "The `changes_cursor` of this client's last catch-up of the room: the acknowledgement "
            "then also holds the messages up to `since_seq` edited or deleted since."
        },
    )


class JoinSchema(_Event):
    room_id = Identifier(required=True)
    since_seq = Sequence(
        allow_none=True,
        load_default=None,
        metadata={
            "description": "The last seq this client saw in the room; the acknowledgement holds what came after."
        },
    )
    changes_since = changes_since()


class LeaveSchema(_Event):
    room_id = Identifier(required=True)


class SendSchema(_Event):
    room_id = Identifier(required=True)
    content = fields.String(
        load_default=None,
        allow_none=False,  # may be left out (with an attachment), never null
        metadata={"description": "Text, at most MAX_MESSAGE_LENGTH characters; optional with an attachment."},
    )
    client_ref = fields.String(
        allow_none=True,
        load_default=None,
        metadata={"description": "The client's own id for the message: a resend with it stores nothing new."},
    )
    type = fields.String(
        load_default="text",
        validate=validate.OneOf(["text", "image", "file", "video", "audio"]),
        metadata={"description": "With an attachment the server sets it from the file's kind."},
    )
    reply_to = Identifier(allow_none=True, load_default=None, metadata={"description": "A message of the same room."})
    attachment_id = Identifier(allow_none=True, load_default=None, metadata={"description": "From an upload."})


class EditSchema(_Event):
    message_id = Identifier(required=True)
    content = fields.String(required=True)


class DeleteSchema(_Event):
    message_id = Identifier(required=True)


class ReactSchema(_Event):
    message_id = Identifier(required=True)
    emoji = fields.String(required=True, metadata={"description": "Exactly one emoji."})
    on = fields.Boolean(
        allow_none=True,
        load_default=None,
        metadata={"description": "true adds, false removes; omitted toggles."},
    )


class FavoriteToggleSchema(_Event):
    id = Identifier(required=True, metadata={"description": "A room id or a user id."})
    type = fields.String(required=True, validate=validate.OneOf(["room", "user", "ROOM", "USER"]))
    on = fields.Boolean(allow_none=True, load_default=None, metadata={"description": "Omitted: toggle."})


class SyncRoomSchema(_Event):
    room_id = Identifier(required=True)
    since_seq = Sequence(allow_none=True, load_default=None)
    changes_since = changes_since()


class SyncSchema(_Event):
    rooms = fields.List(
        fields.Nested(SyncRoomSchema),
        required=True,
        validate=validate.Length(max=MAX_SYNC_ROOMS),
        metadata={
            "description": f"At most {MAX_SYNC_ROOMS} entries. An entry repeated verbatim (room, since_seq and "
            "changes_since alike) is answered once, where it first stands."
        },
    )


class DirectStartSchema(_Event):
    user_id = Identifier(load_default=None, metadata={"description": "The other user's id (or give `username`)."})
    username = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=150),
        metadata={"description": "The other user's username, instead of `user_id`."},
    )

    @validates_schema
    def _one_of(self, data: dict, **_kwargs) -> None:
        if (data.get("user_id") is None) == (data.get("username") is None):
            raise ValidationError("give exactly one of user_id and username", "user_id")


class StatusSchema(_Event):
    status = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={
            "description": "online, away, busy or offline (to look offline); synonyms such as available, "
            "idle, dnd, invisible are accepted."
        },
    )


class HeartbeatSchema(_Event):
    pass


class TypingSchema(_Event):
    room_id = Identifier(required=True)


class ReadSchema(_Event):
    room_id = Identifier(required=True)
    seq = Sequence(
        allow_none=True,
        load_default=None,
        metadata={"description": "Read up to this seq; omitted (and no `message_id`): up to the room's last message."},
    )
    message_id = Identifier(
        allow_none=True,
        load_default=None,
        metadata={"description": "Read up to this message of the room, instead of a seq."},
    )

    @validates_schema
    def _not_both(self, data: dict, **_kwargs) -> None:
        if data.get("seq") is not None and data.get("message_id") is not None:
            raise ValidationError("give seq or message_id, not both", "message_id")


class AckNotificationsSchema(_Event):
    ids = fields.List(Identifier(), required=True, validate=validate.Length(min=1, max=1000))
