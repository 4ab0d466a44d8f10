"""MLflow's server-side GenAI jobs on Runyard's queue. MLflow runs them on a huey queue inside the server process;
here they are rows of the one job table, claimed by the same workers with the same leases, retries after a lost
worker, cancel and log tail as MLflow Projects, and listed on the same Jobs page. Only the job names MLflow allows
(`server.jobspec.genai`) are accepted, each with the arguments its function requires.

This module is the queue's side (submit, read, search in MLflow's terms), shared by MLflow's job API
(`server.jobs.genai_router`), the UI's buttons (`genai_invoke`) and prompt optimization; the worker runs the
function (`server.worker.genai_entry`). A submission is seen by waiting workers within their poll.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.config import Settings
from server.errors import MlflowError
from server.jobspec.genai import BACKEND, FUNCTIONS, TIMED_OUT
from server.jobspec.schemas import TERMINAL, JobStatus
from server.services import scorers, validation
from server.store import experiments as experiment_store
from server.store.models import Experiment, Job, Run

# The arguments each job function cannot do without (those without a default in MLflow 3.17's signatures), and
# all it takes: a submission missing one fails here, as MLflow's does, rather than on a worker.
SIGNATURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "invoke_scorer": (
        ("experiment_id", "serialized_scorer", "trace_ids"),
        ("experiment_id", "serialized_scorer", "trace_ids", "log_assessments", "username", "scorer_version"),
    ),
    "run_online_trace_scorer": (("experiment_id", "online_scorers"), ("experiment_id", "online_scorers")),
    "run_online_session_scorer": (("experiment_id", "online_scorers"), ("experiment_id", "online_scorers")),
    "optimize_prompts": (
        ("run_id", "experiment_id", "prompt_uri", "dataset_id", "optimizer_type", "optimizer_config", "scorer_names"),
        ("run_id", "experiment_id", "prompt_uri", "dataset_id", "optimizer_type", "optimizer_config", "scorer_names"),
    ),
    "invoke_issue_detection": (
        ("experiment_id", "trace_ids", "categories", "run_id"),
        ("experiment_id", "trace_ids", "categories", "run_id", "model"),
    ),
    "invoke_genai_evaluate": (
        ("trace_ids", "serialized_scorers", "run_id"),
        ("trace_ids", "serialized_scorers", "run_id", "username", "scorer_versions", "experiment_id"),
    ),
}
CUSTOM_SCORERS_DISABLED = (
    "Custom scorers defined with the @scorer decorator are disabled on this server because they execute arbitrary "
    "code. To run them, an operator must set the environment variable 'MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS' to "
    "'true'."
)
# MLflow's job statuses for Runyard's: a job waiting for (or being prepared by) a worker is PENDING.
MLFLOW_STATUS = {
    JobStatus.QUEUED: "PENDING",
    JobStatus.LEASED: "PENDING",
    JobStatus.RUNNING: "RUNNING",
    JobStatus.SUCCEEDED: "SUCCEEDED",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELED: "CANCELED",
}


def function_name(job_name: str) -> str:
    """The MLflow function a job name runs; any name off the allow-list is refused with MLflow's message."""
    if job_name not in FUNCTIONS:
        raise MlflowError.invalid_parameter(f"Invalid job name: {job_name}")
    return FUNCTIONS[job_name]


def _check_arguments(job_name: str, params: Mapping[str, Any]) -> None:
    required, accepted = SIGNATURES[job_name]
    function = function_name(job_name).rsplit(".", 1)[1]
    if missing := [name for name in required if name not in params]:
        raise MlflowError.invalid_parameter(
            f"Missing required parameters for function '{function}': {missing}. Expected parameters: {list(accepted)}"
        )
    if unknown := sorted(set(params) - set(accepted)):
        raise MlflowError.invalid_parameter(
            f"Unexpected parameters for function '{function}': {unknown}. Expected parameters: {list(accepted)}"
        )


def _serialized_scorers(job_name: str, params: Mapping[str, Any]) -> list[Any]:
    if job_name == "invoke_scorer":
        return [params.get("serialized_scorer")]
    if job_name == "invoke_genai_evaluate":
        scorers = params.get("serialized_scorers")
        return list(scorers) if isinstance(scorers, list) else [scorers]
    if job_name in ("run_online_trace_scorer", "run_online_session_scorer"):
        online = params.get("online_scorers")
        items = online if isinstance(online, list) else []
        return [item.get("serialized_scorer") for item in items if isinstance(item, dict)]
    return []


def _check_scorers(job_name: str, params: Mapping[str, Any], settings: Settings) -> None:
    """Custom `@scorer` code would run on a worker: refused unless the operator opted in, as MLflow refuses it."""
    for serialized in _serialized_scorers(job_name, params):
        try:
            parsed = orjson.loads(serialized) if isinstance(serialized, str | bytes) else serialized
        except orjson.JSONDecodeError:
            raise MlflowError.invalid_parameter(f"Invalid serialized scorer: {str(serialized)[:200]}") from None
        if scorers.carries_code(parsed) and not settings.enable_custom_scorers:
            raise MlflowError.invalid_parameter(CUSTOM_SCORERS_DISABLED)


