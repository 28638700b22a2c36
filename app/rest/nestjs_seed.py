"""REST of seed 001 (a NestJS service), at the root paths and in the shapes its clients use.

- `POST /api/chats/conversations {sender_id, receiver_id}`: the pair's conversation, created on first use and the
  same one on every later call, from either side: `{id, sender_id, receiver_id, created_at, updated_at}`; 201
  when this call created it, 200 when it was there already.
- `GET /api/chats/conversations/{id}/messages?page=1&limit=20`: one page of the conversation's messages, each
  with the fields of 001's `receive-message` frame.

Both take `Authorization: Bearer <JWT>` (the 001 document has no authentication; the project's tokens are the
same JWTs everywhere).

How the document is read here:

- Ids are JSON numbers, as 001's clients send and expect them: users (`sender_id: 1`), conversations (the room
  id: a Postgres sequence, far below 2**53 - 1) and messages. A message id is 64 bits and would be rounded by
  a JavaScript number, so a message is shown by its numeric alias, room id * 2**32 + seq
  (`app.chat.ids.message_alias`), exact for the first 2,097,151 rooms (a message beyond that, which no alias
  can name, keeps its decimal string id). A user id that is not a canonical decimal within 2**53 - 1 ("alice",
  "007", a 20-digit id) is shown as the string it is (`app.chat.ids.js_number`): every dialect returns an id in
  the type it was given.
- The request's ids are taken in the type the service shows them: a number for a numeric user, the string for
  any other. A numeric id sent as a string ("1"), a fraction, a boolean, a number beyond 2**53 - 1 or below 0
  is refused (400) in class-validator's wording, the one 001's own errors use (`sender_id must be an integer
  number`, `receiver_id should not be empty`...), joined with ", " as the document shows them; `details.fields`
  has them per field.
- The caller must be `sender_id` or `receiver_id` (either: a conversation read back and posted again by the
  other member is still theirs); anyone else gets 403 `not_member`. A conversation of a user with themselves is
  allowed, as the core allows it.
- A conversation is a direct room (one per pair: the same room every dialect uses for the pair). Its
  `sender_id` and `receiver_id` are the pair in a stable order, the lower id first (numbers by value, before
  ids that are not numbers, those in text order), not "who asked first": a pair's room may have been started
  in any dialect, and the order must be the same in every answer and in every `receive-message` frame's
  `conversation`, which have only the room's members to go by (`app.schemas.nestjs.conversation_pair`). `updated_at` is
  `created_at`: a conversation's pair never changes.
- The history is a bare JSON array (the document shows no wrapper): page 1 is the newest `limit` of the
  conversation's sequence, page 2 the `limit` before them, and so on (past the oldest: an empty array); within
  a page the messages are oldest first, as every history of the project is and in the order `receive-message`
  frames arrive, so a client appends live messages after page 1 and puts page 2 above it. `limit` is 1 to 100
  (default 20), `page` from 1 (default 1).
- System messages ("Direct chat started") and deleted messages are left out: 001 has neither, and its clients
  would show the one as something the starter wrote and the other as an empty message. A page is a slice of the
  sequence, so one holding such messages has fewer items (a direct room's only system message is its first, on
  its last page: a page shorter than `limit` still means there is nothing older, deletions aside).
- `message_type` is the message's type, lowercase: `text`, `image`, `file`, and `video` or `audio` for files
  sent so in another dialect. `content` is the text (a file's caption).
- Only members read a conversation (403 `not_member` otherwise); an id that names no direct room (unknown, not
  a canonical decimal, or a group room: 001's conversations are one-to-one) is 404 `Conversation not found`.
"""

from __future__ import annotations

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load

from app.chat.errors import ChatError, Code
from app.chat.ids import MAX_SAFE_INTEGER, js_number
from app.chat.messages import USER_TYPES
from app.chat.model import Message, User, format_time
from app.chat.rooms import RoomView
from app.chat.rules import MAX_ID_LENGTH, check_user_id
from app.chat.service import Chat
from app.rest.api import Call, Reply, Route
from app.schemas.fields import END, USER_ID_PATTERN
from app.schemas.nestjs import conversation_ref, nest_message
from app.schemas.payloads import TIME

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
NOT_FOUND = "Conversation not found"

# Schemas: requests, validated in class-validator's words.


def _messages(name: str, *keys: str) -> list[str]:
    """class-validator's messages for property `name` (`@IsNotEmpty()`, `@IsInt()`)."""
    words = {"empty": f"{name} should not be empty", "integer": f"{name} must be an integer number"}
    return [words[key] for key in keys]


