"""`/v1/traces` from outside MLflow: a plain OpenTelemetry SDK with its OTLP/HTTP exporter, OTLP JSON, spans that
arrive over several requests, retries, and every kind of malformed request."""

from __future__ import annotations

import gzip
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import mlflow
import orjson
import pytest
from mlflow import MlflowClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import StatusCode

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return client.create_experiment(unique_name)


def _request(*spans: Span) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for span in spans:
        scope.spans.add().CopyFrom(span)
    return request


def _span(span_hex: str, name: str, *, trace_hex: str, parent_hex: str = "", start: int = 0) -> Span:
    span = Span(
        trace_id=bytes.fromhex(trace_hex),
        span_id=bytes.fromhex(span_hex),
        parent_span_id=bytes.fromhex(parent_hex),
        name=name,
        start_time_unix_nano=1_700_000_000_000_000_000 + start,
        end_time_unix_nano=1_700_000_000_500_000_000 + start,
    )
    span.status.code = Status.STATUS_CODE_OK
    return span


def _post(server_url: str, experiment_id: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{server_url}/v1/traces",
        content=body,
        headers={"x-mlflow-experiment-id": experiment_id, **(headers or PROTOBUF)},
        timeout=60,  # eight at once on a busy machine may each take longer than httpx's default 5 s
    )


def test_a_plain_opentelemetry_exporter_makes_an_mlflow_trace(
    client: MlflowClient, server_url: str, experiment_id: str
) -> None:
    exporter = OTLPSpanExporter(endpoint=f"{server_url}/v1/traces", headers={"x-mlflow-experiment-id": experiment_id})
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shop")
    with tracer.start_as_current_span("handle-order") as root:
        root.set_attribute("order.id", 42)
        with tracer.start_as_current_span("charge-card") as child:
            child.add_event("declined", {"retry": True})
            child.set_status(StatusCode.ERROR, "card declined")
    provider.shutdown()  # SimpleSpanProcessor has sent each span as it ended

    trace_id = "tr-" + format(root.get_span_context().trace_id, "032x")
    trace = client.get_trace(trace_id)
    assert trace.info.experiment_id == experiment_id
    assert trace.info.tags["mlflow.traceName"] == "handle-order"
    assert trace.info.state.value == "OK"
    assert trace.info.execution_time_ms is not None
    spans = {span.name: span for span in trace.data.spans}
    assert spans["charge-card"].parent_id == spans["handle-order"].span_id
    assert spans["handle-order"].get_attribute("order.id") == 42
    assert spans["charge-card"].status.status_code.value == "ERROR"
    assert spans["charge-card"].status.description == "card declined"
    assert [(e.name, e.attributes) for e in spans["charge-card"].events] == [("declined", {"retry": True})]

    found = mlflow.search_traces(
        locations=[experiment_id], filter_string="trace.name = 'handle-order'", return_type="list"
    )
    assert [t.info.trace_id for t in found] == [trace_id]


def test_spans_of_one_trace_over_several_requests_assemble_one_trace(
    client: MlflowClient, server_url: str, experiment_id: str
) -> None:
    trace_hex = os.urandom(16).hex()
    child = _span("00000000000000c1", "child", trace_hex=trace_hex, parent_hex="00000000000000a1", start=1000)
    root = _span("00000000000000a1", "root", trace_hex=trace_hex)
    assert _post(server_url, experiment_id, _request(child).SerializeToString()).status_code == 200
    in_progress = client.get_trace(f"tr-{trace_hex}")
    assert in_progress.info.state.value == "IN_PROGRESS"
    assert _post(server_url, experiment_id, _request(root).SerializeToString()).status_code == 200
    # The client retries: the same spans again change nothing.
    assert _post(server_url, experiment_id, _request(root, child).SerializeToString()).status_code == 200
    trace = client.get_trace(f"tr-{trace_hex}")
    assert trace.info.state.value == "OK"
    assert trace.info.execution_time_ms == 500
    assert [span.name for span in trace.data.spans] == ["root", "child"]
    assert len(mlflow.search_traces(locations=[experiment_id], return_type="list")) == 1


