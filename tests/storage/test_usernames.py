"""Usernames: unique in Postgres, moved to whoever signs in with one (the token is the authority), safe
under concurrent sign-ins; looked up by username and by ids; duplicates from before resolved by the
migration; and the core's directory of them, which spares Postgres the ids it knows."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import timedelta

import peewee
import psycopg2.errors
import pytest

from app.chat.errors import ChatError, Code
from app.chat.ids import SystemClock
from app.chat.model import Profile, User
from app.chat.users import Users
from app.storage import migrate
from app.storage.models import UserRow
from app.storage.users import PgUserStore, ensure_users, get_user, profiles, set_active, upsert_user, user_by_username
from tests.storage.test_migrations import scratch_database, scratch_url  # noqa: F401 (a fixture)


@pytest.fixture
def username():
    """Unique usernames, so tests never take each other's."""

    def make(stem: str = "name") -> str:
        return f"{stem}.{uuid.uuid4().hex[:8]}"

    return make


def holders(name: str) -> list[str]:
    return [row.id for row in UserRow.select(UserRow.id).where(UserRow.username == name)]


# --- Uniqueness and the move on sign-in ------------------------------------------------------------


def test_postgres_refuses_a_second_row_with_a_username_but_not_many_without_one(pg, user_id, username, now):
    taken = username("taken")
    upsert_user(Profile(user_id("first"), username=taken), now)
    with pytest.raises(psycopg2.errors.UniqueViolation):
        pg("INSERT INTO users (id, username, created_at, updated_at) VALUES (%s, %s, now(), now())", (user_id(), taken))
    ensure_users([user_id("bare"), user_id("bare")], now)  # any number of users have no username
    assert pg("SELECT count(*) FROM users WHERE username IS NULL")[0][0] >= 2


def test_signing_in_with_a_username_another_user_holds_moves_it(user_id, username, now):
    ann, bob, name = user_id("ann"), user_id("bob"), username("shared")
    assert upsert_user(Profile(ann, "Ann", name), now) == User(ann, "Ann", name, True)
    later = now + timedelta(minutes=1)
    assert upsert_user(Profile(bob, "Bob", name), later) == User(bob, "Bob", name, True)
    assert holders(name) == [bob]
    assert get_user(ann) == User(ann, "Ann", None, True)
    assert UserRow.get_by_id(ann).updated_at == later  # the former holder's row changed
    # Ann signing in again with a token that still says so takes it back; one without the claim does not.
    upsert_user(Profile(ann, "Ann"), later)
    assert holders(name) == [bob]
    upsert_user(Profile(ann, "Ann", name), later)
    assert holders(name) == [ann] and get_user(bob) == User(bob, "Bob", None, True)


def test_a_user_who_changes_username_frees_the_old_one_and_keeps_their_own(user_id, username, now):
    ann, bob = user_id("ann"), user_id("bob")
    old, new = username("old"), username("new")
    upsert_user(Profile(ann, username=old), now)
    assert upsert_user(Profile(ann, username=old), now).username == old  # one's own username stays
    upsert_user(Profile(ann, username=new), now)
    assert holders(old) == [] and holders(new) == [ann]
    upsert_user(Profile(bob, username=old), now)
    assert (get_user(ann).username, get_user(bob).username) == (new, old)


def test_a_disabled_user_loses_a_username_too_and_stays_disabled(user_id, username, now):
    gone, heir, name = user_id("gone"), user_id("heir"), username("reused")
    upsert_user(Profile(gone, username=name), now)
    set_active(gone, False)
    upsert_user(Profile(heir, username=name), now)
    assert get_user(gone) == User(gone, None, None, False)
    assert holders(name) == [heir]


# --- Concurrent sign-ins, on real connections -----------------------------------------------------


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_sign_ins_claiming_one_username_all_succeed_and_one_holds_it(
    in_threads, user_id, username, now, round_
):
    name = username("contested")
    ids = [user_id(f"claimer{i}") for i in range(8)]
    ensure_users(ids[:4], now)  # some update their row, others insert theirs
    signed_in = in_threads(*(lambda uid=uid: upsert_user(Profile(uid, "N", name), now) for uid in ids))
    assert [user.username for user in signed_in] == [name] * len(ids)  # each held it when it committed
    assert len(holders(name)) == 1 and holders(name)[0] in ids
    assert sum(get_user(uid).username == name for uid in ids) == 1


@pytest.mark.parametrize("round_", range(3))
def test_two_users_taking_each_others_username_at_once_do_not_deadlock(in_threads, user_id, username, now, round_):
    ann, bob = user_id("ann"), user_id("bob")
    mine, yours = username("mine"), username("yours")
    upsert_user(Profile(ann, username=mine), now)
    upsert_user(Profile(bob, username=yours), now)
    in_threads(
        lambda: upsert_user(Profile(ann, username=yours), now), lambda: upsert_user(Profile(bob, username=mine), now)
    )
    # In either order the two end up swapped.
    assert (get_user(ann).username, get_user(bob).username) == (yours, mine)


