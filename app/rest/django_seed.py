"""REST of seed 003 (a Django Channels service), at the root paths and in the shapes its clients use.

- `GET /api/conversations`: the caller's conversations, newest activity first, as a JSON array of
  `{id, name, other_user, last_message}`.
- `GET /api/rooms/<username>/messages`: `{messages: [...]}`, the conversation with that user, oldest first.

Both take the token as `Authorization: Bearer <JWT>` or bare (`Authorization: <JWT>`), as 003's own example
sends it (`Route.bare_token`), like the seed's upload and link routes (app/rest/attachments.py).

How the document is read here:

- A conversation is a direct room (one per pair, the same room 003's `/ws/<username>/` and every other
  dialect use). Group rooms are left out of the list: 003 has only one-to-one conversations. So is a direct
  room of a user with themselves (the canonical API allows one; 003 refuses a conversation with oneself).
- `id` is the room's id as a JSON number, as the document shows (`"id": 67`). Room ids are decimal strings of
  64-bit integers in the canonical protocol, but they come from a Postgres sequence (1, 2, 3...), so they stay
  far below 2^53 - 1, the largest integer a JavaScript number holds exactly (the schema says so). `name` is the
  same id as a string: the `room` of 003's `chat_message` frames (app/gateways/websocket/django_chat.py).
- Message ids stay decimal strings: they are 64-bit time-ordered ids (far above 2^53), which a JSON number
  would round. A client passes them back as they are (`/api/rooms/check-url/?message_id=`).
- People are `{id, username, name, email, is_active}`: `username` falls back to the user id for a user who has
  none (as 003's WebSocket frames do); `email` is always null (the service keeps no addresses); the document's
  `url` and `groups` (Django REST framework hyperlinks) are left out; `id` and `name` are additions.
- A message is `{id, from_user, to_user, date_added, content, multimedia_url}`; `to_user` is the other member
  of the pair; `multimedia_url` is the file's signed link, or an empty string without a file (as in 003's
  `chat_message` frames); `content` is the caption of a file (possibly empty).
- System messages ("Direct chat started") and deleted messages are left out, of the history and of
  `last_message`: 003 has neither (no system messages, no deletion), and a tombstone would show as an empty
  message. `last_message` is the newest message still shown (looked for up to LAST_MESSAGE_SCAN messages
  back), or null; the list is ordered by its date, or by the room's creation for a conversation without one.
- The document says the history is "all of them": it is the newest page of up to HISTORY_PAGE_MAX messages
  (all of them when there are fewer), oldest first; the canonical `GET /api/v1/rooms/{room_id}/messages`
  pages further back.
- An unknown username is a 404 `user_not_found`, one's own a 400 `invalid_payload`; a pair that never talked
  gets `{messages: []}`: reading does not create the room (opening `/ws/<username>/` does).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.chat.errors import ChatError, Code
from app.chat.model import Message, User, format_time
from app.chat.rooms import RoomView
from app.chat.service import Chat
from app.rest.api import Call, Route
from app.schemas.payloads import TIME

MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript's Number.MAX_SAFE_INTEGER
LAST_MESSAGE_SCAN = 1000  # how many messages back a conversation's last shown message is looked for
_NEWEST = 2**31  # a history limit the core lowers to HISTORY_PAGE_MAX: the newest page it allows

# Schemas.


class DjangoUserSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The user's id (the token's `sub`); an addition."})
    username = fields.String(required=True, metadata={"description": "The username, or the user id if none."})
    name = fields.String(allow_none=True, required=True, metadata={"description": "Display name; an addition."})
    email = fields.String(allow_none=True, required=True, metadata={"description": "Always null: not kept."})
    is_active = fields.Boolean(required=True, metadata={"description": "False for a disabled user."})


class DjangoMessageSchema(Schema):
    id = fields.String(
        required=True,
        metadata={"description": "The message's id: a decimal string (a 64-bit id; a JSON number would round it)."},
    )
    from_user = fields.Nested(DjangoUserSchema, required=True, metadata={"description": "The sender."})
    to_user = fields.Nested(DjangoUserSchema, required=True, metadata={"description": "The other one of the pair."})
    date_added = fields.String(required=True, metadata=TIME)
    content = fields.String(required=True, metadata={"description": "The text (a file's caption; may be empty)."})
    multimedia_url = fields.String(
        required=True, metadata={"description": "The file's signed download link; empty without a file."}
    )


class DjangoConversationSchema(Schema):
    id = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=MAX_SAFE_INTEGER),
        metadata={"description": "The room's id as a number (room ids come from a sequence: exact in JavaScript)."},
    )
    name = fields.String(
        required=True, metadata={"description": "The room's id as a string: the `room` of the WebSocket frames."}
    )
    other_user = fields.Nested(DjangoUserSchema, required=True)
    last_message = fields.Nested(
        DjangoMessageSchema,
        allow_none=True,
        required=True,
        metadata={"description": "The newest message (system and deleted ones are not shown); null if none."},
    )


class DjangoMessagesSchema(Schema):
    messages = fields.List(
        fields.Nested(DjangoMessageSchema),
        required=True,
        metadata={"description": "Oldest first: the newest HISTORY_PAGE_MAX messages, or all if fewer."},
    )


# Handlers.


async def list_conversations(call: Call) -> list[dict]:
    chat, me = call.chat, call.user
    views = [view for view in await chat.rooms.list(me) if view.room.kind == "direct" and view.peer is not None]
    shown: dict[str, Message | None] = {}
    unsigned: list[Message] = []
    for view in views:
        last = view.last_message
        if last is not None and _shown(last):
            unsigned.append(last)
        else:
            shown[view.room.id] = await _last_shown(chat, me, view)
    for message in await chat.messages.present(unsigned):  # signed links, in one go
        shown[message.room_id] = message
    people = await chat.users.directory([me.id, *(view.peer.user_id for view in views)])
    views.sort(key=lambda view: _date(view, shown[view.room.id]), reverse=True)
    return [_conversation(view, shown[view.room.id], me.id, people) for view in views]


async def list_messages_with(call: Call) -> dict:
    chat, me = call.chat, call.user
    peer = await chat.users.by_username(call.data["username"])
    if peer.id == me.id:
        raise ChatError(Code.INVALID_PAYLOAD, "a conversation needs another user than oneself")
    room = await chat.rooms.find_direct(me, peer.id)
    if room is None:
        return {"messages": []}
    page = await chat.messages.history(me, room.id, limit=_NEWEST)
    people = await chat.users.directory([me.id, peer.id])
    return {"messages": [_message(m, me.id, peer.id, people) for m in page.messages if _shown(m)]}


def _shown(message: Message) -> bool:
    """Whether 003's clients see the message: not a system message, not deleted."""
    return message.type != "system" and message.deleted_at is None


