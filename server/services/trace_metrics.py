"""Rules of the trace-analysis RPCs: QueryTraceMetrics (the experiment Overview's charts) and
CalculateTraceFilterCorrelation (how strongly two trace filters go together, as NPMI).

Checks run in MLflow's order, with its wording (mlflow/entities/trace_metrics.py, mlflow/store/tracking/utils/
sql_trace_metrics_utils.py, mlflow/store/analytics/trace_correlation.py): each aggregation, then the view's metric,
aggregations and dimensions, the time range, the experiment ids, and each filter as the query applies it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from server.errors import ErrorCode, MlflowError
from server.services import validation
from server.store import trace_grammar as grammar
from server.store import trace_metrics as store
from server.store.paging import decode_offset, encode_offset
from server.store.search import Page
from server.store.trace_metrics import Aggregation, DataPoint

VIEW_TYPES = ("TRACES", "SPANS", "ASSESSMENTS")
AGGREGATION_TYPES = ("COUNT", "SUM", "AVG", "PERCENTILE", "MIN", "MAX")
MAX_RESULTS = 1000  # MLflow's default; here also the most one page holds
JEFFREYS_PRIOR = 0.5  # the smoothing MLflow adds to each cell of the 2x2 table for `npmi_smoothed`

_COUNT = frozenset({"COUNT"})
_SPREAD = frozenset({"AVG", "MIN", "MAX", "PERCENTILE"})
_AMOUNT = _SPREAD | {"SUM"}
_TOKENS = ("input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
_MODEL = frozenset({"span_model_name", "span_model_provider"})

# Per view, its metrics in MLflow's order (error messages list them so), each with the aggregations and dimensions
# it takes.
METRICS: dict[str, dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    "TRACES": {
        "trace_count": (_COUNT, frozenset({"trace_name", "trace_status"})),
        "session_count": (_COUNT, frozenset()),
        "latency": (_SPREAD, frozenset({"trace_name"})),
        **dict.fromkeys(_TOKENS, (_AMOUNT, frozenset({"trace_name"}))),
    },
    "SPANS": {
        "span_count": (_COUNT, frozenset({"span_name", "span_type", "span_status"}) | _MODEL),
        "latency": (_SPREAD, frozenset({"span_name", "span_status"})),
        **dict.fromkeys(("input_cost", "output_cost", "total_cost"), (_AMOUNT, _MODEL)),
    },
    "ASSESSMENTS": {
        "assessment_count": (_COUNT, frozenset({"assessment_name", "assessment_value"})),
        "assessment_value": (_SPREAD, frozenset({"assessment_name"})),
    },
}


@dataclass(frozen=True, slots=True)
class MetricsRequest:
    """A QueryTraceMetrics request as read off the wire (types checked, rules not yet)."""

    experiment_ids: Sequence[str]
    view_type: str
    metric_name: str
    aggregations: Sequence[tuple[str, float | None]]  # (aggregation type, percentile value)
    dimensions: Sequence[str]
    filters: Sequence[str]
    time_interval_seconds: int | None
    start_time_ms: int | None
    end_time_ms: int | None
    max_results: int | None
    page_token: str | None


def _aggregation(kind: str, percentile: float | None) -> Aggregation:
    """As MLflow's MetricAggregation checks itself (there a ValueError, which its server answers with a 500)."""
    if kind == "PERCENTILE":
        if percentile is None:
            raise MlflowError.invalid_parameter("Percentile value is required for PERCENTILE aggregation")
        if not 0 <= percentile <= 100:  # NaN included
            raise MlflowError.invalid_parameter(f"Percentile value must be between 0 and 100, got {percentile}")
    elif percentile is not None:
        raise MlflowError.invalid_parameter(
            f"Percentile value is only allowed for PERCENTILE aggregation type, got {kind}"
        )
    return Aggregation(kind, percentile)


def _check_metric(view: str, metric: str, aggregations: Sequence[Aggregation], dimensions: Sequence[str]) -> None:
    metrics = METRICS[view]
    if metric not in metrics:
        raise MlflowError.invalid_parameter(f"metric_name must be one of {list(metrics)}, got '{metric}'")
    allowed_aggregations, allowed_dimensions = metrics[metric]
    if refused := {a.kind for a in aggregations} - allowed_aggregations:
        raise MlflowError.invalid_parameter(
            f"Found invalid aggregation_type(s): {sorted(refused)}. "
            f"Supported aggregation types: {sorted(allowed_aggregations)}"
        )
    if refused := set(dimensions) - allowed_dimensions:
        raise MlflowError.invalid_parameter(
            f"Found invalid dimension(s): {sorted(refused)}. Supported dimensions: {sorted(allowed_dimensions)}"
        )


def _metrics_filter(text: str, view: str) -> grammar.MetricsFilter:
    parsed = grammar.parse_trace_metrics_filter(text)
    if parsed.view == "span" and view != "SPANS":
        raise MlflowError.invalid_parameter(f"Filtering by span is only supported for SPANS view type, got {view}")
    if parsed.view == "assessment" and view != "ASSESSMENTS":
        raise MlflowError.invalid_parameter(
            f"Filtering by assessment is only supported for ASSESSMENTS view type, got {view}"
        )
    return parsed


