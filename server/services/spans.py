"""OpenTelemetry spans as Runyard stores them: one record per span, keyed by MLflow's trace id.

Spans arrive as OTLP protobuf from MLflow's client (incrementally, as they end) or from any OpenTelemetry SDK. A
span is kept as its own protobuf encoding, so it is served back exactly as it came, with one change that MLflow's
server makes too: the `mlflow.traceRequestId` attribute names the trace id derived from the OTLP trace id
(`tr-<32 hex>`), never an id the sender claims. Only the columns filters and span trees need are read out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from server.errors import MlflowError
from server.services import span_translation

TRACE_ID_PREFIX = "tr-"
REQUEST_ID_ATTRIBUTE = "mlflow.traceRequestId"
SPAN_TYPE_ATTRIBUTE = span_translation.SPAN_TYPE_ATTRIBUTE
INPUTS_ATTRIBUTE = "mlflow.spanInputs"
OUTPUTS_ATTRIBUTE = "mlflow.spanOutputs"
TRACE_TAG_ATTRIBUTE_PREFIX = "mlflow.traceTag."
SERVICE_NAME_ATTRIBUTE = "service.name"
MAX_SPAN_TYPE_LENGTH = 500
_STATUS = {Status.STATUS_CODE_OK: "OK", Status.STATUS_CODE_ERROR: "ERROR"}


@dataclass(frozen=True, slots=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    span_type: str | None
    status: str  # OK, ERROR or UNSET, as MLflow names a span's status
    start_time_ns: int
    end_time_ns: int | None
    payload: bytes
    attributes: dict[str, Any]  # decoded; read for a root span's previews and trace tags
    content: str  # name, attributes and events as JSON text, for `trace.text` and `span.attributes.*` filters

    @property
    def is_root(self) -> bool:
        return self.parent_span_id is None

    def as_row(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "span_type": self.span_type,
            "status": self.status,
            "start_time_ns": self.start_time_ns,
            "end_time_ns": self.end_time_ns,
            "payload": self.payload,
            "content": self.content,
        }


def mlflow_trace_id(otlp_trace_id: bytes) -> str:
    return TRACE_ID_PREFIX + otlp_trace_id.hex()


def decode_any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key: decode_any_value(pair.value) for pair in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def encode_any_value(target: AnyValue, value: Any) -> None:
    """`value` into an empty AnyValue, typed as MLflow's client sends attributes (a dict as a key-value list)."""
    if value is None:
        return
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int) and -(2**63) <= value < 2**63:
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, list | tuple):
        target.array_value.SetInParent()
        for item in value:
            encode_any_value(target.array_value.values.add(), item)
    elif isinstance(value, dict):
        target.kvlist_value.SetInParent()
        for key, item in value.items():
            pair = target.kvlist_value.values.add()
            pair.key = str(key)
            encode_any_value(pair.value, item)
    else:
        target.string_value = str(value)


