"""Reactions: one row per (message, emoji, user), written directly (they are small toggles whose
acknowledgement must say what the message shows), read grouped by emoji."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.chat.model import Message, ReactionGroup
from app.storage.database import AsyncDatabase
from app.storage.models import ReactionRow
from app.storage.rooms import room_pk


def add_reaction(message: Message, user_id: str, emoji: str, now: datetime) -> bool:
    inserted = (
        ReactionRow.insert(
            message_id=int(message.id), room_id=int(message.room_id), user_id=user_id, emoji=emoji, created_at=now
        )
        .on_conflict_ignore()
        .execute()
    )
    return bool(inserted)


def remove_reaction(message_id: str, user_id: str, emoji: str) -> bool:
    pk = room_pk(message_id)
    if pk is None:
        return False
    query = ReactionRow.delete().where(
        (ReactionRow.message_id == pk) & (ReactionRow.user_id == user_id) & (ReactionRow.emoji == emoji)
    )
    return query.execute() > 0


def reactions_of(message_ids: Sequence[str]) -> dict[str, list[ReactionGroup]]:
    pks = [pk for pk in (room_pk(m) for m in message_ids) if pk is not None]
    if not pks:
        return {}
    query = (
        ReactionRow.select(ReactionRow.message_id, ReactionRow.emoji, ReactionRow.user_id)
        .where(ReactionRow.message_id.in_(pks))
        .order_by(ReactionRow.created_at, ReactionRow.user_id)
    )
    grouped: dict[str, dict[str, list[str]]] = {}
    for message_id, emoji, user_id in query.tuples():
        grouped.setdefault(str(message_id), {}).setdefault(emoji, []).append(user_id)
    return {
        message_id: [ReactionGroup(emoji, tuple(users)) for emoji, users in by_emoji.items()]
        for message_id, by_emoji in grouped.items()
    }


class PgReactionStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db

    async def add(self, message: Message, user_id: str, emoji: str, now: datetime) -> bool:
        return await self._db.run(add_reaction, message, user_id, emoji, now)

    async def remove(self, message_id: str, user_id: str, emoji: str) -> bool:
        return await self._db.run(remove_reaction, message_id, user_id, emoji)

    async def of_messages(self, message_ids: Sequence[str]) -> dict[str, list[ReactionGroup]]:
        if not message_ids:
            return {}
        return await self._db.run(reactions_of, list(message_ids))
