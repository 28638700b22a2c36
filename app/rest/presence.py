"""REST: presence, read cursors and unread counts, pending notifications."""

from __future__ import annotations

from app.chat import payloads
from app.chat.errors import Code
from app.rest.api import Call, Route, v1
from app.rest.schemas import (
    AckBodySchema,
    AcknowledgedSchema,
    NotificationsQuerySchema,
    ReadBodySchema,
    StatusBodySchema,
)
from app.schemas.payloads import PendingNotificationsSchema, PresenceSchema, ReadStateSchema, UnreadSchema


async def get_presence(call: Call) -> dict:
    return (await call.chat.presence.get(call.user, call.data["user_id"])).record()


async def set_my_status(call: Call) -> dict:
    await call.chat.presence.choose(call.user, call.data["status"])
    return (await call.chat.presence.get(call.user, call.user.id)).record()


async def mark_read(call: Call) -> dict:
    return payloads.read_state(await call.chat.reads.mark(call.user, call.data["room_id"], call.data["seq"]))


async def get_unread(call: Call) -> dict:
    return payloads.unread(await call.chat.reads.unread(call.user))


async def list_notifications(call: Call) -> dict:
    found, total = await call.chat.notifications.pending(call.user, call.data["limit"])
    return {"notifications": [n.record() for n in found], "total": total}


async def ack_notifications(call: Call) -> dict:
    return {"acknowledged": await call.chat.notifications.acknowledge(call.user, call.data["ids"])}


ROUTES = [
    Route("GET", v1("/users/{user_id}/presence"), get_presence,
          "A user's status and last-seen time (oneself, or someone who shares a room with the caller)", "presence",
          response=PresenceSchema, errors=(Code.USER_NOT_FOUND, Code.INVALID_PAYLOAD)),
    Route("PUT", v1("/me/status"), set_my_status,
          "Choose the status shown while connected; others see it once a connection is alive", "presence",
          body=StatusBodySchema, response=PresenceSchema, errors=(Code.UNKNOWN_STATUS, Code.INVALID_PAYLOAD)),
    Route("POST", v1("/rooms/{room_id}/read"), mark_read,
          "Mark a room read up to a seq (default: all); the cursor only moves forward", "presence",
          body=ReadBodySchema, response=ReadStateSchema,
          errors=(Code.ROOM_NOT_FOUND, Code.NOT_MEMBER, Code.READ_BEYOND_LAST, Code.INVALID_PAYLOAD)),
    Route("GET", v1("/me/unread"), get_unread, "My unread count per room and in total", "presence",
          response=UnreadSchema),
    Route("GET", v1("/notifications"), list_notifications,
          "My pending notifications (stored while I was offline), newest `limit`, oldest first", "notifications",
          query=NotificationsQuerySchema, response=PendingNotificationsSchema, errors=(Code.INVALID_PAYLOAD,)),
    Route("POST", v1("/notifications/ack"), ack_notifications, "Mark pending notifications delivered",
          "notifications", body=AckBodySchema, response=AcknowledgedSchema, errors=(Code.INVALID_PAYLOAD,)),
]  # fmt: skip
