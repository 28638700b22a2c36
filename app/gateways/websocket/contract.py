"""The raw JSON WebSocket dialects as data: for each socket, its address, how it connects and refuses, the
frames a client may send and the frames the server sends, each with its marshmallow schema.

One `Channel` per socket (seed 004's `/ws/{user_id}`, seed 003's three), keyed by the dialect's `name`
(the route's name, the metrics' `transport` label). A frame's name is the value of its `frame_key` field
(`event` for 004, `type` for 003), fixed in each schema by `validate.Equal`, so a frame validates against
exactly one message. Client schemas ignore unknown fields, as the dialects do; server schemas allow none.
The AsyncAPI document (`app/gateways/asyncapi.py`) is generated from these tables; tests validate every
frame a test's `ws` clients meet against it, and check these tables against the dialect modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import EXCLUDE, Schema, fields, validate

from app.chat.errors import Code
from app.chat.rules import MAX_ID_LENGTH
from app.schemas.fields import Identifier
from app.schemas.payloads import MESSAGE_TYPES, TIME

CODES = validate.OneOf([code.value for code in Code])


@dataclass(frozen=True)
class Frame:
    """One frame of a dialect: its payload schema and what it means. A client frame names the session
    operation it performs (its error codes are that operation's, and `errors`: its own) and the server
    frames answering it; a server frame that is `only_a_reply` is sent only as such an answer."""

    payload: type[Schema]
    summary: str
    operation: str | None = None
    replies: tuple[str, ...] = ()
    only_a_reply: bool = False
    errors: tuple[Code, ...] = ()


@dataclass(frozen=True)
class Channel:
    """One raw WebSocket: where it is, how it connects, and its frames by name (client and server)."""

    address: str
    title: str
    description: str
    frame_key: str  # the field naming a frame: `event` or `type`
    parameters: dict[str, str]  # the address's parameters, with what each is
    client: dict[str, Frame] = field(default_factory=dict)
    server: dict[str, Frame] = field(default_factory=dict)


def _discriminator(name: str) -> fields.String:
    return fields.String(required=True, validate=validate.Equal(name), metadata={"description": f"Always `{name}`."})


class _ClientFrame(Schema):
    class Meta:
        unknown = EXCLUDE  # the dialects ignore fields they do not read


# -- seed 004 (FastAPI): `/ws/{user_id}`, frames keyed by `event` ---------------------------------------------

FASTAPI_STATUSES = ["available", "away", "busy", "offline"]  # `available` is online, as 004's clients name it


class FastapiTypingRequestSchema(_ClientFrame):
    event = _discriminator("typing")
    conversationId = Identifier(required=True, metadata={"description": "The room id (echoed as written in errors)."})


class FastapiReadRequestSchema(_ClientFrame):
    event = _discriminator("message_read")
    conversationId = Identifier(required=True, metadata={"description": "The room id."})
    messageId = Identifier(required=True, metadata={"description": "Read up to this message of the room."})


class FastapiHeartbeatSchema(_ClientFrame):
    event = _discriminator("heartbeat")


class FastapiStatusChangeSchema(_ClientFrame):
    event = _discriminator("status_change")
    status = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={
            "description": "`available` (online), `away`, `busy`, or `offline` to look offline; the synonyms "
            "the canonical `presence:set` accepts (online, idle, dnd, invisible, ...) too."
        },
    )


class FastapiNewMessageSchema(Schema):
    event = _discriminator("new_message")
    conversationId = fields.String(required=True, metadata={"description": "The room id."})
    messageId = fields.String(required=True)
    senderId = fields.String(required=True)
    content = fields.String(required=True, metadata={"description": "Empty for an attachment without a caption."})
    messageType = fields.String(required=True, validate=validate.OneOf(MESSAGE_TYPES))
    timestamp = fields.String(required=True, metadata=TIME)


class FastapiTypingSchema(Schema):
    event = _discriminator("typing")
    conversationId = fields.String(required=True)
    userId = fields.String(required=True, metadata={"description": "Who is typing."})


class FastapiMessageReadSchema(Schema):
    event = _discriminator("message_read")
    conversationId = fields.String(required=True)
    messageId = fields.String(required=True, metadata={"description": "The reader's read cursor is at this message."})
    userId = fields.String(required=True, metadata={"description": "Who read."})


class FastapiUserStatusChangeSchema(Schema):
    event = _discriminator("user_status_change")
    userId = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(FASTAPI_STATUSES))


class FastapiHeartbeatAckSchema(Schema):
    event = _discriminator("heartbeat_ack")


class FastapiStatusChangeAckSchema(Schema):
    event = _discriminator("status_change_ack")
    status = fields.String(
        required=True, validate=validate.OneOf(FASTAPI_STATUSES), metadata={"description": "The status now set."}
    )


class FastapiErrorSchema(Schema):
    event = _discriminator("error")
    message = fields.String(required=True, metadata={"description": "For people; for a bad field, which and why."})
    code = fields.String(required=True, validate=CODES, metadata={"description": "Stable: see the error codes."})
    conversationId = fields.Raw(
        metadata={"description": "The refused frame's `conversationId`, exactly as the client wrote it (any JSON)."}
    )


# -- seed 003 (Django Channels): three sockets, frames keyed by `type` --------------------------------------


class DjangoChatMessageRequestSchema(_ClientFrame):
    type = _discriminator("chat_message")
    message = fields.String(
        metadata={"description": "The text (default empty; optional with a `file_identifier`), never null."}
    )
    file_identifier = fields.Raw(
        metadata={
            "type": ["string", "integer", "null"],
            "maxLength": MAX_ID_LENGTH,
            "description": "The `file_identifier` of `POST /api/rooms/upload`: sends that file. Empty or null: none.",
        }
    )
    multimedia_url = fields.String(allow_none=True, metadata={"description": "Ignored (the upload decides)."})
    multimedia_url_expiration = fields.String(allow_none=True, metadata={"description": "Ignored."})
    room = fields.String(
        allow_none=True, metadata={"description": "Ignored: the socket's path names the conversation."}
    )


class DjangoReadMessagesSchema(_ClientFrame):
    type = _discriminator("read_messages")


class DjangoFromUserSchema(Schema):
    username = fields.String(required=True, metadata={"description": "The user id for a user without a username."})


class DjangoChatMessageSchema(Schema):
    type = _discriminator("chat_message")
    message = fields.String(required=True, metadata={"description": "The text (empty for a bare attachment)."})
    multimedia_url = fields.String(
        required=True, metadata={"description": "A signed link to the attached file; empty without one."}
    )
    date_added = fields.String(required=True, metadata=TIME)
    from_user = fields.Nested(DjangoFromUserSchema, required=True)
    room = fields.String(required=True, metadata={"description": "The conversation's id, the same for both users."})


class DjangoOnlineUserListSchema(Schema):
    type = _discriminator("online_user_list")
    users = fields.List(
        fields.String(), required=True, metadata={"description": "Usernames with this conversation open, mine too."}
    )


class DjangoUserJoinSchema(Schema):
    type = _discriminator("user_join")
    user = fields.String(required=True, metadata={"description": "The username."})


class DjangoUserLeaveSchema(Schema):
    type = _discriminator("user_leave")
    user = fields.String(required=True, metadata={"description": "The username."})


class DjangoUnreadCountSchema(Schema):
    type = _discriminator("unread_count")
    unread_count = fields.Integer(
        required=True, validate=validate.Range(min=0), metadata={"description": "Over every conversation of mine."}
    )


class DjangoNewMessageNotificationSchema(Schema):
    type = _discriminator("new_message_notification")


class DjangoSingleConversationUnreadCountSchema(Schema):
    type = _discriminator("single_conversation_unread_count")
    unread_count = fields.Integer(
        required=True, validate=validate.Range(min=0), metadata={"description": "In this conversation."}
    )


class DjangoSingleConversationNewMessageNotificationSchema(Schema):
    type = _discriminator("single_conversation_new_message_notification")


class DjangoErrorSchema(Schema):
    type = _discriminator("error")
    message = fields.String(required=True, metadata={"description": "For people."})
    code = fields.String(required=True, validate=CODES, metadata={"description": "Stable: see the error codes."})


# -- the channels --------------------------------------------------------------------------------------------


def _connection(key: str, refusals: str, error: str) -> str:
    """What every raw socket shares: JSON text frames, refusals after an error frame, errors, the limits."""
    return (
        f"Frames are JSON text objects keyed by `{key}`. The token is the JWT of the canonical protocol, in the "
        "query string (`?token=`).\n\n"
        "A connection that cannot open is accepted, sent an `error` frame, then closed with a code that says "
        f"why (an HTTP error on the upgrade would reach a browser as a bare 1006): {refusals}; 1013 the node is "
        "stopping (try again later); 1011 an internal error; 1008 any other refusal. The same `error` frame and "
        "close code end an open socket whose user is disabled.\n\n"
        f"Errors are frames of this dialect's own shape, `{error}`, whose `code` is one of the stable error codes "
        "listed in the document's description. A frame the server cannot take (not JSON, binary, not an object, "
        f"an unknown `{key}`, a missing or wrong field, a refused operation) is answered with one, and the "
        "connection stays open: nothing is stored. A frame over MAX_FRAME_BYTES closes the connection with "
        "1009 (message too big): it cannot be skipped without being read. A stopping node closes its sockets "
        "with 1012 (service restart): reconnect. A client that stops reading is cut off (its TCP connection "
        "aborted) once MAX_PENDING_FRAMES frames wait for it."
    )


DJANGO_REFUSALS = (
    "4001 a bad or missing token, 4003 a disabled user (oneself, or the one named), 4004 no user with that "
    "username, 4000 a conversation with oneself"
)
DJANGO_ERROR = "{type: error, message, code}"

CHANNELS: dict[str, Channel] = {
    "fastapi": Channel(
        address="/ws/{user_id}",
        title="Seed 004 (FastAPI): the user's socket",
        description=(
            "Open `/ws/<user_id>?token=<JWT>` on this host (`ws:` or `wss:`): one socket per user, following every "
            "conversation of the user from the start (no join step, rooms the user joins later included). "
            "Nothing is sent unprompted on connect. No trailing slash: `/ws/<name>/` is seed 003's conversation "
            "socket.\n\n"
            + _connection(
                "event",
                "4001 a bad or missing token, 4002 the token's user is not the path's, 4003 a disabled user",
                "{event: error, message, code, conversationId?}",
            )
        ),
        frame_key="event",
        parameters={"user_id": "The user's id: the token's subject (`sub`)."},
        client={
            "typing": Frame(
                FastapiTypingRequestSchema,
                "I am typing in a conversation: the other members' sockets get `typing`. Answered only when refused.",
                "typing:start",
            ),
            "message_read": Frame(
                FastapiReadRequestSchema,
                "I read a conversation up to a message: the other members get `message_read`. Answered only when "
                "refused.",
                "room:read",
            ),
            "heartbeat": Frame(
                FastapiHeartbeatSchema,
                "A sign of life: keeps the socket online. Answered `heartbeat_ack`.",
                "presence:heartbeat",
                ("heartbeat_ack", "error"),
            ),
            "status_change": Frame(
                FastapiStatusChangeSchema,
                "Choose my status: answered `status_change_ack`; the people sharing a conversation with me get "
                "`user_status_change`.",
                "presence:set",
                ("status_change_ack", "error"),
            ),
        },
        server={
            "new_message": Frame(
                FastapiNewMessageSchema,
                "A message in any conversation of mine (my own included), whatever dialect sent it.",
            ),
            "typing": Frame(FastapiTypingSchema, "Someone else started typing in a conversation of mine."),
            "message_read": Frame(
                FastapiMessageReadSchema, "Someone else read a conversation of mine up to a message."
            ),
            "user_status_change": Frame(
                FastapiUserStatusChangeSchema,
                "A status changed: of someone who shares a conversation with me, or mine when I chose one (on every "
                "socket of mine, this one too). Sent only when a status changes.",
            ),
            "heartbeat_ack": Frame(FastapiHeartbeatAckSchema, "Answers `heartbeat`.", only_a_reply=True),
            "status_change_ack": Frame(
                FastapiStatusChangeAckSchema, "Answers `status_change`: the status now set.", only_a_reply=True
            ),
            "error": Frame(
                FastapiErrorSchema,
                "A frame of mine was refused (the socket stays open), or the socket cannot open or is being ended "
                "(a close follows).",
            ),
        },
    ),
    "django": Channel(
        address="/ws/{username}/",
        title="Seed 003 (Django Channels): a direct conversation",
        description=(
            "Open `/ws/<username>/?token=<JWT>` on this host (`ws:` or `wss:`): the direct conversation with that "
            "user, created on first use (the same room every dialect uses for the pair). On open the socket gets "
            "`online_user_list`; the others with the conversation open get `user_join` when a user opens it "
            "(their first socket on it) and `user_leave` when they close it (their last). Every message of the "
            "conversation, mine included and whatever dialect sent it, arrives as `chat_message`. An open "
            "conversation socket marks nothing read: only `read_messages` does.\n\n"
            + _connection("type", DJANGO_REFUSALS, DJANGO_ERROR)
        ),
        frame_key="type",
        parameters={"username": "The other user's username (a user without one is named by their id)."},
        client={
            "chat_message": Frame(
                DjangoChatMessageRequestSchema,
                "Send a message to the conversation (with the file of a `file_identifier`). Everyone in it, me "
                "included, gets `chat_message`. Answered only when refused.",
                "message:send",
            ),
            "read_messages": Frame(
                DjangoReadMessagesSchema,
                "I read the conversation up to its last message. Answered only when refused.",
                "room:read",
            ),
        },
        server={
            "online_user_list": Frame(
                DjangoOnlineUserListSchema, "Sent once on open: who has this conversation open now, me included."
            ),
            "user_join": Frame(
                DjangoUserJoinSchema, "Someone else opened this conversation (their first socket on it)."
            ),
            "user_leave": Frame(
                DjangoUserLeaveSchema,
                "Someone else closed this conversation (their last socket on it), or their node died.",
            ),
            "chat_message": Frame(DjangoChatMessageSchema, "A message of the conversation, mine included."),
            "error": Frame(
                DjangoErrorSchema,
                "A frame of mine was refused (the socket stays open), or the socket cannot open or is being ended "
                "(a close follows).",
            ),
        },
    ),
    "django-notifications": Channel(
        address="/ws/notifications/",
        title="Seed 003 (Django Channels): notifications of every conversation",
        description=(
            "Open `/ws/notifications/?token=<JWT>` on this host (`ws:` or `wss:`): my unread count over every "
            "conversation, on open and on every change, and a notification per message from someone else. It "
            "takes no frame (any is answered with an `error`).\n\n"
            + _connection("type", "4001 a bad or missing token, 4003 a disabled user", DJANGO_ERROR)
        ),
        frame_key="type",
        parameters={},
        server={
            "unread_count": Frame(
                DjangoUnreadCountSchema,
                "Sent on open and whenever the count changes (a message from someone else, a read on any device).",
            ),
            "new_message_notification": Frame(
                DjangoNewMessageNotificationSchema,
                "A message from someone else arrived in one of my conversations (an `unread_count` follows).",
            ),
            "error": Frame(
                DjangoErrorSchema,
                "The socket cannot open or is being ended (a close follows), or a frame was sent to it.",
            ),
        },
    ),
    "django-conversation-notifications": Channel(
        address="/ws/notifications/{username}/",
        title="Seed 003 (Django Channels): notifications of one conversation",
        description=(
            "Open `/ws/notifications/<username>/?token=<JWT>` on this host (`ws:` or `wss:`): the same as "
            "`/ws/notifications/` for the direct conversation with that user (created on first use). It takes no "
            "frame (any is answered with an `error`).\n\n" + _connection("type", DJANGO_REFUSALS, DJANGO_ERROR)
        ),
        frame_key="type",
        parameters={"username": "The other user's username (a user without one is named by their id)."},
        server={
            "single_conversation_unread_count": Frame(
                DjangoSingleConversationUnreadCountSchema,
                "Sent on open and whenever the count changes.",
            ),
            "single_conversation_new_message_notification": Frame(
                DjangoSingleConversationNewMessageNotificationSchema,
                "A message from the other user arrived (a `single_conversation_unread_count` follows).",
            ),
            "error": Frame(
                DjangoErrorSchema,
                "The socket cannot open or is being ended (a close follows), or a frame was sent to it.",
            ),
        },
    ),
}
