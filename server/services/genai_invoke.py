"""The web UI's "run a judge" and "run an evaluation" buttons as GenAI jobs: the checks MLflow's handlers make
before queueing (registered scorers resolved, every trace the experiment's, custom code only where allowed), how a
judge's traces are split into jobs, and the evaluation run made at once so the UI lists it before the job runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.orm import Session

from server.config import Settings
from server.errors import ErrorCode, MlflowError
from server.services import runs as run_service
from server.services import scorers
from server.services.genai_jobs import submit
from server.store import runs as run_store
from server.store import traces as trace_store

SESSION_METADATA_KEY = "mlflow.trace.session"
RUN_TYPE_TAG, GENAI_EVALUATE_RUN_TYPE = "mlflow.runType", "genai_evaluate"
EVALUATE_JOB_TAG = "mlflow.genaiEvaluate.jobId"


def check_traces_in_experiment(session: Session, trace_ids: Sequence[str], experiment_id: int) -> None:
    """The caller's permission was checked on `experiment_id`; a trace of another experiment named beside it is
    refused as MLflow refuses it (missing traces are left to the job, which reports them per trace)."""
    if any(trace.experiment_id != experiment_id for trace in trace_store.find_traces(session, trace_ids)):
        raise MlflowError("Not all requested traces could be accessed.", ErrorCode.PERMISSION_DENIED)


def _session_batches(session: Session, trace_ids: Sequence[str]) -> list[list[str]]:
    """One batch per conversation (the traces' `mlflow.trace.session`), oldest trace first; traces outside any
    session are not scored by a session-level judge."""
    times = {trace.trace_id: trace.request_time for trace in trace_store.find_traces(session, trace_ids)}
    groups: dict[str, list[str]] = {}
    for trace_id, metadata in trace_store.metadata_of(session, trace_ids).items():
        if trace_id in times and (conversation := metadata.get(SESSION_METADATA_KEY)):
            groups.setdefault(conversation, []).append(trace_id)
    return [sorted(ids, key=lambda trace_id: times[trace_id]) for ids in groups.values()]


def invoke_scorer(
    session: Session,
    settings: Settings,
    *,
    experiment_id: int,
    serialized_scorer: str,
    trace_ids: Sequence[str],
    log_assessments: bool,
    scorer_name: str | None,
    scorer_version: int | None,
    username: str | None,
) -> list[dict[str, Any]]:
    """A scorer (given inline, or registered by name and version) run on traces, as jobs of at most
    `scorer_invoke_batch_size` traces each (one per conversation for a session-level judge)."""
    payload = scorers.check_payload(serialized_scorer, allow_custom=settings.enable_custom_scorers)
    if scorer_name is not None:
        registered = scorers.get_scorer(session, str(experiment_id), scorer_name, scorer_version)
        serialized_scorer = registered.serialized_scorer
        payload = scorers.check_payload(serialized_scorer, allow_custom=settings.enable_custom_scorers)
    check_traces_in_experiment(session, trace_ids, experiment_id)
    if payload.get("is_session_level_scorer"):
        batches = _session_batches(session, trace_ids)
    else:
        size = settings.scorer_invoke_batch_size
        batches = [list(trace_ids[start : start + size]) for start in range(0, len(trace_ids), size)]
    submitted = []
    for batch in batches:
        params = {
            "experiment_id": str(experiment_id),
            "serialized_scorer": serialized_scorer,
            "scorer_version": scorer_version,
            "trace_ids": batch,
            "log_assessments": log_assessments,
            "username": username,
        }
        job = submit(session, settings, "invoke_scorer", params, creator=username)
        submitted.append({"job_id": job.job_id, "trace_ids": batch})
    return submitted


def invoke_evaluate(
    session: Session,
    settings: Settings,
    *,
    experiment_id: int,
    trace_ids: Sequence[str],
    serialized_scorers: list[Any],
    scorer_versions: list[Any],
    username: str | None,
    artifact_destination: str,
) -> dict[str, str]:
    """`mlflow.genai.evaluate` of chosen traces and judges as a job, into a new evaluation run created now, so that
    the run is listed at once, with the job's id on it."""
    if len(scorer_versions) != len(serialized_scorers):
        raise MlflowError.invalid_parameter("scorer_versions must have the same length as serialized_scorers")
    check_traces_in_experiment(session, trace_ids, experiment_id)
    serialized_scorers, scorer_versions = list(serialized_scorers), list(scorer_versions)
    for index, (serialized, version) in enumerate(zip(serialized_scorers, scorer_versions, strict=True)):
        if version is None:
            continue
        if not isinstance(version, int) or isinstance(version, bool):
            raise MlflowError.invalid_parameter("Each scorer version must be an integer or null")
        try:
            name = orjson.loads(serialized)["name"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise MlflowError.invalid_parameter("A registered scorer must contain a valid name") from None
        registered = scorers.get_scorer(session, str(experiment_id), str(name), version)
        serialized_scorers[index], scorer_versions[index] = registered.serialized_scorer, registered.scorer_version
    for serialized in serialized_scorers:
        if not isinstance(serialized, str):
            raise MlflowError.invalid_parameter("Each serialized scorer must be a JSON string")
        scorers.check_payload(serialized, allow_custom=settings.enable_custom_scorers)
    params = {
        "trace_ids": list(trace_ids),
        "serialized_scorers": serialized_scorers,
        "scorer_versions": scorer_versions,
        "experiment_id": str(experiment_id),
        "username": username,
    }
    run_tags = {RUN_TYPE_TAG: GENAI_EVALUATE_RUN_TYPE}
    return _job_with_run(
        session, settings, "invoke_genai_evaluate", params, run_tags, EVALUATE_JOB_TAG, username, artifact_destination
    )


ISSUE_DETECTION_RUN_TYPE, ISSUE_DETECTION_JOB_TAG = "issue_detection", "mlflow.issueDetection.jobId"


def _check_provider_key(provider: str) -> None:
    """MLflow refuses a provider whose API key the server does not hold, instead of queueing a job that can only fail;
    the provider table is MLflow's own, loaded on first use (it imports MLflow)."""
    from mlflow.utils.providers import _CORE_PROVIDER_ENV_VARS  # here: importing it imports MLflow

    env_config = _CORE_PROVIDER_ENV_VARS.get(provider.lower())
    if not env_config:
        raise MlflowError.invalid_parameter(
            f"Unsupported provider '{provider}'. Choose a supported provider or AI Gateway endpoint."
        )
    if isinstance(env_config, dict):
        env_vars = [env_config["api_key"]] if "api_key" in env_config else list(env_config.values())
    else:
        env_vars = [env_config]
    if not any(os.environ.get(name) for name in env_vars):
        hint = env_vars[0] if len(env_vars) == 1 else f"one of {', '.join(env_vars)}"
        raise MlflowError.invalid_parameter(
            f"No API key available for provider '{provider}'. Save an API key in AI Gateway, or set {hint} on the "
            "MLflow server."
        )


def invoke_issue_detection(
    session: Session,
    settings: Settings,
    *,
    experiment_id: int,
    trace_ids: Sequence[str],
    categories: list[Any],
    provider: str,
    model: str | None,
    secret_id: str | None,
    endpoint_name: str | None,
    username: str | None,
    artifact_destination: str,
) -> dict[str, str]:
    """MLflow's issue detection of chosen traces by an LLM, as a job, into an issue-detection run made now (RUNNING,
    with the job's id) so the UI can follow it. Runyard keeps no AI Gateway, so a gateway endpoint or stored key named
    here does not exist: refused at once, where `mlflow server` would queue a job that fails."""
    if not trace_ids:
        raise MlflowError.invalid_parameter("Please select at least one trace to analyze.")
    if not endpoint_name and not (provider and model):
        raise MlflowError.invalid_parameter("Either 'endpoint_name' or both 'provider' and 'model' must be provided")
    if endpoint_name:
        raise MlflowError(f"GatewayEndpoint not found (name='{endpoint_name}')", ErrorCode.RESOURCE_DOES_NOT_EXIST)
    if secret_id:
        raise MlflowError(f"GatewaySecret not found (secret_id='{secret_id}')", ErrorCode.RESOURCE_DOES_NOT_EXIST)
    _check_provider_key(provider)
    check_traces_in_experiment(session, trace_ids, experiment_id)
    model_uri = f"{provider.lower()}:/{model}"
    tags = {
        RUN_TYPE_TAG: ISSUE_DETECTION_RUN_TYPE,
        "categories": ",".join(str(category) for category in categories),
        "model": model_uri,
        "total_traces": str(len(trace_ids)),
    }
    params = {
        "experiment_id": str(experiment_id),
        "trace_ids": list(trace_ids),
        "categories": categories,
        "model": model_uri,
    }
    return _job_with_run(
        session,
        settings,
        "invoke_issue_detection",
        params,
        tags,
        ISSUE_DETECTION_JOB_TAG,
        username,
        artifact_destination,
    )


def _job_with_run(
    session: Session,
    settings: Settings,
    job_name: str,
    params: dict[str, Any],
    run_tags: dict[str, str],
    job_tag: str,
    username: str | None,
    artifact_destination: str,
) -> dict[str, str]:
    """The run a GenAI job reports into, made now (so the UI lists it before the job runs), then the job, given the
    run's id, and the job's id tagged on the run."""
    run, _ = run_service.create_run(
        session,
        experiment_id=int(params["experiment_id"]),
        user_id=username or "",
        run_name=None,
        start_time=None,
        tags=run_tags,
        artifact_destination=artifact_destination,
    )
    job = submit(session, settings, job_name, {**params, "run_id": run.run_uuid}, creator=username)
    run_store.set_tags(session, run.run_uuid, {job_tag: job.job_id})
    return {"job_id": job.job_id, "run_id": run.run_uuid}
