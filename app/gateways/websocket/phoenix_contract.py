"""Seed 000's Phoenix Channels dialect (`phoenix.py`) as data, for the AsyncAPI document: its socket, its
topic kinds, and per topic kind the frames a client may send and the frames the server sends, each with the
marshmallow schema of its payload (the frame's fifth element).

Every frame is the V2 serializer's array `[join_ref, ref, topic, event, payload]`, so a frame is named by
its event *and* the kind of its topic (`phx_reply` on `chat:{room_id}` answers other requests, with other
responses, than on `phoenix`). A topic kind's `pattern` says which topics it stands for; the kinds do not
overlap, and the last one (`*`) takes every topic that no other kind does (answered, but not served).
A client frame names the responses of the `phx_reply` it gets (`ok`, `error`); the `phx_reply` of a topic
kind is made of those of its client frames (`app/gateways/websocket/asyncapi.py` builds it). A server
frame says what its join_ref and ref are (see `REFS`).

Like `contract.py`, it is written beside the dialect module, not generated from it: tests compare the two
(tests/realtime/test_contract.py) and validate every frame the tests' Phoenix clients meet against the
document generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import EXCLUDE, Schema, fields, validate

from app.chat.errors import Code
from app.chat.rules import MAX_DEVICE_ID_LENGTH
from app.gateways.socketio.contract import ReceiptReadSchema, TypingUpdateSchema
from app.gateways.websocket.contract import CODES, Frame
from app.realtime.operations import TypingResultSchema
from app.schemas.fields import Identifier, Sequence
from app.schemas.payloads import (
    MESSAGE_TYPES,
    TIME,
    AttachmentSchema,
    DeletedSchema,
    MessageSchema,
    PresenceSchema,
    ReadStateSchema,
)

KEY = "phoenix"  # the channel's key in the document: the dialect's name (its route's name)
ADDRESS = "/socket/websocket"
VSN = "2.0.0"

# What a frame's join_ref and ref may be, by what they are. The server takes a client's refs as they come
# (a string, an integer, or null: the npm client's are numeric strings) and echoes them as they were.
_ANY_REF = ["string", "integer", "null"]
REFS: dict[str, dict] = {
    "client": {"type": _ANY_REF, "description": "The client's own: any string or integer, or null."},
    "request": {"type": _ANY_REF, "description": "The request's, as it sent it."},
    "channel": {
        "type": _ANY_REF,
        "description": "The channel's join_ref: the join_ref of the phx_join that joined this topic.",
    },
    "channel_or_null": {
        "type": _ANY_REF,
        "description": "Null for a broadcast (one frame for every connection); the channel's join_ref otherwise.",
    },
    "null": {"type": "null"},
}


@dataclass(frozen=True)
class PhoenixFrame(Frame):
    """A frame of one topic kind. `payload` is the schema of its fifth element: a tuple of schemas means one
    of them, and `phx_reply`'s is None (made of the `ok` and `error` responses of the topic kind's client
    frames). A client frame gives the responses of its `phx_reply` (a tuple: one of them; None: never that
    status); a server frame its join_ref and ref (keys of REFS)."""

    ok: type[Schema] | None = None
    error: type[Schema] | tuple[type[Schema], ...] | None = None
    join_ref: str = "client"
    ref: str = "client"


@dataclass(frozen=True)
class Topic:
    """A kind of topic: as the document writes it (`chat:{room_id}`), the topics it stands for (a regular
    expression), and its frames by event."""

    topic: str
    pattern: str
    description: str
    client: dict[str, PhoenixFrame] = field(default_factory=dict)
    server: dict[str, PhoenixFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class PhoenixChannel:
    """The socket: where it is, its query parameters (a JSON Schema), and its topic kinds, keyed by the short
    name used in message keys (`chat` for `chat:{room_id}`)."""

    address: str
    title: str
    description: str
    query: dict
    topics: dict[str, Topic]


class _ClientPayload(Schema):
    class Meta:
        unknown = EXCLUDE  # the dialect ignores what it does not read


# -- client payloads ---------------------------------------------------------------------------------------------


class PhoenixNoParamsSchema(_ClientPayload):
    """Nothing is read from it (the npm client sends {})."""


class PhoenixChatJoinSchema(_ClientPayload):
    since_seq = Sequence(
        allow_none=True,
        metadata={
            "description": "The last seq this client saw in the room: the missed messages follow the reply as "
            "`receive_message` pushes, in order, before any live one."
        },
    )
    last_seq = Sequence(allow_none=True, metadata={"description": "The same as `since_seq`, read without one."})


class PhoenixSendMessageSchema(_ClientPayload):
    content = fields.String(
        required=True, metadata={"description": "The text, at most MAX_MESSAGE_LENGTH characters, not blank."}
    )
    mobile_ref_id = fields.Raw(
        metadata={
            "type": ["string", "number", "null"],
            "description": "The client's id for the message, echoed in the reply and `message_sent`: a resend with "
            "it stores nothing new. Without one, the server makes one up (so a resend is a new message).",
        }
    )


class PhoenixTypingRequestSchema(_ClientPayload):
    typing = fields.Boolean(
        load_default=True, metadata={"description": "false: I stopped typing; anything else (or none): I am typing."}
    )


class PhoenixReadRequestSchema(_ClientPayload):
    seq = Sequence(
        allow_none=True,
        metadata={"description": "Read up to this seq; omitted (and no `message_id`): up to the room's last message."},
    )
    message_id = Identifier(
        allow_none=True, metadata={"description": "Read up to this message of the room, instead of a seq."}
    )


# -- server payloads and responses ----------------------------------------------------------------------------


class PhoenixEmptySchema(Schema):
    """An empty object."""


class PhoenixErrorSchema(Schema):
    reason = fields.String(
        required=True,
        metadata={
            "description": "Phoenix's own wording where it has one (`unmatched topic`: a topic not joined or not "
            "served; `unauthorized`: another user's notifications), else the error code."
        },
    )
    code = fields.String(required=True, validate=CODES, metadata={"description": "Stable: see the error codes."})
    message = fields.String(required=True, metadata={"description": "For people."})
    details = fields.Dict(metadata={"description": "When the error has some (a bad field: `fields`)."})


class PhoenixChatJoinedSchema(Schema):
    chat_id = fields.String(required=True, metadata={"description": "The room id."})
    last_seq = fields.Integer(required=True, metadata={"description": "Seq of the room's newest message (0: none)."})
    has_more = fields.Boolean(
        required=True, metadata={"description": "More were missed than one catch-up holds: page the history."}
    )


class PhoenixMessageSentSchema(Schema):
    mobile_ref_id = fields.Raw(
        required=True,
        metadata={"type": ["string", "number", "null"], "description": "The send's, as it was written (null: none)."},
    )
    status = fields.String(required=True, validate=validate.Equal("sent"))
    chat_id = fields.String(required=True, metadata={"description": "The room id."})
    id = fields.String(required=True, metadata={"description": "The message id."})
    seq = fields.Integer(required=True)
    timestamp = fields.String(required=True, metadata=TIME)
    duplicate = fields.Boolean(
        required=True, metadata={"description": "True when this mobile_ref_id was sent before: nothing new was stored."}
    )


class PhoenixSendFailedSchema(PhoenixErrorSchema):
    mobile_ref_id = fields.Raw(
        required=True, metadata={"description": "The send's, exactly as it was written (any JSON; null: none)."}
    )
    status = fields.String(required=True, validate=validate.Equal("error"))
    chat_id = fields.String(required=True, metadata={"description": "The room id."})


class PhoenixReceiveMessageSchema(Schema):
    id = fields.String(required=True, metadata={"description": "Time-ordered 64-bit id, as a decimal string."})
    chat_id = fields.String(required=True, metadata={"description": "The room id."})
    seq = fields.Integer(required=True, metadata={"description": "Position in the room: 1, 2, 3… without gaps."})
    sender_id = fields.String(required=True)
    content = fields.String(required=True, metadata={"description": "Empty for a bare attachment."})
    type = fields.String(required=True, validate=validate.OneOf(MESSAGE_TYPES))
    timestamp = fields.String(required=True, metadata=TIME)
    client_ref = fields.String(
        allow_none=True, required=True, metadata={"description": "The sender's id for it (a mobile_ref_id, as text)."}
    )
    attachment = fields.Nested(AttachmentSchema, allow_none=True, required=True)
    reply_to = fields.String(allow_none=True, required=True, metadata={"description": "Id of the message replied to."})


class PhoenixNotificationSchema(Schema):
    id = fields.String(
        allow_none=True, required=True, metadata={"description": "Set on stored (pending) notifications; else null."}
    )
    chat_id = fields.String(required=True, metadata={"description": "The room id."})
    message_id = fields.String(required=True)
    seq = fields.Integer(required=True)
    sender_id = fields.String(required=True)
    sender_name = fields.String(allow_none=True, required=True)
    content = fields.String(required=True, metadata={"description": "The start of the message."})
    timestamp = fields.String(required=True, metadata=TIME)


# -- the channel ----------------------------------------------------------------------------------------------


def _leave(where: str) -> PhoenixFrame:
    return PhoenixFrame(
        PhoenixNoParamsSchema,
        f"Leave {where}. Answered ok {{}} whatever the topic, joined or not, as Phoenix answers every leave "
        "(the npm client answers `leave()` itself and does not wait for it).",
        replies=("phx_reply",),
        ok=PhoenixEmptySchema,
        error=PhoenixErrorSchema,
        errors=(Code.RATE_LIMITED,),
    )


def _reply(what: str, refs: str = ", with the request's join_ref and ref") -> PhoenixFrame:
    summary = f"Answers {what}{refs}."
    return PhoenixFrame(None, summary, only_a_reply=True, join_ref="request", ref="request")


def _close(why: str) -> PhoenixFrame:
    summary = f"The channel is closed: {why}. Its ref is its join_ref."
    return PhoenixFrame(PhoenixEmptySchema, summary, join_ref="channel", ref="channel")


DESCRIPTION = f"""\
Seed 000's dialect: Phoenix Channels over a WebSocket with the V2 JSON serializer, as npm `phoenix` speaks it:
`new Socket("ws://<host>/socket", {{params: {{token, device_unique_id, preferred_language}}}})` opens
`{ADDRESS}?token=<JWT>&device_unique_id=…&preferred_language=…&vsn={VSN}` on this host (`ws:` or `wss:`).

