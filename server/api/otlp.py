"""`POST /v1/traces`: OpenTelemetry's OTLP/HTTP trace export, in protobuf or JSON, into an MLflow experiment.

The experiment is named by the `x-mlflow-experiment-id` header, as MLflow's server reads it; MLflow's client and any
OpenTelemetry SDK exporter configured with that header can send here. A request is stored whole or not at all.
Errors of the transport itself use FastAPI's `{"detail": ...}` shape with MLflow's texts; an MLflow error (an
unknown or deleted experiment, a span of another experiment's trace) keeps MLflow's error body.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

import orjson
from google.protobuf.json_format import ParseDict, ParseError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.errors import MlflowError
from server.permissions import Permission
from server.services import spans, traces
from server.web.context import Context, authorize

EXPERIMENT_HEADER = "x-mlflow-experiment-id"
RUN_HEADER = "x-mlflow-run-id"
MAX_BODY_BYTES = 256 * 1024 * 1024  # as sent and after decompression: an oversized export or a zip bomb stops here
KNOWN_SERVICE_NAMES = frozenset({"claude-code", "codex_cli_rs", "codex_vscode", "gemini-cli", "qwen-code"})
_HEX_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _detail(status: int, detail: Any) -> Response:
    return Response(orjson.dumps({"detail": detail}), status_code=status, media_type="application/json")


def _decompress(body: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise ValueError(f"Unsupported Content-Encoding: {encoding}")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding == "gzip" else zlib.MAX_WBITS)
    data = inflater.decompress(body, MAX_BODY_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError("Request body too large")
    return data


def _hex_ids_to_base64(value: Any) -> Any:
    """OTLP's JSON writes trace and span ids in hex, where protobuf's JSON mapping expects base64."""
    if isinstance(value, list):
        return [_hex_ids_to_base64(item) for item in value]
    if isinstance(value, dict):
        converted = {}
        for key, item in value.items():
            if key in _HEX_ID_FIELDS and isinstance(item, str) and item:
                try:
                    item = base64.b64encode(bytes.fromhex(item)).decode()
                except ValueError:
                    pass  # not hex: left for the protobuf parser to judge
            converted[key] = _hex_ids_to_base64(item)
        return converted
    return value


def _parse(body: bytes, media_type: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if media_type == "application/json":
        ParseDict(_hex_ids_to_base64(orjson.loads(body)), request, ignore_unknown_fields=True)
    else:
        request.ParseFromString(body)
    return request


async def _read_body(request: Request) -> bytes | None:
    """The body, or None past MAX_BODY_BYTES: read as it streams in, so an oversized export never fills memory."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _known_service(resource_spans: Any) -> str | None:
    """The resource's `service.name` when it is a coding agent MLflow knows, which its root spans then name."""
    for attribute in resource_spans.resource.attributes:
        if attribute.key == "service.name":
            name = spans.decode_any_value(attribute.value)
            return str(name) if str(name) in KNOWN_SERVICE_NAMES else None
    return None


def _records(body: bytes, encoding: str | None, media_type: str) -> list[spans.SpanRecord]:
    parsed = _parse(_decompress(body, encoding), media_type)
    return [
        spans.span_record(span, service)
        for resource_spans in parsed.resource_spans
        for service in (_known_service(resource_spans),)
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


async def export_traces(request: Request, context: Context) -> Response:
    experiment_id = request.headers.get(EXPERIMENT_HEADER)
    if experiment_id is None:
        missing = {"type": "missing", "loc": ["header", EXPERIMENT_HEADER], "msg": "Field required", "input": None}
        return _detail(422, [missing])
    content_type = request.headers.get("content-type")
    media_type = content_type.split(";")[0].strip().lower() if content_type else None
    if media_type not in ("application/x-protobuf", "application/json"):
        return _detail(
            400, f"Invalid Content-Type: {content_type}. Expected: application/x-protobuf or application/json"
        )
    if experiment_id.isdigit():
        exp = int(experiment_id)
        await authorize(
            request,
            context,
            lambda authorizer, session, principal: authorizer.require(
                authorizer.tracing_into(session, principal, exp), Permission.EDIT, "experiment"
            ),
        )
    else:
        await authorize(request, context, lambda *_: None)
    body = await _read_body(request)
    if body is None:
        return _detail(413, f"Request body too large: the limit is {MAX_BODY_BYTES} bytes")
    encoding = (request.headers.get("content-encoding") or "").lower() or None
    try:
        records = await run_in_threadpool(_records, body, encoding, media_type)  # CPU work, off the event loop
    except MlflowError:  # a span without usable ids: MLflow's answer when it cannot convert a span
        return _detail(422, "Cannot convert OpenTelemetry span to MLflow span")
    except (DecodeError, ParseError, ValueError, TypeError, AttributeError, binascii.Error, RecursionError):
        return _detail(400, "Invalid OpenTelemetry format")
    if not records:
        return _detail(400, "Invalid OpenTelemetry format - no spans found")
    run_id = request.headers.get(RUN_HEADER)
    destination = context.artifacts.destination_uri
    await context.db.run_write(
        lambda session: traces.log_spans(session, experiment_id, records, destination, run_id=run_id)
    )
    if media_type == "application/json":
        return Response(b"{}", media_type="application/json")
    return Response(b"", media_type="application/x-protobuf")


def routes(context: Context) -> list[BaseRoute]:
    async def endpoint(request: Request) -> Response:
        return await export_traces(request, context)

    return [Route("/v1/traces", endpoint, methods=["POST"])]