def test_otlp_json_with_hex_ids_and_gzip(client: MlflowClient, server_url: str, experiment_id: str) -> None:
    trace_hex = os.urandom(16).hex()
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "go-api"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_hex,
                                "spanId": "b7ad6b7169203331",
                                "name": "GET /users",
                                "kind": 2,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000000250000000",
                                "attributes": [{"key": "http.status_code", "value": {"intValue": "200"}}],
                                "status": {"code": 1},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    answer = _post(
        server_url,
        experiment_id,
        gzip.compress(orjson.dumps(body)),
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {}
    trace = client.get_trace(f"tr-{trace_hex}")
    [span] = trace.data.spans
    assert (span.name, span.span_id, span.get_attribute("http.status_code")) == ("GET /users", "b7ad6b7169203331", 200)
    assert trace.info.execution_time_ms == 250


def test_malformed_requests_are_refused_and_store_nothing(
    client: MlflowClient, server_url: str, experiment_id: str
) -> None:
    good = _request(_span("00000000000000d1", "d", trace_hex=os.urandom(16).hex())).SerializeToString()
    missing_header = httpx.post(f"{server_url}/v1/traces", content=good, headers=PROTOBUF)
    assert missing_header.status_code == 422
    assert missing_header.json()["detail"][0]["loc"] == ["header", "x-mlflow-experiment-id"]

    wrong_type = _post(server_url, experiment_id, good, {"Content-Type": "text/plain"})
    assert (wrong_type.status_code, wrong_type.json()) == (
        400,
        {"detail": "Invalid Content-Type: text/plain. Expected: application/x-protobuf or application/json"},
    )
    garbage = _post(server_url, experiment_id, b"\xff\xfe not protobuf")
    assert (garbage.status_code, garbage.json()) == (400, {"detail": "Invalid OpenTelemetry format"})
    broken_json = _post(server_url, experiment_id, b'{"resourceSpans": [', {"Content-Type": "application/json"})
    assert (broken_json.status_code, broken_json.json()) == (400, {"detail": "Invalid OpenTelemetry format"})
    empty = _post(server_url, experiment_id, b"")
    assert (empty.status_code, empty.json()) == (400, {"detail": "Invalid OpenTelemetry format - no spans found"})

    unconvertible = {"detail": "Cannot convert OpenTelemetry span to MLflow span"}  # MLflow's 422
    for trace_id, span_id in ((b"\x01" * 4, b"\x02" * 8), (b"", b"\x02" * 8), (b"\x01" * 16, b"")):
        refused = _post(
            server_url, experiment_id, _request(Span(trace_id=trace_id, span_id=span_id)).SerializeToString()
        )
        assert (refused.status_code, refused.json()) == (422, unconvertible)

    unknown = _post(server_url, "987654321", good)
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST"), unknown.text
    client.delete_experiment(gone := client.create_experiment(f"gone-{os.getpid()}-{experiment_id}"))
    deleted = _post(server_url, gone, good)
    assert deleted.status_code == 400
    assert (
        deleted.json()["message"] == f"The experiment {gone} must be in the 'active' state. Current state is deleted."
    )
    assert mlflow.search_traces(locations=[experiment_id], return_type="list") == []


def test_a_span_may_not_move_a_trace_to_another_experiment(
    client: MlflowClient, server_url: str, experiment_id: str, unique_name: str
) -> None:
    trace_hex = os.urandom(16).hex()
    span = _span("00000000000000e1", "root", trace_hex=trace_hex)
    assert _post(server_url, experiment_id, _request(span).SerializeToString()).status_code == 200
    other = client.create_experiment(f"{unique_name}-other")
    moved = _post(server_url, other, _request(span).SerializeToString())
    assert moved.status_code == 400
    assert (moved.json()["error_code"], moved.json()["message"]) == (
        "INVALID_PARAMETER_VALUE",
        f"Trace 'tr-{trace_hex}' belongs to experiment {experiment_id}, not to experiment {other}.",
    )
    assert client.get_trace(f"tr-{trace_hex}").info.experiment_id == experiment_id


def _trace_info(trace: str, experiment_id: str, **fields: object) -> dict[str, object]:
    info = {
        "trace_id": trace,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}},
        "request_time": "2026-03-01T10:00:00Z",
        "state": "OK",
        **fields,
    }
    return {"trace": {"trace_info": info}}


