"""Azure ML jobs through the real queue: a Runyard server process, the stock MLflow client and the `runyard`
backend, the worker's own claim/lease/heartbeat code, and the dispatcher; only the `MLClient` is faked (an
autospec'd one cannot be handed to another process, so the worker runs in this one). A real `runyard worker
--backend azureml` process is driven too, up to the point where it needs a workspace."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from server.jobspec.projects import pack_directory
from server.jobspec.schemas import ClaimedJob, ClaimRequest, Heartbeat, JobSpec
from server.worker.client import JobClient
from server.worker.dispatchers.azureml import AzureMLDispatcher
from server.worker.dispatchers.azureml_project import AzureMLSettings, job_name
from server.worker.loop import Worker
from tests.jobs.azureml_fakes import ScriptedWorkspace
from tests.jobs.conftest import wait_for
from tests.support.leases import expire_lease
from tests.support.processes import runyard_worker


def _dispatcher(server_url: str, workspace: ScriptedWorkspace) -> AzureMLDispatcher:
    settings = AzureMLSettings(poll_seconds=0.05, tracking_uri="https://runyard.example.com")
    return AzureMLDispatcher(server_url=server_url, settings=settings, connect=workspace.azure)


def _claim(jobs: JobClient, job_id: str) -> ClaimedJob:
    (claimed,) = jobs.claim(ClaimRequest(worker_id="azureml-test", backends=["azureml"], max_jobs=1, wait_seconds=5))
    assert claimed.job.job_id == job_id
    return claimed


def test_the_articles_call_runs_on_azure_ml_tracked_in_runyard(
    tracking: str, jobs: JobClient, project: Callable[[str], Path]
) -> None:
    experiment = f"experiment-with-mlflow-projects {id(jobs)}"
    mlflow.set_experiment(experiment)
    submitted = mlflow.projects.run(
        uri=str(project("basic")),
        parameters={"alpha": 0.3},
        backend="runyard",
        backend_config={"COMPUTE": "cpu-cluster", "USE_CONDA": False, "STREAM_LOGS": False},
        synchronous=False,
    )
    job_id = submitted.job_id  # type: ignore[attr-defined]
    workspace = ScriptedWorkspace(["Queued", "Queued", "Running", "Running", "Completed"])
    outcome = Worker(jobs, [_dispatcher(tracking, workspace)]).run_one(_claim(jobs, job_id))

    assert outcome.outcome == "succeeded"
    assert submitted.wait()
    job = jobs.get(job_id)
    assert (job.status, job.run_status, job.external_id) == ("SUCCEEDED", "FINISHED", job_name(job_id, 1))
    (sent,), _ = workspace.client.jobs.create_or_update.call_args
    assert sent.experiment_name == experiment.replace(" ", "-")
    assert sent.environment_variables["RUNYARD_TRACKING_URI"] == "https://runyard.example.com"
    assert sent.environment_variables["RUNYARD_RUN_ID"] == submitted.run_id
    assert sent.command.endswith("python train.py --alpha 0.3 --exit-code 0")

    client = MlflowClient(tracking)
    run = client.get_run(submitted.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["runyard.azureml.job_name"] == job_name(job_id, 1)
    assert run.data.tags["runyard.azureml.compute"] == "cpu-cluster"
    logs = client.download_artifacts(submitted.run_id, "runyard/logs")
    assert Path(logs, "azureml", "user_logs", "std_log.txt").read_text() == f"full log of {job_name(job_id, 1)}\n"
    assert "hello from azure" in Path(logs, "stdout.log").read_text()
    assert f"Submitted Azure ML job {job_name(job_id, 1)}" in Path(logs, "stderr.log").read_text()


def test_cancel_while_queued_in_azure_kills_the_run(jobs: JobClient, project: Callable[[str], Path]) -> None:
    archive = project("basic").parent / "basic.tar.gz"
    pack_directory(project("basic"), archive)
    spec = JobSpec(entry_point="quick", backend="azureml", backend_config={"COMPUTE": "cpu-cluster"})
    job_id = jobs.submit_archive(spec, archive).job_id
    workspace = ScriptedWorkspace(["Queued"])
    worker = Worker(jobs, [_dispatcher(jobs.server_url, workspace)])
    thread = threading.Thread(target=worker.run_one, args=(_claim(jobs, job_id),))
    thread.start()
    held = wait_for(jobs, job_id, until=lambda job: job.external_id is not None)
    assert (held.status, held.run_status) == ("LEASED", "SCHEDULED")  # queued in Azure: not running yet
    jobs.cancel(job_id)
    thread.join(timeout=30)
    done = jobs.get(job_id)
    assert (done.status, done.run_status, done.error) == ("CANCELED", "KILLED", "Canceled by request.")
    workspace.client.jobs.begin_cancel.assert_called_once_with(job_name(job_id, 1))


def test_a_worker_process_without_a_workspace_fails_the_job_clearly(
    jobs: JobClient, project: Callable[[str], Path], tmp_path: Path, backend_store_uri: str
) -> None:
    if not backend_store_uri.startswith("sqlite"):
        pytest.skip("no database work beyond the other tests'; the worker process costs seconds, so once")
    archive = tmp_path / "basic.tar.gz"
    pack_directory(project("basic"), archive)
    spec = JobSpec(entry_point="quick", backend="azureml", backend_config={"COMPUTE": "cpu-cluster"})
    job_id = jobs.submit_archive(spec, archive).job_id
    env = {"AZURE_SUBSCRIPTION_ID": "", "AZURE_RESOURCE_GROUP": "", "AZUREML_WORKSPACE": ""}
    env["AZUREML_CONFIG"] = str(tmp_path / "no-config-here")
    with runyard_worker(jobs.server_url, tmp_path, "--backend", "azureml", env=env):
        failed = wait_for(jobs, job_id, timeout=60)
    assert (failed.status, failed.run_status) == ("FAILED", "FAILED")
    assert "No Azure ML workspace configured" in (failed.error or "")
    run = MlflowClient(jobs.server_url).get_run(failed.run_id)
    assert run.data.tags["runyard.azureml.error"] == failed.error


def test_canceling_a_job_its_lost_worker_left_in_azure_cancels_the_azure_job(
    jobs: JobClient, project: Callable[[str], Path]
) -> None:
    """The worker that submitted the job is gone (its lease was handed back), so the Azure job runs on with nobody
    following it. Canceling the Runyard job must not end it there: it stays queued, flagged, until the next worker
    adopts the Azure job and cancels it."""
    archive = project("basic").parent / "basic.tar.gz"
    pack_directory(project("basic"), archive)
    spec = JobSpec(entry_point="quick", backend="azureml", backend_config={"COMPUTE": "cpu-cluster"})
    job_id = jobs.submit_archive(spec, archive).job_id
    first = ScriptedWorkspace(["Running"])
    lost = _claim(jobs, job_id)
    thread = threading.Thread(target=Worker(jobs, [_dispatcher(jobs.server_url, first)]).run_one, args=(lost,))
    thread.start()
    wait_for(jobs, job_id, until=lambda job: job.status == "RUNNING")
    jobs.release(job_id, lost.lease_token)  # the lease moves on: that worker may no longer act on the job
    thread.join(timeout=30)
    assert first.client.jobs.begin_cancel.call_count == 0  # a lost lease leaves the Azure job running

    flagged = jobs.cancel(job_id)
    assert (flagged.status, flagged.cancel_requested, flagged.run_status) == ("QUEUED", True, "SCHEDULED")

    second = ScriptedWorkspace(["Running"])
    second.names.add(job_name(job_id, 1))  # what the first worker submitted, still running in Azure
    Worker(jobs, [_dispatcher(jobs.server_url, second)]).run_one(_claim(jobs, job_id))
    done = jobs.get(job_id)
    assert (done.status, done.run_status) == ("CANCELED", "KILLED")
    second.client.jobs.begin_cancel.assert_called_once_with(job_name(job_id, 1))
    second.client.jobs.create_or_update.assert_not_called()


def test_a_cancel_pending_when_the_worker_vanishes_still_reaches_azure(
    jobs: JobClient, project: Callable[[str], Path], jobs_store_uri: str
) -> None:
    """The user cancels while a worker holds the job; that worker dies before acting on it. When its lease runs
    out the job is not simply marked canceled: it goes back to the queue, flagged, for a worker to cancel in Azure."""
    archive = project("basic").parent / "basic.tar.gz"
    pack_directory(project("basic"), archive)
    spec = JobSpec(entry_point="quick", backend="azureml", backend_config={"COMPUTE": "cpu-cluster"})
    job_id = jobs.submit_archive(spec, archive).job_id
    vanished = _claim(jobs, job_id)
    name = job_name(job_id, 1)
    jobs.heartbeat(job_id, Heartbeat(lease_token=vanished.lease_token, external_id=name))  # submitted, then died
    assert jobs.cancel(job_id).cancel_requested
    expire_lease(jobs_store_uri, job_id)
    requeued = wait_for(jobs, job_id, until=lambda job: job.status == "QUEUED")
    assert requeued.cancel_requested
    workspace = ScriptedWorkspace(["Running"])
    workspace.names.add(name)
    Worker(jobs, [_dispatcher(jobs.server_url, workspace)]).run_one(_claim(jobs, job_id))
    assert jobs.get(job_id).status == "CANCELED"
    workspace.client.jobs.begin_cancel.assert_called_once_with(name)


def test_a_job_given_up_after_its_workers_were_lost_still_cancels_its_azure_job(
    jobs: JobClient, project: Callable[[str], Path], jobs_store_uri: str
) -> None:
    """Every attempt's worker died; the last one had submitted the Azure job. Giving the job up must not leave that
    job running in Azure at a cost: a worker adopts it once more, only to cancel it, and the job ends FAILED."""
    archive = project("basic").parent / "basic.tar.gz"
    pack_directory(project("basic"), archive)
    spec = JobSpec(entry_point="quick", backend="azureml", backend_config={"COMPUTE": "cpu-cluster"}, max_attempts=1)
    job_id = jobs.submit_archive(spec, archive).job_id
    vanished = _claim(jobs, job_id)
    name = job_name(job_id, 1)
    jobs.heartbeat(job_id, Heartbeat(lease_token=vanished.lease_token, external_id=name))  # submitted, then died
    expire_lease(jobs_store_uri, job_id)
    requeued = wait_for(jobs, job_id, until=lambda job: job.status == "QUEUED")
    assert requeued.cancel_requested
    assert "Gave up after 1 attempt(s)" in (requeued.error or "")

    workspace = ScriptedWorkspace(["Running"])
    workspace.names.add(name)
    Worker(jobs, [_dispatcher(jobs.server_url, workspace)]).run_one(_claim(jobs, job_id))
    done = jobs.get(job_id)
    assert (done.status, done.run_status) == ("FAILED", "FAILED")
    assert f"Azure ML job {name} was canceled" in (done.error or "")
    workspace.client.jobs.begin_cancel.assert_called_once_with(name)
    workspace.client.jobs.create_or_update.assert_not_called()  # nothing was run again


def test_a_job_given_up_before_anything_reached_azure_simply_fails(
    jobs: JobClient, project: Callable[[str], Path], jobs_store_uri: str
) -> None:
    """Without a remote job there is nothing left running, so running out of attempts ends the job at once."""
    archive = project("basic").parent / "basic.tar.gz"
    pack_directory(project("basic"), archive)
    spec = JobSpec(entry_point="quick", backend="azureml", backend_config={"COMPUTE": "cpu-cluster"}, max_attempts=1)
    job_id = jobs.submit_archive(spec, archive).job_id
    _claim(jobs, job_id)  # died before submitting anything to Azure
    expire_lease(jobs_store_uri, job_id)
    failed = wait_for(jobs, job_id, until=lambda job: job.status == "FAILED")
    assert not failed.cancel_requested
    assert failed.run_status == "FAILED"
