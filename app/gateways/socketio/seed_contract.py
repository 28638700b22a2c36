"""Seeds 001 and 002's Socket.IO dialects as data: for each namespace, how it connects and refuses, every client
event (its argument, its acknowledgement's value on success and on refusal) and every server event, each with its
marshmallow schema.

One `SioChannel` per namespace, keyed by the dialect's `name`: `nestjs` (seed 001, `/chat`,
app/gateways/socketio/nestjs_chat.py) and `bull` (seed 002, `/chat/`, app/gateways/socketio/bull_chat.py). Client
schemas ignore fields the dialect does not read, as the dialects do; server schemas allow none. The AsyncAPI
document is generated from these tables (app/gateways/socketio/asyncapi.py); tests check them against the dialect
modules, and every event an npm socket.io-client test socket meets on these namespaces against the document.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from app.chat.errors import Code
from app.chat.ids import ALIAS_SEQ_BITS, MAX_SAFE_INTEGER
from app.chat.messages import USER_TYPES
from app.chat.rules import MAX_ID_LENGTH
from app.gateways.socketio.contract import ClientEvent, ServerEvent, SioChannel
from app.realtime.operations import OPERATIONS
from app.schemas.fields import Identifier
from app.schemas.payloads import TIME

CODES = validate.OneOf([code.value for code in Code])


def _codes(*operations: str, own: tuple[Code, ...] = ()) -> tuple[Code, ...]:
    """The error codes of a client event: those of the operations it performs, then the dialect's own."""
    return tuple(dict.fromkeys([*(code for name in operations for code in OPERATIONS[name].errors), *own]))


class _ClientPayload(Schema):
    class Meta:
        unknown = EXCLUDE  # the dialects ignore fields they do not read


# -- seed 001 (NestJS): namespace `/chat`, ids as JSON numbers ---------------------------------------------------

# A user id as js_number shows it: a number when JavaScript holds it exactly, else the id's string. A string that
# is a canonical decimal of up to 15 digits (always within 2**53 - 1) would have been a number.
JS_USER_ID = {
    "oneOf": [
        {"type": "integer", "minimum": 0, "maximum": MAX_SAFE_INTEGER},
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_ID_LENGTH,
            "not": {"pattern": "^(0|[1-9][0-9]{0,14})$"},
        },
    ]
}
USER_ID_TEXT = (
    "A user id: a JSON number for a canonical decimal up to 2**53 - 1, else the id as a string (`js_number`)."
)
CONVERSATION_ID = {"type": "integer", "minimum": 1, "maximum": MAX_SAFE_INTEGER}


def _user_id(description: str = USER_ID_TEXT, nullable: bool = False, **kwargs) -> fields.Raw:
    shape = {"oneOf": [*JS_USER_ID["oneOf"], {"type": "null"}]} if nullable else JS_USER_ID
    return fields.Raw(allow_none=nullable, metadata={**shape, "description": description}, **kwargs)


def _conversation_id(description: str = "The conversation's id: its room id, a number.") -> fields.Raw:
    return fields.Raw(required=True, metadata={**CONVERSATION_ID, "description": description})


def _positive_integer(description: str) -> fields.Integer:
    """An `@IsNotEmpty() @IsInt()` property of a request: a positive integer JavaScript holds exactly."""
    return fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_SAFE_INTEGER),
        metadata={"description": description + " A number: the same id as a string is refused."},
    )


class NestjsConnectQuerySchema(_ClientPayload):
    userId = fields.String(
        metadata={"description": "The user's id (the query string's text of it): the token's subject."}
    )
    token = fields.String(metadata={"description": "The JWT of the canonical protocol (`Bearer ` prefix accepted)."})


class NestjsConnectAuthSchema(_ClientPayload):
    userId = _user_id("Instead of the query's `userId`: the token's subject, a number or a string.")
    token = fields.String(metadata={"description": "Instead of the query's `token`."})


class NestjsConversationRequestSchema(_ClientPayload):
    conversationId = _positive_integer("The conversation's id.")
    userId = fields.Raw(metadata={"description": "Ignored: the connection's user is the one that joins."})


class NestjsLeaveSchema(_ClientPayload):
    conversationId = _positive_integer("The conversation's id.")


