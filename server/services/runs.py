"""Rules for creating, reading and changing runs and logging to them: names, limits, truncation, the batch write
path, and the `log_model` history tag."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import MlflowError
from server.services import validation
from server.services.names import generate_run_name
from server.store import artifact_destinations
from server.store import experiments as experiment_store
from server.store import runs as store
from server.store.metrics import MetricPoint as MetricPoint  # what a caller hands `log_batch`, one per point
from server.store.metrics import insert_metrics
from server.store.models import Run
from server.store.runs import RunData as RunData  # a run's metrics, params, tags, inputs and outputs

RUN_STATUSES = {"RUNNING": 1, "SCHEDULED": 2, "FINISHED": 3, "FAILED": 4, "KILLED": 5}


def create_run(
    session: Session,
    *,
    experiment_id: int,
    user_id: str,
    run_name: str | None,
    start_time: int | None,
    tags: dict[str, str],
    artifact_destination: str,
    run_id: str | None = None,
    status: str = "RUNNING",
) -> tuple[Run, RunData]:
    """The new run (not attached to the session) and its data, the tags it was stored with. `artifact_destination`
    is where the proxy stores artifacts today; the run's folder keeps that destination if the setting changes later.
    A job queue names the run in advance (its snapshot is stored before the run is) and creates it SCHEDULED."""
    artifact_location = experiment_store.active_experiment_location(session, experiment_id)
    tagged_name = tags.get(store.RUN_NAME_TAG)
    if run_name and tagged_name and run_name != tagged_name:
        raise MlflowError.invalid_parameter(
            f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
            f"(run_name='{run_name}', mlflow.runName='{tagged_name}')."
        )
    name = run_name or tagged_name or generate_run_name()
    tags = {**validate_tags(tags), store.RUN_NAME_TAG: name}
    run_id = run_id or uuid.uuid4().hex
    return_run = Run(
        run_uuid=run_id,
        experiment_id=experiment_id,
        name=name,
        user_id=user_id,
        status=status,
        start_time=start_time if start_time is not None else now_ms(),
        end_time=None,
        deleted_time=None,
        lifecycle_stage="active",
        artifact_uri=f"{artifact_location}/{run_id}/artifacts",
    )
    store.insert_run(session, return_run)
    store.set_tags(session, run_id, tags, rename=False)  # the row was inserted with the name
    artifact_destinations.record(session, return_run.artifact_uri, artifact_destination, run_id)
    return return_run, RunData(tags=tags)


def get_run(session: Session, run_id: str) -> tuple[Run, RunData]:
    """The run in any lifecycle stage, and everything a `Run` message shows of it."""
    run = store.get_run(session, run_id)
    return run, store.load_run_data(session, [run_id])[run_id]


def artifact_uri(session: Session, run_id: str) -> str:
    """Where a run's artifacts live, whatever its lifecycle stage."""
    return store.get_run(session, run_id).artifact_uri


def active_run(session: Session, run_id: str) -> Run:
    """The run, refused unless active: a deleted run is not logged to or tagged."""
    return store.get_active_run(session, run_id)


def ensure_active_run(session: Session, run_id: str) -> None:
    """The same refusal as `active_run` in one cheap query, without loading the run."""
    store.active_run_experiment(session, run_id)


def validate_tags(tags: dict[str, str]) -> dict[str, str]:
    return {validation.validate_entity_key(k, "key"): validation.tag_value(v) for k, v in tags.items()}


