"""The two statements SQLite and PostgreSQL spell alike but SQLAlchemy builds per dialect: insert-or-ignore and
upsert. Both keep replays of the client's retried writes harmless.

Callers name the mapped class (`upsert(session, ExperimentTag, ...)`); the rows are keyed by column name, and the
statements are built on the class's table, so they are Core statements and skip the ORM's per-row bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

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