class NestjsSendMessageSchema(_ClientPayload):
    sender_id = _positive_integer("My own user id (a user whose id is not a number cannot send here).")
    conversation_id = _positive_integer("The conversation's id.")
    message_type = fields.String(required=True, validate=validate.OneOf(["text", "image", "file"]))
    content = fields.String(required=True, validate=validate.Length(min=1), metadata={"description": "The text."})


class NestjsTypingRequestSchema(NestjsConversationRequestSchema):
    isTyping = fields.Boolean(metadata={"description": "false: I stopped typing. Default true."})


class NestjsConversationRefSchema(Schema):
    id = _conversation_id()
    sender_id = _user_id(
        "The lower id of the conversation's pair (numbers by value, before ids that are not numbers), whoever sent "
        "the message, as seed 001's REST shows the conversation; in a room of more than two members, the message's "
        "sender.",
        required=True,
    )
    receiver_id = _user_id(
        "The other id of the pair (the same as sender_id for a conversation with oneself); null in a room of more "
        "than two members.",
        nullable=True,
        required=True,
    )


NESTJS_MESSAGE_TYPES = list(USER_TYPES)  # video and audio: files sent so in another dialect


class NestjsMessageSchema(Schema):
    id = fields.Raw(
        required=True,
        metadata={
            "oneOf": [
                {"type": "integer", "minimum": 1 << ALIAS_SEQ_BITS, "maximum": MAX_SAFE_INTEGER},
                {"type": "string", "pattern": "^[1-9][0-9]{15,18}$"},  # a 64-bit id: beyond any alias
            ],
            "description": "The message's numeric alias, room id * 2**32 + seq (a message id is 64 bits, which a "
            "JavaScript number would round): unique, and the same in every frame and in the REST history. Beyond "
            "the alias range (rooms above 2,097,151) the message's id as a decimal string.",
        },
    )
    sender_id = _user_id(required=True)
    conversation_id = _conversation_id()
    timestamp = fields.String(required=True, metadata=TIME)
    message_type = fields.String(
        required=True,
        validate=validate.OneOf(NESTJS_MESSAGE_TYPES),
        metadata={"description": "Lowercase; `video` and `audio` for files sent so in another dialect."},
    )
    content = fields.String(required=True, metadata={"description": "The text (a file's caption; may be empty)."})
    conversation = fields.Nested(NestjsConversationRefSchema, required=True)


class NestjsJoinedSchema(Schema):
    conversationId = _conversation_id()
    success = fields.Boolean(required=True, validate=validate.Equal(True))


class NestjsTypingAnswerSchema(NestjsJoinedSchema):
    isTyping = fields.Boolean(required=True)


class NestjsUserTypingSchema(Schema):
    conversationId = _conversation_id()
    userId = _user_id("Who is typing. " + USER_ID_TEXT, required=True)
    isTyping = fields.Boolean(required=True)


class NestjsPresenceSchema(Schema):
    userId = _user_id(required=True)


class NestjsErrorSchema(Schema):
    message = fields.String(required=True, metadata={"description": "For people, in seed 001's words."})
    code = fields.String(required=True, validate=CODES, metadata={"description": "Stable: see the error codes."})


class NestjsMessageErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "Why, in class-validator's words (see above)."})


INVALID = (Code.INVALID_PAYLOAD,)

