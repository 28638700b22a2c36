"""Socket.IO handlers of the client events that hold no connection state beyond the user and the status:
messages, direct chats, presence, typing, reads, notifications, and the rich messaging events (edit,
delete, reactions, favorites).

Thin: each loads nothing itself (the gateway's dispatcher validated the payload), calls the core and
shapes the acknowledgement with the shared payloads. The events that change what a connection follows
(room:join, room:leave, sync) stay in the gateway (server.py), beside the fences and subscriptions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from app.chat import payloads
from app.chat.model import format_time
from app.chat.service import Chat


def handlers(chat: Chat) -> dict[str, Callable[..., Awaitable[dict]]]:
    async def send(connection, data: dict) -> dict:
        result = await chat.messages.send(
            connection.user,
            data["room_id"],
            data["content"],
            data["client_ref"],
            data["type"],
            reply_to=data["reply_to"],
            attachment_id=data["attachment_id"],
        )
        return payloads.sent(result)

    async def direct(connection, data: dict) -> dict:
        view, created = await chat.rooms.start_direct(connection.user, data["user_id"])
        return {"room": payloads.room_view(view), "created": created}

    async def set_status(connection, data: dict) -> dict:
        connection.status = await chat.presence.choose(connection.user, data["status"])
        return {"status": connection.status}

    async def heartbeat(connection, data: dict) -> dict:
        connection.status = await chat.presence.heartbeat(connection.user, connection.sid)
        return {
            "status": connection.status,
            "server_time": format_time(datetime.now(UTC)),
            "presence_ttl": chat.presence.ttl_ms // 1000,
        }

    async def typing_start(connection, data: dict) -> dict:
        announced = await chat.typing.start(connection.user, connection.sid, data["room_id"])
        return {"room_id": data["room_id"], "typing": True, "announced": announced}

    async def typing_stop(connection, data: dict) -> dict:
        announced = await chat.typing.stop(connection.user, connection.sid, data["room_id"])
        return {"room_id": data["room_id"], "typing": False, "announced": announced}

    async def read(connection, data: dict) -> dict:
        return payloads.read_state(await chat.reads.mark(connection.user, data["room_id"], data["seq"]))

    async def ack_notifications(connection, data: dict) -> dict:
        return {"acknowledged": await chat.notifications.acknowledge(connection.user, data["ids"])}

    async def edit(connection, data: dict) -> dict:
        message = await chat.messages.edit(connection.user, data["message_id"], data["content"])
        return {"message": (await chat.messages.present([message]))[0].record()}

    async def delete(connection, data: dict) -> dict:
        return payloads.deleted(await chat.messages.delete(connection.user, data["message_id"]))

    async def react(connection, data: dict) -> dict:
        return payloads.reacted(
            await chat.messages.react(connection.user, data["message_id"], data["emoji"], data["on"])
        )

    async def favorite(connection, data: dict) -> dict:
        on, found = await chat.lists.set_favorite(connection.user, data["type"], data["id"], data["on"])
        return payloads.favorites(found, on)

    return {
        "message:send": send,
        "direct:start": direct,
        "presence:set": set_status,
        "presence:heartbeat": heartbeat,
        "typing:start": typing_start,
        "typing:stop": typing_stop,
        "room:read": read,
        "notifications:ack": ack_notifications,
        "message:edit": edit,
        "message:delete": delete,
        "reaction:toggle": react,
        "favorite:toggle": favorite,
    }