async def test_the_async_store_moves_usernames_under_concurrent_sign_ins(adb, user_id, username, now):
    store = PgUserStore(adb)
    name = username("async")
    ids = [user_id(f"a{i}") for i in range(8)]
    users = await asyncio.gather(*(store.upsert(Profile(uid, username=name), now) for uid in ids))
    assert {user.username for user in users} == {name}
    assert len(holders(name)) == 1


# --- Lookups ---------------------------------------------------------------------------------------


async def test_by_username_finds_the_holder_exactly(adb, user_id, username, now):
    store = PgUserStore(adb)
    ada, name = user_id("ada"), username("Ada")
    upsert_user(Profile(ada, "Ada", name), now)
    assert await store.by_username(name) == User(ada, "Ada", name, True)
    assert user_by_username(name) == User(ada, "Ada", name, True)
    assert await store.by_username(name.lower()) is None  # usernames are compared exactly
    assert await store.by_username(name + "x") is None
    set_active(ada, False)
    assert await store.by_username(name) == User(ada, "Ada", name, False)


async def test_profiles_gives_each_existing_user_and_leaves_out_the_others(adb, user_id, username, now):
    store = PgUserStore(adb)
    ann, bare, ghost, name = user_id("ann"), user_id("bare"), user_id("ghost"), username("ann")
    upsert_user(Profile(ann, "Ann", name), now)
    ensure_users([bare], now)
    set_active(bare, False)
    found = await store.profiles([ann, bare, ghost, ann])
    assert found == {ann: User(ann, "Ann", name, True), bare: User(bare, None, None, False)}
    assert await store.profiles([]) == {} and profiles([ghost]) == {}


# --- The migration: duplicates from before the index -------------------------------------------------


def test_the_migration_keeps_each_username_on_the_row_updated_last_and_clears_the_others(
    scratch_url,  # noqa: F811 (the fixture)
    tmp_path,
    monkeypatch,
):
    # Every migration before 0007 on a scratch database, then rows that share usernames, then 0007 itself.
    versions = migrate.available()
    unique = dict(versions)["0007"]
    for version, path in versions:
        if version < "0007":
            shutil.copy(path, tmp_path / path.name)
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    db = scratch_database(scratch_url)
    try:
        assert migrate.migrate(db)[-1] == "0006"
        rows = [
            ("old", "dup", "2026-01-01T00:00:00Z"),
            ("newest", "dup", "2026-03-01T00:00:00Z"),
            ("middle", "dup", "2026-02-01T00:00:00Z"),
            ("tie-a", "tie", "2026-01-01T00:00:00Z"),  # same time: the larger id keeps it
            ("tie-b", "tie", "2026-01-01T00:00:00Z"),
            ("Tie-c", "tie", "2026-01-01T00:00:00Z"),  # compared bytewise: "T" < "t"
            ("solo", "solo", "2026-01-01T00:00:00Z"),
            ("Dup", "Dup", "2026-01-01T00:00:00Z"),  # another username: case matters
            ("none-1", None, "2026-01-01T00:00:00Z"),
            ("none-2", None, "2026-01-01T00:00:00Z"),
        ]
        for user, name, updated in rows:
            db.execute_sql(
                "INSERT INTO users (id, username, created_at, updated_at) VALUES (%s, %s, %s, %s)",
                (user, name, updated, updated),
            )
        shutil.copy(unique, tmp_path / unique.name)
        assert migrate.migrate(db) == ["0007"]
        after = dict(db.execute_sql("SELECT id, username FROM users").fetchall())
        assert after == {
            "old": None,
            "newest": "dup",
            "middle": None,
            "tie-a": None,
            "tie-b": "tie",
            "Tie-c": None,
            "solo": "solo",
            "Dup": "Dup",
            "none-1": None,
            "none-2": None,
        }
        updated = dict(db.execute_sql("SELECT id, updated_at::text FROM users WHERE id = 'old'").fetchall())
        assert updated == {"old": "2026-01-01 00:00:00+00"}  # the rows that lost a username are not touched
        with pytest.raises(peewee.IntegrityError, match="users_username"):
            db.execute_sql("INSERT INTO users (id, username, created_at, updated_at) VALUES ('x', 'dup', now(), now())")
    finally:
        db.close()


# --- The core: by_username and the directory ----------------------------------------------------------


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


TTL = 30.0


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def users(adb, ticks) -> Users:
    return Users(PgUserStore(adb), SystemClock(), TTL, monotonic=ticks)


async def test_users_by_username_returns_the_holder_or_user_not_found(users, user_id, username):
    ada, name = user_id("ada"), username("ada")
    await users.sign_in(Profile(ada, "Ada", name))
    assert await users.by_username(name) == User(ada, "Ada", name, True)
    for unknown in (username("nobody"), "not a username", "", "x" * 151, "nul\x00"):
        with pytest.raises(ChatError) as caught:
            await users.by_username(unknown)
        assert caught.value.code is Code.USER_NOT_FOUND


