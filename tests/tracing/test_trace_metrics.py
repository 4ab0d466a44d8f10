"""QueryTraceMetrics, which draws the web UI's experiment Overview, and CalculateTraceFilterCorrelation, over traces
with known timings sent as OTLP spans (and a few made by the stock client), on SQLite and PostgreSQL: counts, latency
aggregates and percentiles, grouping by name, status and time bucket, filters, pages, NPMI scores and their edges,
and MLflow's answers for metrics without data and for bad requests. Every expectation is computed here from the
traces the test sends."""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
from mlflow.store.analytics.trace_correlation import calculate_npmi_from_counts
from mlflow.store.tracking.utils.trace_analytics import analytics_columns_from_metadata
from mlflow.tracing.client import TracingClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from server.services.trace_metrics import npmi_from_counts
from server.store.trace_metrics import token_count

METRICS = "/api/3.0/mlflow/traces/metrics"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
DAY0 = 1_699_920_000_000  # 2023-11-14T00:00:00Z
_STATUS = {"OK": Status.STATUS_CODE_OK, "ERROR": Status.STATUS_CODE_ERROR, "UNSET": Status.STATUS_CODE_UNSET}


@dataclass(frozen=True)
class Child:
    name: str
    span_type: str
    status: str
    offset_ms: int  # after the root's start
    ms: int


@dataclass(frozen=True)
class Sent:
    name: str
    status: str
    start_ms: int
    ms: int
    children: tuple[Child, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


TRACES = [
    Sent(
        "answer",
        "OK",
        DAY0 + 1 * HOUR_MS,
        100,
        (Child("lookup", "TOOL", "OK", 5, 10), Child("lookup", "TOOL", "ERROR", 20, 30)),
        {"team": "red"},
    ),
    Sent("answer", "OK", DAY0 + 5 * HOUR_MS, 200, (Child("calc", "TOOL", "OK", 1, 20),), {"team": "blue"}),
    Sent(
        "answer",
        "ERROR",
        DAY0 + DAY_MS + 2 * HOUR_MS,
        400,
        (Child("lookup", "TOOL", "OK", 0, 40), Child("llm", "LLM", "OK", 50, 50)),
        {"team": "red"},
    ),
    Sent("search", "OK", DAY0 + DAY_MS + 3 * HOUR_MS + 59 * 60_000, 50),
    Sent("search", "ERROR", DAY0 + 2 * DAY_MS + 4 * HOUR_MS, 1000, (Child("calc", "TOOL", "ERROR", 3, 5),)),
]
RANGE = {"start_time_ms": DAY0, "end_time_ms": DAY0 + 3 * DAY_MS - 1}


def _export(traces: list[Sent]) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for sent in traces:
        trace_id, root_id = os.urandom(16), os.urandom(8)
        root = scope.spans.add()
        root.trace_id, root.span_id, root.name = trace_id, root_id, sent.name
        root.start_time_unix_nano = sent.start_ms * 1_000_000
        root.end_time_unix_nano = (sent.start_ms + sent.ms) * 1_000_000
        root.status.code = _STATUS[sent.status]
        for key, value in sent.tags.items():
            attribute = root.attributes.add()
            attribute.key, attribute.value.string_value = f"mlflow.traceTag.{key}", value
        for child in sent.children:
            span = scope.spans.add()
            span.trace_id, span.span_id, span.parent_span_id, span.name = trace_id, os.urandom(8), root_id, child.name
            span.start_time_unix_nano = (sent.start_ms + child.offset_ms) * 1_000_000
            span.end_time_unix_nano = (sent.start_ms + child.offset_ms + child.ms) * 1_000_000
            span.status.code = _STATUS[child.status]
            attribute = span.attributes.add()
            attribute.key, attribute.value.string_value = "mlflow.spanType", f'"{child.span_type}"'  # as MLflow sends
    return request.SerializeToString()


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str, http: httpx.Client) -> str:
    experiment_id = client.create_experiment(unique_name)
    headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id}
    assert http.post("/v1/traces", content=_export(TRACES), headers=headers).status_code == 200
    return experiment_id


def _ask(http: httpx.Client, experiment_id: str, path: str = METRICS, **fields: Any) -> dict[str, Any]:
    body = {"experiment_ids": [experiment_id], "view_type": "TRACES", **fields}
    response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _points(answer: dict[str, Any]) -> list[tuple[dict[str, str], dict[str, float]]]:
    return [(point.get("dimensions", {}), point["values"]) for point in answer.get("data_points", [])]


def _count(http: httpx.Client, experiment_id: str, **fields: Any) -> list[tuple[dict[str, str], dict[str, float]]]:
    return _points(
        _ask(http, experiment_id, metric_name="trace_count", aggregations=[{"aggregation_type": "COUNT"}], **fields)
    )


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms // DAY_MS * DAY_MS / 1000, tz=UTC).isoformat()


