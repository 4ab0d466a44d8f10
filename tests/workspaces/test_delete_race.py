"""Deleting a workspace while another server creates an experiment in it, on PostgreSQL (SQLite has one writer,
so the two cannot interleave there). RESTRICT counts the workspace's resources and finds none; the experiment is
committed before the workspace row goes; the deletion must then refuse with RESTRICT's answer, not a 500, and keep
both the workspace and the experiment."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.support.processes import runyard_server
from tests.support.stores import new_store_uri

TEAM = "team-race"


@pytest.fixture
def store_and_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    store = new_store_uri("postgres", tmp_path, "workspace_race", request)
    with runyard_server(store, tmp_path / "mlartifacts", "--enable-workspaces") as url:
        yield store, url


def _waiting_on_a_lock(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
    return bool(waiting)


def test_an_experiment_created_during_a_restrict_delete_keeps_the_workspace(
    store_and_server: tuple[str, str],
) -> None:
    store, url = store_and_server
    with httpx.Client(base_url=url, timeout=120) as http:
        assert http.post("/api/3.0/mlflow/workspaces", json={"name": TEAM}).status_code == 201
        engine = sa.create_engine(store.replace("postgresql://", "postgresql+psycopg://", 1))
        other_server = engine.connect()
        now = int(time.time() * 1000)
        other_server.execute(  # another server's insert, not yet committed: it holds a key lock on the workspace
            sa.text(
                "INSERT INTO experiments (workspace, name, artifact_location, lifecycle_stage, creation_time, "
                "last_update_time) VALUES (:workspace, 'late', '/tmp/late', 'active', :now, :now)"
            ),
            {"workspace": TEAM, "now": now},
        )
        answers: list[httpx.Response] = []
        deleting = threading.Thread(target=lambda: answers.append(http.delete(f"/api/3.0/mlflow/workspaces/{TEAM}")))
        deleting.start()
        deadline = time.monotonic() + 120
        while not _waiting_on_a_lock(engine):  # the deletion has counted nothing and waits on the workspace row
            assert deleting.is_alive(), answers[0].text
            assert time.monotonic() < deadline
            time.sleep(0.05)
        other_server.commit()
        deleting.join()
        other_server.close()
        engine.dispose()

        (answer,) = answers
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert (body["error_code"], body["message"]) == (
            "INVALID_STATE",
            f"Cannot delete workspace '{TEAM}': resources were created in it while it was being deleted. "
            "Remove or reassign them before deleting the workspace.",
        )
        assert http.get(f"/api/3.0/mlflow/workspaces/{TEAM}").status_code == 200
        found = http.get(
            "/api/2.0/mlflow/experiments/get-by-name",
            params={"experiment_name": "late"},
            headers={"X-MLFLOW-WORKSPACE": TEAM},
        )
        assert found.status_code == 200, found.text
