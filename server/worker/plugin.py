"""The MLflow project backend named `runyard` (entry point group `mlflow.project_backend`):

    mlflow.projects.run(uri=".", backend="runyard", backend_config={"USE_CONDA": False}, parameters={...})

submits the project to the Runyard server the client tracks to and returns a `SubmittedRun` whose run already
exists there (SCHEDULED), so MLflow can tag it at once. `backend_config` keys: `COMPUTE` (send to Azure ML
compute), `USE_CONDA` (accepted for the Azure ML article's sake), `STREAM_LOGS` (default true: `wait()` prints the
job's output), `MAX_ATTEMPTS`, `PRIORITY`, `IDEMPOTENCY_KEY`; anything else travels to the dispatcher.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from mlflow.exceptions import ExecutionException, MlflowException
from mlflow.projects.backend.abstract_backend import AbstractBackend
from mlflow.projects.submitted_run import SubmittedRun
from mlflow.utils.workspace_context import get_request_workspace

from server.jobspec.schemas import RUN_STATUS, TERMINAL, JobStatus, JobView
from server.worker.client import JobApiError, JobClient
from server.worker.submit import Submission, submit


class RunyardSubmittedRun(SubmittedRun):
    """A job on a Runyard server. Like MLflow's own, not thread-safe."""

    def __init__(self, client: JobClient, job: JobView, *, stream_logs: bool = True) -> None:
        super().__init__()
        self._client = client
        self.job = job
        self._stream_logs = stream_logs
        self._cursor = 0

    @property
    def run_id(self) -> str:
        return self.job.project_run_id

    @property
    def job_id(self) -> str:
        return self.job.job_id

    def _refresh(self) -> JobView:
        self.job = self._client.get(self.job_id)
        return self.job

    def wait(self) -> bool:
        """Block until the job ends (printing its output unless STREAM_LOGS is false); True if it succeeded."""
        while self._refresh().status not in TERMINAL:
            try:
                if self._stream_logs:
                    self._print_logs()
                else:
                    time.sleep(1.0)
            except JobApiError as exc:
                if not exc.transient:
                    raise MlflowException(exc.message) from exc
                time.sleep(1.0)  # the server is restarting: keep waiting
        return self.job.status == JobStatus.SUCCEEDED

    def _print_logs(self) -> None:
        for event, data in self._client.follow(self.job_id, after=self._cursor):
            if event == "log":
                self._cursor = int(data.get("id", self._cursor))
                out = sys.stderr if data["stream"] == "stderr" else sys.stdout
                out.write(data["text"])
                out.flush()

    def get_status(self) -> str:
        return RUN_STATUS[self._refresh().status]

    def cancel(self) -> None:
        self.job = self._client.cancel(self.job_id)
        while self.job.status not in TERMINAL:
            time.sleep(0.5)
            self._refresh()


def _flag(value: Any, default: bool) -> bool:
    return default if value is None else str(value).lower() in ("true", "1", "yes")


class RunyardBackend(AbstractBackend):
    def run(
        self,
        project_uri: str,
        entry_point: str,
        params: dict[str, Any] | None,
        version: str | None,
        backend_config: dict[str, Any],
        tracking_uri: str,
        experiment_id: str,
    ) -> RunyardSubmittedRun:
        if not tracking_uri.startswith(("http://", "https://")):
            raise ExecutionException(
                f"The runyard backend submits to the Runyard server MLflow tracks to; the tracking URI is "
                f"'{tracking_uri}'. Set MLFLOW_TRACKING_URI (or mlflow.set_tracking_uri) to http(s)://<runyard>."
            )
        # The job goes to the workspace the caller works in (`mlflow.set_workspace`, or MLFLOW_WORKSPACE).
        client = JobClient(tracking_uri, workspace=get_request_workspace())
        submission = Submission(
            uri=project_uri,
            entry_point=entry_point,
            parameters=dict(params or {}),
            version=version,
            experiment_id=str(experiment_id) if experiment_id is not None else None,
            backend_config=dict(backend_config or {}),
        )
        try:
            job = submit(client, submission)
        except JobApiError as exc:
            if exc.error_code == "INVALID_PARAMETER_VALUE":
                raise MlflowException.invalid_parameter_value(exc.message) from None
            raise MlflowException(exc.message) from None
        return RunyardSubmittedRun(client, job, stream_logs=_flag(backend_config.get("STREAM_LOGS"), True))


def runyard_backend() -> RunyardBackend:
    """The zero-argument builder MLflow's loader calls."""
    return RunyardBackend()
