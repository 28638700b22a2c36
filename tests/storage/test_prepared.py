"""Statements whose SQL Peewee writes once (app/storage/prepared.py), on the real database: a prepared statement
gives what the Peewee query it was built from gives, for any values, and refuses what it cannot prepare."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.chat.model import Profile
from app.storage import notifications, rooms, users
from app.storage.models import MembershipRow, UserRow
from app.storage.prepared import Prepared
from app.storage.rooms import create_group, direct_room


def fields(row, names: tuple[str, ...]) -> tuple:
    return tuple(getattr(row, name) for name in names)


def test_the_connects_statements_give_what_their_peewee_queries_give(make_users, now):
    alice, bob, carol = make_users("alice", "bob", "carol")
    create_group("one", alice, [bob, carol], now)
    create_group("two", bob, [alice], now)
    direct_room(alice, carol, now)
    columns = ("room_id", "user_id", "role", "joined_at", "last_read_seq", "name", "kind", "room_name")
    columns += ("owner_id", "room_created_at", "member_count")
    for user in (alice, bob, carol, "nobody"):
        built = [fields(r, columns) for r in rooms._rooms_of_query(user).objects()]
        prepared = [fields(r, columns) for r in rooms._ROOMS_OF.select(MembershipRow, user).objects()]
        assert sorted(prepared) == sorted(built)
        assert len(built) == {alice: 3, bob: 2, carol: 2, "nobody": 0}[user]
        query = rooms._READ_POSITIONS._build(user)
        assert sorted(rooms._READ_POSITIONS.select(MembershipRow, user).tuples()) == sorted(query.tuples())
    assert notifications.pending(alice, 5) == ([], 0)


def test_signing_in_through_the_prepared_upsert_inserts_then_refreshes_only_the_claims_given(user_id, now):
    uid = user_id("dora")
    assert users.upsert_user(Profile(uid, "Dora", None), now) == users.get_user(uid)
    assert users.get_user(uid).name == "Dora"
    later = now.replace(year=now.year + 1)
    assert users.upsert_user(Profile(uid, None, None), later).name == "Dora"  # an absent claim keeps its value
    assert users.upsert_user(Profile(uid, "Dorothy", None), later).name == "Dorothy"
    assert UserRow.get_by_id(uid).updated_at.year == later.year


def test_a_value_peewee_writes_into_the_sql_instead_of_passing_it_cannot_be_prepared():
    # The statement does not use its parameter (or Peewee writes it into the SQL): refused, not run without it.
    prepared = Prepared(lambda name: UserRow.select(UserRow.id).order_by(UserRow._meta.fields["id"]).limit(1), str)
    with pytest.raises(ValueError, match="does not reach its SQL as a parameter"):
        prepared.params("x")
    with pytest.raises(TypeError, match="no marker"):
        Prepared(lambda at: UserRow.select(), float).params(1.0)
    assert Prepared(lambda at: UserRow.select().where(UserRow.created_at > at), datetime).sql.count("%s") == 1