def experiment_of(session: Session, params: Mapping[str, Any]) -> int:
    """The experiment a job works in: its `experiment_id` argument, else its run's, else the default one."""
    if (experiment_id := params.get("experiment_id")) not in (None, ""):
        return validation.parse_experiment_id(str(experiment_id))
    if isinstance(run_id := params.get("run_id"), str) and run_id:
        found = session.scalar(select(Run.experiment_id).where(Run.run_uuid == run_id))
        if found is None:
            raise MlflowError.not_found(f"Run with id={run_id} not found")
        return int(found)
    return 0


def submit(
    session: Session,
    settings: Settings,
    job_name: str,
    params: Mapping[str, Any],
    *,
    timeout: float | None = None,
    creator: str | None = None,
) -> Job:
    """Queue one GenAI job in the caller's transaction (the caller wakes the workers after the commit)."""
    function_name(job_name)
    if not isinstance(params, Mapping):
        raise MlflowError.invalid_parameter("When calling 'submit_job', the 'params' argument must be a dict.")
    _check_arguments(job_name, params)
    _check_scorers(job_name, params, settings)
    if timeout is not None and timeout <= 0:
        raise MlflowError.invalid_parameter(f"Invalid timeout: {timeout}. It must be a positive number of seconds.")
    experiment_id = experiment_of(session, params)
    experiment_store.active_experiment_location(session, experiment_id)  # an unknown or deleted one is refused
    now = now_ms()
    parameters = orjson.dumps(dict(params)).decode()
    job = Job(
        job_id=uuid.uuid4().hex,  # the width of every job id (32)
        run_id=None,
        experiment_id=experiment_id,
        kind="genai",
        status=JobStatus.QUEUED,
        backend=BACKEND,
        entry_point=job_name,
        parameters=parameters,
        env_manager=None,
        backend_config="{}",
        source=orjson.dumps({"type": "genai", "function": FUNCTIONS[job_name]}).decode(),
        idempotency_key=None,
        request_hash="",
        priority=0,
        attempt=0,
        max_attempts=settings.job_max_attempts,
        available_at=now,
        cancel_requested=False,
        created_at=now,
        creator=creator,
        timeout_seconds=timeout,
    )
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.kind != "genai":
        raise MlflowError.not_found(f"Job with ID {job_id} not found")
    return job


def search(
    session: Session,
    *,
    job_name: str | None,
    params: Mapping[str, Any] | None,
    statuses: Sequence[str] | None,
    readable: ColumnElement[bool] | None = None,
) -> list[Job]:
    """MLflow's job search: by exact name, by status, and by parameters (every given key present and equal)."""
    if unknown := sorted(set(statuses or ()) - {*MLFLOW_STATUS.values(), "TIMEOUT", "NEEDS_RECOVERY"}):
        raise MlflowError.invalid_parameter(f"Invalid job statuses: {unknown}")
    query = select(Job).where(Job.kind == "genai")
    if job_name is not None:
        query = query.where(Job.entry_point == job_name)
    if statuses:
        ours = [status for status, theirs in MLFLOW_STATUS.items() if theirs in set(statuses)]
        if "TIMEOUT" in statuses:
            ours.append(JobStatus.FAILED)  # and then told apart by their error, below
        query = query.where(Job.status.in_(ours))
    if readable is not None:
        query = query.where(Job.experiment_id.in_(select(Experiment.experiment_id).where(readable)))
    jobs = session.scalars(query.order_by(Job.created_at, Job.job_id))
    wanted = set(statuses or ())
    return [
        job
        for job in jobs
        if (not wanted or mlflow_status(job) in wanted)
        and (not params or _matches(orjson.loads(job.parameters), params))
    ]


def check_cancellable(job: Job) -> None:
    if JobStatus(job.status) in TERMINAL:
        raise MlflowError.invalid_parameter(
            f"The Job {job.job_id} is already finalized with status: {mlflow_status(job)}, it can't be updated."
        )


def _matches(job_params: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(key in job_params and job_params[key] == value for key, value in wanted.items())


def mlflow_status(job: Job) -> str:
    if job.status == JobStatus.FAILED and (job.error or "").startswith(TIMED_OUT):
        return "TIMEOUT"
    return MLFLOW_STATUS[JobStatus(job.status)]


def to_mlflow(job: Job) -> dict[str, Any]:
    """A job as MLflow's job API shows it (`mlflow/server/job_api.py`'s `Job`)."""
    status = mlflow_status(job)
    failed = status in ("FAILED", "TIMEOUT", "CANCELED")
    return {
        "job_id": job.job_id,
        "creation_time": job.created_at,
        "job_name": job.entry_point,
        "params": orjson.loads(job.parameters),
        "timeout": job.timeout_seconds,
        "status": status,
        "result": None if job.result is None else orjson.loads(job.result),
        "error_message": job.error if failed else None,
        "retry_count": max(job.attempt - 1, 0),
        "last_update_time": job.finished_at or job.started_at or job.created_at,
        "status_details": None,
        "creator": job.creator,
        "status_message": None,
        "progress": None,
        "progress_updated_at": None,
    }
