"""What SQLite and PostgreSQL spell differently: insert-or-ignore and upsert (both keep replays of the client's
retried writes harmless), reading a member of JSON held as text, and the continuous percentile aggregate and
regular-expression match, which SQLite lacks and gets from us.

Callers name the mapped class (`upsert(session, ExperimentTag, ...)`); the rows are keyed by column name, and the
statements are built on the class's table, so they are Core statements and skip the ORM's per-row bookkeeping.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, Text, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from server.store.base import Base


def table_of(entity: type[Base]) -> Table:
    """The table a mapped class is declared on (SQLAlchemy types `__table__` as any FromClause)."""
    table = entity.__table__
    assert isinstance(table, Table)
    return table


def dialect_insert(session: Session, entity: type[Base]) -> Any:
    module = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    return module.insert(table_of(entity))


def insert_ignore(session: Session, entity: type[Base], rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, skipping any whose primary key is already there."""
    if rows:
        session.execute(dialect_insert(session, entity).on_conflict_do_nothing(), list(rows))


def upsert(session: Session, entity: type[Base], rows: Sequence[dict[str, Any]], update: Sequence[str]) -> None:
    """Insert rows, overwriting the `update` columns of rows whose primary key is already there."""
    if not rows:
        return
    table = table_of(entity)
    stmt = dialect_insert(session, entity)
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={name: stmt.excluded[name] for name in update},
    )
    session.execute(stmt, list(rows))


class json_text(FunctionElement[str]):
    """`json_text(column, key, ...)`: the text of the member at that path of keys in the JSON object a text column
    holds, NULL where there is none. Keys are bound values, never spliced into the SQL."""

    type = Text()
    inherit_cache = True


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, *keys = element.clauses
    path = ", ".join(compiler.process(key, **kw) for key in keys)
    return f"jsonb_extract_path_text(CAST({compiler.process(column, **kw)} AS JSONB), {path})"


@compiles(json_text, "sqlite")
def _json_text_sqlite(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's JSON path is text: '$."key"."key"' (a key holding a double quote cannot be named in it).
    column, *keys = element.clauses
    path = " || ".join(["'$'", *(f"'.\"' || {compiler.process(key, **kw)} || '\"'" for key in keys)])
    return f"json_extract({compiler.process(column, **kw)}, {path})"


def sqlite_regexp(pattern: str | None, text: str | None) -> bool:
    """SQLite's `text REGEXP pattern` (RLIKE in a filter), registered on every SQLite connection (`engine.py`);
    PostgreSQL has `~`. Patterns are checked when a filter is parsed."""
    if pattern is None or text is None:
        return False
    return re.search(pattern, text) is not None


SQLITE_PERCENTILE = "runyard_percentile"


class SqlitePercentile:
    """`runyard_percentile(value, percent)`: PostgreSQL's `percentile_cont(percent / 100)` as an SQLite aggregate,
    the linear interpolation between the two nearest ranks (Hyndman and Fan's method 7, numpy's default). NULLs are
    skipped; no values give NULL. Registered on every SQLite connection (`engine.py`)."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction: float | None = None

    def step(self, value: Any, percent: Any) -> None:
        if value is not None:
            self.values.append(float(value))
        if self.fraction is None and percent is not None:
            self.fraction = float(percent) / 100

    def finalize(self) -> float | None:
        if not self.values or self.fraction is None:
            return None
        return interpolated_percentile(sorted(self.values), self.fraction * 100)


def interpolated_percentile(ordered: Sequence[float], percent: float) -> float:
    """The `percent`th percentile (0 to 100) of values sorted ascending, as `percentile_cont` interpolates it."""
    position = percent / 100 * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


def percentile(session: Session, column: Any, percent: float) -> ColumnElement[Any]:
    """The continuous `percent`th percentile (0 to 100) of `column` over a group, on either database."""
    if session.get_bind().dialect.name == "sqlite":
        interpolated: ColumnElement[Any] = getattr(func, SQLITE_PERCENTILE)(column, percent)
        return interpolated
    return func.percentile_cont(percent / 100).within_group(column)
