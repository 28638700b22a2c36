"""The Peewee models mirror the schema the migrations create: same columns, nullability, types and keys."""

from __future__ import annotations

import peewee
from playhouse.postgres_ext import BinaryJSONField

from app.storage.models import MODELS

# Peewee field class -> the information_schema data types it may map to.
TYPES = {
    peewee.TextField: {"text"},
    peewee.BigIntegerField: {"bigint"},
    peewee.BigAutoField: {"bigint"},
    peewee.BooleanField: {"boolean"},
    peewee.DateTimeField: {"timestamp with time zone"},
    BinaryJSONField: {"jsonb"},
}
UNMODELLED = {"schema_migrations"}
# Columns Postgres computes that no model reads (only raw SQL does): (table, column).
UNMODELLED_COLUMNS = {("messages", "search_vector")}


def columns(db, table: str) -> dict[str, tuple[bool, str]]:
    rows = db.execute_sql(
        "SELECT column_name, is_nullable, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = %s",
        (table,),
    ).fetchall()
    return {name: (nullable == "YES", data_type) for name, nullable, data_type in rows}


def primary_key(db, table: str) -> set[str]:
    rows = db.execute_sql(
        "SELECT k.column_name FROM information_schema.table_constraints c"
        " JOIN information_schema.key_column_usage k"
        "   ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema"
        " WHERE c.table_schema = 'public' AND c.table_name = %s AND c.constraint_type = 'PRIMARY KEY'",
        (table,),
    ).fetchall()
    return {row[0] for row in rows}


def model_primary_key(model) -> set[str]:
    meta = model._meta
    if meta.composite_key:
        return {meta.fields[name].column_name for name in meta.primary_key.field_names}
    return {meta.primary_key.column_name}


def test_every_table_has_a_model_and_every_model_a_table(db):
    rows = db.execute_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    ).fetchall()
    assert {row[0] for row in rows} - UNMODELLED == {model._meta.table_name for model in MODELS}


def test_every_model_field_matches_a_column_and_every_column_a_field(db):
    problems = []
    for model in MODELS:
        table = model._meta.table_name
        schema = columns(db, table)
        fields = {field.column_name: field for field in model._meta.sorted_fields}
        for name in sorted(set(schema) - set(fields) - {c for t, c in UNMODELLED_COLUMNS if t == table}):
            problems.append(f"{table}.{name}: a column without a model field")
        for name in sorted(set(fields) - set(schema)):
            problems.append(f"{model.__name__}.{name}: a field without a column")
        for name in sorted(set(fields) & set(schema)):
            field = fields[name]
            nullable, data_type = schema[name]
            if field.null != nullable:
                problems.append(f"{table}.{name}: column nullable={nullable}, field null={field.null}")
            if data_type not in TYPES[type(field)]:
                problems.append(f"{table}.{name}: column {data_type}, field {type(field).__name__}")
        if primary_key(db, table) != model_primary_key(model):
            problems.append(f"{table}: primary key {primary_key(db, table)} vs model {model_primary_key(model)}")
    assert not problems, "\n".join(problems)


def test_the_comparison_sees_the_columns(db):
    # Guards against passing on nothing: the schema query finds the known columns.
    assert {"id", "room_id", "seq", "client_ref"} <= set(columns(db, "messages"))
    assert primary_key(db, "memberships") == {"room_id", "user_id"}