def query_trace_metrics(session: Session, request: MetricsRequest) -> Page[DataPoint]:
    aggregations = [_aggregation(kind, percentile) for kind, percentile in request.aggregations]
    view, interval = request.view_type, request.time_interval_seconds
    _check_metric(view, request.metric_name, aggregations, request.dimensions)
    if interval and (request.start_time_ms is None or request.end_time_ms is None):
        raise MlflowError.invalid_parameter(
            "start_time_ms and end_time_ms are required if time_interval_seconds is set"
        )
    if interval is not None and interval < 0:
        raise MlflowError.invalid_parameter(f"time_interval_seconds must be a positive integer, got {interval}")
    limit = MAX_RESULTS if request.max_results is None else min(request.max_results, MAX_RESULTS)
    if limit < 0:
        raise MlflowError.invalid_parameter(
            f"Invalid value {request.max_results} for parameter 'max_results' supplied. "
            "It must be a non-negative integer"
        )
    offset = decode_offset(request.page_token)
    experiment_ids = [validation.parse_experiment_id(e) for e in request.experiment_ids]
    filters = [_metrics_filter(text, view) for text in request.filters]
    if limit == 0:
        return Page([], None)
    if not aggregations:
        if not interval and not request.dimensions:
            # What MLflow's store answers when it is asked for a query without a single column (SQLAlchemy's words).
            raise MlflowError("Query contains no columns with which to SELECT from.", ErrorCode.BAD_REQUEST)
        return Page([], None)  # groups without values: no data points
    query = store.MetricQuery(
        view=view,
        metric=request.metric_name,
        aggregations=aggregations,
        dimensions=request.dimensions,
        filters=filters,
        experiment_ids=experiment_ids,
        bucket_seconds=interval or None,
        start_ms=request.start_time_ms,
        end_ms=request.end_time_ms,
        limit=limit,
        offset=offset,
    )
    points, more = store.query_metrics(session, query)
    return Page(points, encode_offset(offset + limit) if more else None)


@dataclass(frozen=True, slots=True)
class Correlation:
    npmi: float  # NaN when undefined
    npmi_smoothed: float  # NaN when undefined
    counts: store.CorrelationCounts


def calculate_filter_correlation(
    session: Session, experiment_ids: Sequence[str], filter1: str, filter2: str, base_filter: str | None
) -> Correlation:
    """NPMI between two trace filters over the experiments' traces (those matching `base_filter` when it is given),
    with MLflow's rules: undefined (NaN) without traces or when a filter matches none, -1 when they never meet."""
    ids = [validation.parse_experiment_id(e) for e in experiment_ids]
    # As MLflow does, each filter is tested on top of the base filter by joining the two strings, so an error in
    # either is reported as MLflow reports it.
    first = grammar.parse_trace_filter(f"{base_filter} and {filter1}" if base_filter else filter1)
    second = grammar.parse_trace_filter(f"{base_filter} and {filter2}" if base_filter else filter2)
    base = grammar.parse_trace_filter(base_filter) if base_filter else []
    counts = store.correlation_counts(session, ids, first, second, base)
    npmi, smoothed = npmi_from_counts(counts.joint, counts.filter1, counts.filter2, counts.total)
    return Correlation(npmi, smoothed, counts)


def npmi_from_counts(joint: int, count1: int, count2: int, total: int) -> tuple[float, float]:
    """(NPMI, NPMI with Jeffreys smoothing) of two events from their counts; NaN where undefined."""
    if total <= 0 or count1 == 0 or count2 == 0:
        return math.nan, math.nan
    n11, n10, n01 = joint, count1 - joint, count2 - joint
    n00 = total - count1 - count2 + joint
    if min(n11, n10, n01, n00) < 0:  # counts that cannot come from one population
        return math.nan, math.nan
    plain = -1.0 if joint == 0 else _npmi(n11, n10, n01, n00, 0)
    return plain, _npmi(n11, n10, n01, n00, JEFFREYS_PRIOR)


def _npmi(n11: float, n10: float, n01: float, n00: float, smoothing: float) -> float:
    """NPMI of a 2x2 contingency table with `smoothing` added to each cell: log(p(x,y) / (p(x) p(y))) / -log p(x,y),
    clamped to [-1, 1]."""
    s11, s10, s01, s00 = n11 + smoothing, n10 + smoothing, n01 + smoothing, n00 + smoothing
    total, first, second = s11 + s10 + s01 + s00, s11 + s10, s11 + s01
    if first <= 0 or second <= 0 or s11 <= 0:
        return math.nan
    if n10 == 0 and n01 == 0 and n00 == 0:  # the two always occur together (judged before smoothing)
        return 1.0
    pmi = (math.log(s11) + math.log(total)) - (math.log(first) + math.log(second))
    return max(-1.0, min(1.0, pmi / -(math.log(s11) - math.log(total))))
