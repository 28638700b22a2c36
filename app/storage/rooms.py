"""Rooms and memberships."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import peewee

from app.chat.model import Member, Membership, Room
from app.storage.database import AsyncDatabase
from app.storage.models import MembershipRow, RoomRow, UserRow
from app.storage.prepared import Prepared

MAX_BIGINT = 2**63 - 1


def room_pk(room_id: str) -> int | None:
    """The integer key of a room id given as text, or None when it cannot be one.

    Only the canonical decimal form names a room: "012" must not alias room 12, since
    Redis counters, outbox fields and topics are keyed by the id string.
    """
    if not room_id.isascii() or not room_id.isdigit() or len(room_id) > 19 or room_id.startswith("0"):
        return None
    value = int(room_id)
    return value if 0 < value <= MAX_BIGINT else None


def _room(row: RoomRow) -> Room:
    return Room(str(row.id), row.kind, row.name, row.owner_id, row.created_at)


def create_group(name: str, owner_id: str, member_ids: Sequence[str], now: datetime) -> Room:
    db = RoomRow._meta.database
    with db.atomic():
        row = RoomRow.create(kind="group", name=name, owner_id=owner_id, created_at=now)
        memberships = [{"room_id": row.id, "user_id": owner_id, "role": "owner", "joined_at": now}]
        memberships += [{"room_id": row.id, "user_id": uid, "role": "member", "joined_at": now} for uid in member_ids]
        MembershipRow.insert_many(memberships).on_conflict_ignore().execute()
    return _room(row)


def direct_room(a: str, b: str, now: datetime) -> tuple[Room, bool]:
    """The pair's direct room, created with both memberships when missing.

    Concurrent starts from both sides meet on the unique pair index: the
    loser's insert does nothing and it reads the winner's room.
    """
    low, high = sorted((a, b))
    db = RoomRow._meta.database
    with db.atomic():
        inserted = list(
            RoomRow.insert(kind="direct", direct_a=low, direct_b=high, created_at=now)
            .on_conflict(
                conflict_target=[RoomRow.direct_a, RoomRow.direct_b],
                conflict_where=(RoomRow.kind == "direct"),
                action="IGNORE",
            )
            .returning(RoomRow.id)
            .execute()
        )
        if inserted:
            room_id = inserted[0].id
            rows = [{"room_id": room_id, "user_id": uid, "role": "member", "joined_at": now} for uid in {low, high}]
            MembershipRow.insert_many(rows).on_conflict_ignore().execute()
    row = RoomRow.get((RoomRow.kind == "direct") & (RoomRow.direct_a == low) & (RoomRow.direct_b == high))
    return _room(row), bool(inserted)


def find_direct_room(a: str, b: str) -> Room | None:
    """The pair's direct room, if there is one (one lookup on the unique pair index)."""
    low, high = sorted((a, b))
    row = RoomRow.get_or_none((RoomRow.kind == "direct") & (RoomRow.direct_a == low) & (RoomRow.direct_b == high))
    return None if row is None else _room(row)


def get_room(room_id: str) -> Room | None:
    pk = room_pk(room_id)
    row = None if pk is None else RoomRow.get_or_none(RoomRow.id == pk)
    return None if row is None else _room(row)


def _member(row) -> Member:
    return Member(row.user_id, row.role, row.joined_at, row.name, row.last_read_seq)


def _members_query():
    return MembershipRow.select(
        MembershipRow.room_id,
        MembershipRow.user_id,
        MembershipRow.role,
        MembershipRow.joined_at,
        MembershipRow.last_read_seq,
        UserRow.name,
    ).join(UserRow, on=(UserRow.id == MembershipRow.user_id))


def members(room_id: str) -> list[Member]:
    pk = room_pk(room_id)
    if pk is None:
        return []
    query = _members_query().where(MembershipRow.room_id == pk).order_by(MembershipRow.joined_at, MembershipRow.user_id)
    return [_member(row) for row in query.objects()]


def members_by_room(room_ids: Sequence[str]) -> dict[str, list[Member]]:
    """room_id -> its members (as `members` gives them), for the rooms among `room_ids`, in one query."""
    pks = [pk for pk in (room_pk(room_id) for room_id in room_ids) if pk is not None]
    found: dict[str, list[Member]] = {}
    if pks:
        query = (
            _members_query()
            .where(MembershipRow.room_id.in_(pks))
            .order_by(MembershipRow.room_id, MembershipRow.joined_at, MembershipRow.user_id)
        )
        for row in query.objects():
            found.setdefault(str(row.room_id), []).append(_member(row))
    return found


def _rooms_of_query(user_id: str) -> peewee.ModelSelect:
    # Counted per room of this user only (a correlated count on the primary key's prefix),
    # so the cost follows the user's rooms, not the size of the table.
    others = MembershipRow.alias("others")
    member_count = others.select(peewee.fn.COUNT(others.user_id)).where(others.room_id == MembershipRow.room_id)
    return (
        _members_query()
        .switch(MembershipRow)
        .join(RoomRow, on=(RoomRow.id == MembershipRow.room_id))
        .select_extend(
            RoomRow.kind,
            RoomRow.name.alias("room_name"),
            RoomRow.owner_id,
            RoomRow.created_at.alias("room_created_at"),
            member_count.alias("member_count"),
        )
        .where(MembershipRow.user_id == user_id)
    )


_ROOMS_OF = Prepared(_rooms_of_query, str)  # every connect runs it (session:ready)
_READ_POSITIONS = Prepared(
    lambda user_id: MembershipRow.select(MembershipRow.room_id, MembershipRow.last_read_seq).where(
        MembershipRow.user_id == user_id
    ),
    str,
)