NESTJS = SioChannel(
    namespace="/chat",
    title="Socket.IO namespace /chat: seed 001 (a NestJS gateway), ids as numbers",
    description="""\
Seed 001's NestJS gateway: Socket.IO (Engine.IO v4) namespace `/chat` on path `/socket.io/`, over WebSocket or \
long-polling (the client's default transports, polling then upgraded to WebSocket, work too). Connect with \
`io('http://<host>/chat', {query: {userId, token}})`: `token` is the JWT of the canonical protocol (a `Bearer ` \
prefix is accepted) and `userId` must be its subject; either may be given in `auth` instead. A refused connection \
gets `connect_error` with `data: {code, message}`: `invalid_payload` without a `userId` (`userId is required`), \
`auth_required`, `invalid_token` or `token_expired` for the token, `user_mismatch` when `userId` is not the \
token's subject, `user_disabled`.

A connection follows every conversation of its user from the start, and those the user joins later, as the \
gateway's personal room `user:<id>` did: the other participants' messages arrive as `receive-message` without a \
join. `join-conversation` checks that the conversation is mine; `leave-conversation` stops its events on this \
connection. `user:online` and `user:offline` tell me about the people who share a conversation with me.

Ids are JSON numbers: a conversation's is its room id; a user's is a number when it is a canonical decimal \
JavaScript holds exactly (up to 2**53 - 1), else the id's string; a message's is its numeric alias, room id * \
2**32 + seq. An id sent as a string is refused. A message's `conversation` is the conversation's pair in a stable \
order, the lower id first as `sender_id` (numbers by value, before ids that are not numbers), whoever sent the \
message, as seed 001's REST shows the conversation; in a room of more than two members, the message's sender and a \
null `receiver_id`.

Every client event may pass an acknowledgement callback: it gets the payload of the event's answer \
(`joined-conversation`'s, the message of `message-sent`, `{conversationId, success: true}` for a leave, \
`{conversationId, isTyping, success: true}` for typing) or of the error. A refused event is answered with \
`error {message, code}` (`message-error {error}` for `send-message`), whether or not it asked for an \
acknowledgement, and its acknowledgement is that same payload; the connection stays open. Errors in seed 001's \
words: `Conversation not found` (room_not_found), `Unauthorized to join this conversation` (not_member); a bad \
field in class-validator's, joined with ", " (`conversationId should not be empty, conversationId must be an \
integer number`, `sender_id must be an integer number`, `sender_id must be a positive integer no larger than \
9007199254740991`, `message_type must be one of the following values: text, image, file`, `content should not be \
empty`, `content must be a string`, `isTyping must be a boolean value`, `<event> takes an object`), all \
invalid_payload; `sender_id must be your own user id` (user_mismatch); `There is no handler for event '<name>'` \
(unknown_event); any other refusal (rate_limited...) in the core's words.""",
    transports=("websocket", "polling"),
    query=NestjsConnectQuerySchema,
    auth=NestjsConnectAuthSchema,
    client={
        "join-conversation": ClientEvent(
            NestjsConversationRequestSchema,
            "Check that a conversation is mine (and follow it on this connection if it was not followed): answered "
            "`joined-conversation`.",
            NestjsJoinedSchema,
            NestjsErrorSchema,
            _codes("room:join", own=INVALID),
        ),
        "leave-conversation": ClientEvent(
            NestjsLeaveSchema,
            "Stop this conversation's events on this connection (until a join).",
            NestjsJoinedSchema,
            NestjsErrorSchema,
            _codes("room:leave", own=INVALID),
        ),
        "send-message": ClientEvent(
            NestjsSendMessageSchema,
            "Send a message: this connection gets `message-sent`, the conversation's other connections (mine "
            "included) `receive-message`. Refused: `message-error`.",
            NestjsMessageSchema,
            NestjsMessageErrorSchema,
            _codes("message:send", own=(Code.INVALID_PAYLOAD, Code.USER_MISMATCH)),
        ),
        "typing": ClientEvent(
            NestjsTypingRequestSchema,
            "I am typing (or stopped, `isTyping: false`): the conversation's other members get `user-typing`.",
            NestjsTypingAnswerSchema,
            NestjsErrorSchema,
            _codes("typing:start", "typing:stop", own=INVALID),
        ),
    },
    server={
        "joined-conversation": ServerEvent(
            NestjsJoinedSchema, "Answers `join-conversation`: the conversation is mine."
        ),
        "message-sent": ServerEvent(NestjsMessageSchema, "Answers my `send-message`: the message as stored."),
        "receive-message": ServerEvent(
            NestjsMessageSchema,
            "A message in a conversation of mine, whatever dialect sent it (mine too, from my other connections).",
        ),
        "message-error": ServerEvent(NestjsMessageErrorSchema, "My `send-message` was refused."),
        "user-typing": ServerEvent(NestjsUserTypingSchema, "Someone else started or stopped typing."),
        "user:online": ServerEvent(NestjsPresenceSchema, "Someone who shares a conversation with me is online."),
        "user:offline": ServerEvent(NestjsPresenceSchema, "Someone who shares a conversation with me went offline."),
        "error": ServerEvent(
            NestjsErrorSchema,
            "A client event other than `send-message` was refused, or the server ends the connection (a disconnect "
            "follows).",
        ),
    },
    refusals=("error", "message-error"),
    refusal_with_ack=True,
    unknown_event_ack=NestjsErrorSchema,
    arguments="first",
)