def test_trace_counts_overall_and_by_status_and_name(http: httpx.Client, experiment_id: str) -> None:
    assert _count(http, experiment_id) == [({}, {"COUNT": len(TRACES)})]
    by_status = Counter(t.status for t in TRACES)
    assert _count(http, experiment_id, dimensions=["trace_status"]) == [
        ({"trace_status": status}, {"COUNT": by_status[status]}) for status in sorted(by_status)
    ]
    by_both = Counter((t.name, t.status) for t in TRACES)
    assert _count(http, experiment_id, dimensions=["trace_name", "trace_status"]) == [
        ({"trace_name": name, "trace_status": status}, {"COUNT": n}) for (name, status), n in sorted(by_both.items())
    ]


def test_latency_average_extremes_and_percentiles_per_name(http: httpx.Client, experiment_id: str) -> None:
    percents = [0, 25, 50, 90, 99, 100, 33.3]
    aggregations = [{"aggregation_type": "AVG"}, {"aggregation_type": "MIN"}, {"aggregation_type": "MAX"}]
    aggregations += [{"aggregation_type": "PERCENTILE", "percentile_value": p} for p in percents]
    for dimensions in ([], ["trace_name"]):
        answer = _ask(http, experiment_id, metric_name="latency", aggregations=aggregations, dimensions=dimensions)
        names = sorted({t.name for t in TRACES}) if dimensions else [None]
        assert [dims for dims, _ in _points(answer)] == [{"trace_name": n} if n else {} for n in names]
        for (_, values), name in zip(_points(answer), names, strict=True):
            latencies = [t.ms for t in TRACES if name in (None, t.name)]
            expected = {"AVG": np.mean(latencies), "MIN": min(latencies), "MAX": max(latencies)}
            expected |= {f"P{float(p)}": np.percentile(latencies, p) for p in percents}  # linear interpolation
            assert values == pytest.approx(expected)


