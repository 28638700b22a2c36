"""Users: created from token claims, refreshed without erasing, and bare rows for users named before they connect."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.chat.model import Profile, User
from app.storage.models import UserRow
from app.storage.users import PgUserStore, ensure_users, get_user, set_active, upsert_user


def test_upsert_creates_then_refreshes_the_claims(db, user_id, now):
    uid = user_id("ann")
    assert upsert_user(Profile(uid, "Ann", "ann"), now) == User(uid, "Ann", "ann", True)
    later = now + timedelta(minutes=5)
    assert upsert_user(Profile(uid, "Ann B", "annb"), later) == User(uid, "Ann B", "annb", True)
    row = UserRow.get_by_id(uid)
    assert (row.created_at, row.updated_at) == (now, later)
    assert UserRow.select().where(UserRow.id == uid).count() == 1


def test_an_absent_claim_keeps_the_stored_value(db, user_id, now):
    uid = user_id("bob")
    upsert_user(Profile(uid, "Bob", "bob"), now)
    assert upsert_user(Profile(uid), now) == User(uid, "Bob", "bob", True)
    assert upsert_user(Profile(uid, name="Robert"), now) == User(uid, "Robert", "bob", True)
    assert upsert_user(Profile(uid, username="rob"), now) == User(uid, "Robert", "rob", True)
    assert get_user(uid) == User(uid, "Robert", "rob", True)


def test_upsert_does_not_reactivate_a_disabled_user(db, user_id, now):
    uid = user_id("dis")
    upsert_user(Profile(uid, "D"), now)
    assert set_active(uid, False)
    assert upsert_user(Profile(uid, "D"), now).is_active is False
    assert set_active(user_id("nobody"), False) is False


def test_ensure_users_creates_bare_rows_and_leaves_existing_ones_alone(db, user_id, now):
    known, new_a, new_b = user_id("known"), user_id("a"), user_id("b")
    upsert_user(Profile(known, "Known", "known"), now)
    ensure_users([new_a, known, new_b, new_a], now + timedelta(hours=1))
    assert get_user(new_a) == User(new_a, None, None, True)
    assert get_user(new_b) == User(new_b, None, None, True)
    assert get_user(known) == User(known, "Known", "known", True)
    assert UserRow.get_by_id(known).updated_at == now
    ensure_users([], now)  # nothing to do is not an error
    # A bare row later signs in: the claims fill it.
    assert upsert_user(Profile(new_a, "A"), now) == User(new_a, "A", None, True)


async def test_the_async_store_runs_the_same_queries_off_the_loop(adb, user_id, now):
    store = PgUserStore(adb)
    uid, bare = user_id("async"), user_id("bare")
    users = await asyncio.gather(*(store.upsert(Profile(uid, f"n{i}"), now) for i in range(8)))
    assert {user.id for user in users} == {uid}
    await store.ensure([bare], now)
    assert get_user(bare) == User(bare, None, None, True)
    assert UserRow.select().where(UserRow.id == uid).count() == 1
