"""Where the compared servers keep their metadata: a SQLite file each, or a database each in one PostgreSQL
cluster started for the run (the same throwaway cluster the test suite starts, on a free loopback port)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

# A server's tag -> the database URL it is started with (None: its own SQLite file).
DatabaseFor = Callable[[str], str | None]


@contextlib.contextmanager
def databases(kind: str) -> Iterator[DatabaseFor]:
    if kind == "sqlite":
        yield lambda _tag: None
        return
    from tests.support.processes import create_database, postgres_cluster

    with postgres_cluster() as admin_url:
        yield lambda tag: create_database(admin_url, f"bench_{tag}")