Frames are JSON text arrays, both ways: `[join_ref, ref, topic, event, payload]`. A client joins topics
(`phx_join`) and pushes events to them; the server answers each frame that has a ref with `phx_reply`
`{{status: "ok" | "error", response}}` carrying that frame's join_ref and ref, and pushes events with a null
ref. Broadcasts (a room's messages, typing, receipts, edits, deletes) carry a null join_ref, as Phoenix's
fastlane does; frames for one connection carry its channel's join_ref. The topics:
- `phoenix`: `heartbeat` every few seconds keeps the connection alive (and online in presence).
- `chat:{{room_id}}`: a room, members only. The join may pass `{{since_seq}}` (or `{{last_seq}}`): the missed
  messages follow the reply as `receive_message` pushes, in order, before any live one. A connection's own
  messages are confirmed with `message_sent`, not echoed; the room's other joined connections get
  `receive_message`.
- `notifications:{{user_id}}`: one's own id only: on join one `pending_notification` per notification stored
  while offline, then `new_notification` for messages of rooms whose chat topic this connection has not joined.

A connection that cannot open fails the upgrade itself with HTTP 403 and a JSON body `{{code, message}}`, as
Phoenix does (a bad, expired or missing token, a disabled user, an unusable `device_unique_id` or
`preferred_language`, a `vsn` other than {VSN}): a browser only sees an error then a close (1006); the npm
client retries on its reconnect schedule.

Errors: a refused join or push is answered `phx_reply {{status: "error", response: {{reason, code, message}}}}`
(`reason`: `unmatched topic` for a topic not joined or not served, as Phoenix says it, `unauthorized` for
someone else's notifications, else the stable error code), and the connection stays open. A frame that is
not the V2 array (not JSON, binary, not five elements, a topic or event that is not a string) gets
`phx_error` on topic `phoenix`, and the connection stays open. A disabled user's open socket gets `phx_error`
then a close with 1008. A frame over MAX_FRAME_BYTES closes the connection with 1009 (message too big): it
cannot be skipped without being read. A stopping node closes its sockets with 1012 (service restart):
reconnect (the npm client does, and rejoins its channels). A client that stops reading is cut off (its TCP
connection aborted) once MAX_PENDING_FRAMES frames wait for it."""

QUERY = {
    "type": "object",
    "properties": {
        "token": {"type": "string", "description": "The JWT (the same as the canonical protocol's)."},
        "device_unique_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_DEVICE_ID_LENGTH,
            "description": "The device's own id, printable: the device is recorded (GET /api/v1/me/devices).",
        },
        "preferred_language": {
            "type": "string",
            "maxLength": 35,
            "description": "A language tag such as `en` or `pt-BR`, recorded with the device.",
        },
        "vsn": {
            "type": "string",
            "enum": [VSN],
            "description": "The serializer's version, which the npm client adds itself; only V2 is served.",
        },
    },
    "required": ["token"],
}

PHOENIX = PhoenixChannel(
    address=ADDRESS,
    title="Seed 000 (Phoenix Channels): one socket, many topics",
    description=DESCRIPTION,
    query=QUERY,
    topics={
        "phoenix": Topic(
            topic="phoenix",
            pattern="^phoenix$",
            description="The socket itself: heartbeats, and errors that belong to no topic.",
            client={
                "heartbeat": PhoenixFrame(
                    PhoenixNoParamsSchema,
                    "A sign of life (the npm client sends one every heartbeatIntervalMs, 30 s by default, with a "
                    "null join_ref): keeps the connection open and online in presence. Always answered ok {}.",
                    "presence:heartbeat",
                    ("phx_reply",),
                    ok=PhoenixEmptySchema,
                ),
                "phx_leave": _leave("`phoenix`, which is never joined"),
            },
            server={
                "phx_reply": _reply(
                    "a heartbeat (ok {}) with its ref and a null join_ref, as Phoenix does, or any other frame on "
                    "`phoenix` (a leave: ok {}; else an error) with its join_ref and ref",
                    refs="",
                ),
                "phx_error": PhoenixFrame(
                    PhoenixErrorSchema,
                    "A frame was not the V2 array `[join_ref, ref, topic, event, payload]` (or not JSON, or binary): "
                    "nothing was done, the connection stays open. Also sent, then a close with 1008, when the "
                    "user is disabled.",
                    join_ref="null",
                    ref="null",
                ),
            },
        ),
        "chat": Topic(
            topic="chat:{room_id}",
            pattern="^chat:.+$",
            description="A room, for its members: its messages and what happens in it.",
            client={
                "phx_join": PhoenixFrame(
                    PhoenixChatJoinSchema,
                    "Join a room's channel (members only). The reply, then the messages after `since_seq` as "
                    "`receive_message` pushes (with this join_ref), then the live ones. Joining a joined topic "
                    "again closes it (`phx_close` with the old join_ref) and joins anew, as Phoenix does.",
                    "room:join",
                    ("phx_reply", "receive_message"),
                    ok=PhoenixChatJoinedSchema,
                    error=PhoenixErrorSchema,
                ),
                "phx_leave": _leave("a room's channel: its live messages stop"),
                "send_message": PhoenixFrame(
                    PhoenixSendMessageSchema,
                    "Send a message. Answered with a reply and a `message_sent` push carrying the same payload "
                    "(`status` sent or error); the room's other joined connections get `receive_message`, "
                    "this one does not. Idempotent on `mobile_ref_id`. On a topic not joined, only the reply "
                    "comes, the bare error (`unmatched topic`), as for any push there.",
                    "message:send",
                    ("phx_reply", "message_sent"),
                    ok=PhoenixMessageSentSchema,
                    error=(PhoenixSendFailedSchema, PhoenixErrorSchema),
                    errors=(Code.INVALID_PAYLOAD,),
                ),
                "typing": PhoenixFrame(
                    PhoenixTypingRequestSchema,
                    "I am typing (or with `typing: false`, I stopped): the room's joined connections get `typing`. "
                    "Answered with `typing:start`'s (or `typing:stop`'s) result.",
                    "typing:start",
                    ("phx_reply",),
                    ok=TypingResultSchema,
                    error=PhoenixErrorSchema,
                ),
                "read": PhoenixFrame(
                    PhoenixReadRequestSchema,
                    "I read the room up to a seq or a message (default: its last). The room's joined connections "
                    "get `read`. Answered with `room:read`'s result: my read cursor and unread counts.",
                    "room:read",
                    ("phx_reply",),
                    ok=ReadStateSchema,
                    error=PhoenixErrorSchema,
                ),
            },
            server={
                "phx_reply": _reply("a join, a leave or a push on the room's topic"),
                "phx_close": _close("I left or was removed from the room, or joined the topic again"),
                "message_sent": PhoenixFrame(
                    (PhoenixMessageSentSchema, PhoenixSendFailedSchema),
                    "Follows the reply to `send_message`, with the same payload: sent (id, seq, timestamp) or error "
                    "(reason, code, message). Carries the push's join_ref.",
                    only_a_reply=True,
                    join_ref="request",
                    ref="null",
                ),
                "receive_message": PhoenixFrame(
                    PhoenixReceiveMessageSchema,
                    "A message of the room, from another connection (mine too, sent elsewhere), whatever dialect "
                    "sent it; also the messages a join with `since_seq` missed, right after its reply.",
                    join_ref="channel_or_null",
                    ref="null",
                ),
                "typing": PhoenixFrame(
                    TypingUpdateSchema, "Someone started or stopped typing in the room.", join_ref="null", ref="null"
                ),
                "read": PhoenixFrame(
                    ReceiptReadSchema, "A member read the room up to a seq.", join_ref="null", ref="null"
                ),
                "message_updated": PhoenixFrame(
                    MessageSchema,
                    "A message of the room was edited: the message as it is now.",
                    join_ref="null",
                    ref="null",
                ),
                "message_deleted": PhoenixFrame(
                    DeletedSchema, "A message of the room was deleted (a tombstone stays).", join_ref="null", ref="null"
                ),
                "presence_update": PhoenixFrame(
                    PresenceSchema,
                    "A member of the room changed what others see (online, away, busy, offline).",
                    join_ref="channel",
                    ref="null",
                ),
            },
        ),
        "notifications": Topic(
            topic="notifications:{user_id}",
            pattern="^notifications:.+$",
            description="My notifications (my own user id only).",
            client={
                "phx_join": PhoenixFrame(
                    PhoenixNoParamsSchema,
                    "Join my notification channel (another user's is refused, `reason: unauthorized`). After "
                    "the reply, one `pending_notification` per notification stored while I was offline, marked "
                    "delivered once written to the connection.",
                    replies=("phx_reply", "pending_notification"),
                    ok=PhoenixEmptySchema,
                    error=PhoenixErrorSchema,
                    errors=(Code.USER_MISMATCH, Code.RATE_LIMITED),
                ),
                "phx_leave": _leave("my notification channel"),
            },
            server={
                "phx_reply": _reply("a join or a leave of the notification topic"),
                "phx_close": _close("I joined the topic again"),
                "new_notification": PhoenixFrame(
                    PhoenixNotificationSchema,
                    "A message arrived in a room of mine whose chat topic this connection has not joined.",
                    join_ref="channel",
                    ref="null",
                ),
                "pending_notification": PhoenixFrame(
                    PhoenixNotificationSchema,
                    "A notification stored while I was offline, one per push, right after the join's reply.",
                    only_a_reply=True,
                    join_ref="channel",
                    ref="null",
                ),
            },
        ),
        "other": Topic(
            topic="*",
            pattern="^(?!phoenix$|chat:.|notifications:.)",
            description="Any other topic (`rooms:lobby`, `chat:` without an id...): not served.",
            client={"phx_leave": _leave("a topic that is not served")},
            server={"phx_reply": _reply("a leave (ok {}), or any other frame (error, `unmatched topic`)")},
        ),
    },
)
