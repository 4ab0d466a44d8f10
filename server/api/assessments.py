"""Assessment RPCs (MLflow 3): feedback and expectations on a trace, created, read, updated and deleted under the
trace they belong to.

CreateAssessment's path names the trace as `{assessment.trace_id}`, a field of the body; it is served as a plain
path segment (as MLflow's server does), and that segment is the trace the caller's access is checked on and the one
the assessment goes to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.trace_json import assessment_changes, assessment_in
from server.api.wire import Fields, missing
from server.auth import rules as access
from server.services import assessments
from server.services.assessment_messages import assessment_json
from server.web.context import Context


def _required(fields: Fields, name: str) -> Any:
    value = fields.raw(name)
    if value is None or value == "":
        raise missing(name)
    return value


def create_assessment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    incoming = assessment_in(_required(fields, "assessment"))
    row = assessments.create_assessment(session, fields.required_string("trace_id"), incoming)
    return {"assessment": assessment_json(row)}


def get_assessment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    trace_id, assessment_id = fields.required_string("trace_id"), fields.required_string("assessment_id")
    return {"assessment": assessment_json(assessments.get_assessment(session, trace_id, assessment_id))}


def update_assessment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    body = _required(fields, "assessment")
    changes = assessment_changes(body, _required(fields, "update_mask"))
    trace_id, assessment_id = fields.required_string("trace_id"), fields.required_string("assessment_id")
    return {"assessment": assessment_json(assessments.update_assessment(session, trace_id, assessment_id, changes))}


def delete_assessment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    assessments.delete_assessment(session, fields.required_string("trace_id"), fields.required_string("assessment_id"))
    return {}


_ONE = "/mlflow/traces/{trace_id}/assessments/{assessment_id}"

RPCS = [
    Rpc(
        "POST",
        "/mlflow/traces/{assessment.trace_id}/assessments",
        create_assessment,
        since=3,
        access=access.trace(access.EDIT),
    ),
    Rpc("GET", _ONE, get_assessment, since=3, access=access.trace(access.READ)),
    Rpc("PATCH", _ONE, update_assessment, since=3, access=access.trace(access.EDIT)),
    Rpc("DELETE", _ONE, delete_assessment, since=3, access=access.trace(access.EDIT)),
]
