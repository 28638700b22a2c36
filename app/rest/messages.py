"""REST: a room's history, and sending (for bots, scripts and tests; clients use Socket.IO)."""

from __future__ import annotations

from app.chat import payloads
from app.chat.errors import Code
from app.rest.api import Call, Reply, Route, v1
from app.rest.schemas import (
    ChangesQuerySchema,
    EditBodySchema,
    HistoryQuerySchema,
    ReactionBodySchema,
    SendMessageSchema,
)
from app.schemas.payloads import (
    ChangesSchema,
    DeletedSchema,
    EditedSchema,
    MessageSchema,
    PageSchema,
    ReactedSchema,
    ReceiptSchema,
)


async def list_messages(call: Call) -> dict:
    data = call.data
    page = await call.chat.messages.history(
        call.user, data["room_id"], before=data.get("before"), after=data.get("after"), limit=data["limit"]
    )
    return payloads.page(page)


async def list_changes(call: Call) -> dict:
    messages, cursor, more = await call.chat.messages.changes(call.user, call.data["room_id"], call.data["since"])
    return payloads.changes(messages, cursor, more)


async def send_message(call: Call) -> Reply:
    data = call.data
    result = await call.chat.messages.send(
        call.user,
        data["room_id"],
        data["content"],
        data["client_ref"],
        data["type"],
        reply_to=data["reply_to"],
        attachment_id=data["attachment_id"],
    )
    return Reply(payloads.sent(result), 200 if result.duplicate else 201)


async def get_message(call: Call) -> dict:
    message = await call.chat.messages.find(call.user, call.data["message_id"])
    return (await call.chat.messages.present([message]))[0].record()


async def edit_message(call: Call) -> dict:
    message = await call.chat.messages.edit(call.user, call.data["message_id"], call.data["content"])
    return {"message": (await call.chat.messages.present([message]))[0].record()}


async def delete_message(call: Call) -> dict:
    return payloads.deleted(await call.chat.messages.delete(call.user, call.data["message_id"]))


async def add_reaction(call: Call) -> dict:
    return payloads.reacted(
        await call.chat.messages.react(call.user, call.data["message_id"], call.data["emoji"], True)
    )


async def remove_reaction(call: Call) -> dict:
    data = call.data
    return payloads.reacted(await call.chat.messages.react(call.user, data["message_id"], data["emoji"], False))


SEND_ERRORS = (Code.ROOM_NOT_FOUND, Code.NOT_MEMBER, Code.INVALID_PAYLOAD, Code.CONTENT_EMPTY, Code.CONTENT_TOO_LONG,
               Code.CONTENT_INVALID, Code.DUPLICATE_CLIENT_REF, Code.UNKNOWN_MESSAGE_TYPE, Code.REPLY_NOT_FOUND,
               Code.ATTACHMENT_NOT_FOUND)  # fmt: skip
CHANGE_ERRORS = (Code.MESSAGE_NOT_FOUND, Code.NOT_SENDER, Code.MESSAGE_DELETED, Code.INVALID_PAYLOAD)


ROUTES = [
    Route("GET", v1("/rooms/{room_id}/messages"), list_messages,
          "A page of history, ascending by seq: the newest, or before/after a seq", "messages",
          query=HistoryQuerySchema, response=PageSchema,
          errors=(Code.ROOM_NOT_FOUND, Code.NOT_MEMBER, Code.INVALID_PAYLOAD)),
    Route("GET", v1("/rooms/{room_id}/changes"), list_changes,
          "Messages edited or deleted after a cursor, as they are now, oldest change first", "messages",
          query=ChangesQuerySchema, response=ChangesSchema,
          errors=(Code.ROOM_NOT_FOUND, Code.NOT_MEMBER, Code.INVALID_PAYLOAD)),
    Route("POST", v1("/rooms/{room_id}/messages"), send_message,
          "Send a message: 201 when stored, 200 when the client_ref was seen before", "messages",
          body=SendMessageSchema, response=ReceiptSchema, status=201, alt_status=(200,), errors=SEND_ERRORS),
    Route("GET", v1("/messages/{message_id}"), get_message, "One message as it is now (members only)", "messages",
          response=MessageSchema, errors=(Code.MESSAGE_NOT_FOUND, Code.INVALID_PAYLOAD)),
    Route("PATCH", v1("/messages/{message_id}"), edit_message,
          "Edit my message's content; the room gets message:updated", "messages",
          body=EditBodySchema, response=EditedSchema,
          errors=(*CHANGE_ERRORS, Code.SYSTEM_MESSAGE, Code.CONTENT_EMPTY, Code.CONTENT_TOO_LONG,
                  Code.CONTENT_INVALID)),
    Route("DELETE", v1("/messages/{message_id}"), delete_message,
          "Delete my message (or any, as the room's owner), leaving a tombstone", "messages",
          response=DeletedSchema, errors=CHANGE_ERRORS),
    Route("POST", v1("/messages/{message_id}/reactions"), add_reaction,
          "Add my reaction (one emoji) to a message; adding it twice changes nothing", "reactions",
          body=ReactionBodySchema, response=ReactedSchema,
          errors=(Code.MESSAGE_NOT_FOUND, Code.MESSAGE_DELETED, Code.INVALID_EMOJI, Code.INVALID_PAYLOAD)),
    Route("DELETE", v1("/messages/{message_id}/reactions/{emoji}"), remove_reaction,
          "Remove my reaction (the emoji percent-encoded in the path)", "reactions", response=ReactedSchema,
          errors=(Code.MESSAGE_NOT_FOUND, Code.MESSAGE_DELETED, Code.INVALID_EMOJI, Code.INVALID_PAYLOAD)),
]  # fmt: skip