# -- seed 002 (Socket.IO + Redis + Bull): namespace `/chat/`, `chat:*` events ------------------------------------

BULL_MESSAGE_TYPES = ["TEXT", "SYSTEM", "FILE"]
BULL_ROOM_TYPES = ["GROUP", "DIRECT"]
BULL_STATUSES = ["online", "away", "offline"]
BULL_FAVORITE_TYPES = ["ROOM", "USER"]


def _text(description: str, maximum: int = MAX_ID_LENGTH, **kwargs) -> fields.String:
    """A non-empty string: a client event's bare argument, or an id (this seed's ids are strings: an id of another
    type is refused)."""
    return fields.String(validate=validate.Length(min=1, max=maximum), metadata={"description": description}, **kwargs)


class BullConnectQuerySchema(_ClientPayload):
    pass  # nothing is read from the query string


class BullConnectAuthSchema(_ClientPayload):
    token = fields.String(
        required=True,
        validate=validate.Regexp(r"^Bearer "),
        metadata={"description": "`Bearer <JWT>`: the JWT of the canonical protocol."},
    )
    userId = Identifier(required=True, metadata={"description": "The token's subject (a number is read as its text)."})


class BullSendMessageSchema(_ClientPayload):
    roomId = _text("A room of mine.", required=True)
    content = fields.String(required=True, metadata={"description": "The text."})
    type = fields.String(
        validate=validate.OneOf(["TEXT", "FILE"]),
        metadata={"description": "Default `TEXT`; `FILE` is stored as a file."},
    )


class BullTypingRequestSchema(_ClientPayload):
    roomId = _text("A room of mine.", required=True)
    isTyping = fields.Boolean(required=True)


class BullUpdateMessageSchema(_ClientPayload):
    messageId = _text("A message of mine.", required=True)
    content = fields.String(required=True)


class BullToggleFavoriteSchema(_ClientPayload):
    id = _text("A room id or a user id.", required=True)
    type = fields.String(required=True, validate=validate.OneOf(BULL_FAVORITE_TYPES))


class BullSenderSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "The user's name, else the id."})


class BullMessageSchema(Schema):
    id = fields.String(
        required=True,
        metadata={"description": "The message id (`direct-started-<room id>` in a repeated `chat:start_direct`'s)."},
    )
    roomId = fields.String(required=True)
    roomType = fields.String(required=True, validate=validate.OneOf(BULL_ROOM_TYPES))
    type = fields.String(
        required=True,
        validate=validate.OneOf(BULL_MESSAGE_TYPES),
        metadata={"description": "`FILE` for images, videos, audio and files; `SYSTEM` made by the service."},
    )
    content = fields.String(required=True)
    senderId = fields.String(required=True)
    sender = fields.Nested(BullSenderSchema, required=True)
    timestamp = fields.String(required=True, metadata=TIME)
    seq = fields.Integer(
        strict=True,
        validate=validate.Range(min=1),
        metadata={
            "description": "The message's place in the room. Absent only from the confirmation of a "
            "`chat:start_direct` whose room was started before and whose first message is no longer its last."
        },
    )


class BullLastMessageSchema(Schema):
    content = fields.String(required=True)
    timestamp = fields.String(required=True, metadata=TIME)
    type = fields.String(required=True, validate=validate.OneOf(BULL_MESSAGE_TYPES))


class BullRoomSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "A direct room shows the other user's name."})
    type = fields.String(required=True, validate=validate.OneOf(BULL_ROOM_TYPES))
    unreadCount = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    lastMessage = fields.Nested(BullLastMessageSchema, metadata={"description": "Absent from a room without one."})


class BullPersonSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "The user's name, else the id."})
    status = fields.String(
        required=True, validate=validate.OneOf(BULL_STATUSES), metadata={"description": "`busy` is shown as `away`."}
    )
    lastSeen = fields.String(allow_none=True, required=True, metadata=TIME)