def _unwrapped(value: Any) -> Any:
    """An attribute as MLflow means it: its client may send a value already dumped to JSON (`"\\"LLM\\""`)."""
    if isinstance(value, str) and value[:1] in ('"', "{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def preview(value: Any, role: str) -> str | None:
    """A trace's request (role `user`) or response (`assistant`) preview from its root span's inputs or outputs, as
    MLflow's client and server cut it: the JSON text, or the last message of that role's text where the value holds
    chat messages, at most 1,000 characters."""
    if value is None:
        return None
    # Imported on first use: loading `mlflow` takes over a second, which a server that never sees a trace skips.
    from mlflow.tracing.utils import dump_span_attribute_value
    from mlflow.tracing.utils.truncation import _get_truncated_preview

    return _get_truncated_preview(dump_span_attribute_value(value), role=role)


def attribute_text(value: Any) -> str:
    """An attribute's value as a filter compares it: a string as the sender meant it (MLflow's client sends
    `"\\"gpt-4\\""` for `gpt-4`), anything else as its JSON text."""
    if isinstance(value, str):
        if value[:1] == '"':
            unwrapped = _unwrapped(value)
            return unwrapped if isinstance(unwrapped, str) else value
        return value
    return orjson.dumps(value, default=str).decode()


def span_content(name: str, attributes: dict[str, Any], span: OtlpSpan) -> str:
    """What a text search of a span reads: its name, its attributes (`span.attributes.<name>` reads one of them)
    and its events (an exception's message among them), as one JSON object."""
    content: dict[str, Any] = {"name": name, "attributes": {key: attribute_text(v) for key, v in attributes.items()}}
    if span.events:
        content["events"] = [
            {
                "name": event.name,
                "attributes": {a.key: attribute_text(decode_any_value(a.value)) for a in event.attributes},
            }
            for event in span.events
        ]
    return orjson.dumps(content).decode()


def _set_attribute(span: OtlpSpan, key: str, value: Any) -> None:
    for attribute in span.attributes:
        if attribute.key == key:
            attribute.value.Clear()
            encode_any_value(attribute.value, value)
            return
    added = span.attributes.add()
    added.key = key
    encode_any_value(added.value, value)


def span_record(span: OtlpSpan, service_name: str | None = None) -> SpanRecord:
    """Raises INVALID_PARAMETER_VALUE for a span without a valid trace or span id; `span` is updated in place: its
    request id attribute names its MLflow trace, a span from another instrumentation gets MLflow's attributes
    (`span_translation`), and a root span gets the `service.name` of a known coding agent that sent it."""
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        raise MlflowError.invalid_parameter("A span needs a 16-byte trace_id and an 8-byte span_id.")
    if span.parent_span_id and len(span.parent_span_id) != 8:
        raise MlflowError.invalid_parameter("A span's parent_span_id must be 8 bytes.")
    trace_id = mlflow_trace_id(span.trace_id)
    attributes: dict[str, Any] = {}
    request_id_set = False
    for attribute in span.attributes:
        if attribute.key == REQUEST_ID_ATTRIBUTE:
            attribute.value.Clear()
            attribute.value.string_value = trace_id
            request_id_set = True
        attributes[attribute.key] = decode_any_value(attribute.value)
    if not request_id_set:
        added = span.attributes.add()
        added.key = REQUEST_ID_ATTRIBUTE
        added.value.string_value = trace_id
    if not span_translation.speaks_mlflow(attributes):
        events = (
            (e.name, e.time_unix_nano, {a.key: decode_any_value(a.value) for a in e.attributes}) for e in span.events
        )
        for key, value in span_translation.mlflow_attributes(attributes, events).items():
            added = span.attributes.add()  # a key the span does not have: MLflow's are only ever added
            added.key = key
            encode_any_value(added.value, value)
            attributes[key] = value
    if service_name and not span.parent_span_id:
        _set_attribute(span, SERVICE_NAME_ATTRIBUTE, service_name)
        attributes[SERVICE_NAME_ATTRIBUTE] = service_name
    span_type = _unwrapped(attributes.get(SPAN_TYPE_ATTRIBUTE))
    return SpanRecord(
        trace_id=trace_id,
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() if span.parent_span_id else None,
        name=span.name,
        span_type=str(span_type)[:MAX_SPAN_TYPE_LENGTH] if span_type is not None else None,
        status=_STATUS.get(span.status.code, "UNSET"),
        start_time_ns=span.start_time_unix_nano,
        end_time_ns=span.end_time_unix_nano or None,
        payload=span.SerializeToString(),
        attributes=attributes,
        content=span_content(span.name, attributes, span),
    )


def root_tags(record: SpanRecord) -> dict[str, str]:
    """`mlflow.traceTag.<key>` attributes of a root span become the trace's tags (MLflow's own stay its own)."""
    tags = {}
    for key, value in record.attributes.items():
        if key.startswith(TRACE_TAG_ATTRIBUTE_PREFIX):
            name = key[len(TRACE_TAG_ATTRIBUTE_PREFIX) :]
            if name and not name.startswith("mlflow."):
                shown = _unwrapped(value)
                tags[name] = shown if isinstance(shown, str) else orjson.dumps(shown).decode()
    return tags