async def test_users_by_username_follows_a_username_that_moved(users, user_id, username):
    ann, bob, name = user_id("ann"), user_id("bob"), username("moving")
    await users.sign_in(Profile(ann, username=name))
    assert (await users.by_username(name)).id == ann
    upsert_user(Profile(bob, username=name), SystemClock().now())  # on another node
    assert (await users.by_username(name)).id == bob


async def test_the_directory_answers_known_ids_without_asking_postgres(users, pg, user_id, username, ticks):
    ann, bob, ghost = user_id("ann"), user_id("bob"), user_id("ghost")
    name = username("ann")
    await users.sign_in(Profile(ann, "Ann", name))
    ensure_users([bob], SystemClock().now())
    assert await users.directory([ann, bob, ghost, ann]) == {ann: User(ann, "Ann", name, True), bob: User(bob)}
    # Postgres changes behind the node's back: the directory does not see it, so it did not ask.
    pg("UPDATE users SET name = 'changed', username = NULL WHERE id IN (%s, %s)", (ann, bob))
    pg("INSERT INTO users (id, name, created_at, updated_at) VALUES (%s, 'Ghost', now(), now())", (ghost,))
    ticks.value += TTL - 1
    assert await users.directory([ann, bob, ghost]) == {ann: User(ann, "Ann", name, True), bob: User(bob)}
    # Once the user cache period is over, it reads them again.
    ticks.value += 2
    assert await users.directory([ann, bob, ghost]) == {
        ann: User(ann, "changed", None, True),
        bob: User(bob, "changed", None, True),
        ghost: User(ghost, "Ghost", None, True),
    }
    assert await users.directory([]) == {}


async def test_forget_drops_the_directory_entry(users, user_id, username):
    ann, name = user_id("ann"), username("ann")
    await users.sign_in(Profile(ann, "Ann", name))
    assert (await users.directory([ann]))[ann].is_active is True
    set_active(ann, False)
    assert (await users.directory([ann]))[ann].is_active is True  # cached
    users.forget(ann)  # what a node does when it hears that the user was disabled
    assert (await users.directory([ann]))[ann] == User(ann, "Ann", name, False)
    with pytest.raises(ChatError) as caught:
        await users.sign_in(Profile(ann, "Ann", name))
    assert caught.value.code is Code.USER_DISABLED


async def test_sign_in_refreshes_the_directory_and_drops_the_former_holder_of_a_username(users, user_id, username):
    ann, bob = user_id("ann"), user_id("bob")
    first, second = username("first"), username("second")
    await users.sign_in(Profile(ann, "Ann", first))
    await users.sign_in(Profile(bob, "Bob"))
    assert await users.directory([ann, bob]) == {ann: User(ann, "Ann", first, True), bob: User(bob, "Bob", None, True)}
    await users.sign_in(Profile(ann, "Ann L", second))
    assert (await users.directory([ann]))[ann] == User(ann, "Ann L", second, True)
    # Bob takes Ann's username: this node no longer shows Ann with it.
    await users.sign_in(Profile(bob, "Bob", second))
    assert await users.directory([ann, bob]) == {
        ann: User(ann, "Ann L", None, True),
        bob: User(bob, "Bob", second, True),
    }


async def test_the_directory_is_bounded_and_drops_the_least_recently_used(adb, pg, ticks, user_id):
    users = Users(PgUserStore(adb), SystemClock(), TTL, monotonic=ticks, directory_size=2)
    a, b, c = user_id("a"), user_id("b"), user_id("c")
    ensure_users([a, b, c], SystemClock().now())
    await users.directory([a, b])
    await users.directory([a])  # a is now used more recently than b
    await users.directory([c])  # b goes
    pg("UPDATE users SET name = 'new' WHERE id IN (%s, %s, %s)", (a, b, c))
    found = await users.directory([b, c, a])
    assert (found[a].name, found[b].name, found[c].name) == (None, "new", None)


class GatedStore(PgUserStore):
    """The real store, whose `profiles` answers only when the test lets it (after reading Postgres)."""

    def __init__(self, db) -> None:
        super().__init__(db)
        self.read = asyncio.Event()
        self.release = asyncio.Event()

    async def profiles(self, user_ids):
        found = await super().profiles(user_ids)
        self.read.set()
        await self.release.wait()
        return found


async def test_a_lookup_that_overlaps_forget_does_not_put_back_what_it_read_before(adb, ticks, user_id):
    store = GatedStore(adb)
    users = Users(store, SystemClock(), TTL, monotonic=ticks)
    ann = user_id("ann")
    ensure_users([ann], SystemClock().now())
    lookup = asyncio.create_task(users.directory([ann]))
    await asyncio.wait_for(store.read.wait(), 10)
    set_active(ann, False)
    users.forget(ann)
    store.release.set()
    assert (await lookup)[ann].is_active is True  # what it read
    assert (await users.directory([ann]))[ann].is_active is False  # not kept: read again