def test_daily_and_hourly_buckets_within_the_time_range(http: httpx.Client, experiment_id: str) -> None:
    daily = _count(http, experiment_id, dimensions=["trace_status"], time_interval_seconds=86400, **RANGE)
    by_day = Counter((_day(t.start_ms), t.status) for t in TRACES)
    assert daily == [
        ({"time_bucket": day, "trace_status": status}, {"COUNT": n}) for (day, status), n in sorted(by_day.items())
    ]
    assert daily[0][0]["time_bucket"] == "2023-11-14T00:00:00+00:00"

    hourly = _count(http, experiment_id, time_interval_seconds=3600, **RANGE)
    hours = Counter(datetime.fromtimestamp(t.start_ms // HOUR_MS * 3600, tz=UTC).isoformat() for t in TRACES)
    assert hourly == [({"time_bucket": hour}, {"COUNT": n}) for hour, n in sorted(hours.items())]

    # Both ends of the range are inclusive, on the trace's start time.
    second = sorted(t.start_ms for t in TRACES)[1]
    window = {"start_time_ms": second, "end_time_ms": TRACES[3].start_ms}
    assert _count(http, experiment_id, **window) == [({}, {"COUNT": 3})]
    p50 = {"aggregation_type": "PERCENTILE", "percentile_value": 50}
    daily_p50 = _ask(
        http, experiment_id, metric_name="latency", aggregations=[p50], time_interval_seconds=86400, **RANGE
    )
    expected = {}
    for t in TRACES:
        expected.setdefault(_day(t.start_ms), []).append(t.ms)
    assert _points(daily_p50) == [({"time_bucket": d}, {"P50.0": np.percentile(v, 50)}) for d, v in expected.items()]


def test_filters_on_status_tags_and_name(http: httpx.Client, experiment_id: str) -> None:
    assert _count(http, experiment_id, filters=["trace.status = 'ERROR'"]) == [({}, {"COUNT": 2})]
    assert _count(http, experiment_id, filters=['trace.tag.team = "red"']) == [({}, {"COUNT": 2})]
    red_ok = ["trace.tag.team = 'red'", "trace.status = 'OK'"]  # each filter one clause; together AND-ed
    assert _count(http, experiment_id, filters=red_ok) == [({}, {"COUNT": 1})]
    by_name = _count(
        http, experiment_id, filters=["trace.tag.mlflow.traceName = 'search'"], dimensions=["trace_status"]
    )
    assert by_name == [({"trace_status": "ERROR"}, {"COUNT": 1}), ({"trace_status": "OK"}, {"COUNT": 1})]
    assert _count(http, experiment_id, filters=["trace.metadata.nobody = 'x'"], dimensions=["trace_name"]) == []


def test_span_counts_and_latency_of_tool_calls(http: httpx.Client, experiment_id: str) -> None:
    spans = [(t, c) for t in TRACES for c in t.children]
    tools = [(t, c) for t, c in spans if c.span_type == "TOOL"]
    tool_filter = ['span.type = "TOOL"']  # what the Overview's "Tool calls" tab asks
    answer = _ask(
        http,
        experiment_id,
        view_type="SPANS",
        metric_name="span_count",
        aggregations=[{"aggregation_type": "COUNT"}],
        filters=tool_filter,
        dimensions=["span_name", "span_status"],
    )
    counted = Counter((c.name, c.status) for _, c in tools)
    assert _points(answer) == [
        ({"span_name": name, "span_status": status}, {"COUNT": n}) for (name, status), n in sorted(counted.items())
    ]
    all_spans = _ask(
        http, experiment_id, view_type="SPANS", metric_name="span_count", aggregations=[{"aggregation_type": "COUNT"}]
    )
    assert _points(all_spans) == [({}, {"COUNT": len(spans) + len(TRACES)})]  # the roots are spans too

    latency = _ask(
        http,
        experiment_id,
        view_type="SPANS",
        metric_name="latency",
        aggregations=[{"aggregation_type": "AVG"}, {"aggregation_type": "PERCENTILE", "percentile_value": 90}],
        filters=tool_filter,
        dimensions=["span_name"],
        time_interval_seconds=86400,
        **RANGE,
    )
    groups: dict[tuple[str, str], list[int]] = {}
    for t, c in tools:  # a span's bucket is that of its own start
        groups.setdefault((_day(t.start_ms + c.offset_ms), c.name), []).append(c.ms)
    assert _points(latency) == [
        ({"time_bucket": day, "span_name": name}, pytest.approx({"AVG": np.mean(v), "P90.0": np.percentile(v, 90)}))
        for (day, name), v in sorted(groups.items())
    ]
    only_failed_traces = _ask(
        http,
        experiment_id,
        view_type="SPANS",
        metric_name="span_count",
        aggregations=[{"aggregation_type": "COUNT"}],
        filters=["trace.status = 'ERROR'", "span.status = 'OK'"],
        dimensions=["span_type"],
    )
    failed = Counter(c.span_type for t, c in spans if t.status == "ERROR" and c.status == "OK")
    assert _points(only_failed_traces) == [({"span_type": k}, {"COUNT": n}) for k, n in sorted(failed.items())]


def test_metrics_without_recorded_data_answer_as_mlflow_does_for_none(http: httpx.Client, experiment_id: str) -> None:
    """Costs and span models are not recorded here, and these traces have no assessments; MLflow's store answers the
    same for an experiment with none of them: no data points, except a COUNT without grouping, which is 0."""
    tokens = _ask(http, experiment_id, metric_name="total_tokens", aggregations=[{"aggregation_type": "SUM"}])
    assert tokens == {}  # these traces came without usage metadata
    cost = _ask(
        http,
        experiment_id,
        view_type="SPANS",
        metric_name="total_cost",
        aggregations=[{"aggregation_type": "SUM"}],
        dimensions=["span_model_name"],
        time_interval_seconds=86400,
        **RANGE,
    )
    assert cost == {}
    count = {"aggregations": [{"aggregation_type": "COUNT"}]}
    assessments = _ask(http, experiment_id, view_type="ASSESSMENTS", metric_name="assessment_count", **count)
    assert _points(assessments) == [({}, {"COUNT": 0.0})]
    feedback = ['assessment.type = "feedback"']
    named = _ask(
        http,
        experiment_id,
        view_type="ASSESSMENTS",
        metric_name="assessment_count",
        filters=feedback,
        dimensions=["assessment_name"],
        **count,
    )
    assert named == {}
    assert _count(http, experiment_id, **{"start_time_ms": 0, "end_time_ms": DAY0 - 1}) == [({}, {"COUNT": 0.0})]
    assert _count(http, experiment_id, dimensions=["trace_status"], **{"start_time_ms": 0, "end_time_ms": 1}) == []


def test_groups_come_in_pages(http: httpx.Client, experiment_id: str) -> None:
    everything = _count(http, experiment_id, dimensions=["trace_name", "trace_status"])
    assert len(everything) == 4
    pages, token = [], None
    while True:
        answer = _ask(
            http,
            experiment_id,
            metric_name="trace_count",
            aggregations=[{"aggregation_type": "COUNT"}],
            dimensions=["trace_name", "trace_status"],
            max_results=3,
            **({"page_token": token} if token else {}),
        )
        pages.append(_points(answer))
        token = answer.get("next_page_token")
        if not token:
            break
    assert [len(page) for page in pages] == [3, 1]
    assert [point for page in pages for point in page] == everything
    assert _count(http, experiment_id, max_results=0) == []


def test_the_ui_twin_answers_the_same(http: httpx.Client, experiment_id: str) -> None:
    query = {
        "metric_name": "trace_count",
        "aggregations": [{"aggregation_type": "COUNT"}],
        "dimensions": ["trace_name"],
    }
    api = _ask(http, experiment_id, **query)
    assert _ask(http, experiment_id, path="/ajax-api/3.0/mlflow/traces/metrics", **query) == api


def test_the_stock_client_reads_sessions_and_latency_of_its_own_traces(client: MlflowClient, unique_name: str) -> None:
    experiment_id = mlflow.set_experiment(unique_name).experiment_id

    @mlflow.trace(name="chat")
    def chat(session: str, message: str) -> str:
        mlflow.update_current_trace(session_id=session)
        return message.upper()

    for session, message in [("s-1", "hi"), ("s-1", "again"), ("s-2", "hello")]:
        chat(session, message)
    mlflow.flush_trace_async_logging(terminate=False)
    traces = mlflow.search_traces(locations=[experiment_id], return_type="list")
    assert len(traces) == 3

    store = client._tracking_client.store  # the client's REST store, which parses the answer as MLflow's does
    sessions = store.query_trace_metrics(
        experiment_ids=[experiment_id],
        view_type=MetricViewType.TRACES,
        metric_name="session_count",
        aggregations=[MetricAggregation(AggregationType.COUNT)],
    )
    assert [(p.metric_name, p.dimensions, p.values) for p in sessions] == [("session_count", {}, {"COUNT": 2.0})]
    assert sessions.token is None

    latencies = [t.info.execution_time_ms for t in traces]
    latency = store.query_trace_metrics(
        experiment_ids=[experiment_id],
        view_type=MetricViewType.TRACES,
        metric_name="latency",
        aggregations=[MetricAggregation(AggregationType.MAX), MetricAggregation(AggregationType.PERCENTILE, 50)],
        dimensions=["trace_name"],
    )
    assert [(p.dimensions, p.values) for p in latency] == [
        ({"trace_name": "chat"}, {"MAX": max(latencies), "P50.0": pytest.approx(np.percentile(latencies, 50))})
    ]


def test_assessment_counts_and_values_of_the_stock_clients_feedback(client: MlflowClient, unique_name: str) -> None:
    """The Overview's quality charts: valid feedback and expectations counted by name and value, and their values
    averaged as MLflow aggregates them (booleans and yes/no as 1 or 0, text left out)."""
    experiment_id = mlflow.set_experiment(unique_name).experiment_id
    trace_ids = []
    for question in ("a", "b", "c"):
        with mlflow.start_span("ask") as span:
            span.set_inputs({"q": question})
        trace_ids.append(span.trace_id)
    mlflow.flush_trace_async_logging(terminate=False)
    judged = zip(trace_ids, (True, False, True), (0.9, 0.4, 0.5), ("yes", "No", "?"), strict=True)
    for trace_id, correct, score, verdict in judged:
        mlflow.log_feedback(trace_id=trace_id, name="correct", value=correct)
        mlflow.log_feedback(trace_id=trace_id, name="score", value=score)
        mlflow.log_feedback(trace_id=trace_id, name="verdict", value=verdict)
    mlflow.log_expectation(trace_id=trace_ids[0], name="answer", value="Paris")
    wrong = mlflow.log_feedback(trace_id=trace_ids[1], name="score", value=0.1)
    mlflow.override_feedback(trace_id=trace_ids[1], assessment_id=wrong.assessment_id, value=0.7)  # 0.1 stops counting

    store = client._tracking_client.store

    def ask(metric: str, aggregations: list[MetricAggregation], **fields: Any) -> list[tuple[dict[str, str], Any]]:
        points = store.query_trace_metrics(
            experiment_ids=[experiment_id],
            view_type=MetricViewType.ASSESSMENTS,
            metric_name=metric,
            aggregations=aggregations,
            **fields,
        )
        return [(p.dimensions, p.values) for p in points]

    count = [MetricAggregation(AggregationType.COUNT)]
    assert ask("assessment_count", count) == [({}, {"COUNT": 11.0})]
    assert ask("assessment_count", count, dimensions=["assessment_name"]) == [
        ({"assessment_name": "answer"}, {"COUNT": 1.0}),
        ({"assessment_name": "correct"}, {"COUNT": 3.0}),
        ({"assessment_name": "score"}, {"COUNT": 4.0}),
        ({"assessment_name": "verdict"}, {"COUNT": 3.0}),
    ]
    by_value = ask(
        "assessment_count",
        count,
        dimensions=["assessment_name", "assessment_value"],
        filters=['assessment.name = "correct"'],
    )
    assert by_value == [
        ({"assessment_name": "correct", "assessment_value": "false"}, {"COUNT": 1.0}),
        ({"assessment_name": "correct", "assessment_value": "true"}, {"COUNT": 2.0}),
    ]
    assert ask("assessment_count", count, filters=['assessment.type = "expectation"']) == [({}, {"COUNT": 1.0})]

    spread = [MetricAggregation(AggregationType.AVG), MetricAggregation(AggregationType.MAX)]
    values = ask("assessment_value", spread, dimensions=["assessment_name"])
    assert values == [
        ({"assessment_name": "correct"}, {"AVG": pytest.approx(2 / 3), "MAX": 1.0}),
        ({"assessment_name": "score"}, {"AVG": pytest.approx((0.9 + 0.4 + 0.5 + 0.7) / 4), "MAX": 0.9}),
        ({"assessment_name": "verdict"}, {"AVG": 0.5, "MAX": 1.0}),  # "yes" and "No"; "?" is no number
    ]


def test_an_experiment_without_traces_counts_zero(client: MlflowClient, unique_name: str, http: httpx.Client) -> None:
    experiment_id = client.create_experiment(unique_name)
    assert _count(http, experiment_id) == [({}, {"COUNT": 0.0})]
    assert _count(http, experiment_id, dimensions=["trace_status"]) == []
    latency = _ask(http, experiment_id, metric_name="latency", aggregations=[{"aggregation_type": "AVG"}])
    assert latency == {}


# --- refused requests: MLflow's checks, in its order and with its words ------------------------------------------

QUERY = {
    "experiment_ids": ["0"],
    "view_type": "TRACES",
    "metric_name": "latency",
    "aggregations": [{"aggregation_type": "AVG"}],
}
HINT = "See the API docs for more information about request parameters."
SPREAD = "Supported aggregation types: ['AVG', 'MAX', 'MIN', 'PERCENTILE']"
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"experiment_ids": None}, f"Missing value for required parameter 'experiment_ids'. {HINT}"),
    ({"view_type": None}, f"Missing value for required parameter 'view_type'. {HINT}"),
    ({"metric_name": None}, f"Missing value for required parameter 'metric_name'. {HINT}"),
    ({"aggregations": None}, f"Missing value for required parameter 'aggregations'. {HINT}"),
    (
        {"experiment_ids": "0"},
        f"Invalid value \"0\" for parameter 'experiment_ids' supplied: Hint: Value was of type 'str'. {HINT}",
    ),
    (
        {"dimensions": "trace_name"},
        f"Invalid value \"trace_name\" for parameter 'dimensions' supplied: Hint: Value was of type 'str'. {HINT}",
    ),
    (
        {"metric_name": "tokens"},
        "metric_name must be one of ['trace_count', 'session_count', 'latency', 'input_tokens', 'output_tokens', "
        "'total_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'], got 'tokens'",
    ),
    (
        {"view_type": "SPANS", "metric_name": "trace_count"},
        "metric_name must be one of ['span_count', 'latency', 'input_cost', 'output_cost', 'total_cost'], "
        "got 'trace_count'",
    ),
    (
        {"aggregations": [{"aggregation_type": "COUNT"}, {"aggregation_type": "SUM"}]},
        f"Found invalid aggregation_type(s): ['COUNT', 'SUM']. {SPREAD}",
    ),
    (
        # An aggregation type protobuf does not know is left unset, which reads as COUNT: so MLflow answers.
        {"aggregations": [{"aggregation_type": "MEDIAN"}]},
        f"Found invalid aggregation_type(s): ['COUNT']. {SPREAD}",
    ),
    (
        {"dimensions": ["trace_status", "span_name"]},
        "Found invalid dimension(s): ['span_name', 'trace_status']. Supported dimensions: ['trace_name']",
    ),
    ({"aggregations": [{"aggregation_type": "PERCENTILE"}]}, "Percentile value is required for PERCENTILE aggregation"),
    (
        {"aggregations": [{"aggregation_type": "PERCENTILE", "percentile_value": 100.5}]},
        "Percentile value must be between 0 and 100, got 100.5",
    ),
    (
        {"aggregations": [{"aggregation_type": "PERCENTILE", "percentile_value": -1}]},
        "Percentile value must be between 0 and 100, got -1.0",
    ),
    (
        {"aggregations": [{"aggregation_type": "AVG", "percentile_value": 50}]},
        "Percentile value is only allowed for PERCENTILE aggregation type, got AVG",
    ),
    (
        {"time_interval_seconds": 3600, "start_time_ms": 0},
        "start_time_ms and end_time_ms are required if time_interval_seconds is set",
    ),
    ({"experiment_ids": ["abc"]}, "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."),
    (
        {"filters": ["status = 'OK'"]},
        "Invalid identifier 'status'. Columns should be specified as 'trace.<key>', 'span.<key>', 'assessment.<key>'.",
    ),
    ({"filters": ["trace.status != 'OK'"]}, "Invalid comparator: '!=', only '=' operator is supported"),
    ({"filters": ["trace.status = 'OK' AND trace.status = 'ERROR'"]}, "Invalid clause(s) in filter string: AND"),
    ({"filters": ["span.type = 'TOOL'"]}, "Filtering by span is only supported for SPANS view type, got TRACES"),
    ({"filters": ["trace.tag = 'x'"]}, "Filtering by tag requires a key, e.g. 'trace.tag.<key> = <value>'"),
]


