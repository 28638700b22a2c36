"""REST of seed 002 (a Socket.IO + Redis + Bull service) under `/api/v2/chat/`, in the shapes its clients use.

- `GET rooms`: `{rooms: [{id, name, type, lastMessage, participants, unreadCount}]}`, the caller's rooms, newest
  activity first.
- `POST rooms {name, participants}`: a group owned by the caller (the canonical create_group); 201
  `{id, name, type, participants: [{user: {id, name, avatar}, role, joinedAt}]}`.
- `GET messages?roomId=&before=&limit=&type=`: `{messages: [...], hasMore}`, a page of the room's history.
- `POST reactions {messageId, emoji}`: `{id, emoji, messageId, userId}`; `DELETE reactions/{reactionId}`:
  `{success: true}`.

They take `Authorization: Bearer <JWT>`. The `x-tenant-tag` header the document's clients send is accepted and
ignored: there is one tenant. Errors are the document's `{error, details, code}`: `code` is the HTTP status,
`details` a string (each invalid field with its problem) or null, and the stable code is in the `X-Error-Code`
header (`Route.error_shape`, written by the error middleware for every failure of these routes).

How the document is read here:

- Enumerations in the document's casing: rooms `GROUP` or `DIRECT`; messages `TEXT`, `SYSTEM` or `FILE` (an
  image, video, audio or other file); a participant's `role` `OWNER` or `MEMBER`. Times are ISO 8601 in UTC
  with milliseconds. A person's `name` is their display name, or their id when they have none; `avatar` is
  always null (no avatars are kept).
- A direct room's `name` is the other member's name (or id). `lastMessage` is the newest message not deleted
  (looked for up to LAST_MESSAGE_SCAN messages back), system messages included (002 has SYSTEM messages); the
  room list's participants are every member, the caller too.
- A `POST rooms` answers 201, as the service (a NestJS one) does for every POST; so does a reaction added,
  while one that was there already answers 200 (it changes nothing).
- The history is oldest first within a page: the newest page without `before`. `before` is an ISO 8601 time
  (messages created before it: a naive time is UTC) or, as an addition, a message id of the room (the messages
  before that one: exact, where a time cursor skips messages made in the same millisecond as the oldest one
  shown). `limit` defaults to 50 and is lowered to HISTORY_PAGE_MAX. `hasMore` says whether older messages
  exist. Deleted messages are left out (a tombstone would show as an empty message; the page is filled from
  older ones instead, looking through at most HISTORY_SCAN messages). `type=direct` (or `group`, any case)
  keeps to rooms of that type: a room of the other type gives no messages; the room must be the caller's in
  any case.
- A time cursor goes through the core (`Messages.seq_at`): message ids are time-ordered, so the messages made
  before T are below the first message whose id is at least `first_id_at(T)`, found in Postgres by a binary
  search over seq; the page is then read as every history is, Postgres merged with the messages acknowledged
  but not yet persisted (an acknowledged message is readable at once), keeping those created before T.
- A reaction's `id` is opaque and URL-safe: base64url of (message id, emoji, user id). A reaction has no id of
  its own (rows are keyed by those three), so the id is the key itself; the user is in it so that a reaction
  id names one person's reaction: `DELETE` removes the caller's own reaction only, and someone else's id, a
  malformed one or one whose reaction is gone is 404 `reaction_not_found`.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from app.chat.errors import ChatError, Code
from app.chat.model import Member, Message, User, format_time
from app.chat.rooms import RoomView
from app.chat.service import Chat
from app.rest.api import Call, Reply, Route
from app.rest.errors import ErrorShape
from app.rest.schemas import EMOJI, ROOM_NAME
from app.schemas.fields import ID_PATTERN, Identifier, MessageIdentifier, UserIdentifier
from app.schemas.payloads import TIME

PREFIX = "/api/v2/chat"
DEFAULT_LIMIT = 50
HISTORY_SCAN = 2000  # the most messages one history request looks through to fill its page
LAST_MESSAGE_SCAN = 200  # how far back a room's last message not deleted is looked for
TYPES = {"text": "TEXT", "system": "SYSTEM", "image": "FILE", "file": "FILE", "video": "FILE", "audio": "FILE"}
ROOM_TYPES = {"direct": "DIRECT", "group": "GROUP"}
ROLES = {"owner": "OWNER", "member": "MEMBER"}
TENANT = (("x-tenant-tag", "The tenant, as seed 002's clients send it: accepted and ignored (one tenant)."),)
_REACTION_ID = re.compile(r"^[A-Za-z0-9_-]+$")


# Errors: the document's shape.


class BullErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "A human-readable message."})
    details = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "More about it (each invalid field with its problem), or null."},
    )
    code = fields.Integer(required=True, metadata={"description": "The HTTP status."})


def _error_body(error: ChatError, status: int) -> dict:
    return {"error": error.message, "details": _details(error.details), "code": status}


def _details(details: dict | None) -> str | None:
    if not details:
        return None
    problems = details.get("fields")
    return _text(problems if isinstance(problems, dict) else details)


def _text(value: object) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_text(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return " ".join(_text(item) for item in value)
    return str(value)


BULL_ERRORS = ErrorShape(BullErrorSchema, _error_body)


# Requests.


class Before(fields.Field):
    """An ISO 8601 time (a datetime, naive ones taken as UTC) or a message id (digits, kept as a string)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("must be an ISO 8601 time or a message id")
        if not value:
            return None  # `?before=`: as if absent
        if value.isascii() and value.isdigit():
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError("must be an ISO 8601 time or a message id") from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class BullCreateRoomSchema(Schema):
    name = fields.String(
        required=True,
        metadata={**ROOM_NAME, "description": "1 to 200 characters, not only white space (which is trimmed)."},
    )
    participants = fields.List(
        UserIdentifier(),
        load_default=list,
        metadata={"description": "User ids to add besides the caller, who owns the room."},
    )


class BullMessagesQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # other query parameters (a cache buster...) are ignored

    room_id = Identifier(required=True, data_key="roomId", metadata={"description": "A room of the caller's."})
    before = Before(
        metadata={
            "type": "string",
            "anyOf": [{"maxLength": 0}, {"pattern": ID_PATTERN}, {"format": "date-time"}],
            "description": "An ISO 8601 time: the messages created before it. Or a message id of the room: the "
            "messages before that one (exact paging). Empty: as if left out.",
        },
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1),
        metadata={"description": "Messages per page (a larger one is lowered to HISTORY_PAGE_MAX)."},
    )
    kind = fields.String(
        data_key="type",
        validate=validate.OneOf(["direct", "group", "DIRECT", "GROUP"]),
        metadata={"description": "Only a room of this type: another one gives no messages."},
    )


class BullReactionBodySchema(Schema):
    message_id = MessageIdentifier(required=True, data_key="messageId", metadata={"description": "A message id."})
    emoji = fields.String(required=True, metadata={**EMOJI, "description": "Exactly one emoji."})


# Responses.


class BullPersonSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The user's id (the token's `sub`)."})
    name = fields.String(required=True, metadata={"description": "The display name, or the id without one."})


class BullParticipantSchema(BullPersonSchema):
    avatar = fields.String(allow_none=True, required=True, metadata={"description": "Always null: not kept."})


class BullLastMessageSchema(Schema):
    content = fields.String(required=True)
    timestamp = fields.String(required=True, metadata=TIME)
    sender = fields.Nested(BullPersonSchema, required=True)


class BullRoomSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "A direct room's is the other member's name."})
    type = fields.String(required=True, validate=validate.OneOf(["GROUP", "DIRECT"]))
    lastMessage = fields.Nested(
        BullLastMessageSchema,
        allow_none=True,
        required=True,
        metadata={"description": "The newest message not deleted (system ones too), or null."},
    )
    participants = fields.List(fields.Nested(BullParticipantSchema), required=True)
    unreadCount = fields.Integer(required=True)


