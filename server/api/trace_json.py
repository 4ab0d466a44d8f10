"""Traces on the wire: MLflow's `TraceInfoV3` and `Trace` messages in protobuf's JSON mapping, read and written
by hand.

MLflow's server builds these with `json_format`, which walks every field in Python; a trace of 10,000 spans is
rendered here from each span's stored protobuf in one pass. The shapes follow protobuf's JSON mapping exactly
(Timestamp and Duration as text, bytes as base64, enums by name, `snake_case` names) because the client parses
them with `json_format.ParseDict`.
"""

from __future__ import annotations

import base64
import math
import re
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from server.errors import MlflowError
from server.services import spans as span_rules
from server.services.spans import decode_any_value
from server.services.traces import TraceInfoIn, TraceView

_SPAN_KINDS = {value: name for name, value in OtlpSpan.SpanKind.items()}
_STATUS_CODES = {value: name for name, value in Status.StatusCode.items()}
_TIMESTAMP_RE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")
_DURATION_RE = re.compile(r"(-?)(\d+)(?:\.(\d{1,9}))?s")
_STATE_NUMBERS = {"0": "STATE_UNSPECIFIED", "1": "OK", "2": "ERROR", "3": "IN_PROGRESS"}


# --- writing ------------------------------------------------------------------------------------------------------


