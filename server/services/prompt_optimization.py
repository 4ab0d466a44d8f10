"""Prompt-optimization jobs (MLflow 3.10+): a GenAI job (`optimize_prompts`) that improves a registered prompt
against an evaluation dataset with chosen judges, with an MLflow run made at once to hold its parameters and
scores. The job itself is a row of Runyard's queue (`genai_jobs`); this module speaks MLflow's
`PromptOptimizationJob` message about it, reading the scores back from the run's metrics as MLflow does."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.orm import Session

from server.config import Settings
from server.errors import MlflowError
from server.services import datasets, genai_jobs, validation
from server.services import runs as run_service
from server.store import job_queue, users
from server.store import runs as run_store
from server.store.models import Job, Run

JOB_NAME = "optimize_prompts"
# MLflow's OptimizerType enum (prompt_optimization.proto) and the names its job function takes.
OPTIMIZERS = {"OPTIMIZER_TYPE_GEPA": (1, "gepa"), "OPTIMIZER_TYPE_METAPROMPT": (2, "metaprompt")}
_BY_NUMBER = {number: name for name, (number, _) in OPTIMIZERS.items()}
_BY_VALUE = {value: name for name, (_, value) in OPTIMIZERS.items()}
# MLflow's job statuses as the `JobState.status` enum (jobs.proto) names them; it has no TIMEOUT.
PROTO_STATUS = {
    "PENDING": "JOB_STATUS_PENDING",
    "RUNNING": "JOB_STATUS_IN_PROGRESS",
    "SUCCEEDED": "JOB_STATUS_COMPLETED",
    "FAILED": "JOB_STATUS_FAILED",
    "TIMEOUT": "JOB_STATUS_FAILED",
    "CANCELED": "JOB_STATUS_CANCELED",
}


def optimizer_name(value: Any) -> str:
    """The optimizer as its enum name, from a name or a number; unspecified or unknown is MLflow's 400."""
    supported = list(OPTIMIZERS)
    if not isinstance(value, str | int | None) or isinstance(value, bool):
        raise MlflowError.invalid_parameter(f"Unsupported optimizer_type value: {value}. Supported types: {supported}")
    if value in (None, "", 0, "OPTIMIZER_TYPE_UNSPECIFIED"):
        raise MlflowError.invalid_parameter(f"optimizer_type is required. Supported types: {supported}")
    name = _BY_NUMBER.get(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if name not in OPTIMIZERS:
        raise MlflowError.invalid_parameter(f"Unsupported optimizer_type value: {value}. Supported types: {supported}")
    return str(name)


def _string(config: dict[str, Any], name: str) -> str:
    value = config.get(name) or ""
    if not isinstance(value, str):
        raise MlflowError.invalid_parameter(f"Invalid value for 'config.{name}': {value}. A string.")
    return value


def _prompt_name_and_version(prompt_uri: str) -> tuple[str, str]:
    parts = prompt_uri.removeprefix("prompts:/").split("/") if prompt_uri.startswith("prompts:/") else []
    return (parts[0], parts[1]) if len(parts) >= 2 else ("", "")


def create(
    session: Session,
    settings: Settings,
    *,
    experiment_id: str,
    source_prompt_uri: str,
    config: dict[str, Any],
    tags: Sequence[dict[str, str]],
    user: str | None,
    artifact_destination: str,
) -> dict[str, Any]:
    if not source_prompt_uri:
        raise MlflowError.invalid_parameter("source_prompt_uri is required for optimization job")
    optimizer = optimizer_name(config.get("optimizer_type"))
    experiment_id = experiment_id.strip()
    if not experiment_id:
        raise MlflowError.invalid_parameter("experiment_id is required for optimization job")
    dataset_id = _string(config, "dataset_id")
    scorer_names = config.get("scorers") or []
    if not isinstance(scorer_names, list) or not all(isinstance(name, str) for name in scorer_names):
        raise MlflowError.invalid_parameter(f"Invalid value for 'config.scorers': {scorer_names}. A list of names.")
    config_json = _string(config, "optimizer_config_json")
    optimizer_config = None
    if config_json:
        try:
            optimizer_config = json.loads(config_json)
        except json.JSONDecodeError as exc:
            raise MlflowError.invalid_parameter(f"Invalid JSON in optimizer_config_json: {exc}") from None
        if not isinstance(optimizer_config, dict):  # the job function takes it as keyword options
            raise MlflowError.invalid_parameter("optimizer_config_json must be a JSON object")
    if dataset_id:
        datasets.get_dataset(session, dataset_id)  # an unknown dataset is refused before the run is made
    start = int(time.time() * 1000)
    prompt_name, prompt_version = _prompt_name_and_version(source_prompt_uri)
    optimizer_value = OPTIMIZERS[optimizer][1]
    run, _ = run_service.create_run(
        session,
        experiment_id=validation.parse_experiment_id(experiment_id),
        user_id=user or "",
        run_name=f"optimize_prompt_{optimizer_value}_{prompt_name}_{prompt_version}_{start}",
        start_time=start,
        tags={},
        artifact_destination=artifact_destination,
    )
    params = {
        "source_prompt_uri": source_prompt_uri,
        "optimizer_type": optimizer_value,
        "dataset_id": dataset_id,
        "scorer_names": json.dumps(scorer_names),
    }
    if config_json:
        params["optimizer_config_json"] = config_json
    run_store.insert_params(session, run.run_uuid, run_service.validate_params(list(params.items())))
    job_params = {
        "run_id": run.run_uuid,
        "experiment_id": experiment_id,
        "prompt_uri": source_prompt_uri,
        "dataset_id": dataset_id,
        "optimizer_type": optimizer_value,
        "optimizer_config": optimizer_config,
        "scorer_names": scorer_names,
    }
    job = genai_jobs.submit(session, settings, JOB_NAME, job_params, creator=user)
    message = to_message(job)
    message["tags"] = [{"key": tag.get("key", ""), "value": tag.get("value", "")} for tag in tags]
    return message


def get(session: Session, job_id: str) -> Job:
    return genai_jobs.get(session, job_id)


def search(session: Session, experiment_id: str) -> list[Job]:
    return genai_jobs.search(session, job_name=JOB_NAME, params={"experiment_id": experiment_id}, statuses=None)


def cancel(session: Session, job_id: str, *, now: int) -> dict[str, Any]:
    """The job stops (at once if queued, on its worker's next heartbeat if running) and its run ends KILLED."""
    job = genai_jobs.get(session, job_id)
    genai_jobs.check_cancellable(job)
    job_queue.cancel(session, job, now=now)
    if run_id := orjson.loads(job.parameters).get("run_id"):
        run_service.update_run(session, run_id, status="KILLED", end_time=now, run_name=None)
    session.expire_all()
    message = to_message(genai_jobs.get(session, job_id))
    message["state"]["status"] = PROTO_STATUS["CANCELED"]
    return message


def delete(session: Session, job_id: str) -> None:
    """The job and its run go (a running job's worker loses its lease and stops)."""
    job = genai_jobs.get(session, job_id)
    run_id = orjson.loads(job.parameters).get("run_id")
    users.revoke_job_tokens(session, job_id, None)
    session.delete(job)
    if run_id and session.get(Run, run_id) is not None:
        run_service.set_lifecycle(session, run_id, "deleted")


def to_message(job: Job, run_metrics: dict[str, float] | None = None) -> dict[str, Any]:
    """MLflow's `PromptOptimizationJob` for a job row (and its run's metrics, for the scores)."""
    params = orjson.loads(job.parameters)
    status = genai_jobs.mlflow_status(job)
    state: dict[str, Any] = {"status": PROTO_STATUS[status]}
    if status in ("FAILED", "TIMEOUT") and job.error:
        state["error_message"] = job.error
    config: dict[str, Any] = {}
    if (optimizer := _BY_VALUE.get(params.get("optimizer_type"))) is not None:
        config["optimizer_type"] = optimizer
    if params.get("dataset_id"):
        config["dataset_id"] = params["dataset_id"]
    if isinstance(scorer_names := params.get("scorer_names"), list) and scorer_names:
        config["scorers"] = scorer_names
    if isinstance(optimizer_config := params.get("optimizer_config"), dict):
        config["optimizer_config_json"] = json.dumps(optimizer_config)
    message: dict[str, Any] = {"job_id": job.job_id}
    if params.get("run_id"):
        message["run_id"] = params["run_id"]
    message["state"] = state
    for key, field in (("experiment_id", "experiment_id"), ("prompt_uri", "source_prompt_uri")):
        if params.get(key):
            message[field] = params[key]
    result = orjson.loads(job.result) if job.result else None
    if status == "SUCCEEDED" and isinstance(result, dict) and result.get("optimized_prompt_uri"):
        message["optimized_prompt_uri"] = result["optimized_prompt_uri"]
    message["config"] = config
    message["creation_timestamp_ms"] = job.created_at
    if run_metrics:
        _add_scores(message, run_metrics, params)
    return message


def _add_scores(message: dict[str, Any], metrics: dict[str, float], params: dict[str, Any]) -> None:
    """MLflow logs `initial_eval_score[.<scorer>]`, `final_eval_score[.<scorer>]` and `total_metric_calls`."""
    initial: dict[str, float] = {}
    final: dict[str, float] = {}
    for name, value in metrics.items():
        head, _, scorer = name.partition(".")
        if head in ("initial_eval_score", "final_eval_score"):
            (initial if head == "initial_eval_score" else final)[scorer or "aggregate"] = value
    if initial:
        message["initial_eval_scores"] = initial
    if final:
        message["final_eval_scores"] = final
    calls = metrics.get("total_metric_calls")
    budget = (params.get("optimizer_config") or {}).get("max_metric_calls")
    if calls is not None and budget:
        message["state"].setdefault("metadata", {})["progress"] = str(round(min(calls / budget, 1.0), 2))


def run_metrics(session: Session, job: Job) -> dict[str, float]:
    run_id = orjson.loads(job.parameters).get("run_id")
    if not run_id or session.get(Run, run_id) is None:
        return {}
    _, data = run_service.get_run(session, run_id)
    return {metric.key: metric.value for metric in data.metrics}