def test_a_trace_info_sent_twice_is_stored_once(client: MlflowClient, server_url: str, experiment_id: str) -> None:
    trace_id = f"tr-{os.urandom(16).hex()}"
    body = _trace_info(trace_id, experiment_id, tags={"team": "search"}, trace_metadata={"mlflow.user": "ada"})
    for _ in range(2):
        answer = httpx.post(f"{server_url}/api/3.0/mlflow/traces", json=body)
        assert answer.status_code == 200, answer.text
    search = {"locations": [{"mlflow_experiment": {"experiment_id": experiment_id}}]}
    [found] = httpx.post(f"{server_url}/api/3.0/mlflow/traces/search", json=search).json()["traces"]
    assert found["trace_id"] == trace_id
    assert found["tags"]["team"] == "search"
    assert found["trace_metadata"] == {"mlflow.user": "ada"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"request_time": "yesterday"}, "Invalid value 'yesterday' for field 'request_time' of the trace info."),
        ({"execution_duration": 5}, "Invalid value 5 for field 'execution_duration' of the trace info."),
        ({"tags": ["a"]}, "Invalid value ['a'] for field 'tags' of the trace info."),
        ({"tags": {"bad key!": "v"}}, None),
        ({"trace_location": {}}, "A trace must name the experiment it belongs to (trace_location)."),
        ({"trace_id": ""}, "Missing value for required parameter 'trace_id'."),
        ({"client_request_id": "x" * 251}, "'client_request_id' exceeds the maximum length of 250 characters"),
    ],
)
def test_a_malformed_trace_info_is_a_400(
    server_url: str, experiment_id: str, fields: dict[str, object], message: str | None
) -> None:
    answer = httpx.post(
        f"{server_url}/api/3.0/mlflow/traces", json=_trace_info("tr-" + "e" * 32, experiment_id, **fields)
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    if message is not None:
        assert answer.json()["message"] == message
    for body in ({}, {"trace": "x"}, {"trace": {"trace_info": []}}):
        refused = httpx.post(f"{server_url}/api/3.0/mlflow/traces", json=body)
        assert refused.status_code == 400, refused.text


def test_concurrent_exports_of_the_same_traces_all_land(
    client: MlflowClient, server_url: str, experiment_id: str
) -> None:
    """Eight senders post spans of the same twenty traces, each in its own order: every request succeeds (no lock
    conflict between them) and every trace ends with all its spans."""
    trace_hexes = [os.urandom(16).hex() for _ in range(20)]

    def body(sender: int) -> bytes:
        spans = []
        for trace_hex in trace_hexes[sender:] + trace_hexes[:sender]:
            spans.append(_span("00000000000000a1", "root", trace_hex=trace_hex))
            child = _span(f"{sender + 1:016x}", f"child-{sender}", trace_hex=trace_hex, parent_hex="00000000000000a1")
            spans.append(child)
        return _request(*spans).SerializeToString()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda sender: _post(server_url, experiment_id, body(sender)), range(8)))
    assert [answer.status_code for answer in answers] == [200] * 8, [a.text for a in answers if a.status_code != 200]
    for trace_hex in trace_hexes:
        names = sorted(span.name for span in client.get_trace(f"tr-{trace_hex}").data.spans)
        assert names == sorted(["root", *(f"child-{sender}" for sender in range(8))])
