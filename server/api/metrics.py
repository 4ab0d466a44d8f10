"""Metric history RPCs: one series, paginated, and sampled series of many runs for charts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api.convert import metric_value
from server.api.routing import Rpc
from server.api.runs import run_id_of
from server.api.wire import Fields, missing
from server.auth import rules
from server.errors import MlflowError
from server.services import metrics as service
from server.web.context import Context


def get_metric_history(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run_id = run_id_of(fields)
    key = fields.required_string("metric_key")
    service.ensure_run_exists(session, run_id)
    rows, next_page_token = service.history_page(
        session, run_id, key, max_results=fields.integer("max_results"), page_token=fields.string("page_token")
    )
    body: dict[str, Any] = {}
    if next_page_token is not None:
        body["next_page_token"] = next_page_token
    if rows:
        body["metrics"] = [
            {"key": key, "value": metric_value(value, is_nan), "timestamp": ts, "step": step}
            for value, ts, step, is_nan in rows
        ]
    return body


def _with_run_ids(key: str, points: list[service.RunPoint]) -> list[dict[str, Any]]:
    return [
        {"key": key, "value": metric_value(value, bool(is_nan)), "timestamp": ts, "step": step, "run_id": run_id}
        for run_id, (value, ts, step, is_nan) in points
    ]


def get_metric_history_bulk_interval(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run_ids = fields.string_list("run_ids")
    if not run_ids:
        raise missing("run_ids")
    service.check_interval_run_ids(run_ids)
    key = fields.required_string("metric_key")
    points = service.sampled_histories(
        session,
        run_ids,
        key,
        start_step=fields.integer("start_step"),
        end_step=fields.integer("end_step"),
        max_results=fields.integer("max_results", default=service.MAX_RESULTS_PER_RUN),
    )
    metrics = _with_run_ids(key, points)
    return {"metrics": metrics} if metrics else {}


def get_metric_history_bulk(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """The older UI's unsampled bulk route (ajax only), `run_id` repeated."""
    run_ids = fields.string_list("run_id")
    if not run_ids:
        raise MlflowError.invalid_parameter("GetMetricHistoryBulk request must specify at least one run_id.")
    service.check_bulk_run_ids(run_ids)
    key = fields.string("metric_key")
    if key is None:
        raise MlflowError.invalid_parameter("GetMetricHistoryBulk request must specify a metric_key.")
    max_results = fields.integer("max_results", default=service.MAX_RESULTS_BULK_LEGACY)
    return {"metrics": _with_run_ids(key, service.whole_histories(session, run_ids, key, max_results=max_results))}


RPCS = [
    Rpc("GET", "/mlflow/metrics/get-history", get_metric_history, access=rules.run(rules.READ)),
    Rpc(
        "GET",
        "/mlflow/metrics/get-history-bulk-interval",
        get_metric_history_bulk_interval,
        access=rules.Access("runs", rules.READ, "run_ids"),
    ),
]
RPCS += [
    Rpc(
        "GET",
        "/mlflow/metrics/get-history-bulk",
        get_metric_history_bulk,
        prefixes=("/ajax-api",),
        access=rules.Access("runs", rules.READ, "run_id"),
    )
]
