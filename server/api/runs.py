"""Run RPCs: lifecycle, logging, and reading runs back."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.routing import Rpc
from server.api.wire import INT64_MAX, INT64_MIN, Fields, key_value_pairs, missing, parse_double
from server.auth import rules
from server.errors import MlflowError
from server.services import runs as service
from server.services import validation
from server.services.runs import MetricPoint
from server.web.context import Context


def run_id_of(fields: Fields) -> str:
    """`run_id`, or the deprecated `run_uuid` older clients send instead."""
    run_id = fields.string("run_id") or fields.string("run_uuid")
    if not run_id:
        raise missing("run_id")
    return run_id


def create_run(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    run, data = service.create_run(
        session,
        experiment_id=validation.parse_experiment_id(fields.string("experiment_id", default="0")),
        user_id=fields.string("user_id", default="") or "",
        run_name=fields.string("run_name"),
        start_time=fields.integer("start_time"),
        tags=dict(key_value_pairs(fields, "tags")),
        artifact_destination=context.artifacts.destination_uri,
    )
    return {"run": convert.run_json(run, data)}


def get_run(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return {"run": convert.run_json(*service.get_run(session, run_id_of(fields)))}


def update_run(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run = service.update_run(
        session,
        run_id_of(fields),
        status=_lenient_status(fields),
        end_time=fields.integer("end_time"),
        run_name=fields.string("run_name"),
    )
    return {"run_info": convert.run_info_json(run)}


def _lenient_status(fields: Fields) -> str | None:
    """MLflow's parser drops an unknown enum name silently (the update then leaves the status alone)."""
    try:
        return fields.enum("status", service.RUN_STATUSES)
    except MlflowError:
        return None


def delete_run(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.set_lifecycle(session, run_id_of(fields), "deleted")
    return {}


def restore_run(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.set_lifecycle(session, run_id_of(fields), "active")
    return {}


def set_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run_id = run_id_of(fields)
    service.ensure_active_run(session, run_id)  # an inactive run is refused before the tag is read
    service.set_tag(session, run_id, fields.required_string("key"), fields.string("value", default="") or "")
    return {}


def delete_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run = service.active_run(session, run_id_of(fields))
    service.delete_tag(session, run, fields.required_string("key"))
    return {}


def log_param(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    key = fields.required_string("key")
    service.log_batch(
        session, run_id_of(fields), metrics=[], params=[(key, fields.string("value", default="") or "")], tags={}
    )
    return {}


def _metric(entry: Fields, path: str = "") -> MetricPoint:
    key, value, timestamp = entry.string("key"), entry.raw("value"), entry.integer("timestamp")
    if key is None:
        raise missing(f"{path}key")
    if value is None:
        raise missing(f"{path}value")
    if timestamp is None:
        raise missing(f"{path}timestamp")
    return MetricPoint(
        key=key,
        value=parse_double(f"{path}value", value),
        timestamp=timestamp,
        step=entry.integer("step", default=0) or 0,
        model_id=entry.string("model_id") or None,
        dataset_name=entry.string("dataset_name") or None,
        dataset_digest=entry.string("dataset_digest") or None,
    )


_PLAIN_METRIC_FIELDS = frozenset(("key", "value", "timestamp", "step"))


def _plain_metric(entry: dict[str, Any]) -> MetricPoint | None:
    """The shape the stock client sends every point in (a string key, a number, integer time and step, nothing
    else), read straight from the dict; None for anything else, which `_metric` then reads field by field and
    words the error for. Parsing 1,000 points through `Fields` cost more than storing them."""
    if not entry.keys() <= _PLAIN_METRIC_FIELDS:
        return None
    key, timestamp, step = entry.get("key"), entry.get("timestamp"), entry.get("step", 0)
    value: Any = entry.get("value")
    if type(key) is not str or type(value) not in (float, int) or type(timestamp) is not int or type(step) is not int:
        return None  # `type(...) is`, not isinstance: a bool is an int to isinstance, and protobuf refuses it
    if not (INT64_MIN <= timestamp <= INT64_MAX and INT64_MIN <= step <= INT64_MAX):
        return None
    return MetricPoint(key=key, value=float(value), timestamp=timestamp, step=step)


def log_metric(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run_id = run_id_of(fields)
    service.log_batch(session, run_id, metrics=[_metric(fields)], params=[], tags={})
    return {}


def log_batch(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run_id = fields.required_string("run_id")
    metrics = [
        _plain_metric(m) or _metric(Fields(m), f"metrics[{i}].") for i, m in enumerate(fields.objects("metrics"))
    ]
    service.log_batch(
        session,
        run_id,
        metrics=metrics,
        params=key_value_pairs(fields, "params"),
        tags=dict(key_value_pairs(fields, "tags")),
    )
    return {}


def log_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """MLflow 2.x clients record each `log_model` in the run tag `mlflow.log-model.history` through this call."""
    service.log_model(session, fields.required_string("run_id"), fields.required_string("model_json"))
    return {}


RPCS = [
    Rpc("POST", "/mlflow/runs/create", create_run, access=rules.experiment(rules.EDIT)),
    Rpc("GET", "/mlflow/runs/get", get_run, access=rules.run(rules.READ)),
    Rpc("POST", "/mlflow/runs/update", update_run, access=rules.run(rules.EDIT)),
    Rpc("POST", "/mlflow/runs/delete", delete_run, access=rules.run(rules.MANAGE)),
    Rpc("POST", "/mlflow/runs/restore", restore_run, access=rules.run(rules.MANAGE)),
    Rpc("POST", "/mlflow/runs/set-tag", set_tag, access=rules.run(rules.EDIT)),
    Rpc("POST", "/mlflow/runs/delete-tag", delete_tag, access=rules.run(rules.EDIT)),
    Rpc("POST", "/mlflow/runs/log-parameter", log_param, access=rules.run(rules.EDIT)),
    Rpc("POST", "/mlflow/runs/log-metric", log_metric, access=rules.run(rules.EDIT)),
    Rpc("POST", "/mlflow/runs/log-batch", log_batch, access=rules.run(rules.EDIT)),
    Rpc("POST", "/mlflow/runs/log-model", log_model, access=rules.run(rules.EDIT)),
]
