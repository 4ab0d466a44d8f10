"""Rules for GenAI issues (MLflow 3.11+): problems found in an experiment's traces, with a status and a severity.

MLflow 3.17.2's server stores the fields of its CreateIssue and UpdateIssue messages and nothing else; a status or
severity MLflow's enums do not know fails there with a 500, and is a 400 here. A trace is linked to an issue by an
`issue` assessment (`mlflow.log_issue`), which is what a search's trace count counts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import ErrorCode, MlflowError
from server.services import validation
from server.store import experiments as experiment_store
from server.store import issues as store
from server.store.genai_models import Issue
from server.store.issue_grammar import parse_issue_filter
from server.store.issues import IssuePage

STATUSES = ("pending", "rejected", "resolved")  # MLflow's IssueStatus values
SEVERITIES = ("not_an_issue", "low", "medium", "high")  # MLflow's IssueSeverity values, least severe first
DEFAULT_MAX_RESULTS = 100  # SEARCH_ISSUES_DEFAULT_MAX_RESULTS
MAX_RESULTS_LIMIT = 50_000  # SEARCH_MAX_RESULTS_THRESHOLD
MAX_NAME_LENGTH = 250
MAX_CREATED_BY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class NewIssue:
    experiment_id: str
    name: str
    description: str
    status: str | None = None
    severity: str | None = None
    root_causes: tuple[str, ...] = ()
    source_run_id: str | None = None
    categories: tuple[str, ...] = ()
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class IssueChanges:
    """What an UpdateIssue changes; None leaves a field as it is (an empty name or description does too)."""

    name: str | None = None
    description: str | None = None
    status: str | None = None
    severity: str | None = None


def _checked(value: str | None, allowed: Sequence[str], field: str) -> str | None:
    if value is not None and value not in allowed:
        raise MlflowError.invalid_parameter(
            f"Invalid value '{value}' for parameter '{field}'. Valid values are: {', '.join(allowed)}"
        )
    return value


def _json_list(items: Sequence[str]) -> str | None:
    return json.dumps(list(items)) if items else None


def create_issue(session: Session, new: NewIssue) -> Issue:
    """A new issue, `pending` unless told otherwise, in an active experiment."""
    status = _checked(new.status, STATUSES, "status") or "pending"
    severity = _checked(new.severity, SEVERITIES, "severity")
    validation.limit_length("name", MAX_NAME_LENGTH, new.name)
    if new.created_by is not None:
        validation.limit_length("created_by", MAX_CREATED_BY_LENGTH, new.created_by)
    experiment_id = validation.parse_experiment_id(new.experiment_id)
    experiment = experiment_store.get_experiment(session, experiment_id)
    if experiment.lifecycle_stage != experiment_store.ACTIVE:  # MLflow looks among active experiments only
        raise MlflowError.not_found(f"No Experiment with id={experiment_id} exists")
    if new.source_run_id is not None and not store.run_exists(session, new.source_run_id):
        # MLflow's foreign key refuses it, and its store reports the violation as a BAD_REQUEST.
        raise MlflowError(f"Run with id={new.source_run_id} not found", ErrorCode.BAD_REQUEST)
    now = now_ms()
    issue = Issue(
        issue_id=f"iss-{uuid.uuid4().hex}",
        experiment_id=experiment_id,
        name=new.name,
        description=new.description,
        status=status,
        severity=severity,
        root_causes=_json_list(new.root_causes),
        source_run_id=new.source_run_id,
        categories=_json_list(new.categories),
        created_timestamp=now,
        last_updated_timestamp=now,
        created_by=new.created_by,
    )
    store.add(session, issue)
    return issue


def _existing(session: Session, issue_id: str, *, for_update: bool = False) -> Issue:
    issue = store.find(session, issue_id, for_update=for_update)
    if issue is None:
        raise MlflowError.not_found(f"Issue with ID '{issue_id}' not found")
    return issue


def get_issue(session: Session, issue_id: str) -> Issue:
    return _existing(session, issue_id)


def update_issue(session: Session, issue_id: str, changes: IssueChanges) -> Issue:
    status = _checked(changes.status, STATUSES, "status")
    severity = _checked(changes.severity, SEVERITIES, "severity")
    if changes.name is not None:
        validation.limit_length("name", MAX_NAME_LENGTH, changes.name)
    issue = _existing(session, issue_id, for_update=True)
    if status is not None:
        issue.status = status
    if changes.name is not None:
        issue.name = changes.name
    if changes.description is not None:
        issue.description = changes.description
    if severity is not None:
        issue.severity = severity
    issue.last_updated_timestamp = now_ms()
    session.flush()
    return issue


def _page_size(max_results: int | None) -> int:
    if max_results is None:
        return DEFAULT_MAX_RESULTS
    if max_results < 1:
        raise MlflowError.invalid_parameter(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        )
    if max_results > MAX_RESULTS_LIMIT:
        raise MlflowError.invalid_parameter(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at most {MAX_RESULTS_LIMIT}"
        )
    return max_results


def search_issues(
    session: Session,
    *,
    experiment_id: str | None,
    filter_string: str | None,
    max_results: int | None,
    page_token: str | None,
    include_trace_count: bool,
    visible: ColumnElement[bool] | None,
) -> IssuePage:
    """Issues of one experiment (any lifecycle stage, as in MLflow) or of every experiment the caller may read."""
    page_size = _page_size(max_results)
    conditions: list[ColumnElement[bool]] = []
    if experiment_id is not None:
        conditions.append(Issue.experiment_id == validation.parse_experiment_id(experiment_id))
    for comparison in parse_issue_filter(filter_string):
        column = Issue.status if comparison.key == "status" else Issue.source_run_id
        conditions.append(column == comparison.value if comparison.op == "=" else column != comparison.value)
    if visible is not None:
        conditions.append(store.in_experiments(visible))
    return store.search(
        session,
        conditions=conditions,
        with_trace_count=include_trace_count,
        max_results=page_size,
        page_token=page_token,
    )
