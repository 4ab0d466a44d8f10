"""Metric history RPCs: one series, paginated, and sampled series of many runs for charts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api.convert import metric_value
from server.api.routing import Rpc
from server.api.runs import run_id_of
from server.api.wire import API_DOCS_HINT, Fields, missing
from server.auth import rules
from server.errors import MlflowError
from server.store import runs as run_store
from server.store.metrics import metric_history, sampled_history
from server.store.paging import decode_offset, encode_offset
from server.web.context import Context

MAX_RUNS_PER_BULK_REQUEST = 100
MAX_RESULTS_PER_RUN = 2500
MAX_RESULTS_BULK_LEGACY = 25000


def get_metric_history(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run_id = run_id_of(fields)
    key = fields.required_string("metric_key")
    run_store.ensure_run_exists(session, run_id)
    max_results = fields.integer("max_results")
    if max_results is not None and max_results <= 0:
        raise MlflowError.invalid_parameter(f"max_results must be positive, got {max_results}")
    offset = decode_offset(fields.string("page_token"))
    rows = metric_history(session, run_id, key, offset=offset, limit=None if max_results is None else max_results + 1)
    body: dict[str, Any] = {}
    if max_results is not None and len(rows) > max_results:
        rows = rows[:max_results]
        body["next_page_token"] = encode_offset(offset + max_results)
    if rows:
        body["metrics"] = [
            {"key": key, "value": metric_value(value, is_nan), "timestamp": ts, "step": step}
            for value, ts, step, is_nan in rows
        ]
    return body


def _with_run_id(key: str, run_id: str, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [
        {"key": key, "value": metric_value(value, bool(is_nan)), "timestamp": ts, "step": step, "run_id": run_id}
        for value, ts, step, is_nan in rows
    ]


def get_metric_history_bulk_interval(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run_ids = fields.string_list("run_ids")
    if not run_ids:
        raise missing("run_ids")
    if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise MlflowError.invalid_parameter(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_PER_BULK_REQUEST} run_ids. "
            f"Received {len(run_ids)} run_ids. {API_DOCS_HINT}"
        )
    key = fields.required_string("metric_key")
    start, end = fields.integer("start_step"), fields.integer("end_step")
    max_results = fields.integer("max_results", default=MAX_RESULTS_PER_RUN)
    if max_results is None or not 0 < max_results <= MAX_RESULTS_PER_RUN:
        raise MlflowError.invalid_parameter(f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}. {API_DOCS_HINT}")
    if start is not None and end is not None and start > end:
        raise MlflowError.invalid_parameter(
            f"end_step must be greater than start_step. Found start_step={start} and end_step={end}."
        )
    if (start is None) != (end is None):
        raise MlflowError.invalid_parameter("If either start step or end step are specified, both must be specified.")
    metrics: list[dict[str, Any]] = []  # unknown runs simply contribute no points, as in MLflow
    for run_id in run_ids:
        rows = sampled_history(session, run_id, key, start_step=start, end_step=end, max_results=max_results)
        metrics += _with_run_id(key, run_id, rows)
    return {"metrics": metrics} if metrics else {}


def get_metric_history_bulk(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """The older UI's unsampled bulk route (ajax only), `run_id` repeated; as MLflow's Flask handler does it."""
    run_ids = fields.string_list("run_id")
    if not run_ids:
        raise MlflowError.invalid_parameter("GetMetricHistoryBulk request must specify at least one run_id.")
    if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise MlflowError.invalid_parameter(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_PER_BULK_REQUEST} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )
    key = fields.string("metric_key")
    if key is None:
        raise MlflowError.invalid_parameter("GetMetricHistoryBulk request must specify a metric_key.")
    max_results = min(fields.integer("max_results", default=MAX_RESULTS_BULK_LEGACY) or 0, MAX_RESULTS_BULK_LEGACY)
    metrics: list[dict[str, Any]] = []
    for run_id in sorted(run_ids):  # unknown runs contribute no points, as in MLflow
        metrics += _with_run_id(key, run_id, metric_history(session, run_id, key, limit=max_results))
    return {"metrics": metrics[: max(max_results, 0)]}


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