class BullFavoriteSchema(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(BULL_FAVORITE_TYPES))
    name = fields.String(required=True, metadata={"description": "The room's or person's name, else the id."})


def _rooms(description: str = "My rooms.") -> fields.List:
    return fields.List(fields.Nested(BullRoomSchema), required=True, metadata={"description": description})


def _people(description: str = "Everyone who shares a room with me.") -> fields.List:
    return fields.List(fields.Nested(BullPersonSchema), required=True, metadata={"description": description})


def _favorites(description: str = "My favorites, oldest first.") -> fields.List:
    return fields.List(fields.Nested(BullFavoriteSchema), required=True, metadata={"description": description})


class BullInitDataSchema(Schema):
    rooms = _rooms()
    people = _people()
    favorites = _favorites()


class BullTypingStatusSchema(Schema):
    userId = fields.String(required=True, metadata={"description": "Who is typing."})
    roomId = fields.String(required=True)
    isTyping = fields.Boolean(required=True)


class BullPresenceUpdateSchema(Schema):
    userId = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(BULL_STATUSES))


class BullMessageUpdateSchema(Schema):
    roomId = fields.String(required=True)
    message = fields.Nested(BullMessageSchema, required=True)


class BullMessageDeleteSchema(Schema):
    roomId = fields.String(required=True)
    messageId = fields.String(required=True)


class BullErrorSchema(Schema):
    message = fields.String(required=True, metadata={"description": "For people."})
    code = fields.String(required=True, validate=CODES, metadata={"description": "Stable: see the error codes."})


class BullAckErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "The `message` of the `chat:error` sent with it."})
    code = fields.String(required=True, validate=CODES)


class BullSuccessSchema(Schema):
    success = fields.Boolean(required=True, validate=validate.Equal(True))


class BullSentSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The message id."})
    roomId = fields.String(required=True)
    seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    timestamp = fields.String(required=True, metadata=TIME)


class BullStatusSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(BULL_STATUSES), metadata={"description": "Now set."})


def _bull(payload, summary: str, ack, *operations: str, own: tuple[Code, ...] = INVALID) -> ClientEvent:
    return ClientEvent(payload, summary, ack, BullAckErrorSchema, _codes(*operations, own=own))


