"""REST: a room's history, and sending (for bots, scripts and tests; clients use Socket.IO)."""

from __future__ import annotations

from app.chat import payloads
from app.chat.errors import Code
from app.rest.api import Call, Reply, Route
from app.rest.schemas import HistoryQuerySchema, SendMessageSchema
from app.schemas.payloads import PageSchema, ReceiptSchema


async def list_messages(call: Call) -> dict:
    data = call.data
    page = await call.chat.messages.history(
        call.user, data["room_id"], before=data.get("before"), after=data.get("after"), limit=data["limit"]
    )
    return payloads.page(page)


async def send_message(call: Call) -> Reply:
    data = call.data
    result = await call.chat.messages.send(
        call.user, data["room_id"], data["content"], data["client_ref"], data["type"]
    )
    return Reply(payloads.sent(result), 200 if result.duplicate else 201)


ROUTES = [
    Route("GET", "/api/rooms/{room_id}/messages", list_messages,
          "A page of history, ascending by seq: the newest, or before/after a seq", "messages",
          query=HistoryQuerySchema, response=PageSchema,
          errors=(Code.ROOM_NOT_FOUND, Code.NOT_MEMBER, Code.INVALID_PAYLOAD)),
    Route("POST", "/api/rooms/{room_id}/messages", send_message,
          "Send a message: 201 when stored, 200 when the client_ref was seen before", "messages",
          body=SendMessageSchema, response=ReceiptSchema, status=201, alt_status=(200,),
          errors=(Code.ROOM_NOT_FOUND, Code.NOT_MEMBER, Code.INVALID_PAYLOAD, Code.CONTENT_EMPTY,
                  Code.CONTENT_TOO_LONG, Code.CONTENT_INVALID, Code.DUPLICATE_CLIENT_REF)),
]  # fmt: skip