class BullRoomsSchema(Schema):
    rooms = fields.List(fields.Nested(BullRoomSchema), required=True, metadata={"description": "Newest first."})


class BullMembershipSchema(Schema):
    user = fields.Nested(BullParticipantSchema, required=True)
    role = fields.String(required=True, validate=validate.OneOf(["OWNER", "MEMBER"]))
    joinedAt = fields.String(required=True, metadata=TIME)


class BullCreatedRoomSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(["GROUP", "DIRECT"]))
    participants = fields.List(fields.Nested(BullMembershipSchema), required=True)


class BullReactionGroupSchema(Schema):
    emoji = fields.String(required=True)
    users = fields.List(fields.Nested(BullPersonSchema), required=True, metadata={"description": "In reaction order."})


class BullMessageSchema(Schema):
    id = fields.String(required=True, metadata={"description": "A decimal string (a 64-bit, time-ordered id)."})
    content = fields.String(required=True, metadata={"description": "The text (a file's caption; may be empty)."})
    sender = fields.Nested(BullPersonSchema, required=True)
    timestamp = fields.String(required=True, metadata=TIME)
    type = fields.String(required=True, validate=validate.OneOf(["TEXT", "SYSTEM", "FILE"]))
    reactions = fields.List(fields.Nested(BullReactionGroupSchema), required=True)


class BullMessagesSchema(Schema):
    messages = fields.List(fields.Nested(BullMessageSchema), required=True, metadata={"description": "Oldest first."})
    hasMore = fields.Boolean(required=True, metadata={"description": "Whether older messages exist."})


class BullReactionSchema(Schema):
    id = fields.String(required=True, metadata={"description": "Opaque and URL-safe: DELETE reactions/{id}."})
    emoji = fields.String(required=True)
    messageId = fields.String(required=True)
    userId = fields.String(required=True)


class BullRemovedSchema(Schema):
    success = fields.Boolean(required=True, validate=validate.Equal(True))


# Handlers.


async def v2_list_rooms(call: Call) -> dict:
    chat, me = call.chat, call.user
    views = await chat.rooms.list(me, with_members=True)
    last = {view.room.id: await _last_shown(chat, me, view) for view in views}
    names = _member_names(views)
    names.update(await _names(chat, [m.sender_id for m in last.values() if m is not None], known=names))
    return {"rooms": [_room(view, last[view.room.id], me, names) for view in views]}


async def v2_create_room(call: Call) -> dict:
    view = await call.chat.rooms.create_group(call.user, call.data["name"], call.data["participants"])
    names = _member_names([view])
    return {
        "id": view.room.id,
        "name": _room_name(view, call.user, names),
        "type": ROOM_TYPES[view.room.kind],
        "participants": [_membership(member) for member in view.members or ()],
    }


async def v2_list_messages(call: Call) -> dict:
    chat, me, data = call.chat, call.user, call.data
    room_id, before, kind = data["room_id"], data.get("before"), data.get("kind")
    room = (await chat.access.require(room_id, me.id)).room
    if kind is not None and kind.lower() != room.kind:
        return {"messages": [], "hasMore": False}
    limit = min(data["limit"], chat.messages.page_max)
    upper, cutoff = None, None
    if isinstance(before, datetime):
        upper, cutoff = await chat.messages.seq_at(me, room_id, before), before
    elif before is not None:
        message = await chat.messages.find(me, before)
        if message.room_id != room_id:
            raise ChatError(Code.MESSAGE_NOT_FOUND, f"no message {before} in room {room_id}")
        upper = message.seq
    messages, more = await _page(chat, me, room_id, upper, cutoff, limit)
    people = [m.sender_id for m in messages] + [u for m in messages for group in m.reactions for u in group.user_ids]
    names = await _names(chat, people)
    return {"messages": [_message(m, names) for m in messages], "hasMore": more}


