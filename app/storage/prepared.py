"""Statements whose SQL Peewee writes once.

Peewee writes a query's SQL from its expression tree every time it runs. For the statements every connect runs
(signing in, the rooms, read cursors, favorites and pending notifications of `session:ready`) that was about a
third of the node's CPU per connect in a profile of 5,000 clients connecting (docs/benchmarks.md). Each is the
same statement every time but for its parameters, so `Prepared` builds it once with markers where the
parameters go, keeps the SQL, and runs it as a raw query with each call's values; Peewee's result conversion
still applies (`ModelRaw`). A query whose shape changes with its arguments (an `IN` list) is not a candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import peewee

_MARKER_BASE = -(2**62)


def _marker(kind: type, n: int) -> object:
    """A value of `kind` that no statement holds as a constant, standing for parameter `n`."""
    if kind is str:
        return f"\ufffeprepared-parameter-{n}\ufffe"
    if kind is int:
        return _MARKER_BASE + n
    if kind is datetime:
        return datetime(1, 1, 1, 0, 0, 0, n + 1, tzinfo=UTC)
    raise TypeError(f"no marker for parameters of type {kind.__name__}")


class Prepared:
    """A query built once by `build(*markers)` (one marker per parameter, of the given kinds), run with values."""

    def __init__(self, build: Callable[..., peewee.Query], *kinds: type) -> None:
        self._build = build
        self._kinds = kinds
        self._sql: str | None = None
        self._slots: list[tuple[int | None, object]] = []

    def _compile(self) -> str:
        markers = [_marker(kind, n) for n, kind in enumerate(self._kinds)]
        sql, params = self._build(*markers).sql()
        slots = []
        used = set()
        for param in params:
            index = next((n for n, m in enumerate(markers) if type(param) is type(m) and param == m), None)
            slots.append((index, None if index is not None else param))
            if index is not None:
                used.add(index)
        if used != set(range(len(markers))):
            raise ValueError("a parameter of a prepared statement does not reach its SQL as a parameter")
        self._slots = slots
        self._sql = sql  # set last: another thread sees either nothing or the whole
        return sql

    @property
    def sql(self) -> str:
        return self._sql or self._compile()

    def params(self, *values: object) -> list:
        if self._sql is None:
            self._compile()
        return [values[index] if index is not None else constant for index, constant in self._slots]

    def select(self, model: type[peewee.Model], *values: object) -> peewee.ModelRaw:
        """The statement as `model`'s raw query (iterate it, or `.tuples()`, `.objects()`)."""
        return model.raw(self.sql, *self.params(*values))

    def execute(self, db: peewee.Database, *values: object):
        """Run the statement; the database's cursor, for its rows."""
        return db.execute_sql(self.sql, self.params(*values))