class UserId(fields.Field):
    """A user id in the type the service shows it: a JSON number for a canonical decimal within 0 to 2**53 - 1,
    the string for any other id (loaded as the id string). A numeric id given as a string is refused."""

    def __init__(self, name: str, **kwargs) -> None:
        empty = _messages(name, "empty", "integer")
        kwargs.setdefault("error_messages", {"required": empty, "null": empty})
        self.words = name
        super().__init__(required=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        name = self.words
        if isinstance(value, str):
            if value == "":
                raise ValidationError(_messages(name, "empty", "integer"))
            if js_number(value) != value:  # "1": a numeric id, which goes as a number
                raise ValidationError(_messages(name, "integer"))
            try:
                check_user_id(value)
            except ChatError:
                raise ValidationError(_messages(name, "integer")) from None
            return value
        number = _integer(value)
        if number is None:
            raise ValidationError(_messages(name, "integer"))
        if number < 0:
            raise ValidationError(f"{name} must not be less than 0")
        if number > MAX_SAFE_INTEGER:
            raise ValidationError(f"{name} must not be greater than {MAX_SAFE_INTEGER}")
        return str(number)


class QueryInteger(fields.Field):
    """An integer of the query string (class-validator with `@Type(() => Number)`: "2" is 2), within bounds."""

    def __init__(self, name: str, minimum: int, maximum: int, **kwargs) -> None:
        self.words, self.minimum, self.maximum = name, minimum, maximum
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> int:
        name = self.words
        text = value.strip() if isinstance(value, str) else ""
        if not re.fullmatch(r"[+-]?[0-9]{1,20}", text):
            raise ValidationError(_messages(name, "integer"))
        number = int(text)
        if number < self.minimum:
            raise ValidationError(f"{name} must not be less than {self.minimum}")
        if number > self.maximum:
            raise ValidationError(f"{name} must not be greater than {self.maximum}")
        return number


def _integer(value: object) -> int | None:
    """An integer as class-validator's `@IsInt()` takes one (a JSON number without a fraction), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class _NestRequest(Schema):
    """Validation failures become one 400 `invalid_payload` whose message is class-validator's messages joined
    with ", " (property by property, in the schema's order), as the document shows them."""

    class Meta:
        unknown = EXCLUDE  # NestJS's ValidationPipe ignores properties it does not know

    def handle_error(self, error: ValidationError, data, **kwargs) -> None:
        found = error.messages if isinstance(error.messages, dict) else {}
        words: list[str] = []
        for name in self.fields:
            messages = found.get(name, [])
            words.extend(messages if isinstance(messages, list) else [str(messages)])
        raise ChatError(Code.INVALID_PAYLOAD, ", ".join(words) or "the payload is invalid", {"fields": found})


ID_TYPES = ["integer", "string"]
# A user id as UserId takes it: a number from 0 to 2**53 - 1, or an id string that is not such a number.
USER_ID_SCHEMA = {
    "type": ID_TYPES,
    "minimum": 0,
    "maximum": MAX_SAFE_INTEGER,
    "minLength": 1,
    "maxLength": MAX_ID_LENGTH,
    # A user id (app.schemas.fields.USER_ID_PATTERN), unless it is such a number (written as digits: refused).
    "pattern": rf"^(?!(?:0|[1-9][0-9]{{0,15}}){END})" + USER_ID_PATTERN[1:],
}
_USER_ID = (
    "A user id: a JSON number (0 to 2**53 - 1) for a numeric user; the id as a string for a user whose id is "
    "not such a number. A numeric id sent as a string is refused (`{name} must be an integer number`)."
)


class NestCreateConversationSchema(_NestRequest):
    sender_id = UserId(
        "sender_id",
        metadata={**USER_ID_SCHEMA, "description": _USER_ID.format(name="sender_id") + " The caller, or:"},
    )
    receiver_id = UserId(
        "receiver_id",
        metadata={
            **USER_ID_SCHEMA,
            "description": _USER_ID.format(name="receiver_id") + " One of the two must be the caller.",
        },
    )

    @pre_load
    def _object(self, data, **kwargs):
        return data if isinstance(data, dict) else {}  # not an object: every property is missing


class NestMessagesQuerySchema(_NestRequest):
    page = QueryInteger(
        "page",
        1,
        MAX_SAFE_INTEGER,
        load_default=1,
        metadata={
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_SAFE_INTEGER,
            "description": "Page 1 is the newest `limit` messages, page 2 the `limit` before them, and so on; "
            "past the oldest, an empty array. Default 1.",
        },
    )
    limit = QueryInteger(
        "limit",
        1,
        MAX_LIMIT,
        load_default=DEFAULT_LIMIT,
        metadata={
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "description": f"Messages per page, 1 to {MAX_LIMIT}. Default {DEFAULT_LIMIT}.",
        },
    )


# Schemas: responses.


class JsId(fields.Field):
    """An id as a JSON number when JavaScript holds it exactly, else as its string (documentation only)."""


def _id(description: str) -> JsId:
    return JsId(required=True, metadata={"type": ID_TYPES, "description": description})


_USER = "A user id: a number, or the id as a string for a user whose id is not a number within 2**53 - 1."


class NestConversationRefSchema(Schema):
    id = _id("The conversation's id: the room id, a number.")
    sender_id = _id("The lower id of the pair (numbers by value, before other ids). " + _USER)
    receiver_id = _id("The other id of the pair (the same as sender_id for a conversation with oneself).")


class NestConversationSchema(NestConversationRefSchema):
    created_at = fields.String(required=True, metadata=TIME)
    updated_at = fields.String(required=True, metadata={**TIME, "description": "The same as created_at."})


class NestMessageSchema(Schema):
    id = _id(
        "The message's numeric alias, room id * 2**32 + seq (a message id is 64 bits, which a JavaScript number "
        "would round); the message's id as a decimal string beyond the first 2,097,151 rooms."
    )
    sender_id = _id(_USER)
    conversation_id = _id("The conversation's id.")
    timestamp = fields.String(required=True, metadata=TIME)
    message_type = fields.String(
        required=True, metadata={"enum": list(USER_TYPES), "description": "The message's type, lowercase."}
    )
    content = fields.String(required=True, metadata={"description": "The text (a file's caption; may be empty)."})
    conversation = fields.Nested(NestConversationRefSchema, required=True)


# The conversation's pair and the shapes.


def _members(view: RoomView) -> list[str]:
    return [member.user_id for member in view.members or ()]


# Handlers.


async def create_conversation(call: Call) -> Reply:
    me, sender, receiver = call.user, call.data["sender_id"], call.data["receiver_id"]
    if me.id not in (sender, receiver):
        raise ChatError(
            Code.NOT_MEMBER,
            "Unauthorized to create this conversation",
            {"reason": "the caller must be sender_id or receiver_id"},
        )
    other = receiver if sender == me.id else sender
    view, created = await call.chat.rooms.start_direct(me, other)
    room = view.room
    created_at = format_time(room.created_at)
    body = {**conversation_ref(room.id, _members(view)), "created_at": created_at, "updated_at": created_at}
    return Reply(body, 201 if created else 200)


async def conversation_messages(call: Call) -> list[dict]:
    chat, me = call.chat, call.user
    view = await _conversation(chat, me, call.data["id"])
    page, limit = call.data["page"], call.data["limit"]
    hi = view.last_seq - (page - 1) * limit
    if hi < 1:
        return []
    messages = await _read(chat, me, view.room.id, max(1, hi - limit + 1), hi)
    conversation = conversation_ref(view.room.id, _members(view))
    return [nest_message(m.record(), conversation) for m in messages if m.type != "system" and m.deleted_at is None]


async def _conversation(chat: Chat, me: User, room_id: str) -> RoomView:
    """The direct room the caller is a member of: 404 for no such direct room, 403 for someone else's."""
    try:
        view = await chat.rooms.get(me, room_id)
    except ChatError as exc:
        if exc.code is Code.NOT_MEMBER:
            raise ChatError(Code.NOT_MEMBER, "Unauthorized to access this conversation") from None
        if exc.code in (Code.ROOM_NOT_FOUND, Code.INVALID_PAYLOAD):
            raise ChatError(Code.ROOM_NOT_FOUND, NOT_FOUND) from None
        raise
    if view.room.kind != "direct":
        raise ChatError(Code.ROOM_NOT_FOUND, NOT_FOUND)
    return view


async def _read(chat: Chat, me: User, room_id: str, lo: int, hi: int) -> list[Message]:
    """The room's messages with seqs lo..hi, oldest first, in as many history reads as HISTORY_PAGE_MAX needs."""
    found: list[Message] = []
    before = hi + 1
    while before > lo:
        page = await chat.messages.history(me, room_id, before=before, limit=before - lo)
        shown = [m for m in page.messages if m.seq >= lo]
        if not shown:
            break
        found[:0] = shown
        before = shown[0].seq
        if not page.has_more_before:
            break
    return found


ROUTES = [
    Route("POST", "/api/chats/conversations", create_conversation,
          "Seed 001: the conversation of two users (the caller one of them), created on first use and the same on "
          "every call from either side; ids are JSON numbers", "chats",
          body=NestCreateConversationSchema, response=NestConversationSchema, status=201, alt_status=(200,),
          errors=(Code.INVALID_PAYLOAD, Code.NOT_MEMBER)),
    Route("GET", "/api/chats/conversations/{id}/messages", conversation_messages,
          "Seed 001: a page of a conversation's messages. Page 1 is the newest `limit` messages, page 2 the ones "
          "before them; within a page, oldest first. A bare array of `receive-message` items (message ids are "
          "numeric aliases); system and deleted messages are left out", "chats",
          query=NestMessagesQuerySchema, response=NestMessageSchema(many=True),
          errors=(Code.INVALID_PAYLOAD, Code.NOT_MEMBER, Code.ROOM_NOT_FOUND)),
]  # fmt: skip
