"""Reads and writes of GenAI issues, and their search with MLflow's fixed ordering.

A trace is linked to an issue by an assessment of kind `issue` whose name is the issue's id (what `mlflow.log_issue`
writes), so an issue's trace count is the number of distinct traces holding one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, null, select
from sqlalchemy.orm import Session

from server.store import scope
from server.store.genai_models import Issue
from server.store.models import Assessment, Experiment, Run
from server.store.paging import decode_offset, encode_offset

# MLflow's IssueSeverity in rising order; a search lists the most severe first, issues without one last.
SEVERITY_RANK = {"not_an_issue": 0, "low": 1, "medium": 2, "high": 3}
ISSUE_ASSESSMENT = "issue"


@dataclass(frozen=True, slots=True)
class IssuePage:
    issues: list[tuple[Issue, int | None]]  # each issue with its trace count, when one was asked for
    next_page_token: str | None


def find(session: Session, issue_id: str, *, for_update: bool = False) -> Issue | None:
    query = select(Issue).where(Issue.issue_id == issue_id, scope.visible(Issue.experiment_id))
    return session.scalars(query.with_for_update() if for_update else query).one_or_none()


def experiment_of(session: Session, issue_id: str) -> int | None:
    query = select(Issue.experiment_id).where(Issue.issue_id == issue_id, scope.visible(Issue.experiment_id))
    return session.scalar(query)


def run_exists(session: Session, run_id: str) -> bool:
    query = select(Run.run_uuid).where(Run.run_uuid == run_id, scope.visible(Run.experiment_id))
    return session.scalar(query) is not None


def in_experiments(experiments: ColumnElement[bool]) -> ColumnElement[bool]:
    """Issues of the experiments a condition on `Experiment` selects (the ones a caller may read)."""
    return Issue.experiment_id.in_(select(Experiment.experiment_id).where(experiments))


def add(session: Session, issue: Issue) -> None:
    session.add(issue)
    session.flush()


def search(
    session: Session,
    *,
    conditions: Sequence[ColumnElement[bool]],
    with_trace_count: bool,
    max_results: int,
    page_token: str | None,
) -> IssuePage:
    """One page of the issues matching every condition: most severe first, then (when counted) the most traces,
    then the newest, then by id, as MLflow's `search_issues` orders them."""
    offset = decode_offset(page_token)
    severity = case(SEVERITY_RANK, value=Issue.severity, else_=-1)
    if with_trace_count:
        traces = (
            select(func.count(func.distinct(Assessment.trace_id)))
            .where(Assessment.kind == ISSUE_ASSESSMENT, Assessment.name == Issue.issue_id)
            .correlate(Issue)
            .scalar_subquery()
        )
        query = select(Issue, traces).order_by(severity.desc(), traces.desc())
    else:
        query = select(Issue, null()).order_by(severity.desc())
    query = query.where(*conditions).order_by(Issue.created_timestamp.desc(), Issue.issue_id.desc())
    rows = session.execute(query.offset(offset).limit(max_results + 1)).tuples().all()
    next_token = encode_offset(offset + max_results) if len(rows) > max_results else None
    return IssuePage([(issue, count) for issue, count in rows[:max_results]], next_token)
