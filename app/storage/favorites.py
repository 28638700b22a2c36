"""Favorites: rooms and people a user marked, listed with the name to show."""

from __future__ import annotations

from datetime import datetime

from app.chat.model import Favorite
from app.storage.database import AsyncDatabase
from app.storage.models import FavoriteRow, MembershipRow, RoomRow, UserRow
from app.storage.prepared import Prepared
from app.storage.rooms import room_pk


def set_favorite(user_id: str, kind: str, target_id: str, on: bool, now: datetime) -> bool:
    if on:
        inserted = (
            FavoriteRow.insert(user_id=user_id, kind=kind, target_id=target_id, created_at=now)
            .on_conflict_ignore()
            .execute()
        )
        return bool(inserted)
    query = FavoriteRow.delete().where(
        (FavoriteRow.user_id == user_id) & (FavoriteRow.kind == kind) & (FavoriteRow.target_id == target_id)
    )
    return query.execute() > 0


_FAVORITES_OF = Prepared(
    lambda user_id: (
        FavoriteRow.select()
        .where(FavoriteRow.user_id == user_id)
        .order_by(FavoriteRow.created_at, FavoriteRow.kind, FavoriteRow.target_id)
    ),
    str,
)  # every connect runs it (session:ready)


def favorites_of(user_id: str) -> list[Favorite]:
    rows = list(_FAVORITES_OF.select(FavoriteRow, user_id))
    room_ids = [pk for row in rows if row.kind == "room" and (pk := room_pk(row.target_id)) is not None]
    # Only rooms the user still belongs to: a favorite outlives a removal, but is not shown after it.
    mine = (
        RoomRow.select()
        .join(MembershipRow, on=(MembershipRow.room_id == RoomRow.id))
        .where(RoomRow.id.in_(room_ids) & (MembershipRow.user_id == user_id))
    )
    rooms = {str(r.id): r for r in mine} if room_ids else {}
    # A direct room is shown under the other member's name.
    peers = {
        rid: (r.direct_b if r.direct_a == user_id else r.direct_a) for rid, r in rooms.items() if r.kind == "direct"
    }
    user_ids = {row.target_id for row in rows if row.kind == "user"} | set(peers.values())
    names = (
        dict(UserRow.select(UserRow.id, UserRow.name).where(UserRow.id.in_(list(user_ids))).tuples())
        if user_ids
        else {}
    )
    found = []
    for row in rows:
        if row.kind == "user":
            name = names.get(row.target_id)
        elif row.target_id not in rooms:
            continue
        else:
            room = rooms[row.target_id]
            name = names.get(peers[row.target_id]) if row.target_id in peers else room.name
        found.append(Favorite(row.kind, row.target_id, name, row.created_at))
    return found


def target_exists(kind: str, target_id: str) -> bool:
    if kind == "user":
        return UserRow.select().where(UserRow.id == target_id).exists()
    pk = room_pk(target_id)
    return pk is not None and RoomRow.select().where(RoomRow.id == pk).exists()


class PgFavoriteStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db

    async def set(self, user_id: str, kind: str, target_id: str, on: bool, now: datetime) -> bool:
        return await self._db.run(set_favorite, user_id, kind, target_id, on, now)

    async def of_user(self, user_id: str) -> list[Favorite]:
        return await self._db.run(favorites_of, user_id)

    async def exists(self, kind: str, target_id: str) -> bool:
        return await self._db.run(target_exists, kind, target_id)
