"""The two statements SQLite and PostgreSQL spell alike but SQLAlchemy builds per dialect: insert-or-ignore and
upsert. Both keep replays of the client's retried writes harmless."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_insert(session: Session, table: Table) -> Any:
    module = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    return module.insert(table)


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, skipping any whose primary key is already there."""
    if rows:
        session.execute(dialect_insert(session, table).on_conflict_do_nothing(), list(rows))


def upsert(session: Session, table: Table, rows: Sequence[dict[str, Any]], update: Sequence[str]) -> None:
    """Insert rows, overwriting the `update` columns of rows whose primary key is already there."""
    if not rows:
        return
    stmt = dialect_insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={name: stmt.excluded[name] for name in update},
    )
    session.execute(stmt, list(rows))
