"""Metric history reads within MLflow's limits: one run's series in pages, and many runs' series, sampled or
whole, for charts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.services.validation import API_DOCS_HINT
from server.store import runs as run_store
from server.store.metrics import metric_history, sampled_history
from server.store.paging import decode_offset, encode_offset

MAX_RUNS_PER_BULK_REQUEST = 100
MAX_RESULTS_PER_RUN = 2500
MAX_RESULTS_BULK_LEGACY = 25000

# (value, timestamp, step, is_nan), as the store reads them; with its run's id in the many-run reads.
Point = tuple[Any, ...]
RunPoint = tuple[str, Point]


def ensure_run_exists(session: Session, run_id: str) -> None:
    """An unknown run is a 404 before the paging fields are read."""
    run_store.ensure_run_exists(session, run_id)


def history_page(
    session: Session, run_id: str, key: str, *, max_results: int | None, page_token: str | None
) -> tuple[list[Point], str | None]:
    """One page of a run's series in MLflow's order, and the next page's token; the whole series without
    `max_results`. One point more than the page is read to learn whether another page follows."""
    if max_results is not None and max_results <= 0:
        raise MlflowError.invalid_parameter(f"max_results must be positive, got {max_results}")
    offset = decode_offset(page_token)
    rows = metric_history(session, run_id, key, offset=offset, limit=None if max_results is None else max_results + 1)
    if max_results is not None and len(rows) > max_results:
        return rows[:max_results], encode_offset(offset + max_results)
    return rows, None


def check_interval_run_ids(run_ids: Sequence[str]) -> None:
    """At most 100 runs a chart request; checked before the rest of the request is read."""
    if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise MlflowError.invalid_parameter(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_PER_BULK_REQUEST} run_ids. "
            f"Received {len(run_ids)} run_ids. {API_DOCS_HINT}"
        )


def sampled_histories(
    session: Session,
    run_ids: Sequence[str],
    key: str,
    *,
    start_step: int | None,
    end_step: int | None,
    max_results: int | None,
) -> list[RunPoint]:
    """Each run's series sampled to at most `max_results` points over the step range, runs in request order.
    Unknown runs simply contribute no points, as in MLflow."""
    if max_results is None or not 0 < max_results <= MAX_RESULTS_PER_RUN:
        raise MlflowError.invalid_parameter(f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}. {API_DOCS_HINT}")
    if start_step is not None and end_step is not None and start_step > end_step:
        raise MlflowError.invalid_parameter(
            f"end_step must be greater than start_step. Found start_step={start_step} and end_step={end_step}."
        )
    if (start_step is None) != (end_step is None):
        raise MlflowError.invalid_parameter("If either start step or end step are specified, both must be specified.")
    points: list[RunPoint] = []
    for run_id in run_ids:
        rows = sampled_history(session, run_id, key, start_step=start_step, end_step=end_step, max_results=max_results)
        points += [(run_id, row) for row in rows]
    return points


def check_bulk_run_ids(run_ids: Sequence[str]) -> None:
    """The older bulk route's limit, in its own words; checked before the rest of the request is read."""
    if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise MlflowError.invalid_parameter(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_PER_BULK_REQUEST} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )


def whole_histories(session: Session, run_ids: Sequence[str], key: str, *, max_results: int | None) -> list[RunPoint]:
    """The older UI's unsampled bulk read, as MLflow's Flask handler does it: runs in id order, at most 25,000
    points in all (unknown runs contribute none)."""
    limit = min(max_results or 0, MAX_RESULTS_BULK_LEGACY)
    points: list[RunPoint] = []
    for run_id in sorted(run_ids):
        points += [(run_id, row) for row in metric_history(session, run_id, key, limit=limit)]
    return points[: max(limit, 0)]
