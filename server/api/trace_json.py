"""Traces on the wire: MLflow's `TraceInfoV3`, `Trace` and `Assessment` messages in protobuf's JSON mapping, read
and written by hand.

MLflow's server builds these with `json_format`, which walks every field in Python; a trace of 10,000 spans is
rendered here from each span's stored protobuf in one pass. The shapes follow protobuf's JSON mapping exactly
(Timestamp and Duration as text, bytes as base64, enums by name, `snake_case` names) because the client parses
them with `json_format.ParseDict`.
"""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import datetime
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from server.errors import MlflowError
from server.services import spans as span_rules
from server.services.assessment_messages import JSON_FORMAT, assessment_json, timestamp_text
from server.services.assessments import (
    SOURCE_TYPES,
    AssessmentChanges,
    AssessmentIn,
    Valued,
)
from server.services.spans import decode_any_value
from server.services.traces import TraceInfoIn, TraceView

_SPAN_KINDS = {value: name for name, value in OtlpSpan.SpanKind.items()}
_STATUS_CODES = {value: name for name, value in Status.StatusCode.items()}
_TIMESTAMP_RE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")
_DURATION_RE = re.compile(r"(-?)(\d+)(?:\.(\d{1,9}))?s")
_STATE_NUMBERS = {"0": "STATE_UNSPECIFIED", "1": "OK", "2": "ERROR", "3": "IN_PROGRESS"}
# The fields an UpdateAssessment mask may name (FieldMask JSON spells them in camelCase); others change nothing.
_MASK_PATHS = {"assessmentName": "assessment_name"}


# --- writing ------------------------------------------------------------------------------------------------------


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
    if view.assessments:
        info["assessments"] = [assessment_json(row) for row in view.assessments]
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


def _bad(field: str, value: Any, what: str = "the trace info") -> MlflowError:
    return MlflowError.invalid_parameter(f"Invalid value {value!r} for field '{field}' of {what}.")


def parse_timestamp_ms(value: Any, field: str, what: str = "the trace info") -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    match = _TIMESTAMP_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _bad(field, value, what)
    try:
        whole = datetime.fromisoformat(match[1] + ("+00:00" if match[3] == "Z" else match[3]))
    except ValueError:
        raise _bad(field, value, what) from None
    fraction = int((match[2] or "0").ljust(9, "0")[:3])
    return int(whole.timestamp()) * 1000 + fraction


def parse_duration_ms(value: Any, field: str) -> int:
    match = _DURATION_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _bad(field, value)
    ms = int(match[2]) * 1000 + int((match[3] or "0").ljust(9, "0")[:3])
    return -ms if match[1] else ms


def _string_map(value: Any, field: str, what: str = "the trace info") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _bad(field, value, what)
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
        assessments=_carried_assessments(info.get("assessments")),
    )


