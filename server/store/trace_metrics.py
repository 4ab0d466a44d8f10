"""Aggregates over stored traces and spans (QueryTraceMetrics) and the four counts a filter correlation needs.

One grouped statement per query, as MLflow's SQL store builds it (mlflow/store/tracking/utils/
sql_trace_metrics_utils.py): the experiments' traces (joined to their spans for the SPANS view), narrowed by the
filters and the time range, rows whose value or dimension is NULL left out, grouped by the time bucket and the
dimensions in that order, ordered the same way. The aggregates run in the database; the percentile is
PostgreSQL's `percentile_cont` and, on SQLite, the same interpolation as a registered aggregate (`dialect.py`).

Token counts are read from each trace's usage metadata (JSON), so those rows are aggregated here instead, group by
group as they stream in. The ASSESSMENTS view reads the valid feedback and expectations of the traces, in their
trace's time bucket, with the value as MLflow aggregates it (a number, a boolean as 1 or 0, "yes" or "no" as 1 or 0).
Runyard does not record costs or a span's model: those metrics and dimensions select no rows, which answers what
MLflow's store answers for an experiment with no such data (no data points, or a COUNT of 0 without grouping).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import Float, String, and_, case, cast, distinct, exists, false, func, null, or_, select, true
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from server.store import trace_grammar as grammar
from server.store import trace_search
from server.store.dialect import interpolated_percentile, percentile
from server.store.models import Assessment, Span, Trace, TraceMetadata, TraceRunLink, TraceTag
from server.store.search_grammar import Comparison

TIME_BUCKET = "time_bucket"
SESSION_METADATA = grammar.TRACE_SESSION
USAGE_METADATA = "mlflow.trace.tokenUsage"
TOKEN_METRICS = frozenset(
    {"input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"}
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class Aggregation:
    kind: str  # COUNT, SUM, AVG, PERCENTILE, MIN or MAX
    percentile: float | None = None

    @property
    def label(self) -> str:
        """The key of its value in a data point, as MLflow names it: `COUNT`, `AVG`, `P50.0`..."""
        return f"P{self.percentile}" if self.kind == "PERCENTILE" else self.kind


@dataclass(frozen=True, slots=True)
class MetricQuery:
    view: str  # TRACES, SPANS or ASSESSMENTS
    metric: str
    aggregations: Sequence[Aggregation]
    dimensions: Sequence[str]
    filters: Sequence[grammar.MetricsFilter]
    experiment_ids: Sequence[int]
    bucket_seconds: int | None  # None: no time buckets
    start_ms: int | None  # inclusive bounds on the trace's start time
    end_ms: int | None
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class DataPoint:
    dimensions: dict[str, str]
    values: dict[str, float]


_SPAN_LATENCY_MS = (Span.end_time_ns - Span.start_time_ns) // _NS_PER_MS  # whole ms, as MLflow computes it
# An assessment's value (JSON text) as a number, as MLflow's store keeps it beside the value: finite numbers as they
# are, booleans and the strings "yes" and "no" (any case) as 1 and 0, anything else none.
_ASSESSMENT_NUMBER = case(
    (Assessment.value == "true", 1.0),
    (Assessment.value == "false", 0.0),
    (func.lower(Assessment.value) == '"yes"', 1.0),
    (func.lower(Assessment.value) == '"no"', 0.0),
    (func.substr(Assessment.value, 1, 1).in_(list("-0123456789")), cast(Assessment.value, Float)),
    else_=null(),
)

# What each view's metrics aggregate; a metric missing here is one Runyard does not record (see the docstring).
_METRIC_COLUMNS: dict[tuple[str, str], Any] = {
    ("TRACES", "trace_count"): Trace.trace_id,
    ("TRACES", "latency"): Trace.execution_duration,
    ("SPANS", "span_count"): Span.span_id,
    ("SPANS", "latency"): _SPAN_LATENCY_MS,
    ("ASSESSMENTS", "assessment_count"): Assessment.assessment_id,
    ("ASSESSMENTS", "assessment_value"): _ASSESSMENT_NUMBER,
}
_DIMENSION_COLUMNS: dict[tuple[str, str], Any] = {
    ("TRACES", "trace_name"): Trace.name,
    ("TRACES", "trace_status"): Trace.state,
    ("SPANS", "span_name"): Span.name,
    ("SPANS", "span_type"): Span.span_type,
    ("SPANS", "span_status"): Span.status,
    ("ASSESSMENTS", "assessment_name"): Assessment.name,
    ("ASSESSMENTS", "assessment_value"): Assessment.value,
}
_SPAN_FILTER_COLUMNS: dict[str, ColumnElement[Any]] = {
    "name": Span.name.expression,
    "status": Span.status.expression,
    "type": Span.span_type.expression,
}


def _filter_condition(f: grammar.MetricsFilter) -> ColumnElement[bool]:
    if f.view == "span":
        return _SPAN_FILTER_COLUMNS[f.entity] == f.value
    if f.view == "assessment":  # assessment.name or assessment.type (feedback or expectation)
        return (Assessment.name if f.entity == "name" else Assessment.kind) == f.value
    if f.entity == "status":
        return Trace.state == f.value
    if f.entity == "tag" and f.key == grammar.TRACE_NAME_TAG:  # the name is a column of the trace row
        return Trace.name == f.value
    table = TraceTag if f.entity == "tag" else TraceMetadata
    condition: ColumnElement[bool] = exists().where(
        table.trace_id == Trace.trace_id, table.key == f.key, table.value == f.value
    )
    if f.entity == "metadata" and f.key == grammar.TRACE_SOURCE_RUN:  # or linked to the run afterwards
        linked = exists().where(TraceRunLink.trace_id == Trace.trace_id, TraceRunLink.run_id == f.value)
        condition = or_(condition, linked)
    return condition


def _bucket_start(timestamp: Any, size: int) -> Any:
    """The start of the `size`-wide bucket holding `timestamp`, in integers (exact, and right for negatives too)."""
    return timestamp - ((timestamp % size) + size) % size


def _aggregate(session: Session, aggregation: Aggregation, column: Any, *, distinct_values: bool) -> Any:
    if aggregation.kind == "COUNT":
        return func.count(distinct(column) if distinct_values else column)
    if aggregation.kind == "PERCENTILE":
        assert aggregation.percentile is not None
        return percentile(session, column, aggregation.percentile)
    functions: dict[str, Callable[[Any], Any]] = {"SUM": func.sum, "AVG": func.avg, "MIN": func.min, "MAX": func.max}
    return functions[aggregation.kind](column)


def query_metrics(session: Session, query: MetricQuery) -> tuple[list[DataPoint], bool]:
    """The data points of groups `offset` to `offset + limit`, and whether there are groups after those."""
    spans = query.view == "SPANS"
    conditions: list[ColumnElement[bool]] = [Trace.experiment_id.in_(list(query.experiment_ids))]
    conditions.extend(_filter_condition(f) for f in query.filters)
    if query.start_ms is not None:
        conditions.append(Trace.request_time >= query.start_ms)
    if query.end_ms is not None:
        conditions.append(Trace.request_time <= query.end_ms)

    metadata = aliased(TraceMetadata)
    is_session_count = (query.view, query.metric) == ("TRACES", "session_count")
    is_tokens = query.view == "TRACES" and query.metric in TOKEN_METRICS
    if is_session_count or is_tokens:
        value: Any = metadata.value
    elif (query.view, query.metric) in _METRIC_COLUMNS:
        value = _METRIC_COLUMNS[query.view, query.metric]
    else:
        value, conditions = cast(null(), Float), [false()]
    conditions.append(value.is_not(None))

    groups: list[tuple[str, Any]] = []
    if query.bucket_seconds:
        bucket_ms = query.bucket_seconds * 1000
        if spans:  # a span's bucket is that of its own start
            start = _bucket_start(Span.start_time_ns, bucket_ms * _NS_PER_MS) // _NS_PER_MS
        else:
            start = _bucket_start(Trace.request_time, bucket_ms)
        groups.append((TIME_BUCKET, start))
    for dimension in dict.fromkeys(query.dimensions):
        column = _DIMENSION_COLUMNS.get((query.view, dimension))
        if column is None:
            column, conditions = cast(null(), String), [false()]
        conditions.append(column.is_not(None))
        groups.append((dimension, column))

    group_columns = [column for _, column in groups]
    if is_tokens:
        statement = select(*group_columns, value).select_from(Trace)
    else:
        aggregates = [_aggregate(session, a, value, distinct_values=is_session_count) for a in query.aggregations]
        statement = select(*group_columns, *aggregates).select_from(Trace)
    if spans:
        statement = statement.join(Span, Span.trace_id == Trace.trace_id)
    if query.view == "ASSESSMENTS":  # an overridden assessment no longer counts, its override does
        statement = statement.join(Assessment, and_(Assessment.trace_id == Trace.trace_id, Assessment.valid.is_(True)))
    if is_session_count or is_tokens:
        key = SESSION_METADATA if is_session_count else USAGE_METADATA
        statement = statement.join(metadata, and_(metadata.trace_id == Trace.trace_id, metadata.key == key))
    statement = statement.where(*conditions)
    if is_tokens:
        return _token_metrics(session, statement.order_by(*group_columns), groups, query)
    statement = statement.group_by(*group_columns).order_by(*group_columns).limit(query.limit + 1).offset(query.offset)
    rows = session.execute(statement).all()
    points = [point for row in rows[: query.limit] if (point := _data_point(row, groups, query.aggregations))]
    return points, len(rows) > query.limit


def token_count(usage: str, key: str) -> int | None:
    """One count of a trace's token-usage metadata (JSON) as MLflow's store reads it into its columns: a whole
    number in 64 bits, given as a number or a numeric string; anything else counts as absent."""
    try:
        parsed = orjson.loads(usage)
    except orjson.JSONDecodeError:
        return None
    value = parsed.get(key) if isinstance(parsed, dict) else None
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value() or not _INT64_MIN <= number <= _INT64_MAX:
        return None
    return int(number)


def _aggregated(aggregation: Aggregation, ordered: Sequence[int]) -> float:
    match aggregation.kind:
        case "SUM":
            return float(sum(ordered))
        case "AVG":
            return sum(ordered) / len(ordered)
        case "MIN":
            return float(ordered[0])
        case "MAX":
            return float(ordered[-1])
    assert aggregation.percentile is not None
    return interpolated_percentile(ordered, aggregation.percentile)


def _token_metrics(
    session: Session, statement: Any, groups: Sequence[tuple[str, Any]], query: MetricQuery
) -> tuple[list[DataPoint], bool]:
    """Token counts live in each trace's usage metadata as JSON, which neither database can be trusted to parse
    (one malformed value would fail the query), so the rows of the query, one per trace and ordered by group,
    stream through here and each group is aggregated as it ends; only one group's counts are held at a time."""
    width = len(groups)
    points: list[DataPoint] = []
    skipped = 0
    with closing(session.execute(statement.execution_options(yield_per=1000))) as rows:
        for key, members in itertools.groupby(rows, key=lambda row: tuple(row[:width])):
            counts = sorted(n for row in members if (n := token_count(row[width], query.metric)) is not None)
            if not counts:  # as in MLflow, where a NULL count never makes a group
                continue
            if skipped < query.offset:
                skipped += 1
                continue
            if len(points) == query.limit:
                return points, True
            aggregated = (*key, *(_aggregated(a, counts) for a in query.aggregations))
            if point := _data_point(aggregated, groups, query.aggregations):
                points.append(point)
    return points, False


