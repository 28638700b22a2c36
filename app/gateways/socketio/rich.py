"""Socket.IO handlers of the rich messaging events: edit, delete, reactions, favorites.

Thin: each loads nothing itself (the dispatcher validated the payload), calls the core and shapes the
acknowledgement with the shared payloads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.chat import payloads
from app.chat.service import Chat


def handlers(chat: Chat) -> dict[str, Callable[..., Awaitable[dict]]]:
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

    return {"message:edit": edit, "message:delete": delete, "reaction:toggle": react, "favorite:toggle": favorite}