BULL = SioChannel(
    namespace="/chat/",
    title="Socket.IO namespace /chat/: seed 002 (Socket.IO, Redis and Bull), chat:* events",
    description="""\
Seed 002's service: Socket.IO (Engine.IO v4) namespace `/chat/` (the trailing slash is part of its name) on path \
`/socket.io/`. Connect with `io('ws://<host>/chat/', {transports: ['websocket'], auth: {token: 'Bearer <JWT>', \
userId}})` (long-polling is served too): the token is the JWT of the canonical protocol and `userId` its subject. \
A bad connection is refused, never accepted and then dropped: `connect_error` with `data: {code, message}`, \
`auth.token is required` (auth_required), `auth.token must start with 'Bearer '` (invalid_token), `auth.userId is \
required` (invalid_payload), a bad or expired JWT (invalid_token, token_expired), a `userId` that is not the \
token's subject (user_mismatch), a disabled user (user_disabled). Once connected: `chat:init_data`.

An event's argument is a string (`chat:join`, `chat:leave`, `chat:delete_message`, `chat:start_direct`, \
`chat:presence`) or an object (the others); further arguments are ignored. A connection gets the messages, \
typing, edits and deletions of the rooms it joined (`chat:join`, or `chat:start_direct`'s room); presence, \
favorites and the lists of rooms and people of its user always.

Enumerations are upper case: message types `TEXT`, `FILE` (images, videos, audio and files) and `SYSTEM`; room \
types `GROUP` and `DIRECT`; favorite types `ROOM` and `USER`. Statuses are lower case: `online`, `away` (`busy` \
is shown as `away`), `offline`. Ids are strings: an id of another type is refused.

A refused event gets `chat:error {message, code}` and, when it passed an acknowledgement callback, the \
acknowledgement `{error, code}` (the same words); the connection stays open. Errors of the dialect itself: \
`<event> takes a non-empty string`, `<event> takes an object`, `<field> must be a string`, `isTyping must be \
true or false`, `type must be ROOM or USER` (invalid_payload), `type must be TEXT or FILE` \
(unknown_message_type), `unknown event '<name>'` (unknown_event); any other refusal in the core's words \
(room_not_found, not_member, rate_limited...).""",
    transports=("websocket", "polling"),
    query=BullConnectQuerySchema,
    auth=BullConnectAuthSchema,
    client={
        "chat:join": _bull(
            _text("The room id."), "Follow a room's events on this connection.", BullSuccessSchema, "room:join"
        ),
        "chat:leave": _bull(_text("The room id."), "Stop following a room.", BullSuccessSchema, "room:leave"),
        "chat:send_message": _bull(
            BullSendMessageSchema,
            "Send a message: the connections that joined the room (mine too) get `chat:message`.",
            BullSentSchema,
            "message:send",
            own=(Code.INVALID_PAYLOAD, Code.UNKNOWN_MESSAGE_TYPE),
        ),
        "chat:typing": _bull(
            BullTypingRequestSchema,
            "I am typing (or stopped): the room's other connections get `chat:typing_status`.",
            BullSuccessSchema,
            "typing:start",
            "typing:stop",
        ),
        "chat:presence": _bull(
            _text(
                "online, away, busy or offline (to look offline); the synonyms of the canonical `presence:set` too.",
                40,
            ),
            "Choose my status: the people who share a room with me and my connections get `chat:presence_update`.",
            BullStatusSchema,
            "presence:set",
        ),
        "chat:update_message": _bull(
            BullUpdateMessageSchema,
            "Edit my message: the room gets `chat:message_update`. Answered with the message as edited.",
            BullMessageSchema,
            "message:edit",
        ),
        "chat:delete_message": _bull(
            _text("The message id."),
            "Delete my message (any, in a room I own): the room gets `chat:message_delete`.",
            BullMessageDeleteSchema,
            "message:delete",
        ),
        "chat:start_direct": _bull(
            _text("The other user's id."),
            "Start (or find) the direct room with a user, followed by this connection from now: confirmed on every "
            "call by the SYSTEM `chat:message` `Direct chat started`, also the acknowledgement's value.",
            BullMessageSchema,
            "direct:start",
        ),
        "chat:toggle_favorite": _bull(
            BullToggleFavoriteSchema,
            "Mark (or unmark) a room or a person as a favorite: my connections get `chat:favorites_update`. "
            "Answered with the whole list.",
            _favorites(),
            "favorite:toggle",
        ),
    },
    server={
        "chat:init_data": ServerEvent(BullInitDataSchema, "Sent once on connect: my rooms, people and favorites."),
        "chat:message": ServerEvent(
            BullMessageSchema,
            "A message in a room this connection joined (mine included), whatever dialect sent it; and the "
            "confirmation of `chat:start_direct`.",
        ),
        "chat:typing_status": ServerEvent(BullTypingStatusSchema, "Someone else started or stopped typing in a room."),
        "chat:presence_update": ServerEvent(
            BullPresenceUpdateSchema, "The status of someone who shares a room with me, or mine, changed."
        ),
        "chat:message_update": ServerEvent(
            BullMessageUpdateSchema, "A message in a room this connection joined was edited."
        ),
        "chat:message_delete": ServerEvent(
            BullMessageDeleteSchema, "A message in a room this connection joined was deleted."
        ),
        "chat:favorites_update": ServerEvent(_favorites("The whole list."), "My favorites changed (on any device)."),
        "chat:room_list_update": ServerEvent(
            _rooms("The whole list."), "My rooms changed (one added or removed, members changed)."
        ),
        "chat:people_list_update": ServerEvent(
            _people("The whole list."), "The people who share a room with me changed."
        ),
        "chat:error": ServerEvent(
            BullErrorSchema, "A client event was refused, or the server ends the connection (a disconnect follows)."
        ),
    },
    refusals=("chat:error",),
    refusal_with_ack=True,
    unknown_event_ack=BullAckErrorSchema,
    arguments="first",
)

CHANNELS: dict[str, SioChannel] = {"nestjs": NESTJS, "bull": BULL}