def _data_point(row: Any, groups: Sequence[tuple[str, Any]], aggregations: Sequence[Aggregation]) -> DataPoint | None:
    """A result row as MLflow renders it: the time bucket in ISO 8601 (UTC), NULL aggregates left out, and no data
    point for a row without any value."""
    dimensions: dict[str, str] = {}
    for i, (name, _) in enumerate(groups):
        if row[i] is None:
            return None
        if name == TIME_BUCKET:
            dimensions[name] = datetime.fromtimestamp(int(row[i]) / 1000, tz=UTC).isoformat()
        else:
            dimensions[name] = str(row[i])
    computed = zip(aggregations, row[len(groups) :], strict=True)
    values = {a.label: float(v) for a, v in computed if v is not None}
    return DataPoint(dimensions, values) if values else None


@dataclass(frozen=True, slots=True)
class CorrelationCounts:
    total: int
    filter1: int
    filter2: int
    joint: int


def correlation_counts(
    session: Session,
    experiment_ids: Sequence[int],
    filter1: Sequence[Comparison],
    filter2: Sequence[Comparison],
    base: Sequence[Comparison],
) -> CorrelationCounts:
    """Among the experiments' traces that match `base` (all of them when it is empty): how many there are, how many
    match each filter, and how many match both, in one scan."""
    first, second = trace_search.matching(filter1), trace_search.matching(filter2)
    statement = (
        select(
            func.count(),
            func.count(case((first, 1))),
            func.count(case((second, 1))),
            func.count(case((and_(first, second), 1))),
        )
        .select_from(Trace)
        .where(Trace.experiment_id.in_(list(experiment_ids)), trace_search.matching(base) if base else true())
    )
    total, one, two, both = session.execute(statement).one()
    return CorrelationCounts(int(total), int(one), int(two), int(both))
