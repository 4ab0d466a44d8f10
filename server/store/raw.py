"""Direct DB-API access for the hot paths (logging metrics, params and tags; creating and reading runs).

SQLAlchemy's per-statement overhead (building, caching and executing a Core statement costs hundreds of
microseconds here, against a few for the driver) dominated a single `log-metric` call. These paths are a handful
of fixed statements, so they run as plain SQL through the request's own connection and transaction: the same
unit of work as everything else in the request, just without the statement machinery. The SQL is the subset
SQLite and PostgreSQL share (`ON CONFLICT`, row values); placeholders are written `:name` and translated for
psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

_NAMED = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


@lru_cache(maxsize=256)
def _for_psycopg(sql: str) -> str:
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


class Raw:
    """A DB-API cursor on the session's connection, inside the session's transaction."""

    __slots__ = ("_cursor", "_pg")

    def __init__(self, session: Session) -> None:
        connection = session.connection()  # begins the transaction (BEGIN IMMEDIATE for SQLite writers)
        self._pg = connection.dialect.name == "postgresql"
        self._cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def _sql(self, sql: str) -> str:
        return _for_psycopg(sql) if self._pg else sql

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> Raw:
        self._cursor.execute(self._sql(sql), params or {})
        return self

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self._cursor.executemany(self._sql(sql), rows)

    def among(self, column: str, name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
        """`column` is one of `values`, and the parameters to pass.

        On PostgreSQL the values travel as one array, unnested in a subquery: the statement is the same whatever
        the count (so it is prepared once), and a hundred ids cost half the time of a hundred placeholders, which
        the server parses and plans on every call. Not `= ANY(:array)`: in a prepared statement's generic plan that
        compares every row of a table the planner has no statistics for yet (a new store, a fresh import) with
        each element in turn, 20 ms for a page of 100 runs over 2,000; the subquery is a join, 1 ms with or without
        statistics. SQLite has no arrays: numbered placeholders there."""
        if self._pg:
            return f"{column} IN (SELECT unnest(CAST(:{name} AS text[])))", {name: [str(v) for v in values]}
        marks, params = placeholders(name, values)
        return f"{column} IN ({marks})", params

    def all(self) -> list[tuple[Any, ...]]:
        return list(self._cursor.fetchall())

    def one_or_none(self) -> tuple[Any, ...] | None:
        return self._cursor.fetchone()

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


def placeholders(prefix: str, values: Iterable[Any]) -> tuple[str, dict[str, Any]]:
    """`:p0, :p1, ...` and their parameters, for IN lists."""
    params = {f"{prefix}{i}": value for i, value in enumerate(values)}
    return ", ".join(f":{name}" for name in params), params
