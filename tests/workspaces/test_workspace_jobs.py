"""Runyard's job queue with workspaces: a project submitted with `mlflow.projects.run(backend="runyard")` inside a
team's workspace is queued there, run by a worker that serves every workspace, and logs into the same workspace
(its process gets MLFLOW_WORKSPACE); the other team neither lists nor reaches the job."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from server.worker.client import JobClient
from tests.support.processes import runyard_worker

PROJECT = Path(__file__).parents[1] / "jobs" / "projects" / "basic"


@pytest.fixture(scope="module")
def worker(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with runyard_worker(server, tmp_path_factory.mktemp("worker")) as pid:
        yield pid


@pytest.mark.usefixtures("worker")
def test_a_job_runs_and_logs_in_its_workspace_and_only_there(
    client: MlflowClient,
    server: str,
    two_teams: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mine, theirs = two_teams
    monkeypatch.chdir(shutil.copytree(PROJECT, tmp_path / "project"))
    mlflow.set_workspace(mine)
    experiment_id = mlflow.set_experiment("nightly").experiment_id

    submitted = mlflow.projects.run(
        uri=".", parameters={"alpha": 0.4}, backend="runyard", backend_config={"STREAM_LOGS": False}
    )

    assert submitted.get_status() == "FINISHED"
    run = client.get_run(submitted.run_id)
    assert (run.info.experiment_id, run.data.metrics) == (experiment_id, {"score": 0.8})
    with JobClient(server, workspace=mine) as jobs:
        [job] = jobs._request("GET", "/jobs", params={"experiment_id": experiment_id}).json()["jobs"]
        assert (job["workspace"], job["status"], job["run_id"]) == (mine, "SUCCEEDED", submitted.run_id)
        assert "trained with alpha=0.4" in jobs.logs(job["job_id"])

    # The other team sees no job, and the job's id reaches nothing.
    with httpx.Client(base_url=server, timeout=30, headers={"X-MLFLOW-WORKSPACE": theirs}) as http:
        listed = http.get("/runyard/api/jobs").json()["jobs"]
        direct = http.get(f"/runyard/api/jobs/{job['job_id']}")
        log = http.get(f"/runyard/api/jobs/{job['job_id']}/logs")
    assert listed == []
    assert (direct.status_code, direct.json()["message"]) == (404, f"Job with id={job['job_id']} not found")
    assert log.status_code == 404
