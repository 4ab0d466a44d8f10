"""Trace analysis: QueryTraceMetrics, whose answers draw the web UI's experiment Overview charts, and
CalculateTraceFilterCorrelation.

Fields are read in the order of MLflow's request schema, so the first problem reported is the one MLflow reports.
Enums read as protobuf's JSON parser reads them for MLflow's server: by name or number, and an unknown name leaves
the field at its default (TRACES, COUNT), which is what MLflow then answers for.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.wire import Fields, invalid, missing
from server.auth import rules
from server.services import trace_metrics
from server.web.context import Context

_VIEW_NUMBERS = {name: number for number, name in enumerate(trace_metrics.VIEW_TYPES, start=1)}
_AGGREGATION_NUMBERS = {name: number for number, name in enumerate(trace_metrics.AGGREGATION_TYPES, start=1)}


def _string_array(fields: Fields, name: str, *, required: bool = False) -> list[str]:
    value = fields.raw(name)
    if value is None:
        if required:
            raise missing(name)
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid(name, value)
    return value


def _enum(value: Any, name: str, numbers: dict[str, int]) -> str:
    """A proto2 enum field from JSON; unset or an unknown name gives the enum's first value."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        for enum_name, number in numbers.items():
            if number == value:
                return enum_name
        raise invalid(name, value, f"Value must be one of {', '.join(numbers)}.")
    if value is None or isinstance(value, str):
        return value if value in numbers else next(iter(numbers))
    raise invalid(name, value)


def _aggregations(fields: Fields) -> list[tuple[str, float | None]]:
    value = fields.raw("aggregations")
    if value is None:
        raise missing("aggregations")
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise invalid("aggregations", value)
    read = []
    for item in value:
        entry = Fields(item)
        kind = _enum(entry.raw("aggregation_type"), "aggregation_type", _AGGREGATION_NUMBERS)
        read.append((kind, entry.double("percentile_value")))
    return read


def query_trace_metrics(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_ids = _string_array(fields, "experiment_ids", required=True)
    view = fields.raw("view_type")
    if view is None or view == "":
        raise missing("view_type")
    request = trace_metrics.MetricsRequest(
        experiment_ids=experiment_ids,
        view_type=_enum(view, "view_type", _VIEW_NUMBERS),
        metric_name=fields.required_string("metric_name"),
        aggregations=_aggregations(fields),
        dimensions=_string_array(fields, "dimensions"),
        filters=_string_array(fields, "filters"),
        time_interval_seconds=fields.integer("time_interval_seconds"),
        start_time_ms=fields.integer("start_time_ms"),
        end_time_ms=fields.integer("end_time_ms"),
        max_results=fields.integer("max_results"),
        page_token=fields.string("page_token"),
    )
    page = trace_metrics.query_trace_metrics(session, request)
    points = []
    for point in page.items:  # an empty map is left out, as protobuf's JSON leaves it out
        dimensions = {"dimensions": point.dimensions} if point.dimensions else {}
        points.append({"metric_name": request.metric_name, **dimensions, "values": point.values})
    answer: dict[str, Any] = {"data_points": points} if points else {}
    if page.next_page_token:
        answer["next_page_token"] = page.next_page_token
    return answer


def calculate_trace_filter_correlation(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    result = trace_metrics.calculate_filter_correlation(
        session,
        _string_array(fields, "experiment_ids", required=True),
        fields.required_string("filter_string1"),
        fields.required_string("filter_string2"),
        fields.string("base_filter"),
    )
    # JSON has no NaN: MLflow leaves an undefined score out, and its client reads a missing `npmi` as NaN.
    scores = {"npmi": result.npmi, "npmi_smoothed": result.npmi_smoothed}
    return {
        **{name: score for name, score in scores.items() if not math.isnan(score)},
        "filter1_count": result.counts.filter1,
        "filter2_count": result.counts.filter2,
        "joint_count": result.counts.joint,
        "total_count": result.counts.total,
    }


RPCS = [
    Rpc(
        "POST",
        "/mlflow/traces/metrics",
        query_trace_metrics,
        since=3,
        writes=False,
        access=rules.READABLE_EXPERIMENTS,
    ),
    Rpc(
        "POST",
        "/mlflow/traces/calculate-filter-correlation",
        calculate_trace_filter_correlation,
        since=3,
        writes=False,
        access=rules.READABLE_EXPERIMENTS,
    ),
]
