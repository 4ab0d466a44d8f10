"""The team topology without Docker: PostgreSQL, Azurite, two `runyard server` processes on one store and one
`runyard worker`. The stock client alternates between the servers and sees one consistent store; a job
submitted through one server is run by the worker attached to the other and is visible through both."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
from azure.storage.blob import BlobServiceClient
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression

from server.worker.client import JobClient
from tests.jobs.conftest import PROJECTS
from tests.support.processes import azurite, create_database, runyard_server, runyard_worker


@dataclass(frozen=True)
class Team:
    first: str
    second: str


@pytest.fixture(scope="module")
def team(postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    base = tmp_path_factory.mktemp("team")
    store = create_database(postgres_admin_url, f"runyard_team_{os.getpid()}")
    with azurite(base / "azurite") as connection_string:
        BlobServiceClient.from_connection_string(connection_string).create_container("team")
        destination = "wasbs://team@devstoreaccount1.blob.core.windows.net/runyard"
        env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string}
        with (
            runyard_server(store, destination, "--workers", "2", env=env) as first,
            runyard_server(store, destination, env=env) as second,
            runyard_worker(first, base),
        ):
            yield Team(first, second)


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    def point_at(url: str) -> MlflowClient:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        mlflow.set_tracking_uri(url)
        return MlflowClient(url)

    yield point_at
    mlflow.set_tracking_uri(None)


def test_the_client_sees_one_store_through_either_server(team: Team, use: object, tmp_path: Path) -> None:
    first = use(team.first)  # type: ignore[operator]
    experiment_id = first.create_experiment("shared-by-the-team")
    second = use(team.second)  # type: ignore[operator]
    run_id = second.create_run(experiment_id).info.run_id
    second.log_metric(run_id, "loss", 0.25)
    first = use(team.first)  # type: ignore[operator]
    first.log_param(run_id, "alpha", "0.3")
    first.log_text(run_id, "written through the first server", "notes.txt")
    with mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(LinearRegression().fit([[1.0], [2.0]], [2.0, 4.0]), name="model")
    first.create_registered_model("team-model")
    first.create_model_version("team-model", info.model_uri, model_id=info.model_id)
    first.set_registered_model_alias("team-model", "champion", "1")

    second = use(team.second)  # type: ignore[operator]
    run = second.get_run(run_id)
    assert run.data.metrics == {"loss": 0.25}
    assert run.data.params == {"alpha": "0.3"}
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes.txt") == "written through the first server"
    assert [r.info.run_id for r in second.search_runs([experiment_id], "metrics.loss < 0.5")] == [run_id]
    model = mlflow.pyfunc.load_model("models:/team-model@champion")
    assert np.allclose(model.predict(np.array([[3.0]])), [6.0])


def test_a_job_submitted_through_one_server_runs_and_shows_through_the_other(team: Team, use: object) -> None:
    use(team.second)  # type: ignore[operator]
    experiment_id = MlflowClient(team.second).create_experiment("team-jobs")
    submitted = mlflow.projects.run(
        uri=str(PROJECTS / "basic"),
        parameters={"alpha": 0.4},
        experiment_id=experiment_id,
        backend="runyard",
        backend_config={"USE_CONDA": False},
        synchronous=True,
    )
    first = use(team.first)  # type: ignore[operator]
    assert first.get_run(submitted.run_id).data.metrics == {"score": 0.8}
    assert first.get_run(submitted.run_id).info.status == "FINISHED"
    listed = httpx.get(f"{team.first}/runyard/api/jobs", params={"run_id": submitted.run_id}).json()["jobs"]
    assert [job["status"] for job in listed] == ["SUCCEEDED"]
    with JobClient(team.first) as jobs:
        assert "trained with alpha=0.4" in jobs.logs(listed[0]["job_id"])