@pytest.mark.parametrize(("change", "message"), REFUSED, ids=[m[:60] for _, m in REFUSED])
def test_refused_queries_get_mlflows_message(http: httpx.Client, change: dict[str, Any], message: str) -> None:
    body = {k: v for k, v in {**QUERY, **change}.items() if v is not None}
    response = http.post(METRICS, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert response.json()["message"] == message


def test_a_query_without_any_column_is_a_bad_request_as_in_mlflow(http: httpx.Client) -> None:
    response = http.post(METRICS, json={**QUERY, "metric_name": "trace_count", "aggregations": []})
    assert response.status_code == 400
    assert response.json()["error_code"] == "BAD_REQUEST"
    grouped = {**QUERY, "metric_name": "trace_count", "aggregations": [], "dimensions": ["trace_status"]}
    assert http.post(METRICS, json=grouped).json() == {}


def test_nan_percentile_is_refused(http: httpx.Client) -> None:
    body = {**QUERY, "aggregations": [{"aggregation_type": "PERCENTILE", "percentile_value": "NaN"}]}
    response = http.post(METRICS, json=body)
    assert response.status_code == 400
    assert response.json()["message"] == "Percentile value must be between 0 and 100, got nan"


# --- CalculateTraceFilterCorrelation -------------------------------------------------------------------------------

CORRELATION = "/api/3.0/mlflow/traces/calculate-filter-correlation"


def _npmi(joint: int, first: int, second: int, total: int, smoothing: float = 0.0) -> float:
    """log(p(x,y) / (p(x) p(y))) / -log(p(x,y)) over the 2x2 table, `smoothing` added to each of its cells."""
    both, only_first, only_second = joint + smoothing, first - joint + smoothing, second - joint + smoothing
    neither = total - first - second + joint + smoothing
    n = both + only_first + only_second + neither
    p_both, p_first, p_second = both / n, (both + only_first) / n, (both + only_second) / n
    return math.log(p_both / (p_first * p_second)) / -math.log(p_both)


def _correlate(http: httpx.Client, experiment_id: str, first: str, second: str, base: str | None = None) -> dict:
    body = {"experiment_ids": [experiment_id], "filter_string1": first, "filter_string2": second}
    response = http.post(CORRELATION, json=body if base is None else {**body, "base_filter": base})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _matching(predicate: Any) -> set[int]:
    return {i for i, t in enumerate(TRACES) if predicate(t)}


def _has_span(t: Sent, **wanted: str) -> bool:
    """Whether a span of `t` has the `wanted` name, span_type or status; the root span (untyped) counts too."""
    root = Child(t.name, "", t.status, 0, t.ms)
    return any(all(getattr(span, k) == v for k, v in wanted.items()) for span in (root, *t.children))


@pytest.mark.parametrize(
    ("first", "second", "base", "first_of", "second_of", "base_of"),
    [
        (
            "trace.status = 'ERROR'",
            "span.type = 'TOOL'",
            None,
            lambda t: t.status == "ERROR",
            lambda t: _has_span(t, span_type="TOOL"),
            None,
        ),
        (
            "tags.team = 'red'",
            "span.name = 'lookup'",
            "trace.name = 'answer'",
            lambda t: t.tags.get("team") == "red",
            lambda t: _has_span(t, name="lookup"),
            lambda t: t.name == "answer",
        ),
        (
            "trace.execution_time_ms > 150",
            "span.status = 'ERROR'",
            f"trace.timestamp_ms >= {DAY0 + 2 * HOUR_MS}",
            lambda t: t.ms > 150,
            lambda t: _has_span(t, status="ERROR"),
            lambda t: t.start_ms >= DAY0 + 2 * HOUR_MS,
        ),
    ],
    ids=["status-and-tools", "within-a-base-filter", "within-a-time-window"],
)
def test_npmi_of_two_filters(
    http: httpx.Client, experiment_id: str, first: str, second: str, base: str | None, first_of, second_of, base_of
) -> None:
    universe = _matching(base_of) if base_of else _matching(lambda t: True)
    ones, twos = _matching(first_of) & universe, _matching(second_of) & universe
    joint, total = len(ones & twos), len(universe)
    assert 0 < joint < total  # a case with a defined, unclamped score
    answer = _correlate(http, experiment_id, first, second, base)
    assert answer == {
        "npmi": pytest.approx(_npmi(joint, len(ones), len(twos), total)),
        "npmi_smoothed": pytest.approx(_npmi(joint, len(ones), len(twos), total, 0.5)),
        "filter1_count": len(ones),
        "filter2_count": len(twos),
        "joint_count": joint,
        "total_count": total,
    }


def test_npmi_edges_never_meeting_always_together_and_undefined(http: httpx.Client, experiment_id: str) -> None:
    apart = _correlate(http, experiment_id, "trace.name = 'search'", "span.name = 'llm'")
    assert (apart["filter1_count"], apart["filter2_count"], apart["joint_count"], apart["total_count"]) == (2, 1, 0, 5)
    assert apart["npmi"] == -1.0  # MLflow's rule when both match but never together
    assert apart["npmi_smoothed"] == pytest.approx(_npmi(0, 2, 1, 5, 0.5))

    together = _correlate(http, experiment_id, "span.type = 'TOOL'", "span.type = 'TOOL'", "trace.name = 'answer'")
    # MLflow judges "always together" before smoothing, so the smoothed score is 1 as well.
    scores = (together["npmi"], together["npmi_smoothed"])
    assert (scores, together["total_count"], together["joint_count"]) == ((1.0, 1.0), 3, 3)

    # JSON has no NaN: an undefined score is left out, as MLflow leaves it out.
    undefined = _correlate(http, experiment_id, "trace.status = 'ERROR'", "trace.name = 'nobody'")
    assert undefined == {"filter1_count": 2, "filter2_count": 0, "joint_count": 0, "total_count": 5}
    nobody = http.post(
        CORRELATION,
        json={"experiment_ids": [], "filter_string1": "trace.status = 'OK'", "filter_string2": "name = 'x'"},
    )
    assert nobody.json() == {"filter1_count": 0, "filter2_count": 0, "joint_count": 0, "total_count": 0}


def test_the_stock_tracing_client_reads_the_correlation(client: MlflowClient, experiment_id: str) -> None:
    tracing = TracingClient()
    result = tracing.calculate_trace_filter_correlation([experiment_id], "trace.status = 'ERROR'", "span.name = 'calc'")
    assert (result.filter1_count, result.filter2_count, result.joint_count, result.total_count) == (2, 2, 1, 5)
    assert result.npmi == pytest.approx(_npmi(1, 2, 2, 5))
    assert result.npmi_smoothed == pytest.approx(_npmi(1, 2, 2, 5, 0.5))
    undefined = tracing.calculate_trace_filter_correlation([experiment_id], "trace.name = 'x'", "trace.status = 'OK'")
    assert math.isnan(undefined.npmi)
    assert undefined.npmi_smoothed is None


CORRELATION_REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"experiment_ids": None}, f"Missing value for required parameter 'experiment_ids'. {HINT}"),
    ({"filter_string1": None}, f"Missing value for required parameter 'filter_string1'. {HINT}"),
    ({"filter_string1": ""}, f"Missing value for required parameter 'filter_string1'. {HINT}"),
    ({"filter_string2": None}, f"Missing value for required parameter 'filter_string2'. {HINT}"),
    (
        {"filter_string1": 5},
        f"Invalid value 5 for parameter 'filter_string1' supplied: Hint: Value was of type 'int'. {HINT}",
    ),
    ({"experiment_ids": ["x"]}, "Invalid experiment ID 'x'. Experiment ID must be a valid integer."),
    ({"filter_string2": "trace.status = 'OK' OR trace.status = 'ERROR'"}, "Invalid clause(s) in filter string: 'OR'"),
    (
        {"base_filter": "status = OK"},
        "Parameter value is either not quoted or unidentified quote types used for string value OK. "
        "Use either single or double quotes.",
    ),
]


