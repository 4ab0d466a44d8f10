"""The Azure ML dispatcher against an autospec'd `MLClient`: the command job it would send, and every path a job
takes through Azure's states. No network, no real waiting: the clock is fake and every poll advances it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import pytest
from azure.ai.ml.entities import Environment
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceResponseError,
)

from server.jobspec.projects import pack_directory
from server.worker.dispatchers.azureml import LOG_ARTIFACTS
from server.worker.dispatchers.azureml_project import DEFAULT_ENVIRONMENT, experiment_name, job_command, job_name
from server.worker.dispatchers.run_tracking import RunTracking
from tests.jobs.azureml_fakes import FakeClock, FakeLease, ScriptedWorkspace, dispatcher, make_job
from tests.jobs.conftest import PROJECTS

NAME = job_name(make_job().job_id, 1)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("azureml") / "basic.tar.gz"
    pack_directory(PROJECTS / "basic", target)
    return target


@pytest.fixture
def tracking() -> Any:
    fake = create_autospec(RunTracking, instance=True)
    fake.experiment_name.return_value = "experiment with mlflow projects"
    fake.upload_folder.return_value = 1
    return fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _sent(workspace: ScriptedWorkspace) -> Any:
    (job,), kwargs = workspace.client.jobs.create_or_update.call_args
    assert kwargs == {"experiment_name": job.experiment_name}
    return job


def _tags(tracking: Any) -> dict[str, str]:
    tags: dict[str, str] = {}
    for call in tracking.set_tags.call_args_list:
        tags.update(call.args[1])
    return tags


def test_a_completed_job_is_sent_as_a_command_job_and_followed(archive: Path, tracking: Any, clock: FakeClock) -> None:
    workspace = ScriptedWorkspace(["Queued", "Preparing", "Running", "Running", "Finalizing", "Completed"])
    lease = FakeLease(make_job(), archive, token="run-scoped-token")
    lease.events = workspace.events
    outcome = dispatcher(workspace, clock, tracking).execute(lease.job, lease)  # type: ignore[arg-type]

    assert outcome.outcome == "succeeded"
    job = _sent(workspace)
    assert job.name == NAME
    assert job.compute == "cpu-cluster"
    assert job.experiment_name == "experiment-with-mlflow-projects"
    assert job.environment == DEFAULT_ENVIRONMENT  # no environment file: the curated default
    assert job.environment_variables == {
        "RUNYARD_TRACKING_URI": "http://runyard.test:5000",
        "RUNYARD_RUN_ID": lease.job.run_id,
        "RUNYARD_EXPERIMENT_ID": "7",
        "RUNYARD_TRACKING_TOKEN": "run-scoped-token",
        "PYTHONUNBUFFERED": "1",
    }
    assert job.command == (
        'export MLFLOW_TRACKING_URI="$RUNYARD_TRACKING_URI" MLFLOW_RUN_ID="$RUNYARD_RUN_ID" '
        'MLFLOW_EXPERIMENT_ID="$RUNYARD_EXPERIMENT_ID" && unset MLFLOW_EXPERIMENT_NAME MLFLOW_TRACKING_TOKEN '
        "MLFLOW_WORKSPACE && "
        'export MLFLOW_TRACKING_TOKEN="$RUNYARD_TRACKING_TOKEN" && python train.py --alpha 0.3 --exit-code 0'
    )
    assert workspace.code_files == ["MLproject", "quick.py", "sleep.py", "train.py"]
    assert job.tags == {"runyard.job_id": lease.job.job_id, "runyard.run_id": lease.job.run_id, "runyard.attempt": "1"}
    workspace.client.compute.get.assert_called_once_with("cpu-cluster")
    # the name is on the job before anything is submitted; RUNNING only once Azure says so
    assert workspace.events[:2] == [f"record:{NAME}", "create"]
    assert lease.started == 1
    assert "hello from azure" in lease.text("stdout")
    workspace.client.jobs.download.assert_called_once()
    tracking.upload_folder.assert_called_once()
    run_id, folder, artifact_path = tracking.upload_folder.call_args.args
    assert (run_id, folder.name, artifact_path) == (lease.job.run_id, "artifacts", LOG_ARTIFACTS)
    assert _tags(tracking)["runyard.azureml.job_name"] == NAME
    assert _tags(tracking)["runyard.azureml.studio_url"].endswith(NAME)


def test_without_auth_no_token_travels_and_azures_own_is_cleared(
    archive: Path, tracking: Any, clock: FakeClock
) -> None:
    workspace = ScriptedWorkspace(["Running", "Completed"])
    lease = FakeLease(make_job(), archive, token=None)
    assert dispatcher(workspace, clock, tracking).execute(lease.job, lease).outcome == "succeeded"  # type: ignore[arg-type]
    job = _sent(workspace)
    assert "RUNYARD_TRACKING_TOKEN" not in job.environment_variables
    assert "unset MLFLOW_EXPERIMENT_NAME MLFLOW_TRACKING_TOKEN" in job.command
    assert "export MLFLOW_TRACKING_TOKEN" not in job.command
    assert not any(name.startswith("MLFLOW_") for name in job.environment_variables)


def test_a_job_of_a_workspace_logs_into_that_workspace(archive: Path, tracking: Any, clock: FakeClock) -> None:
    workspace = ScriptedWorkspace(["Running", "Completed"])
    lease = FakeLease(make_job(workspace="team-a"), archive, token=None)
    assert dispatcher(workspace, clock, tracking).execute(lease.job, lease).outcome == "succeeded"  # type: ignore[arg-type]
    job = _sent(workspace)
    assert job.environment_variables["RUNYARD_WORKSPACE"] == "team-a"
    assert 'export MLFLOW_WORKSPACE="$RUNYARD_WORKSPACE" && python train.py' in job.command


def test_a_failed_job_fails_its_run_with_azures_error(archive: Path, tracking: Any, clock: FakeClock) -> None:
    workspace = ScriptedWorkspace(["Queued", "Running", "Failed"])
    workspace.stream_failure = "Execution failed. User process 'python' exited with status code 2."
    lease = FakeLease(make_job(), archive)
    outcome = dispatcher(workspace, clock, tracking).execute(lease.job, lease)  # type: ignore[arg-type]
    assert outcome.outcome == "failed"
    assert "exited with status code 2" in (outcome.error or "")
    assert _tags(tracking)["runyard.azureml.error"] == outcome.error
    tracking.upload_folder.assert_called_once()  # a failed job's logs are kept too


def test_a_job_canceled_in_azure_ends_canceled(archive: Path, tracking: Any, clock: FakeClock) -> None:
    workspace = ScriptedWorkspace(["Running", "Canceled"])
    lease = FakeLease(make_job(), archive)
    outcome = dispatcher(workspace, clock, tracking).execute(lease.job, lease)  # type: ignore[arg-type]
    assert outcome.outcome == "canceled"
    assert "Canceled in Azure ML" in (outcome.error or "")
    workspace.client.jobs.begin_cancel.assert_not_called()


@pytest.mark.parametrize("cancel_when", ["Queued", "Running"])
def test_cancel_calls_begin_cancel_and_waits_for_canceled(
    archive: Path, tracking: Any, clock: FakeClock, cancel_when: str
) -> None:
    workspace = ScriptedWorkspace([cancel_when])
    lease = FakeLease(make_job(), archive)
    clock.on_sleep.append(lease.cancel_requested.set)  # the user cancels after the first poll
    outcome = dispatcher(workspace, clock, tracking).execute(lease.job, lease)  # type: ignore[arg-type]
    assert outcome.outcome == "canceled"
    assert outcome.error == "Canceled by request."
    workspace.client.jobs.begin_cancel.assert_called_once_with(NAME)
    assert workspace.events[-2:] == ["get:CancelRequested", "get:Canceled"]
    assert lease.started == (1 if cancel_when == "Running" else 0)


def test_a_cancel_before_submission_submits_nothing(archive: Path, tracking: Any, clock: FakeClock) -> None:
    workspace = ScriptedWorkspace(["Running"])
    lease = FakeLease(make_job(), archive)
    lease.cancel_requested.set()
    outcome = dispatcher(workspace, clock, tracking).execute(lease.job, lease)  # type: ignore[arg-type]
    assert outcome.outcome == "canceled"
    workspace.client.jobs.create_or_update.assert_not_called()


def test_a_job_stuck_in_not_started_is_canceled_and_fails(archive: Path, tracking: Any, clock: FakeClock) -> None:
    workspace = ScriptedWorkspace(["NotStarted"])
    lease = FakeLease(make_job(), archive)
    outcome = dispatcher(workspace, clock, tracking, not_started_timeout_seconds=600).execute(lease.job, lease)  # type: ignore[arg-type]
    assert outcome.outcome == "failed"
    assert "still NotStarted after 6" in (outcome.error or "")
    assert "RUNYARD_AZUREML_NOT_STARTED_TIMEOUT_SECONDS" in (outcome.error or "")
    workspace.client.jobs.begin_cancel.assert_called_once_with(NAME)
    assert lease.started == 0
    assert 600 < clock.now - 1000 <= 630


def test_a_long_queue_is_not_a_stuck_job(archive: Path, tracking: Any, clock: FakeClock) -> None:
    workspace = ScriptedWorkspace(["NotStarted"] * 10 + ["Queued"] * 100 + ["Running", "Completed"])
    lease = FakeLease(make_job(), archive)
    outcome = dispatcher(workspace, clock, tracking, not_started_timeout_seconds=600).execute(lease.job, lease)  # type: ignore[arg-type]
    assert outcome.outcome == "succeeded"


def test_a_submission_whose_answer_was_lost_is_found_not_resubmitted(
    archive: Path, tracking: Any, clock: FakeClock
) -> None:
    workspace = ScriptedWorkspace(["Running", "Completed"])

    def created_then_dropped(job: Any, **kwargs: Any) -> Any:
        workspace.names.add(job.name)  # Azure has it, but the connection dropped before the answer
        raise ServiceResponseError("Connection aborted.")

    workspace.client.jobs.create_or_update.side_effect = created_then_dropped
    lease = FakeLease(make_job(), archive)
    outcome = dispatcher(workspace, clock, tracking).execute(lease.job, lease)  # type: ignore[arg-type]
    assert outcome.outcome == "succeeded"
    assert workspace.client.jobs.create_or_update.call_count == 1
    assert "was submitted after all" in lease.text("stderr")


def test_the_next_attempt_adopts_the_job_a_crashed_worker_submitted(
    archive: Path, tracking: Any, clock: FakeClock
) -> None:
    workspace = ScriptedWorkspace(["Running", "Completed"])
    workspace.names.add(NAME)  # attempt 1 submitted it, then its worker died
    lease = FakeLease(make_job(attempt=2, external_id=NAME), archive)
    outcome = dispatcher(workspace, clock, tracking).execute(lease.job, lease)  # type: ignore[arg-type]
    assert outcome.outcome == "succeeded"
    workspace.client.jobs.create_or_update.assert_not_called()
    assert lease.external_ids == []
    assert f"Reattached to Azure ML job {NAME}" in lease.text("stderr")


def test_a_retry_after_a_crash_before_submitting_submits_under_its_own_name(
    archive: Path, tracking: Any, clock: FakeClock
) -> None:
    workspace = ScriptedWorkspace(["Completed"])  # attempt 1 recorded its name but never submitted
    lease = FakeLease(make_job(attempt=2, external_id=NAME), archive)
    assert dispatcher(workspace, clock, tracking).execute(lease.job, lease).outcome == "succeeded"  # type: ignore[arg-type]
    assert _sent(workspace).name == job_name(lease.job.job_id, 2)


def test_a_lost_lease_leaves_the_azure_job_running(archive: Path, tracking: Any, clock: FakeClock) -> None:
    workspace = ScriptedWorkspace(["Running"])
    lease = FakeLease(make_job(), archive)
    clock.on_sleep.append(lease.lost.set)
    outcome = dispatcher(workspace, clock, tracking).execute(lease.job, lease)  # type: ignore[arg-type]
    assert outcome.outcome == "lost"
    workspace.client.jobs.begin_cancel.assert_not_called()


def _auth_error() -> Exception:
    return ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token from the included credentials.")


def _quota_error() -> Exception:
    error = HttpResponseError("Not enough quota available for Standard_DS3_v2 in the subscription.")
    error.status_code = 400
    return error


@pytest.mark.parametrize(
    ("where", "error", "expected"),
    [
        ("workspaces.get", _auth_error(), "No usable Azure credentials"),
        ("workspaces.get", ResourceNotFoundError("The Resource was not found"), "workspace 'ws' (resource group"),
        (
            "compute.get",
            ResourceNotFoundError("not found"),
            "Compute 'cpu-cluster' does not exist in Azure ML workspace",
        ),
        ("jobs.create_or_update", _quota_error(), "Azure ML refused submitting job"),
    ],
)
def test_azure_errors_fail_the_job_and_tag_the_run(
    archive: Path, tracking: Any, clock: FakeClock, where: str, error: Exception, expected: str
) -> None:
    workspace = ScriptedWorkspace(["Running"])
    group, method = where.split(".")
    getattr(getattr(workspace.client, group), method).side_effect = error
    lease = FakeLease(make_job(), archive)
    outcome = dispatcher(workspace, clock, tracking).execute(lease.job, lease)  # type: ignore[arg-type]
    assert outcome.outcome == "failed"
    assert expected in (outcome.error or "")
    assert _tags(tracking)["runyard.azureml.error"] == outcome.error
    assert expected in lease.text("stderr")
    if where != "jobs.create_or_update":
        workspace.client.jobs.create_or_update.assert_not_called()


def test_a_job_without_compute_fails_before_reaching_azure(archive: Path, tracking: Any, clock: FakeClock) -> None:
    workspace = ScriptedWorkspace(["Running"])
    lease = FakeLease(make_job(backend_config={}), archive)
    outcome = dispatcher(workspace, clock, tracking).execute(lease.job, lease)  # type: ignore[arg-type]
    assert outcome.outcome == "failed"
    assert "needs COMPUTE" in (outcome.error or "")
    workspace.client.workspaces.get.assert_not_called()


def test_environment_from_the_project_or_backend_config(
    archive: Path, tracking: Any, clock: FakeClock, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "MLproject").write_text(
        "name: envs\npython_env: python_env.yaml\nentry_points:\n  main:\n    command: python -V\n"
    )
    (project / "python_env.yaml").write_text(
        "python: '3.11'\nbuild_dependencies: [pip]\ndependencies: [mlflow==3.17.2, -r requirements.txt]\n"
    )
    (project / "requirements.txt").write_text("scikit-learn>=1.5  # the model\n\npandas\n")
    packed = tmp_path / "envs.tar.gz"
    pack_directory(project, packed)

    def sent(config: dict[str, Any]) -> Any:
        workspace = ScriptedWorkspace(["Completed"])
        lease = FakeLease(make_job(entry_point="main", parameters={}, backend_config=config), packed)
        assert dispatcher(workspace, clock, tracking).execute(lease.job, lease).outcome == "succeeded"  # type: ignore[arg-type]
        return _sent(workspace).environment

    built = sent({"COMPUTE": "cpu-cluster"})
    assert isinstance(built, Environment)
    assert built.image == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    assert built.conda_file == {
        "name": "runyard-project",
        "channels": ["conda-forge"],
        "dependencies": ["python=3.11", "pip", {"pip": ["pip", "mlflow==3.17.2", "scikit-learn>=1.5", "pandas"]}],
    }
    curated = "azureml://registries/azureml/environments/sklearn-1.5/versions/30"
    assert sent({"COMPUTE": "cpu-cluster", "ENVIRONMENT": curated}) == curated
    on_image = sent({"COMPUTE": "cpu-cluster", "ENVIRONMENT": "myregistry.azurecr.io/train:1"})
    assert (on_image.image, on_image.conda_file["name"]) == ("myregistry.azurecr.io/train:1", "runyard-project")


def test_names() -> None:
    assert job_name("abc", 3) == "runyard-abc-a3"
    assert experiment_name("/Users/me/my exp.v2") == "Users-me-my-exp-v2"
    assert experiment_name("***") == "Default"
    assert job_command("python x.py", with_token=False).endswith(" && python x.py")
