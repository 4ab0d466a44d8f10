"""A scripted Azure ML workspace behind `create_autospec(MLClient)`: the SDK's own signatures check every call the
dispatcher makes (a wrong method or keyword fails), while the statuses a job walks through are scripted. Plus a
stand-in for the worker's lease and a fake clock, so a job that waits half an hour in Azure takes no time here."""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import create_autospec

from azure.ai.ml import MLClient
from azure.ai.ml.exceptions import ErrorTarget, JobException
from azure.ai.ml.operations import ComputeOperations, JobOperations, WorkspaceOperations
from azure.core.exceptions import ResourceNotFoundError

from server.jobspec.schemas import JobStatus, JobView
from server.worker.dispatchers.azureml import AzureMLDispatcher
from server.worker.dispatchers.azureml_client import AzureML
from server.worker.dispatchers.azureml_project import AzureMLSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.on_sleep: list[Callable[[], None]] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for hook in list(self.on_sleep):
            hook()


class ScriptedWorkspace:
    """Jobs exist once `create_or_update` has them; each `get` takes the next scripted status (the last repeats).
    `begin_cancel` switches the script to CancelRequested then Canceled."""

    def __init__(self, statuses: list[str], *, stream_text: str = "hello from azure\n") -> None:
        self.client: Any = create_autospec(MLClient, instance=True)
        self.client.jobs = create_autospec(JobOperations, instance=True)
        self.client.compute = create_autospec(ComputeOperations, instance=True)
        self.client.workspaces = create_autospec(WorkspaceOperations, instance=True)
        self.client.workspace_name, self.client.resource_group_name, self.client.subscription_id = "ws", "rg", "sub"
        self.statuses = list(statuses)
        self.names: set[str] = set()
        self.stream_text = stream_text
        self.stream_failure: str | None = None
        self.events: list[str] = []
        self.code_files: list[str] = []
        jobs = self.client.jobs
        jobs.get.side_effect = self._get
        jobs.create_or_update.side_effect = self._create
        jobs.begin_cancel.side_effect = self._cancel
        jobs.stream.side_effect = self._stream
        jobs.download.side_effect = self._download

    def azure(self) -> AzureML:
        return AzureML.open(self.client)

    def _job(self, name: str, status: str) -> SimpleNamespace:
        return SimpleNamespace(name=name, status=status, studio_url=f"https://ml.azure.com/runs/{name}")

    def _get(self, name: str) -> SimpleNamespace:
        if name not in self.names:
            raise ResourceNotFoundError(f"Job {name} not found")
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        self.events.append(f"get:{status}")
        return self._job(name, status)

    def _create(self, job: Any, **kwargs: Any) -> SimpleNamespace:
        self.events.append("create")
        self.code_files = sorted(p.name for p in Path(job.code).iterdir())  # uploaded at this call
        self.names.add(job.name)
        return self._job(job.name, "Starting")

    def _cancel(self, name: str, **kwargs: Any) -> Any:
        self.events.append("cancel")
        self.statuses = ["CancelRequested", "Canceled"]
        return SimpleNamespace()

    def _stream(self, name: str) -> None:
        sys.stdout.write(self.stream_text)  # the SDK writes to sys.stdout, hard-wired
        if self.stream_failure:
            raise JobException(message=self.stream_failure, no_personal_data_message="failed", target=ErrorTarget.JOB)

    def _download(self, name: str, *, download_path: str = ".", **kwargs: Any) -> None:
        logs = Path(download_path) / "artifacts" / "user_logs"
        logs.mkdir(parents=True)
        (logs / "std_log.txt").write_text(f"full log of {name}\n")


class FakeLease:
    """What a dispatcher sees of the worker's lease, recorded."""

    def __init__(self, job: JobView, archive: Path, *, token: str | None = None) -> None:
        self.job = job
        self.archive = archive
        self.tracking_token = token
        self.lease_seconds = 30.0
        self.cancel_requested = threading.Event()
        self.lost = threading.Event()
        self.lines: list[tuple[str, str]] = []
        self.started = 0
        self.external_ids: list[str] = []
        self.events: list[str] | None = None

    def log(self, stream: str, text: str) -> None:
        self.lines.append((stream, text))

    def text(self, stream: str) -> str:
        return "".join(t for s, t in self.lines if s == stream)

    def download_snapshot(self, dest: Path) -> None:
        shutil.copy(self.archive, dest)

    def start(self) -> None:
        self.started += 1

    def record_external_id(self, name: str) -> None:
        self.external_ids.append(name)
        if self.events is not None:
            self.events.append(f"record:{name}")


def make_job(**overrides: Any) -> JobView:
    fields: dict[str, Any] = {
        "job_id": "0123456789abcdef0123456789abcdef",
        "run_id": "fedcba9876543210fedcba9876543210",
        "experiment_id": "7",
        "status": JobStatus.LEASED,
        "run_status": "SCHEDULED",
        "backend": "azureml",
        "entry_point": "main",
        "parameters": {"alpha": "0.3"},
        "env_manager": "local",
        "backend_config": {"COMPUTE": "cpu-cluster"},
        "source": {"type": "archive"},
        "priority": 0,
        "attempt": 1,
        "max_attempts": 3,
        "cancel_requested": False,
        "lease_owner": "test",
        "external_id": None,
        "exit_code": None,
        "error": None,
        "created_at": 0,
        "started_at": None,
        "finished_at": None,
    }
    fields.update(overrides)
    return JobView(**fields)


def dispatcher(
    workspace: ScriptedWorkspace | Callable[[], AzureML],
    clock: FakeClock,
    tracking: Any,
    **settings: Any,
) -> AzureMLDispatcher:
    connect = workspace.azure if isinstance(workspace, ScriptedWorkspace) else workspace
    return AzureMLDispatcher(
        server_url="http://runyard.test:5000",
        settings=AzureMLSettings(**{"poll_seconds": 15, "not_started_timeout_seconds": 600, **settings}),
        connect=connect,
        tracking=lambda token, workspace: tracking,
        clock=clock,
        sleep=clock.sleep,
    )