@pytest.mark.parametrize(("change", "message"), CORRELATION_REFUSED, ids=[m[:60] for _, m in CORRELATION_REFUSED])
def test_refused_correlations_get_mlflows_message(http: httpx.Client, change: dict[str, Any], message: str) -> None:
    body = {"experiment_ids": ["0"], "filter_string1": "trace.status = 'OK'", "filter_string2": "trace.status = 'OK'"}
    response = http.post(CORRELATION, json={k: v for k, v in {**body, **change}.items() if v is not None})
    assert response.status_code == 400, response.text
    assert response.json()["message"] == message


def test_npmi_matches_mlflows_formula_on_every_small_table() -> None:
    """The score itself, against MLflow 3.17's own function, on every consistent table of up to 12 traces."""

    def same(ours: float, theirs: float | None) -> bool:
        return theirs is not None and ((math.isnan(ours) and math.isnan(theirs)) or ours == theirs)

    for total in range(13):
        for first in range(total + 1):
            for second in range(total + 1):
                for joint in range(min(first, second) + 1):
                    theirs = calculate_npmi_from_counts(joint, first, second, total)
                    npmi, smoothed = npmi_from_counts(joint, first, second, total)
                    assert same(npmi, theirs.npmi), (joint, first, second, total)
                    assert same(smoothed, theirs.npmi_smoothed), (joint, first, second, total)


