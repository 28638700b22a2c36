"""The operations that hold no session state beyond the user and the status: messages, direct chats,
presence, typing, reads, notifications, and the rich messaging operations (edit, delete, reactions,
favorites).

Thin: each loads nothing itself (the hub validated the payload against the operation's schema), calls
the core and shapes the result with the shared payloads. The operations that change what a session
follows (room:join, room:leave, sync) live in the hub, beside the fences and subscriptions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from app.chat import payloads
from app.chat.model import format_time
from app.chat.service import Chat


def handlers(chat: Chat) -> dict[str, Callable[..., Awaitable[dict]]]:
    async def send(session, data: dict) -> dict:
        result = await chat.messages.send(
            session.user,
            data["room_id"],
            data["content"],
            data["client_ref"],
            data["type"],
            reply_to=data["reply_to"],
            attachment_id=data["attachment_id"],
        )
        return payloads.sent(result)

    async def direct(session, data: dict) -> dict:
        other = data["user_id"]
        if other is None:
            other = (await chat.users.by_username(data["username"])).id
        view, created = await chat.rooms.start_direct(session.user, other)
        return {"room": payloads.room_view(view), "created": created}

    async def set_status(session, data: dict) -> dict:
        session.status = await chat.presence.choose(session.user, data["status"])
        return {"status": session.status}

    async def heartbeat(session, data: dict) -> dict:
        session.status = await chat.presence.heartbeat(session.user, session.id)
        return {
            "status": session.status,
            "server_time": format_time(datetime.now(UTC)),
            "presence_ttl": chat.presence.ttl_ms // 1000,
        }

    async def typing_start(session, data: dict) -> dict:
        announced = await chat.typing.start(session.user, session.id, data["room_id"])
        return {"room_id": data["room_id"], "typing": True, "announced": announced}

    async def typing_stop(session, data: dict) -> dict:
        announced = await chat.typing.stop(session.user, session.id, data["room_id"])
        return {"room_id": data["room_id"], "typing": False, "announced": announced}

    async def read(session, data: dict) -> dict:
        state = await chat.reads.mark(session.user, data["room_id"], data["seq"], data["message_id"])
        return payloads.read_state(state)

    async def ack_notifications(session, data: dict) -> dict:
        return {"acknowledged": await chat.notifications.acknowledge(session.user, data["ids"])}

    async def edit(session, data: dict) -> dict:
        message = await chat.messages.edit(session.user, data["message_id"], data["content"])
        return {"message": (await chat.messages.present([message]))[0].record()}

    async def delete(session, data: dict) -> dict:
        return payloads.deleted(await chat.messages.delete(session.user, data["message_id"]))

    async def react(session, data: dict) -> dict:
        return payloads.reacted(await chat.messages.react(session.user, data["message_id"], data["emoji"], data["on"]))

    async def favorite(session, data: dict) -> dict:
        on, found = await chat.lists.set_favorite(session.user, data["type"], data["id"], data["on"])
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
