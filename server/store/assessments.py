"""Reads and writes of assessments (feedback and expectations on a trace).

Every lookup is by (trace, assessment id), never by the id alone: a request names a trace, the caller's right to
it is what was checked, and an assessment of another trace is not found through it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from server.store.dialect import dialect_insert, table_of
from server.store.models import Assessment

# What a replayed StartTraceV3 overwrites of an assessment it carries; `valid` is left as later overrides set it.
_UPSERT_COLUMNS = [
    "name",
    "kind",
    "span_id",
    "source_type",
    "source_id",
    "value",
    "error",
    "rationale",
    "assessment_metadata",
    "overrides",
    "create_time",
    "last_update_time",
]


def find(session: Session, trace_id: str, assessment_id: str) -> Assessment | None:
    query = select(Assessment).where(Assessment.trace_id == trace_id, Assessment.assessment_id == assessment_id)
    return session.scalars(query).one_or_none()


def add(session: Session, row: Assessment) -> None:
    session.add(row)
    session.flush()


def upsert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the rows, or overwrite those already there by id, but only when they belong to the same trace: an id
    another trace holds is never rewritten through this one."""
    if not rows:
        return
    table = table_of(Assessment)
    stmt = dialect_insert(session, Assessment)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.assessment_id],
        set_={name: stmt.excluded[name] for name in _UPSERT_COLUMNS},
        where=table.c.trace_id == stmt.excluded.trace_id,
    )
    session.execute(stmt, list(rows))


def owners(session: Session, assessment_ids: Sequence[str]) -> dict[str, str]:
    """The trace each of these assessment ids belongs to (ids no assessment has are left out)."""
    if not assessment_ids:
        return {}
    query = select(Assessment.assessment_id, Assessment.trace_id).where(
        Assessment.assessment_id.in_(list(assessment_ids))
    )
    return {row.assessment_id: row.trace_id for row in session.execute(query)}


def set_valid(session: Session, trace_id: str, assessment_id: str, valid: bool) -> bool:
    """Mark one assessment of the trace valid or not; False when the trace has no such assessment."""
    result = session.execute(
        update(Assessment)
        .where(Assessment.trace_id == trace_id, Assessment.assessment_id == assessment_id)
        .values(valid=valid)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def is_overridden(session: Session, trace_id: str, assessment_id: str) -> bool:
    """Whether some assessment of the trace still overrides this one."""
    query = select(exists().where(Assessment.trace_id == trace_id, Assessment.overrides == assessment_id))
    return bool(session.scalar(query))


def remove(session: Session, row: Assessment) -> None:
    session.delete(row)
    session.flush()


def of_traces(session: Session, trace_ids: Iterable[str]) -> dict[str, list[Assessment]]:
    """Each trace's assessments, valid or not, oldest first (ties by id), in one query for the lot."""
    found: dict[str, list[Assessment]] = defaultdict(list)
    ids = list(trace_ids)
    if ids:
        query = (
            select(Assessment)
            .where(Assessment.trace_id.in_(ids))
            .order_by(Assessment.trace_id, Assessment.create_time, Assessment.assessment_id)
        )
        for row in session.scalars(query):
            found[row.trace_id].append(row)
    return found
