"""`mlflow.projects.run(backend="runyard")` with the stock client, end to end: snapshot, queue, worker, logs."""

from __future__ import annotations

import re
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import ExecutionException

from server.worker.client import JobClient
from tests.jobs.conftest import wait_for


def _artifact_text(run_id: str, path: str, tmp_path: Path) -> str:
    return Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(tmp_path))
    ).read_text()


@pytest.mark.usefixtures("worker")
def test_synchronous_run_finishes_with_its_metric_logs_and_snapshot(
    tracking: str, project: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project("basic"))
    mlflow.set_experiment("experiment-with-mlflow-projects")
    submitted = mlflow.projects.run(
        uri=".", parameters={"alpha": 0.3}, backend="runyard", backend_config={"USE_CONDA": False}
    )
    assert submitted.get_status() == "FINISHED"
    run = MlflowClient().get_run(submitted.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None
    assert run.data.metrics == {"score": 0.6}
    assert run.data.params == {"alpha": "0.3", "exit_code": "0"}
    tags = run.data.tags
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.project.backend"] == "runyard"
    assert run.info.experiment_id == mlflow.get_experiment_by_name("experiment-with-mlflow-projects").experiment_id
    stdout = _artifact_text(submitted.run_id, "runyard/logs/stdout.log", tmp_path)
    # `python` in the entry point is the worker's interpreter, though nobody activated its virtualenv
    assert f"trained with alpha=0.3 on {Path(sys.executable).parent}" in stdout
    assert "a warning on stderr" in _artifact_text(submitted.run_id, "runyard/logs/stderr.log", tmp_path)
    snapshot = mlflow.artifacts.download_artifacts(
        run_id=submitted.run_id, artifact_path="runyard/snapshot.tar.gz", dst_path=str(tmp_path)
    )
    with tarfile.open(snapshot) as tar:
        assert {"MLproject", "train.py", "sleep.py"} <= set(tar.getnames())


@pytest.mark.usefixtures("worker")
def test_a_crashing_project_raises_like_mlflow_and_keeps_its_traceback(
    tracking: str, project: Callable[[str], Path], jobs: JobClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project("basic"))
    with pytest.raises(ExecutionException, match=r"Run \(ID '[0-9a-f]{32}'\) failed") as raised:
        mlflow.projects.run(
            uri=".",
            entry_point="quick",
            parameters={"exit_code": 3},
            backend="runyard",
            backend_config={"STREAM_LOGS": False},
        )
    run = MlflowClient().get_run(re.findall("[0-9a-f]{32}", str(raised.value))[0])
    assert run.info.status == "FAILED"
    job = jobs.get(run.data.tags["runyard.job_id"])
    assert job.status == "FAILED"
    assert job.exit_code == 1
    assert "crashing on purpose with 3" in jobs.logs(job.job_id)


@pytest.mark.usefixtures("worker")
def test_asynchronous_run_is_scheduled_then_waits_and_cancels(
    tracking: str, project: Callable[[str], Path], jobs: JobClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project("basic"))
    submitted = mlflow.projects.run(
        uri=".", entry_point="sleep", parameters={"seconds": 60}, backend="runyard", synchronous=False
    )
    assert MlflowClient().get_run(submitted.run_id).info.status in ("SCHEDULED", "RUNNING")
    wait_for(jobs, submitted.job_id, until=lambda job: job.status == "RUNNING")
    assert submitted.get_status() == "RUNNING"
    submitted.cancel()
    assert submitted.get_status() == "KILLED"
    assert submitted.wait() is False
    run = MlflowClient().get_run(submitted.run_id)
    assert run.info.status == "KILLED"
    job = jobs.get(submitted.job_id)
    assert job.status == "CANCELED"
    assert job.exit_code == 143  # the project's SIGTERM handler ran: SIGTERM came first, not SIGKILL
    assert "sleeping" in jobs.logs(submitted.job_id)
