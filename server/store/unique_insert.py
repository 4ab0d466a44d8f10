"""Adding a row whose name (or key) must be unique, when another request may be adding the same one right now."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.store.base import Base


def add_unless_taken(session: Session, row: Base) -> bool:
    """Insert `row`; False (and nothing added) when a unique key clashes, also with a concurrent insert. The row is
    added inside a savepoint, since opening one flushes what is pending: a row added before it would fail outside
    it and take the caller's whole transaction down."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True
