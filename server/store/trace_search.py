"""`searchTraces`: MLflow's trace filter and order_by, as one query over the trace rows of some experiments.

Every clause becomes a column comparison or an EXISTS on the tag, metadata or span table, so a page reads only the
traces it returns; the default order (newest first, then by id) is backed by the (experiment, request time) index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, true
from sqlalchemy.orm import Session

from server.store import trace_grammar as grammar
from server.store.models import Span, Trace, TraceMetadata, TracePromptLink, TraceRunLink, TraceTag
from server.store.search import Page, _compare, _paginate
from server.store.search_grammar import Comparison, OrderKey

_ATTRIBUTES: dict[str, Any] = {
    "request_id": Trace.trace_id,
    "timestamp_ms": Trace.request_time,
    "execution_time_ms": Trace.execution_duration,
    "end_time_ms": Trace.request_time + Trace.execution_duration,
    "status": Trace.state,
    "client_request_id": Trace.client_request_id,
    "experiment_id": Trace.experiment_id,
}
_SPAN_COLUMNS: dict[str, Any] = {"name": Span.name, "type": Span.span_type, "status": Span.status}


def _keyed(table: type[TraceTag] | type[TraceMetadata], c: Comparison) -> ColumnElement[bool]:
    keyed = and_(table.trace_id == Trace.trace_id, table.key == c.key)
    if c.op == "IS NULL":
        return ~exists().where(keyed)
    if c.op == "IS NOT NULL":
        return exists().where(keyed)
    return exists().where(keyed, _compare(table.value, c.op, c.value))


def _condition(c: Comparison) -> ColumnElement[bool]:
    if c.kind == "tag" and c.key == grammar.TRACE_NAME_TAG:  # the name is a column of the trace row
        if c.op == "IS NULL":
            return Trace.name.is_(None)
        if c.op == "IS NOT NULL":
            return Trace.name.is_not(None)
        return _compare(Trace.name, c.op, c.value)
    if c.kind == "tag" and c.key == grammar.TRACE_LINKED_PROMPTS:  # `prompt = "name/version"`
        return exists().where(TracePromptLink.trace_id == Trace.trace_id, TracePromptLink.prompt_version == c.value)
    if c.kind == "tag":
        return _keyed(TraceTag, c)
    if c.kind == "metadata" and c.key == grammar.TRACE_SOURCE_RUN and c.op in ("=", "IN"):
        # `run_id` matches the traces made inside the run and those linked to it later.
        linked = exists().where(TraceRunLink.trace_id == Trace.trace_id, _compare(TraceRunLink.run_id, c.op, c.value))
        return or_(_keyed(TraceMetadata, c), linked)
    if c.kind == "metadata":
        return _keyed(TraceMetadata, c)
    if c.kind == "span":
        return exists().where(Span.trace_id == Trace.trace_id, _compare(_SPAN_COLUMNS[c.key], c.op, c.value))
    return _compare(_ATTRIBUTES[c.key], c.op, c.value)


def matching(comparisons: Sequence[Comparison]) -> ColumnElement[bool]:
    """The condition on a `Trace` row that a parsed trace filter stands for (its clauses AND-ed)."""
    return and_(true(), *map(_condition, comparisons))


def _order_column(key: OrderKey) -> Any:
    if key.kind == "tag" and key.key == grammar.TRACE_NAME_TAG:
        return Trace.name
    if key.kind in ("tag", "metadata"):
        table = TraceTag if key.kind == "tag" else TraceMetadata
        return select(table.value).where(table.trace_id == Trace.trace_id, table.key == key.key).scalar_subquery()
    return _ATTRIBUTES[key.key]


def search_traces(
    session: Session,
    experiment_ids: Sequence[int],
    comparisons: Sequence[Comparison],
    order_by: Sequence[OrderKey],
    max_results: int,
    page_token: str | None,
) -> Page[Trace]:
    query = select(Trace).where(Trace.experiment_id.in_(list(experiment_ids)), *map(_condition, comparisons))
    ordering = []
    for key in order_by:
        column = _order_column(key)
        ordering.append(column.asc() if key.ascending else column.desc())
    if not order_by:
        ordering.append(Trace.request_time.desc())
    query = query.order_by(*ordering, Trace.trace_id)
    return _paginate(session, query, max_results, page_token)
