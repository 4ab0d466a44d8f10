"""Metric history RPCs: one series, paginated, and sampled series of many runs for charts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api.convert import metric_value
from server.api.routing import Context, Rpc
from server.api.runs import run_id_of
from server.api.wire import Fields
from server.errors import MlflowError
from server.store import runs as run_store
from server.store.metrics import metric_history, sampled_history
from server.store.paging import decode_offset, encode_offset

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


def _bulk(session: Session, run_ids: list[str], key: str, **window: Any) -> dict[str, Any]:
    points = sampled_history(session, run_ids, key, **window)
    if not points:
        return {}
    return {
        "metrics": [
            {"key": key, "value": metric_value(value, is_nan), "timestamp": ts, "step": step, "run_id": run_id}
            for run_id, value, ts, step, is_nan in points
        ]
    }


def get_metric_history_bulk_interval(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run_ids = fields.string_list("run_ids")
    key = fields.required_string("metric_key")
    if not run_ids:
        raise MlflowError.invalid_parameter("GetMetricHistoryBulkInterval request must specify at least one run_id.")
    if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise MlflowError.invalid_parameter(
            f"GetMetricHistoryBulkInterval request cannot specify more than {MAX_RUNS_PER_BULK_REQUEST} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )
    start, end = fields.integer("start_step"), fields.integer("end_step")
    if (start is None) != (end is None):
        raise MlflowError.invalid_parameter("If either start step or end step are specified, both must be specified.")
    if start is not None and end is not None and start > end:
        raise MlflowError.invalid_parameter("end_step must be greater than start_step. ")
    max_results = fields.integer("max_results", default=MAX_RESULTS_PER_RUN) or MAX_RESULTS_PER_RUN
    if not 0 < max_results <= MAX_RESULTS_PER_RUN:
        raise MlflowError.invalid_parameter(
            f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}. Received {max_results}."
        )
    return _bulk(session, run_ids, key, start_step=start, end_step=end, max_results=max_results)


def get_metric_history_bulk(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """The older UI's unsampled bulk route (ajax only), `run_id` repeated."""
    run_ids = fields.string_list("run_id")
    key = fields.required_string("metric_key")
    if not 0 < len(run_ids) <= MAX_RUNS_PER_BULK_REQUEST:
        raise MlflowError.invalid_parameter(f"GetMetricHistoryBulk needs 1 to {MAX_RUNS_PER_BULK_REQUEST} run_id.")
    max_results = min(fields.integer("max_results", default=MAX_RESULTS_BULK_LEGACY) or 1, MAX_RESULTS_BULK_LEGACY)
    return _bulk(session, run_ids, key, start_step=None, end_step=None, max_results=max_results)


RPCS = [
    Rpc("GET", "/mlflow/metrics/get-history", get_metric_history),
    Rpc("GET", "/mlflow/metrics/get-history-bulk-interval", get_metric_history_bulk_interval),
    Rpc("GET", "/mlflow/metrics/get-history-bulk", get_metric_history_bulk),
]
