"""A new, empty metadata database of either kind the suite runs on, for every fixture that needs one of its own."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from tests.support.processes import create_database

_numbers = itertools.count()


def kind_of(store_uri: str) -> str:
    return "sqlite" if store_uri.startswith("sqlite") else "postgres"


def new_store_uri(kind: str, folder: Path, label: str, request: pytest.FixtureRequest) -> str:
    """A SQLite file in `folder`, or a new database on the session's PostgreSQL cluster (started only when a
    PostgreSQL test first asks for one)."""
    if kind == "sqlite":
        return f"sqlite:///{folder / f'{label}.db'}"
    admin_url = request.getfixturevalue("postgres_admin_url")
    return create_database(admin_url, f"runyard_{label}_{os.getpid()}_{next(_numbers)}")