async def _last_shown(chat: Chat, me: User, view: RoomView) -> Message | None:
    """The newest shown message before the room's last one (which is not shown), signed; None if there is
    none within LAST_MESSAGE_SCAN messages."""
    before = view.last_message.seq if view.last_message is not None else 0
    scanned = 0
    while before > 1 and scanned < LAST_MESSAGE_SCAN:
        page = await chat.messages.history(me, view.room.id, before=before, limit=LAST_MESSAGE_SCAN - scanned)
        found = [m for m in page.messages if _shown(m)]
        if found:
            return found[-1]
        if not page.messages or not page.has_more_before:
            return None
        scanned += len(page.messages)
        before = page.messages[0].seq
    return None


def _conversation(view: RoomView, last: Message | None, me: str, people: dict[str, User]) -> dict:
    peer = view.peer.user_id
    return {
        "id": int(view.room.id),
        "name": view.room.id,
        "other_user": _user(people, peer),
        "last_message": _message(last, me, peer, people) if last is not None else None,
    }


def _date(view: RoomView, last: Message | None):
    return last.created_at if last is not None else view.room.created_at


def _user(people: dict[str, User], user_id: str) -> dict:
    user = people.get(user_id)
    if user is None:  # no row (never the case for members): the id stands for everything
        return {"id": user_id, "username": user_id, "name": None, "email": None, "is_active": True}
    return {
        "id": user.id,
        "username": user.username or user.id,
        "name": user.name,
        "email": None,
        "is_active": user.is_active,
    }


def _message(message: Message, me: str, peer: str, people: dict[str, User]) -> dict:
    to_id = peer if message.sender_id == me else me
    attachment = message.attachment
    return {
        "id": message.id,
        "from_user": _user(people, message.sender_id),
        "to_user": _user(people, to_id),
        "date_added": format_time(message.created_at),
        "content": message.content,
        "multimedia_url": (attachment.url or "") if attachment is not None else "",
    }


ROUTES = [
    Route("GET", "/api/conversations", list_conversations,
          "Seed 003: my one-to-one conversations, newest activity first, each with the other user and the last "
          "message (group rooms are left out)", "conversations",
          response=DjangoConversationSchema(many=True), bare_token=True),
    Route("GET", "/api/rooms/{username}/messages", list_messages_with,
          "Seed 003: the messages of my conversation with a user (by username), oldest first: the newest "
          "HISTORY_PAGE_MAX, or all if fewer; none if we never talked", "conversations",
          response=DjangoMessagesSchema, bare_token=True, errors=(Code.USER_NOT_FOUND, Code.INVALID_PAYLOAD)),
]  # fmt: skip
