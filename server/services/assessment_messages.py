"""MLflow's `Assessment` message in protobuf's JSON mapping, built from a stored assessment: what the server answers
a client with, and what `runyard export` writes as the file store's assessment file (the file store keeps each
assessment as this same dictionary)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

from server.services.assessments import EXPECTATION, ISSUE
from server.store.models import Assessment

JSON_FORMAT = "JSON_FORMAT"  # the one `serialized_value` format MLflow reads


def timestamp_text(ms: int) -> str:
    """A Timestamp as protobuf writes it: whole seconds, or three fraction digits for milliseconds."""
    seconds, millis = divmod(ms, 1000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def _error_json(error: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"error_code": error.get("error_code") or ""}
    if error.get("error_message"):
        out["error_message"] = error["error_message"]
    if error.get("stack_trace"):
        out["stack_trace"] = error["stack_trace"]
    return out


def assessment_json(row: Assessment) -> dict[str, Any]:
    """An `Assessment` message, fields in MLflow's order. An expectation's value is a `Value` when it is a number,
    a string or a boolean, else JSON text in `serialized_value`, as MLflow's client writes and reads it."""
    out: dict[str, Any] = {
        "assessment_id": row.assessment_id,
        "assessment_name": row.name,
        "trace_id": row.trace_id,
    }
    if row.span_id is not None:
        out["span_id"] = row.span_id
    source: dict[str, Any] = {"source_type": row.source_type}
    if row.source_id is not None:
        source["source_id"] = row.source_id
    out["source"] = source
    out["create_time"] = timestamp_text(row.create_time)
    out["last_update_time"] = timestamp_text(row.last_update_time)
    value = None if row.value is None else orjson.loads(row.value)
    if row.kind == ISSUE:
        issue_name = value.get("issue_name") if isinstance(value, dict) else None
        out["issue"] = {"issue_name": issue_name} if issue_name else {}
    elif row.kind == EXPECTATION:
        if isinstance(value, bool | int | float | str):
            out["expectation"] = {"value": value}
        else:
            serialized = {"serialization_format": JSON_FORMAT, "value": json.dumps(value)}
            out["expectation"] = {"serialized_value": serialized}
    else:
        feedback: dict[str, Any] = {"value": value}
        if row.error is not None:
            feedback["error"] = _error_json(orjson.loads(row.error))
        out["feedback"] = feedback
    if row.rationale is not None:
        out["rationale"] = row.rationale
    if row.assessment_metadata:
        out["metadata"] = orjson.loads(row.assessment_metadata)
    if row.overrides:
        out["overrides"] = row.overrides
    out["valid"] = row.valid
    return out
