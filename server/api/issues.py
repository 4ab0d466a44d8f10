"""Issue RPCs (MLflow 3.11+): create, get, update and search GenAI issues, with MLflow 3.17.2's fields.

SearchIssues always answers `next_page_token`, an empty string on the last page: MLflow sets the field explicitly,
and its clients and tests read it that way.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.wire import Fields
from server.auth import genai_access
from server.auth import rules as access
from server.services import issue_schedule
from server.services import issues as service
from server.store.genai_models import Issue
from server.web.context import Context


def issue_json(issue: Issue, trace_count: int | None = None) -> dict[str, Any]:
    """An `Issue` message: unset optional fields and empty lists are left out, as MLflow's printer does."""
    body: dict[str, Any] = {
        "issue_id": issue.issue_id,
        "experiment_id": str(issue.experiment_id),
        "name": issue.name,
        "description": issue.description,
        "status": issue.status,
    }
    if issue.severity:
        body["severity"] = issue.severity
    if issue.root_causes:
        body["root_causes"] = json.loads(issue.root_causes)
    if issue.source_run_id:
        body["source_run_id"] = issue.source_run_id
    body["created_timestamp"] = issue.created_timestamp
    body["last_updated_timestamp"] = issue.last_updated_timestamp
    if issue.created_by:
        body["created_by"] = issue.created_by
    if issue.categories:
        body["categories"] = json.loads(issue.categories)
    if trace_count is not None:
        body["trace_count"] = trace_count
    return body


def create_issue(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    name, description = fields.required_string("name"), fields.required_string("description")
    new = service.NewIssue(
        experiment_id=fields.required_string("experiment_id"),
        name=name,
        description=description,
        status=fields.string("status"),
        severity=fields.string("severity"),
        root_causes=tuple(fields.string_list("root_causes")),
        source_run_id=fields.string("source_run_id") or None,
        categories=tuple(fields.string_list("categories")),
        created_by=fields.string("created_by") or None,
    )
    return {"issue": issue_json(service.create_issue(session, new))}


def get_issue(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return {"issue": issue_json(service.get_issue(session, fields.required_string("issue_id")))}


def update_issue(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    changes = service.IssueChanges(
        name=fields.string("name") or None,
        description=fields.string("description") or None,
        status=fields.string("status"),
        severity=fields.string("severity"),
    )
    return {"issue": issue_json(service.update_issue(session, fields.required_string("issue_id"), changes))}


def _readable(context: Context, session: Session) -> ColumnElement[bool] | None:
    authorizer = context.authorizer
    return authorizer.readable_condition(session, access.current_principal()) if authorizer else None


def search_issues(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    page = service.search_issues(
        session,
        experiment_id=fields.string("experiment_id") or None,
        filter_string=fields.string("filter_string") or None,
        max_results=fields.integer("max_results"),
        page_token=fields.string("page_token") or None,
        include_trace_count=fields.boolean("include_trace_count"),
        visible=_readable(context, session),
    )
    body: dict[str, Any] = {}
    if page.issues:
        body["issues"] = [issue_json(issue, count) for issue, count in page.issues]
    body["next_page_token"] = page.next_page_token or ""
    return body


def sync_issue_detection_schedule_state(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """MLflow 3.18's UI calls this right after saving a detection schedule, to show when it next runs."""
    return {"next_fire_time_ms": issue_schedule.sync(session, fields.required_string("experiment_id"))}


_ONE = "/mlflow/issues/{issue_id}"

RPCS = [
    Rpc("POST", "/mlflow/issues", create_issue, since=3, access=access.experiment(access.EDIT)),
    Rpc("POST", "/mlflow/issues/search", search_issues, since=3, writes=False, access=genai_access.ISSUE_SEARCH),
    Rpc("GET", _ONE, get_issue, since=3, access=genai_access.issue(access.READ)),
    Rpc("PATCH", _ONE, update_issue, since=3, access=genai_access.issue(access.EDIT)),
    Rpc(
        "POST",
        "/mlflow/issues/schedule/state",
        sync_issue_detection_schedule_state,
        since=3,
        prefixes=("/ajax-api",),
        access=access.experiment(access.EDIT),
    ),
]