async def v2_add_reaction(call: Call) -> Reply:
    me = call.user
    reacted = await call.chat.messages.react(me, call.data["message_id"], call.data["emoji"], True)
    body = {
        "id": reaction_id(reacted.message.id, reacted.emoji, me.id),
        "emoji": reacted.emoji,
        "messageId": reacted.message.id,
        "userId": me.id,
    }
    return Reply(body, 201 if reacted.changed else 200)


async def v2_remove_reaction(call: Call) -> dict:
    me, given = call.user, call.data["reactionId"]
    key = reaction_key(given)
    if key is None or key[2] != me.id:
        raise _no_reaction(given)
    message_id, emoji, _user = key
    try:
        reacted = await call.chat.messages.react(me, message_id, emoji, False)
    except ChatError as exc:  # the message is gone, or the id was made up: no such reaction either way
        if exc.code in (Code.MESSAGE_NOT_FOUND, Code.MESSAGE_DELETED, Code.INVALID_EMOJI, Code.INVALID_PAYLOAD):
            raise _no_reaction(given) from None
        raise
    if not reacted.changed:
        raise _no_reaction(given)
    return {"success": True}


# Reaction ids.


def reaction_id(message_id: str, emoji: str, user_id: str) -> str:
    """The opaque, URL-safe id of a user's reaction: base64url (unpadded) of `message id:emoji:user id`."""
    return base64.urlsafe_b64encode(f"{message_id}:{emoji}:{user_id}".encode()).decode().rstrip("=")


def reaction_key(value: str) -> tuple[str, str, str] | None:
    """(message id, emoji, user id) of a reaction id, or None when it is not one. Message ids are digits and an
    emoji holds no `:`, so the first two colons split it (a user id may hold more)."""
    if not _REACTION_ID.match(value):
        return None
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    message_id, _, rest = text.partition(":")
    emoji, _, user_id = rest.partition(":")
    if not (message_id.isascii() and message_id.isdigit() and emoji and user_id):
        return None
    return message_id, emoji, user_id


def _no_reaction(given: str) -> ChatError:
    return ChatError(Code.REACTION_NOT_FOUND, f"no reaction {given} of yours")


# Shapes.


def _shown(message: Message, cutoff: datetime | None) -> bool:
    return message.deleted_at is None and (cutoff is None or message.created_at < cutoff)


async def _page(
    chat: Chat, me: User, room_id: str, upper: int | None, cutoff: datetime | None, limit: int
) -> tuple[list[Message], bool]:
    """The newest `limit` messages shown below seq `upper` (None: all) and created before `cutoff` (None: any),
    oldest first, and whether older ones exist; history pages are read until it is full (or HISTORY_SCAN)."""
    shown: list[Message] = []
    scanned = 0
    while True:
        page = await chat.messages.history(me, room_id, before=upper, limit=limit)
        shown[:0] = [m for m in page.messages if _shown(m, cutoff)]
        scanned += len(page.messages)
        if len(shown) >= limit or not page.has_more_before or not page.messages or scanned >= HISTORY_SCAN:
            break
        upper = page.messages[0].seq
    if len(shown) > limit:
        return shown[-limit:], True
    return shown, page.has_more_before


async def _last_shown(chat: Chat, me: User, view: RoomView) -> Message | None:
    """The room's newest message not deleted, looked for up to LAST_MESSAGE_SCAN messages back; None if none."""
    last = view.last_message
    if last is None or last.deleted_at is None:
        return last
    before, scanned = last.seq, 0
    while before > 1 and scanned < LAST_MESSAGE_SCAN:
        page = await chat.messages.history(me, view.room.id, before=before, limit=LAST_MESSAGE_SCAN - scanned)
        found = [m for m in page.messages if m.deleted_at is None]
        if found:
            return found[-1]
        if not page.messages or not page.has_more_before:
            return None
        scanned += len(page.messages)
        before = page.messages[0].seq
    return None


def _member_names(views: list[RoomView]) -> dict[str, str | None]:
    return {member.user_id: member.name for view in views for member in view.members or ()}