def validate_params(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    keys = [key for key, _ in params]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise MlflowError.invalid_parameter(
            f"Duplicate parameter keys have been submitted: {duplicates}. Please ensure the request contains only "
            "one param value per param key."
        )
    return {validation.validate_entity_key(k, "key"): validation.param_value(v) for k, v in params}


def validate_metric(point: MetricPoint, path: str = "") -> MetricPoint:
    validation.validate_entity_key(point.key, f"{path}name" if path else "name", what="Metric")
    if point.timestamp < 0:
        raise MlflowError.invalid_parameter(
            validation.invalid_value(
                f"{path}timestamp",
                point.timestamp,
                f"metric '{point.key}' (value={point.value}). Timestamp must be a nonnegative long (64-bit integer) ",
            )
        )
    if point.dataset_name is not None:
        validation.limit_length(f"{path}dataset_name", validation.MAX_DATASET_NAME_SIZE, point.dataset_name)
    if point.dataset_digest is not None:
        validation.limit_length(f"{path}dataset_digest", validation.MAX_DATASET_DIGEST_SIZE, point.dataset_digest)
    return MetricPoint(
        point.key,
        validation.clamp_metric_value(point.value),
        point.timestamp,
        point.step,
        point.model_id,
        point.dataset_name,
        point.dataset_digest,
    )


def _needs_checking(point: MetricPoint) -> bool:
    """False for what nearly every point is: a well-formed key, a time, no dataset, a finite number or NaN. Such a
    point is stored as it came, and no error path (`metrics[i].`) is built for it: a batch of 1,000 points spent
    more on those checks than on its SQL."""
    return not (
        validation.is_valid_key(point.key)
        and point.timestamp >= 0
        and point.dataset_name is None
        and point.dataset_digest is None
        and not math.isinf(point.value)
    )


def log_batch(
    session: Session,
    run_id: str,
    *,
    metrics: Sequence[MetricPoint],
    params: Sequence[tuple[str, str]],
    tags: dict[str, str],
) -> None:
    """All or nothing: a refused param or an unknown run leaves the run exactly as it was."""
    validation.validate_batch_limits(len(metrics), len(params), len(tags))
    checked_metrics = [validate_metric(m, f"metrics[{i}].") if _needs_checking(m) else m for i, m in enumerate(metrics)]
    checked_params = validate_params(params)
    checked_tags = validate_tags(tags)
    store.active_run_experiment(session, run_id)
    store.insert_params(session, run_id, checked_params)
    insert_metrics(session, run_id, checked_metrics)
    store.set_tags(session, run_id, checked_tags)


def update_run(session: Session, run_id: str, *, status: str | None, end_time: int | None, run_name: str | None) -> Run:
    run = store.get_active_run(session, run_id)
    if status is not None:
        run.status = status
    if end_time is not None:
        run.end_time = end_time
    if run_name:
        run.name = run_name
        session.flush()
        store.set_tags(session, run_id, {store.RUN_NAME_TAG: run_name})
    return run


def set_lifecycle(session: Session, run_id: str, stage: str) -> None:
    run = store.get_run(session, run_id)
    run.lifecycle_stage = stage
    run.deleted_time = now_ms() if stage == "deleted" else None


def set_tag(session: Session, run_id: str, key: str, value: str) -> None:
    """Tags an active run (the caller has checked that with `ensure_active_run`); a long value is truncated."""
    store.set_tags(session, run_id, validate_tags({key: value}))


def delete_tag(session: Session, run: Run, key: str) -> None:
    store.delete_tag(session, run, key)


LOGGED_MODELS_TAG = "mlflow.log-model.history"
_MODEL_TAG_FIELDS = ("run_id", "utc_time_created", "artifact_path", "model_uuid")


def log_model(session: Session, run_id: str, model_json: str) -> None:
    """MLflow 2.x clients record each `log_model` in the run tag `mlflow.log-model.history`: the model's JSON
    (its flavors without their `config`) is appended to the tag's list, oldest entries dropped to fit the tag."""
    entry = _history_entry(model_json)
    store.active_run_experiment(session, run_id)
    history = store.load_run_data(session, [run_id])[run_id].tags.get(LOGGED_MODELS_TAG)
    entries = [*(orjson.loads(history) if history else []), entry]
    value = orjson.dumps(entries).decode()
    while len(value) > validation.MAX_TAG_VAL_LENGTH and len(entries) > 1:
        entries.pop(0)  # MLflow truncates the JSON mid-string here; we keep it valid and drop the oldest entries
        value = orjson.dumps(entries).decode()
    store.set_tags(session, run_id, {LOGGED_MODELS_TAG: validation.tag_value(value)})


def _history_entry(model_json: str) -> dict[str, Any]:
    try:
        model = orjson.loads(model_json)
    except orjson.JSONDecodeError:
        raise MlflowError.invalid_parameter(f"Malformed model info. \n {model_json} \n is not a valid JSON.") from None
    if not isinstance(model, dict):
        raise MlflowError.invalid_parameter(f"Malformed model info. \n {model_json} \n is not a valid JSON.")
    missing_fields = {"artifact_path", "flavors", "utc_time_created", "run_id"} - set(model)
    if missing_fields:
        raise MlflowError.invalid_parameter(f"Model json is missing mandatory fields: {missing_fields}")
    entry = {k: model[k] for k in _MODEL_TAG_FIELDS if k in model}
    flavors = model["flavors"] if isinstance(model["flavors"], dict) else {}
    entry["flavors"] = {
        name: {k: v for k, v in conf.items() if k != "config"} if isinstance(conf, dict) else conf
        for name, conf in flavors.items()
    }
    return entry