def rooms_of(user_id: str) -> list[Membership]:
    rows = list(_ROOMS_OF.select(MembershipRow, user_id).objects())
    direct_ids = [row.room_id for row in rows if row.kind == "direct"]
    peers = {}
    if direct_ids:
        query = _members_query().where(MembershipRow.room_id.in_(direct_ids) & (MembershipRow.user_id != user_id))
        peers = {row.room_id: _member(row) for row in query.objects()}
    return [
        Membership(
            room=Room(str(row.room_id), row.kind, row.room_name, row.owner_id, row.room_created_at),
            me=_member(row),
            member_count=row.member_count,
            peer=peers.get(row.room_id),
        )
        for row in rows
    ]


def add_members(room_id: str, user_ids: Sequence[str], now: datetime) -> list[str]:
    pk = room_pk(room_id)
    if pk is None or not user_ids:
        return []
    rows = [{"room_id": pk, "user_id": uid, "role": "member", "joined_at": now} for uid in user_ids]
    query = MembershipRow.insert_many(rows).on_conflict_ignore().returning(MembershipRow.user_id)
    return [row.user_id for row in query.execute()]


def remove_member(room_id: str, user_id: str) -> tuple[bool, str | None]:
    """Delete the membership; when it was the owner's, the longest-standing member becomes owner."""
    pk = room_pk(room_id)
    if pk is None:
        return False, None
    db = RoomRow._meta.database
    with db.atomic():
        room = RoomRow.select().where(RoomRow.id == pk).for_update().get_or_none()
        if room is None:
            return False, None
        deleted = list(
            MembershipRow.delete()
            .where((MembershipRow.room_id == pk) & (MembershipRow.user_id == user_id))
            .returning(MembershipRow.role)
            .execute()
        )
        if not deleted:
            return False, room.owner_id
        owner_id = room.owner_id
        if owner_id == user_id:
            heir = (
                MembershipRow.select(MembershipRow.user_id)
                .where(MembershipRow.room_id == pk)
                .order_by(MembershipRow.joined_at, MembershipRow.user_id)
                .first()
            )
            owner_id = heir.user_id if heir else None
            if heir:
                MembershipRow.update(role="owner").where(
                    (MembershipRow.room_id == pk) & (MembershipRow.user_id == owner_id)
                ).execute()
            RoomRow.update(owner_id=owner_id).where(RoomRow.id == pk).execute()
    return True, owner_id


def contacts(user_id: str) -> list[str]:
    mine = MembershipRow.alias("mine")
    query = (
        MembershipRow.select(MembershipRow.user_id)
        .join(mine, on=(mine.room_id == MembershipRow.room_id))
        .where((mine.user_id == user_id) & (MembershipRow.user_id != user_id))
        .distinct()
    )
    return [row[0] for row in query.tuples()]


def shares_room(a: str, b: str) -> bool:
    other = MembershipRow.alias("other")
    return (
        MembershipRow.select(MembershipRow.room_id)
        .join(other, on=(other.room_id == MembershipRow.room_id))
        .where((MembershipRow.user_id == a) & (other.user_id == b))
        .exists()
    )


def read_positions(user_id: str) -> dict[str, int]:
    return {str(room_id): seq for room_id, seq in _READ_POSITIONS.select(MembershipRow, user_id).tuples()}


def members_of_rooms(room_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """room_id -> {member id: read cursor in Postgres}, for the rooms that exist among `room_ids` (workers)."""
    pks = [pk for pk in (room_pk(room_id) for room_id in room_ids) if pk is not None]
    found: dict[str, dict[str, int]] = {}
    if pks:
        query = MembershipRow.select(MembershipRow.room_id, MembershipRow.user_id, MembershipRow.last_read_seq).where(
            MembershipRow.room_id.in_(pks)
        )
        for room_id, user_id, last_read_seq in query.tuples():
            found.setdefault(str(room_id), {})[user_id] = last_read_seq
    return found


class PgRoomStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db

    async def create_group(self, name: str, owner_id: str, member_ids: Sequence[str], now: datetime) -> Room:
        return await self._db.run(create_group, name, owner_id, list(member_ids), now)

    async def direct(self, a: str, b: str, now: datetime) -> tuple[Room, bool]:
        return await self._db.run(direct_room, a, b, now)

    async def find_direct(self, a: str, b: str) -> Room | None:
        return await self._db.run(find_direct_room, a, b)

    async def get(self, room_id: str) -> Room | None:
        return await self._db.run(get_room, room_id)

    async def members(self, room_id: str) -> list[Member]:
        return await self._db.run(members, room_id)

    async def rooms_of(self, user_id: str) -> list[Membership]:
        return await self._db.run(rooms_of, user_id)

    async def members_of(self, room_ids: Sequence[str]) -> dict[str, list[Member]]:
        if not room_ids:
            return {}
        return await self._db.run(members_by_room, list(room_ids))

    async def add_members(self, room_id: str, user_ids: Sequence[str], now: datetime) -> list[str]:
        return await self._db.run(add_members, room_id, list(user_ids), now)

    async def remove_member(self, room_id: str, user_id: str) -> tuple[bool, str | None]:
        return await self._db.run(remove_member, room_id, user_id)

    async def contacts(self, user_id: str) -> list[str]:
        return await self._db.run(contacts, user_id)

    async def shares_room(self, a: str, b: str) -> bool:
        return await self._db.run(shares_room, a, b)

    async def read_positions(self, user_id: str) -> dict[str, int]:
        return await self._db.run(read_positions, user_id)