async def _names(chat: Chat, user_ids: list[str], known: dict | None = None) -> dict[str, str | None]:
    """The display names of the users not in `known` (in one directory call)."""
    wanted = [user_id for user_id in dict.fromkeys(user_ids) if known is None or user_id not in known]
    if not wanted:
        return {}
    return {user_id: user.name for user_id, user in (await chat.users.directory(wanted)).items()}


def _person(user_id: str, names: dict[str, str | None]) -> dict:
    return {"id": user_id, "name": names.get(user_id) or user_id}


def _room_name(view: RoomView, me: User, names: dict[str, str | None]) -> str:
    if view.room.kind != "direct":
        return view.room.name or view.room.id
    others = [m.user_id for m in view.members or () if m.user_id != me.id]
    return _person(others[0] if others else me.id, names)["name"]


def _room(view: RoomView, last: Message | None, me: User, names: dict[str, str | None]) -> dict:
    shown = None
    if last is not None:
        shown = {
            "content": last.content,
            "timestamp": format_time(last.created_at),
            "sender": _person(last.sender_id, names),
        }
    return {
        "id": view.room.id,
        "name": _room_name(view, me, names),
        "type": ROOM_TYPES[view.room.kind],
        "lastMessage": shown,
        "participants": [{**_person(m.user_id, names), "avatar": None} for m in view.members or ()],
        "unreadCount": view.unread,
    }


def _membership(member: Member) -> dict:
    return {
        "user": {"id": member.user_id, "name": member.name or member.user_id, "avatar": None},
        "role": ROLES[member.role],
        "joinedAt": format_time(member.joined_at),
    }


def _message(message: Message, names: dict[str, str | None]) -> dict:
    return {
        "id": message.id,
        "content": message.content,
        "sender": _person(message.sender_id, names),
        "timestamp": format_time(message.created_at),
        "type": TYPES[message.type],
        "reactions": [
            {"emoji": group.emoji, "users": [_person(user_id, names) for user_id in group.user_ids]}
            for group in message.reactions
        ],
    }


TAG = "seed 002: chat v2"
ROUTES = [
    Route("GET", f"{PREFIX}/rooms", v2_list_rooms,
          "Seed 002: my rooms, newest activity first, each with its last message, participants and unread count",
          TAG, response=BullRoomsSchema, error_shape=BULL_ERRORS, headers=TENANT),
    Route("POST", f"{PREFIX}/rooms", v2_create_room, "Seed 002: create a group room owned by me", TAG,
          body=BullCreateRoomSchema, response=BullCreatedRoomSchema, status=201,
          errors=(Code.INVALID_PAYLOAD, Code.CONTENT_INVALID, Code.TOO_MANY_MEMBERS), error_shape=BULL_ERRORS,
          headers=TENANT),
    Route("GET", f"{PREFIX}/messages", v2_list_messages,
          "Seed 002: a page of a room's messages, oldest first: the newest, or those before a time (or a message "
          "id); deleted messages left out", TAG,
          query=BullMessagesQuerySchema, response=BullMessagesSchema,
          errors=(Code.ROOM_NOT_FOUND, Code.NOT_MEMBER, Code.INVALID_PAYLOAD, Code.MESSAGE_NOT_FOUND),
          error_shape=BULL_ERRORS, headers=TENANT),
    Route("POST", f"{PREFIX}/reactions", v2_add_reaction,
          "Seed 002: add my reaction to a message: 201 when added, 200 when it was there already", TAG,
          body=BullReactionBodySchema, response=BullReactionSchema, status=201, alt_status=(200,),
          errors=(Code.MESSAGE_NOT_FOUND, Code.MESSAGE_DELETED, Code.INVALID_EMOJI, Code.INVALID_PAYLOAD),
          error_shape=BULL_ERRORS, headers=TENANT),
    Route("DELETE", f"{PREFIX}/reactions/{{reactionId}}", v2_remove_reaction,
          "Seed 002: remove my reaction, by the id adding it answered (only one's own)", TAG,
          response=BullRemovedSchema, errors=(Code.REACTION_NOT_FOUND,), error_shape=BULL_ERRORS, headers=TENANT),
]  # fmt: skip