def test_token_usage_of_the_stock_clients_traces(client: MlflowClient, unique_name: str, http: httpx.Client) -> None:
    """The client sums its LLM spans' usage into the trace's `mlflow.trace.tokenUsage` metadata; the Overview's
    token charts add those up. A usage value MLflow's store cannot read as a whole number counts as absent."""
    experiment_id = mlflow.set_experiment(unique_name).experiment_id
    usages = {"chat": [(10, 5), (30, 7), (8, 1)], "plan": [(100, 40)]}

    @mlflow.trace(span_type="LLM")
    def llm(prompt_tokens: int, completion_tokens: int) -> str:
        usage = {"input_tokens": prompt_tokens, "output_tokens": completion_tokens}
        mlflow.get_current_active_span().set_attribute(  # type: ignore[union-attr]
            "mlflow.chat.tokenUsage", {**usage, "total_tokens": prompt_tokens + completion_tokens}
        )
        return "ok"

    for name, calls in usages.items():
        for prompt_tokens, completion_tokens in calls:
            mlflow.trace(name=name)(llm)(prompt_tokens, completion_tokens)
    for odd in ("not json", '{"input_tokens": 2.5}', '{"input_tokens": true}', '["input_tokens"]'):

        @mlflow.trace(name="chat")
        def odd_usage(usage: str = odd) -> None:
            mlflow.update_current_trace(metadata={"mlflow.trace.tokenUsage": usage})

        odd_usage()
    mlflow.flush_trace_async_logging(terminate=False)
    assert len(mlflow.search_traces(locations=[experiment_id], return_type="list")) == 8

    def tokens(metric: str, *aggregations: dict[str, Any], **fields: Any) -> list[tuple[dict, dict]]:
        return _points(_ask(http, experiment_id, metric_name=metric, aggregations=list(aggregations), **fields))

    total = {"aggregation_type": "SUM"}
    inputs = [p for calls in usages.values() for p, _ in calls]
    assert tokens("input_tokens", total) == [({}, {"SUM": sum(inputs)})]
    p90 = {"aggregation_type": "PERCENTILE", "percentile_value": 90}
    by_name = tokens("total_tokens", total, {"aggregation_type": "AVG"}, p90, dimensions=["trace_name"])
    assert by_name == [
        (
            {"trace_name": name},
            pytest.approx({"SUM": sum(totals), "AVG": np.mean(totals), "P90.0": np.percentile(totals, 90)}),
        )
        for name, totals in sorted((n, [p + c for p, c in calls]) for n, calls in usages.items())
    ]
    now = datetime.now(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    window = {"start_time_ms": int(day.timestamp() * 1000) - DAY_MS, "end_time_ms": int(now.timestamp() * 1000) + 1}
    per_day = tokens("output_tokens", total, time_interval_seconds=86400, **window)
    assert sum(values["SUM"] for _, values in per_day) == sum(c for calls in usages.values() for _, c in calls)
    assert tokens("cache_read_input_tokens", total) == []  # none recorded


def test_token_counts_are_read_as_mlflows_store_reads_them() -> None:
    for usage in (
        '{"input_tokens": 12}',
        '{"input_tokens": 12.0}',
        '{"input_tokens": "12"}',
        '{"input_tokens": 12.5}',
        '{"input_tokens": true}',
        '{"input_tokens": null}',
        '{"input_tokens": 9223372036854775808}',
        '{"input_tokens": -3}',
        '{"input_tokens": "1e3"}',
        '{"input_tokens": "NaN"}',
        '{"output_tokens": 3}',
        '["input_tokens"]',
        "12",
        "not json",
        "",
    ):
        theirs = analytics_columns_from_metadata({"mlflow.trace.tokenUsage": usage}).get("input_tokens")
        assert token_count(usage, "input_tokens") == theirs, usage
