"""The web UI's buttons that start MLflow's GenAI jobs (MLflow 3.5+, `/ajax-api/3.0` only): run a judge on chosen
traces (`scorer/invoke`), run an evaluation of traces with judges into a new run (`genai/evaluate/invoke`), and
detect issues in traces with an LLM into a new run (`issues/invoke`).
Both queue jobs on Runyard's job queue (`services.genai_invoke`) and answer their ids at once; the caller needs EDIT on
the experiment, and every trace named must be that experiment's."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.wire import Fields, invalid, missing
from server.auth import rules
from server.errors import MlflowError
from server.permissions import Permission
from server.services import genai_invoke
from server.services import validation as checks
from server.web.context import Context

UI_ONLY = ("/ajax-api",)


def _caller() -> str | None:
    principal = rules.current_principal()
    return principal.username if principal is not None else None


def _trace_ids(value: Any) -> list[str]:
    """Deduplicated, first occurrence kept, so a trace named twice is scored once."""
    if not value:
        raise MlflowError.invalid_parameter("Please select at least one trace to evaluate.")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MlflowError.invalid_parameter("trace_ids must be a list of strings")
    return list(dict.fromkeys(value))


def invoke_scorer(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    for required in ("experiment_id", "serialized_scorer"):
        if not fields.raw(required):
            raise MlflowError.invalid_parameter(f"Missing required parameter: {required}")
    trace_ids = _trace_ids(fields.raw("trace_ids"))
    name, version = fields.raw("scorer_name"), fields.raw("scorer_version")
    if (name is None) != (version is None):
        raise MlflowError.invalid_parameter("scorer_name and scorer_version must be specified together")
    if name is not None and (not isinstance(name, str) or not isinstance(version, int) or isinstance(version, bool)):
        raise MlflowError.invalid_parameter("scorer_name must be a string and scorer_version must be an integer")
    serialized = fields.raw("serialized_scorer")
    if not isinstance(serialized, str):
        raise invalid("serialized_scorer", serialized)
    jobs = genai_invoke.invoke_scorer(
        session,
        context.settings,
        experiment_id=checks.parse_experiment_id(str(fields.raw("experiment_id"))),
        serialized_scorer=serialized,
        trace_ids=trace_ids,
        log_assessments=fields.boolean("log_assessments"),
        scorer_name=name,
        scorer_version=version,
        username=_caller(),
    )
    return {"jobs": jobs}


def invoke_evaluate(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    for required in ("experiment_id", "trace_ids", "serialized_scorers"):
        if fields.raw(required) in (None, ""):
            raise missing(required)
    experiment_id = fields.raw("experiment_id")
    if not isinstance(experiment_id, str):
        raise invalid("experiment_id", experiment_id)
    for listed in ("trace_ids", "serialized_scorers", "scorer_versions"):
        if fields.has(listed) and not isinstance(fields.raw(listed), list):
            raise invalid(listed, fields.raw(listed))
    if not all(isinstance(item, str) for item in fields.raw("trace_ids")):
        raise invalid("trace_ids", fields.raw("trace_ids"))
    trace_ids = _trace_ids(fields.raw("trace_ids"))
    serialized_scorers = fields.raw("serialized_scorers")
    if not serialized_scorers:
        raise MlflowError.invalid_parameter("Please select at least one judge.")
    versions = fields.raw("scorer_versions") if fields.has("scorer_versions") else [None] * len(serialized_scorers)
    return genai_invoke.invoke_evaluate(
        session,
        context.settings,
        experiment_id=checks.parse_experiment_id(experiment_id),
        trace_ids=trace_ids,
        serialized_scorers=serialized_scorers,
        scorer_versions=versions,
        username=_caller(),
        artifact_destination=context.artifacts.destination_uri,
    )


def invoke_issue_detection(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    """The Traces page's "Detect issues" button: fields checked in MLflow's order and with its messages."""
    for name, kind in (("experiment_id", str), ("trace_ids", list), ("categories", list), ("provider", str)):
        value = fields.raw(name)
        if value is None or value == "":
            raise missing(name)
        if not isinstance(value, kind):
            raise invalid(name, value)
    if not all(isinstance(item, str) for item in fields.raw("trace_ids")):
        raise invalid("trace_ids", fields.raw("trace_ids"))
    optional: dict[str, str | None] = {}
    for name in ("model", "secret_id", "endpoint_name"):
        value = fields.raw(name)
        if value is not None and not isinstance(value, str):
            raise invalid(name, value)
        optional[name] = value
    return genai_invoke.invoke_issue_detection(
        session,
        context.settings,
        experiment_id=checks.parse_experiment_id(fields.raw("experiment_id")),
        trace_ids=list(dict.fromkeys(fields.raw("trace_ids"))),
        categories=fields.raw("categories"),
        provider=fields.raw("provider"),
        model=optional["model"],
        secret_id=optional["secret_id"],
        endpoint_name=optional["endpoint_name"],
        username=_caller(),
        artifact_destination=context.artifacts.destination_uri,
    )


EDIT_EXPERIMENT = rules.experiment(Permission.EDIT)

RPCS = [
    Rpc("POST", "/mlflow/scorer/invoke", invoke_scorer, since=3, prefixes=UI_ONLY, access=EDIT_EXPERIMENT),
    Rpc("POST", "/mlflow/genai/evaluate/invoke", invoke_evaluate, since=3, prefixes=UI_ONLY, access=EDIT_EXPERIMENT),
    Rpc("POST", "/mlflow/issues/invoke", invoke_issue_detection, since=3, prefixes=UI_ONLY, access=EDIT_EXPERIMENT),
]