def _carried_assessments(value: Any) -> tuple[AssessmentIn, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad("assessments", value)
    return tuple(
        _assessment_in(item, f"assessments[{index}].", "the trace info", keep_id=True)
        for index, item in enumerate(value)
    )


class _Reader:
    """Typed access to one JSON object of an assessment, errors naming the field by its path."""

    def __init__(self, data: dict[str, Any], prefix: str, what: str) -> None:
        self.data, self.prefix, self.what = data, prefix, what

    def bad(self, name: str, value: Any) -> MlflowError:
        return _bad(self.prefix + name, value, self.what)

    def string(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is not None and not isinstance(value, str):
            raise self.bad(name, value)
        return value

    def object(self, name: str) -> _Reader | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.bad(name, value)
        return _Reader(value, f"{self.prefix}{name}.", self.what)

    def time(self, name: str) -> int | None:
        value = self.data.get(name)
        return None if value is None else parse_timestamp_ms(value, self.prefix + name, self.what)

    def string_map(self, name: str) -> dict[str, str]:
        return _string_map(self.data.get(name), self.prefix + name, self.what)


def _source_type(source: _Reader | None) -> str:
    value = None if source is None else source.data.get("source_type")
    if value is None:
        return SOURCE_TYPES[0]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(SOURCE_TYPES):
        return SOURCE_TYPES[value]  # an enum by number, as protobuf's JSON parser takes it
    if isinstance(value, str):
        return value  # a name; the service refuses one MLflow does not know
    assert source is not None
    raise source.bad("source_type", value)


def _error(feedback: _Reader) -> dict[str, str | None] | None:
    error = feedback.object("error")
    if error is None:
        return None
    return {name: error.string(name) for name in ("error_code", "error_message", "stack_trace")}


def _feedback(assessment: _Reader) -> Valued | None:
    feedback = assessment.object("feedback")
    return None if feedback is None else Valued(feedback.data.get("value"), _error(feedback))


def _expectation(assessment: _Reader) -> Valued | None:
    """An expectation's value, from its `serialized_value` (JSON text) when it has one, as MLflow reads it."""
    expectation = assessment.object("expectation")
    if expectation is None:
        return None
    serialized = expectation.object("serialized_value")
    if serialized is None:
        return Valued(expectation.data.get("value"))
    serialization_format = serialized.string("serialization_format") or ""
    if serialization_format != JSON_FORMAT:
        raise MlflowError.invalid_parameter(
            f"Unknown serialization format: {serialization_format}. Only JSON_FORMAT is supported."
        )
    text = serialized.string("value") or ""
    try:
        return Valued(json.loads(text))
    except ValueError:
        raise serialized.bad("value", text) from None


def _issue(assessment: _Reader) -> Valued | None:
    """An issue reference's value: the issue's name, kept as MLflow's store keeps it (`{"issue_name": ...}`)."""
    issue = assessment.object("issue")
    return None if issue is None else Valued({"issue_name": issue.string("issue_name") or ""})


def _assessment_in(value: Any, prefix: str, what: str, *, keep_id: bool) -> AssessmentIn:
    if not isinstance(value, dict):
        raise _bad(prefix.rstrip("."), value, what)
    reader = _Reader(value, prefix, what)
    source = reader.object("source")
    return AssessmentIn(
        name=reader.string("assessment_name") or "",
        feedback=_feedback(reader),
        expectation=_expectation(reader),
        issue=_issue(reader),
        source_type=_source_type(source),
        source_id=None if source is None else source.string("source_id"),
        span_id=reader.string("span_id"),
        rationale=reader.string("rationale"),
        metadata=reader.string_map("metadata"),
        overrides=reader.string("overrides"),
        create_time=reader.time("create_time"),
        last_update_time=reader.time("last_update_time"),
        trace_id=reader.string("trace_id"),
        assessment_id=reader.string("assessment_id") if keep_id else None,
    )


def assessment_in(value: Any) -> AssessmentIn:
    """The `assessment` of a CreateAssessment request (any id it names is ignored: the server makes one)."""
    if not isinstance(value, dict):
        raise _bad("assessment", value, "the request")
    return _assessment_in(value, "", "the assessment", keep_id=False)


def _mask_paths(mask: Any) -> list[str]:
    """A FieldMask in JSON: one string of comma-separated paths (the `{"paths": [...]}` form is taken too)."""
    if isinstance(mask, dict) and isinstance(mask.get("paths"), list):
        paths = mask["paths"]
    elif isinstance(mask, str):
        paths = mask.split(",")
    else:
        raise _bad("update_mask", mask, "the request")
    if not all(isinstance(path, str) for path in paths):
        raise _bad("update_mask", mask, "the request")
    return [_MASK_PATHS.get(path.strip(), path.strip()) for path in paths]


def assessment_changes(assessment: Any, mask: Any) -> AssessmentChanges:
    """What an UpdateAssessment changes: the masked fields of its `assessment`, as MLflow's handler reads them (a
    masked field the body leaves out reads as its protobuf default)."""
    if not isinstance(assessment, dict):
        raise _bad("assessment", assessment, "the request")
    reader = _Reader(assessment, "", "the assessment")
    paths = set(_mask_paths(mask))
    valid = assessment.get("valid", False)
    if not isinstance(valid, bool):
        raise reader.bad("valid", valid)
    return AssessmentChanges(
        name=(reader.string("assessment_name") or "") if "assessment_name" in paths else None,
        feedback=(_feedback(reader) or Valued(None)) if "feedback" in paths else None,
        expectation=(_expectation(reader) or Valued(None)) if "expectation" in paths else None,
        rationale=(reader.string("rationale") or "") if "rationale" in paths else None,
        metadata=reader.string_map("metadata") if "metadata" in paths else None,
        valid=valid if "valid" in paths else None,
    )
