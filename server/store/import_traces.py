"""Rows written and read by `runyard import` for traces: a trace row inserted with the id, times and state it had
in the source (the server's own paths fill a trace in from two halves that may come in either order), its spans'
and assessments' rows read back whole for comparison with the source, and the totals the verification table shows.

Tags, metadata, spans and assessments are written through the same store functions the server's write paths use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.store.imports import id_chunks, insert_as_imported
from server.store.models import Assessment, Span, Trace


def insert_trace(session: Session, trace: Trace) -> None:
    """A trace row as the source had it (see `insert_as_imported`)."""
    insert_as_imported(session, trace, f"trace {trace.trace_id}")


def trace_experiments(session: Session, trace_ids: Sequence[str]) -> dict[str, int]:
    """The experiment of each of these traces the destination holds."""
    found: dict[str, int] = {}
    for chunk in id_chunks(trace_ids):
        query = select(Trace.trace_id, Trace.experiment_id).where(Trace.trace_id.in_(chunk))
        for trace_id, experiment_id in session.execute(query):
            found[trace_id] = experiment_id
    return found


def span_rows(session: Session, trace_id: str) -> list[dict[str, Any]]:
    """Every column of the trace's spans, by span id."""
    rows = session.scalars(select(Span).where(Span.trace_id == trace_id).order_by(Span.span_id))
    return [{column.key: getattr(row, column.key) for column in Span.__table__.columns} for row in rows]


def assessment_rows(session: Session, trace_id: str) -> list[dict[str, Any]]:
    """Every column of the trace's assessments, by assessment id."""
    query = select(Assessment).where(Assessment.trace_id == trace_id).order_by(Assessment.assessment_id)
    columns = [column.key for column in Assessment.__table__.columns]
    return [{key: getattr(row, key) for key in columns} for row in session.scalars(query)]


@dataclass(frozen=True, slots=True)
class TraceTotals:
    traces: int = 0
    spans: int = 0
    assessments: int = 0


def trace_totals(session: Session, trace_ids: Sequence[str]) -> TraceTotals:
    """How many of these traces the destination holds, and their spans and assessments."""
    totals = [0, 0, 0]
    for chunk in id_chunks(trace_ids):
        for index, column in enumerate((Trace.trace_id, Span.trace_id, Assessment.trace_id)):
            totals[index] += session.scalar(select(func.count()).where(column.in_(chunk))) or 0
    return TraceTotals(*totals)
