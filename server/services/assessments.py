"""Rules for assessments: feedback (a judgement of a trace or one of its spans, from a person, an LLM judge or code)
and expectations (the ground truth for it), as MLflow's SQL store keeps them.

An override is a new feedback naming the one it replaces in `overrides`: the old one stays, marked no longer
`valid`, and comes back valid when its last override is deleted. A trace's info lists all of its assessments, valid
or not, as MLflow does. Assessments logged while a trace is still running travel inside its info (StartTraceV3);
they are kept under ids derived from the trace, so a replayed StartTraceV3 changes nothing.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import MlflowError
from server.services import validation
from server.store import assessments as store
from server.store import traces as trace_store
from server.store.models import Assessment

FEEDBACK, EXPECTATION = "feedback", "expectation"
# A reference to an issue (`mlflow.log_issue`): named after the issue's id, its value `{"issue_name": ...}`.
ISSUE = "issue"
SOURCE_TYPES = ("SOURCE_TYPE_UNSPECIFIED", "HUMAN", "LLM_JUDGE", "CODE")  # in the order of their enum numbers
_SOURCE_TYPES_LISTED = ["SOURCE_TYPE_UNSPECIFIED", "LLM_JUDGE", "HUMAN", "CODE"]  # as MLflow's message lists them
MAX_NAME_LENGTH = 250
MAX_SOURCE_ID_LENGTH = 250
MAX_SPAN_ID_LENGTH = 16  # an OpenTelemetry span id: 8 bytes in hex
MAX_ASSESSMENT_ID_LENGTH = 50
STACK_TRACE_LIMIT = 10000  # as MLflow's AssessmentError keeps a stack trace
STACK_TRACE_CUT = "[Stack trace is truncated]\n...\n"
# Ids of assessments a trace's info carries without one (or with one another trace already has) derive from this.
_CARRIED_IDS = uuid.UUID("6d1b3f0e-59a4-4c36-9d7e-1f0b8a2c4e55")


@dataclass(frozen=True, slots=True)
class Valued:
    """A feedback's or an expectation's value (any JSON, null included) and, for feedback, the error it carries."""

    value: Any
    error: dict[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class AssessmentIn:
    """An assessment as a client sends it (CreateAssessment, or inside a trace's info)."""

    name: str
    feedback: Valued | None = None
    expectation: Valued | None = None
    issue: Valued | None = None
    source_type: str = "SOURCE_TYPE_UNSPECIFIED"
    source_id: str | None = None
    span_id: str | None = None
    rationale: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    overrides: str | None = None
    create_time: int | None = None
    last_update_time: int | None = None
    trace_id: str | None = None
    assessment_id: str | None = None  # kept only for assessments a trace's info carries


@dataclass(frozen=True, slots=True)
class AssessmentChanges:
    """The fields an UpdateAssessment's mask names; None is a field the mask leaves alone."""

    name: str | None = None
    feedback: Valued | None = None
    expectation: Valued | None = None
    rationale: str | None = None  # "" clears it
    metadata: dict[str, str] | None = None  # merged into the metadata already there
    valid: bool | None = None


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _stored_error(error: dict[str, str | None]) -> dict[str, str | None]:
    stack_trace = error.get("stack_trace") or None
    if stack_trace is not None and len(stack_trace) > STACK_TRACE_LIMIT:
        stack_trace = STACK_TRACE_CUT + stack_trace[-(STACK_TRACE_LIMIT - len(STACK_TRACE_CUT)) :]
    return {
        "error_code": error.get("error_code") or "",
        "error_message": error.get("error_message") or None,
        "stack_trace": stack_trace,
    }


def _kind(incoming: AssessmentIn) -> tuple[str, Valued]:
    if sum(value is not None for value in (incoming.feedback, incoming.expectation, incoming.issue)) > 1:
        raise MlflowError.invalid_parameter("Exactly one of `expectation`, `feedback`, or `issue` should be specified.")
    if incoming.feedback is not None:
        return FEEDBACK, incoming.feedback
    if incoming.expectation is not None:
        _require_expectation_value(incoming.expectation)
        return EXPECTATION, incoming.expectation
    if incoming.issue is not None:
        return ISSUE, incoming.issue
    raise MlflowError.invalid_parameter("Unknown assessment type: None")


def _require_expectation_value(expectation: Valued) -> None:
    if expectation.value is None:
        raise MlflowError.invalid_parameter("The `value` field must be specified.")


def _validate(incoming: AssessmentIn) -> tuple[str, Valued]:
    kind, valued = _kind(incoming)
    validation.limit_length("assessment_name", MAX_NAME_LENGTH, incoming.name)
    if incoming.source_type not in SOURCE_TYPES:
        raise MlflowError.invalid_parameter(
            f"Invalid assessment source type: {incoming.source_type}. Valid source types: {_SOURCE_TYPES_LISTED}"
        )
    if incoming.source_id is not None:
        validation.limit_length("source_id", MAX_SOURCE_ID_LENGTH, incoming.source_id)
    if incoming.span_id is not None:
        validation.limit_length("span_id", MAX_SPAN_ID_LENGTH, incoming.span_id)
    for name, value in (("overrides", incoming.overrides), ("assessment_id", incoming.assessment_id)):
        if value is not None:
            validation.limit_length(name, MAX_ASSESSMENT_ID_LENGTH, value)
    return kind, valued


def _columns(incoming: AssessmentIn, trace_id: str, assessment_id: str, now: int) -> dict[str, Any]:
    """The row of a new assessment. An expectation has no rationale and overrides nothing (MLflow drops both); an
    issue reference keeps its rationale and overrides nothing either."""
    kind, valued = _validate(incoming)
    feedback = kind == FEEDBACK
    return {
        "assessment_id": assessment_id,
        "trace_id": trace_id,
        "name": incoming.name,
        "kind": kind,
        "span_id": incoming.span_id or None,
        "source_type": incoming.source_type,
        "source_id": incoming.source_id or None,
        "value": _json(valued.value),
        "error": _json(_stored_error(valued.error)) if feedback and valued.error is not None else None,
        "rationale": (incoming.rationale or None) if kind in (FEEDBACK, ISSUE) else None,
        "assessment_metadata": _json(incoming.metadata) if incoming.metadata else None,
        "overrides": (incoming.overrides or None) if feedback else None,
        "valid": True,
        "create_time": incoming.create_time or now,
        "last_update_time": incoming.last_update_time or now,
    }


def _find(session: Session, trace_id: str, assessment_id: str) -> Assessment:
    row = store.find(session, trace_id, assessment_id)
    if row is None:
        if trace_store.find_trace(session, trace_id) is None:
            raise MlflowError.not_found(f"Trace with request_id '{trace_id}' not found")
        raise MlflowError.not_found(f"Assessment with ID '{assessment_id}' not found for trace '{trace_id}'")
    return row


def _invalidate(session: Session, trace_id: str, overridden: str) -> None:
    if not store.set_valid(session, trace_id, overridden, False):
        raise MlflowError.not_found(f"Assessment with ID '{overridden}' not found for trace '{trace_id}'")


class _AssessmentIds:
    """Ids of MLflow's form (`a-` and 32 hex digits) that begin with the time in nanoseconds, kept increasing within
    the process, so that assessments the client stamps with the same creation time (it stamps a batch at once) are
    listed in the order they were logged, as MLflow lists them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ns = 0

    def __call__(self) -> str:
        with self._lock:
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            stamp = self._last_ns
        return f"a-{stamp:016x}{secrets.token_hex(8)}"


_new_assessment_id = _AssessmentIds()


def create_assessment(session: Session, trace_id: str, incoming: AssessmentIn) -> Assessment:
    """A new assessment under a server-made id; the times the client gives are kept (MLflow keeps them too), and
    an override marks the feedback it replaces no longer valid."""
    if incoming.trace_id and incoming.trace_id != trace_id:
        raise MlflowError.invalid_parameter(
            f"The assessment names trace '{incoming.trace_id}' but is sent to trace '{trace_id}'."
        )
    row = Assessment(**_columns(incoming, trace_id, _new_assessment_id(), now_ms()))
    if trace_store.find_trace(session, trace_id) is None:
        raise MlflowError.not_found(f"Trace with ID '{trace_id}' not found.")
    if row.overrides:
        _invalidate(session, trace_id, row.overrides)
    store.add(session, row)
    return row


def get_assessment(session: Session, trace_id: str, assessment_id: str) -> Assessment:
    return _find(session, trace_id, assessment_id)


def update_assessment(session: Session, trace_id: str, assessment_id: str, changes: AssessmentChanges) -> Assessment:
    """Change the masked fields in place (source, span and times of creation stay); metadata is merged."""
    if changes.expectation is not None:
        _require_expectation_value(changes.expectation)
    row = _find(session, trace_id, assessment_id)
    if changes.expectation is not None and changes.feedback is not None:
        raise MlflowError.invalid_parameter("Cannot specify both `expectation` and `feedback` parameters.")
    if changes.expectation is not None and row.kind != EXPECTATION:
        raise MlflowError.invalid_parameter("Cannot update expectation value on a Feedback assessment.")
    if changes.feedback is not None and row.kind != FEEDBACK:
        raise MlflowError.invalid_parameter("Cannot update feedback value on an Expectation assessment.")
    if changes.name is not None:
        row.name = validation.limit_length("assessment_name", MAX_NAME_LENGTH, changes.name)
    if changes.feedback is not None:
        row.value = _json(changes.feedback.value)
        row.error = None if changes.feedback.error is None else _json(_stored_error(changes.feedback.error))
    if changes.expectation is not None:
        row.value = _json(changes.expectation.value)
    if changes.rationale is not None and row.kind in (FEEDBACK, ISSUE):
        row.rationale = changes.rationale or None
    if changes.metadata:
        merged = orjson.loads(row.assessment_metadata) if row.assessment_metadata else {}
        row.assessment_metadata = _json({**merged, **changes.metadata})
    if changes.valid is not None:
        row.valid = changes.valid
    row.last_update_time = now_ms()
    session.flush()
    return row


def delete_assessment(session: Session, trace_id: str, assessment_id: str) -> None:
    """Idempotent, as in MLflow: an assessment (or trace) that is not there is not an error. Deleting an override
    makes the feedback it replaced valid again, unless another override of it remains."""
    row = store.find(session, trace_id, assessment_id)
    if row is None:
        return
    overridden = row.overrides
    store.remove(session, row)
    if overridden and not store.is_overridden(session, trace_id, overridden):
        store.set_valid(session, trace_id, overridden, True)


def record_carried(session: Session, trace_id: str, carried: Sequence[AssessmentIn]) -> None:
    """Keep the assessments a finished trace's info carries: each under its own id when it has one no other trace
    holds, else under one derived from the trace (and its place in the list), so that a replay rewrites the same
    rows instead of adding new ones."""
    if not carried:
        return
    owners = store.owners(session, [item.assessment_id for item in carried if item.assessment_id])
    now = now_ms()
    rows: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(carried):
        if item.assessment_id and owners.get(item.assessment_id, trace_id) == trace_id:
            assessment_id = item.assessment_id
        else:
            seed = item.assessment_id or f"{index}/{item.name}/{item.create_time}"
            assessment_id = f"a-{uuid.uuid5(_CARRIED_IDS, f'{trace_id}/{seed}').hex}"
        rows[assessment_id] = _columns(item, trace_id, assessment_id, now)
    store.upsert_rows(session, list(rows.values()))
    for row in rows.values():
        if row["overrides"]:
            store.set_valid(session, trace_id, row["overrides"], False)


def imported_row(incoming: AssessmentIn, trace_id: str, assessment_id: str, *, valid: bool) -> dict[str, Any]:
    """The row of an assessment copied from another MLflow store by `runyard import`: its own id, times and
    validity kept, everything else checked and stored as a client's assessment is."""
    row = _columns(incoming, trace_id, assessment_id, now_ms())
    row["valid"] = valid
    return row
