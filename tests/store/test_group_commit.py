"""SQLite group commit: requests that share a transaction still succeed or fail one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.store.engine import Database
from server.store.schema import ensure_schema


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'group.db'}")
    ensure_schema(database.engine)
    yield database
    database.dispose()


def _insert_experiment(experiment_id: int, *, fail: bool) -> Callable[[Session], int]:
    def work(session: Session) -> int:
        session.execute(
            text(
                "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
                "last_update_time) VALUES (:i, :n, 'x', 'active', 0, 0)"
            ),
            {"i": experiment_id, "n": f"e{experiment_id}"},
        )
        if fail:
            raise MlflowError.invalid_parameter(f"refused {experiment_id}")
        return experiment_id

    return work


def test_failures_roll_back_alone_and_successes_are_committed(db: Database) -> None:
    async def main() -> list[object]:
        writes = [db.run_write(_insert_experiment(i, fail=i % 3 == 0)) for i in range(1, 61)]
        return await asyncio.gather(*writes, return_exceptions=True)

    outcomes = asyncio.run(main())
    for i, outcome in enumerate(outcomes, start=1):
        if i % 3 == 0:
            assert isinstance(outcome, MlflowError)
            assert outcome.message == f"refused {i}"
        else:
            assert outcome == i
    with db.read() as session:
        stored = {row[0] for row in session.execute(text("SELECT experiment_id FROM experiments"))}
    assert stored == {i for i in range(1, 61) if i % 3}


def test_a_lone_failed_write_leaves_nothing_behind(db: Database) -> None:
    with pytest.raises(MlflowError, match="refused 7"):
        asyncio.run(db.run_write(_insert_experiment(7, fail=True)))
    assert asyncio.run(db.run_write(_insert_experiment(8, fail=False))) == 8
    with db.read() as session:
        assert [row[0] for row in session.execute(text("SELECT experiment_id FROM experiments"))] == [8]
