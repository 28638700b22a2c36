"""Users: created or refreshed from token claims; bare rows for users named before they connect; the devices
they connected from (written by the presence flush, app/storage/presence.py), read back.

Usernames are unique (a partial unique index, migration 0007). The token is the authority on them,
and OIDC lets an identity provider give a `preferred_username` to someone else: a sign-in with a
username another user holds moves it, in the same transaction (the former holder's becomes NULL).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import peewee

from app.chat.model import DeviceRecord, Profile, User
from app.storage.database import AsyncDatabase
from app.storage.models import DeviceRow, UserRow
from app.storage.prepared import Prepared

# The first key of the transaction-level advisory locks that serialise the sign-ins claiming one username
# (the second is the username's hash). Two-key locks never meet the migrations' one-key lock.
USERNAME_LOCK = 0x75736572  # "user"


def upsert_user(profile: Profile, now: datetime) -> User:
    """Insert the user, or refresh the profile fields the claims carry (absent claims keep their value).

    A username held by another user moves to this one. Sign-ins claiming the same username are
    serialised by an advisory lock on it (a row not yet inserted cannot be locked), so the unique
    index never refuses one; each then locks the rows it changes (its own and the holder's) in id
    order, so two users taking each other's username at once cannot deadlock.
    """
    db = UserRow._meta.database
    if profile.username is None:
        return _upsert(profile, now)  # one statement: atomic by itself
    with db.atomic():
        _take_username(profile.id, profile.username, now)
        return _upsert(profile, now)


def _take_username(user_id: str, username: str, now: datetime) -> None:
    db = UserRow._meta.database
    db.execute_sql("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (USERNAME_LOCK, username))
    locked = (
        UserRow.select(UserRow.id)
        .where((UserRow.id == user_id) | (UserRow.username == username))
        .order_by(UserRow.id)
        .for_update()
    )
    list(locked.tuples())
    UserRow.update(username=None, updated_at=now).where(
        (UserRow.username == username) & (UserRow.id != user_id)
    ).execute()


def _upsert_query(user_id: str, name: str, username: str, now: datetime) -> peewee.Insert:
    return (
        UserRow.insert(id=user_id, name=name, username=username, is_active=True, created_at=now, updated_at=now)
        .on_conflict(
            conflict_target=[UserRow.id],
            update={
                UserRow.name: peewee.fn.COALESCE(peewee.EXCLUDED.name, UserRow.name),
                UserRow.username: peewee.fn.COALESCE(peewee.EXCLUDED.username, UserRow.username),
                UserRow.updated_at: now,
            },
        )
        .returning(UserRow.id, UserRow.name, UserRow.username, UserRow.is_active)
    )


_UPSERT = Prepared(_upsert_query, str, str, str, datetime)  # every connect runs it (signing in)


def _upsert(profile: Profile, now: datetime) -> User:
    row = _UPSERT.execute(UserRow._meta.database, profile.id, profile.name, profile.username, now).fetchone()
    return User(*row)


def ensure_users(user_ids: Sequence[str], now: datetime) -> None:
    if not user_ids:
        return
    rows = [{"id": uid, "created_at": now, "updated_at": now} for uid in sorted(set(user_ids))]
    UserRow.insert_many(rows).on_conflict_ignore().execute()


def get_user(user_id: str) -> User | None:
    row = UserRow.get_or_none(UserRow.id == user_id)
    return None if row is None else User(row.id, row.name, row.username, row.is_active)


_PROFILE = (UserRow.id, UserRow.name, UserRow.username, UserRow.is_active)


def user_by_username(username: str) -> User | None:
    """The user holding `username` (compared exactly), if any."""
    row = UserRow.select(*_PROFILE).where(UserRow.username == username).tuples().first()
    return None if row is None else User(*row)


def profiles(user_ids: Sequence[str]) -> dict[str, User]:
    """Each existing user among `user_ids`: id, name, username, is_active."""
    if not user_ids:
        return {}
    query = UserRow.select(*_PROFILE).where(UserRow.id.in_(sorted(set(user_ids))))
    return {row[0]: User(*row) for row in query.tuples()}


def set_active(user_id: str, active: bool) -> bool:
    """Enable or disable a user; False when there is no such user."""
    return UserRow.update(is_active=active).where(UserRow.id == user_id).execute() > 0


def last_seen(user_ids: Sequence[str]) -> dict[str, datetime]:
    if not user_ids:
        return {}
    query = UserRow.select(UserRow.id, UserRow.last_seen_at).where(
        UserRow.id.in_(list(user_ids)) & UserRow.last_seen_at.is_null(False)
    )
    return {user_id: seen for user_id, seen in query.tuples()}


def names(user_ids: Sequence[str]) -> dict[str, str | None]:
    if not user_ids:
        return {}
    return dict(UserRow.select(UserRow.id, UserRow.name).where(UserRow.id.in_(list(user_ids))).tuples())


def devices_of(user_id: str) -> list[DeviceRecord]:
    """The user's devices, most recently seen first, then by device id (the primary key's index finds them)."""
    query = (
        DeviceRow.select(
            DeviceRow.device_id, DeviceRow.preferred_language, DeviceRow.first_seen_at, DeviceRow.last_seen_at
        )
        .where(DeviceRow.user_id == user_id)
        .order_by(DeviceRow.last_seen_at.desc(), DeviceRow.device_id)
    )
    return [DeviceRecord(*row) for row in query.tuples()]


class PgUserStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db

    async def upsert(self, profile: Profile, now: datetime) -> User:
        return await self._db.run(upsert_user, profile, now)

    async def ensure(self, user_ids: Sequence[str], now: datetime) -> None:
        await self._db.run(ensure_users, list(user_ids), now)

    async def last_seen(self, user_ids: Sequence[str]) -> dict[str, datetime]:
        return await self._db.run(last_seen, list(user_ids))

    async def names(self, user_ids: Sequence[str]) -> dict[str, str | None]:
        return await self._db.run(names, list(user_ids))

    async def by_username(self, username: str) -> User | None:
        return await self._db.run(user_by_username, username)

    async def profiles(self, user_ids: Sequence[str]) -> dict[str, User]:
        return await self._db.run(profiles, list(user_ids))

    async def devices(self, user_id: str) -> list[DeviceRecord]:
        return await self._db.run(devices_of, user_id)