def timestamp_text(ms: int) -> str:
    """A Timestamp as protobuf writes it: whole seconds, or three fraction digits for milliseconds."""
    seconds, millis = divmod(ms, 1000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def duration_text(ms: int) -> str:
    seconds, millis = divmod(abs(ms), 1000)
    sign = "-" if ms < 0 else ""
    return f"{sign}{seconds}.{millis:03d}s" if millis else f"{sign}{seconds}s"


def trace_info_json(view: TraceView) -> dict[str, Any]:
    row = view.row
    info: dict[str, Any] = {
        "trace_id": row.trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": str(row.experiment_id)}},
        "request_time": timestamp_text(row.request_time),
        "state": row.state,
    }
    if row.client_request_id is not None:
        info["client_request_id"] = row.client_request_id
    if row.request_preview is not None:
        info["request_preview"] = row.request_preview
    if row.response_preview is not None:
        info["response_preview"] = row.response_preview
    if row.execution_duration is not None:
        info["execution_duration"] = duration_text(row.execution_duration)
    if view.metadata:
        info["trace_metadata"] = view.metadata
    if view.tags:
        info["tags"] = view.tags
    return info


_V2_STATUS = {"STATE_UNSPECIFIED": "TRACE_STATUS_UNSPECIFIED"}
_PREVIEW_METADATA = ("mlflow.traceInputs", "mlflow.traceOutputs")


def trace_info_v2_json(view: TraceView) -> dict[str, Any]:
    """MLflow 2's `TraceInfo`, for clients before 3.0: the previews travel as request metadata."""
    row = view.row
    metadata = dict(view.metadata)
    for key, preview in zip(_PREVIEW_METADATA, (row.request_preview, row.response_preview), strict=True):
        if preview is not None:
            metadata.setdefault(key, preview)
    info: dict[str, Any] = {
        "request_id": row.trace_id,
        "experiment_id": str(row.experiment_id),
        "timestamp_ms": row.request_time,
        "status": _V2_STATUS.get(row.state, row.state),
    }
    if row.execution_duration is not None:
        info["execution_time_ms"] = row.execution_duration
    if metadata:
        info["request_metadata"] = [{"key": k, "value": v} for k, v in metadata.items()]
    if view.tags:
        info["tags"] = [{"key": k, "value": v} for k, v in view.tags.items()]
    return info


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _double(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _any_value(value: AnyValue) -> dict[str, Any]:
    kind = value.WhichOneof("value")
    if kind is None:
        return {}
    if kind == "string_value":
        return {"string_value": value.string_value}
    if kind == "bool_value":
        return {"bool_value": value.bool_value}
    if kind == "int_value":
        return {"int_value": value.int_value}
    if kind == "double_value":
        return {"double_value": _double(value.double_value)}
    if kind == "bytes_value":
        return {"bytes_value": _b64(value.bytes_value)}
    if kind == "array_value":
        return {"array_value": {"values": [_any_value(item) for item in value.array_value.values]}}
    return {"kvlist_value": {"values": _attributes(value.kvlist_value.values)}}


def _attributes(pairs: Any) -> list[dict[str, Any]]:
    return [{"key": pair.key, "value": _any_value(pair.value)} for pair in pairs]


def _with_attributes(out: dict[str, Any], pairs: Any, dropped: int) -> dict[str, Any]:
    if len(pairs):
        out["attributes"] = _attributes(pairs)
    if dropped:
        out["dropped_attributes_count"] = dropped
    return out


def span_json(payload: bytes) -> dict[str, Any]:
    """One stored span as an OpenTelemetry `Span` message in JSON, default values left out as protobuf does."""
    span = OtlpSpan.FromString(payload)
    out: dict[str, Any] = {"trace_id": _b64(span.trace_id), "span_id": _b64(span.span_id)}
    if span.trace_state:
        out["trace_state"] = span.trace_state
    if span.parent_span_id:
        out["parent_span_id"] = _b64(span.parent_span_id)
    if span.flags:
        out["flags"] = span.flags
    out["name"] = span.name
    if span.kind:
        out["kind"] = _SPAN_KINDS.get(span.kind, span.kind)
    out["start_time_unix_nano"] = span.start_time_unix_nano
    if span.end_time_unix_nano:
        out["end_time_unix_nano"] = span.end_time_unix_nano
    _with_attributes(out, span.attributes, span.dropped_attributes_count)
    if span.events:
        out["events"] = [
            _with_attributes({"time_unix_nano": event.time_unix_nano, "name": event.name}, event.attributes, 0)
            for event in span.events
        ]
    if span.dropped_events_count:
        out["dropped_events_count"] = span.dropped_events_count
    if span.links:
        out["links"] = [
            _with_attributes({"trace_id": _b64(link.trace_id), "span_id": _b64(link.span_id)}, link.attributes, 0)
            for link in span.links
        ]
    if span.dropped_links_count:
        out["dropped_links_count"] = span.dropped_links_count
    status: dict[str, Any] = {}
    if span.status.message:
        status["message"] = span.status.message
    if span.status.code:
        status["code"] = _STATUS_CODES.get(span.status.code, span.status.code)
    out["status"] = status
    return out


def _dumped(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def span_dict(payload: bytes) -> dict[str, Any]:
    """One stored span in MLflow's own span format (`Span.to_dict`), the one of `traces.json` that the web UI
    reads: ids in base64, attribute values as JSON text."""
    span = OtlpSpan.FromString(payload)
    return {
        "trace_id": _b64(span.trace_id),
        "span_id": _b64(span.span_id),
        "parent_span_id": _b64(span.parent_span_id) if span.parent_span_id else None,
        "name": span.name,
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano or None,
        "events": [
            {
                "name": event.name,
                "time_unix_nano": event.time_unix_nano,
                "attributes": {pair.key: decode_any_value(pair.value) for pair in event.attributes},
            }
            for event in span.events
        ],
        "status": {"code": _STATUS_CODES.get(span.status.code, "STATUS_CODE_UNSET"), "message": span.status.message},
        "attributes": {pair.key: _dumped(decode_any_value(pair.value)) for pair in span.attributes},
        "links": [
            {
                "trace_id": span_rules.mlflow_trace_id(link.trace_id),
                "span_id": link.span_id.hex(),
                "attributes": {pair.key: decode_any_value(pair.value) for pair in link.attributes},
            }
            for link in span.links
        ],
    }


def trace_json(view: TraceView, payloads: list[bytes]) -> dict[str, Any]:
    trace: dict[str, Any] = {"trace_info": trace_info_json(view)}
    if payloads:
        trace["spans"] = [span_json(payload) for payload in payloads]
    return trace


# --- reading ------------------------------------------------------------------------------------------------------


def _bad(field: str, value: Any) -> MlflowError:
    return MlflowError.invalid_parameter(f"Invalid value {value!r} for field '{field}' of the trace info.")


def parse_timestamp_ms(value: Any, field: str) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    match = _TIMESTAMP_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _bad(field, value)
    try:
        whole = datetime.fromisoformat(match[1] + ("+00:00" if match[3] == "Z" else match[3]))
    except ValueError:
        raise _bad(field, value) from None
    fraction = int((match[2] or "0").ljust(9, "0")[:3])
    return int(whole.timestamp()) * 1000 + fraction


def parse_duration_ms(value: Any, field: str) -> int:
    match = _DURATION_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _bad(field, value)
    ms = int(match[2]) * 1000 + int((match[3] or "0").ljust(9, "0")[:3])
    return -ms if match[1] else ms


def _string_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _bad(field, value)
    return {str(k): v for k, v in value.items()}


def _optional_string(info: dict[str, Any], field: str) -> str | None:
    value = info.get(field)
    if value is not None and not isinstance(value, str):
        raise _bad(field, value)
    return value


def trace_info_in(trace: Any) -> TraceInfoIn:
    """The `trace.trace_info` of a StartTraceV3 request."""
    if not isinstance(trace, dict):
        raise MlflowError.invalid_parameter("Missing value for required parameter 'trace'.")
    info = trace.get("trace_info")
    if not isinstance(info, dict):
        raise MlflowError.invalid_parameter("Missing value for required parameter 'trace.trace_info'.")
    location = info.get("trace_location") or {}
    experiment = location.get("mlflow_experiment") if isinstance(location, dict) else None
    experiment_id = experiment.get("experiment_id") if isinstance(experiment, dict) else None
    if not isinstance(experiment_id, str) or not experiment_id:
        raise MlflowError.invalid_parameter("A trace must name the experiment it belongs to (trace_location).")
    state = info.get("state", "STATE_UNSPECIFIED")
    state = _STATE_NUMBERS.get(str(state), state) if isinstance(state, int | str) else state
    if not isinstance(state, str):
        raise _bad("state", state)
    duration = info.get("execution_duration")
    return TraceInfoIn(
        trace_id=_optional_string(info, "trace_id") or "",
        experiment_id=experiment_id,
        request_time=parse_timestamp_ms(info.get("request_time", 0), "request_time"),
        execution_duration=None if duration is None else parse_duration_ms(duration, "execution_duration"),
        state=state,
        client_request_id=_optional_string(info, "client_request_id"),
        request_preview=_optional_string(info, "request_preview"),
        response_preview=_optional_string(info, "response_preview"),
        metadata=_string_map(info.get("trace_metadata"), "trace_metadata"),
        tags=_string_map(info.get("tags"), "tags"),
    )
