"""`searchTraces`: MLflow's trace filter and order_by, as one query over the trace rows of some experiments.

Every clause becomes a column comparison or an EXISTS on the tag, metadata or span table, so a page reads only the
traces it returns; the default order (newest first, then by id) is backed by the (experiment, request time) index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Float, and_, case, cast, exists, func, not_, null, or_, select, true
from sqlalchemy.orm import Session, aliased

from server.store import scope
from server.store import trace_grammar as grammar
from server.store.dialect import json_text
from server.store.models import Assessment, Span, Trace, TraceMetadata, TracePromptLink, TraceRunLink, TraceTag
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
_SPAN_COLUMNS: dict[str, Any] = {
    "name": Span.name,
    "type": Span.span_type,
    "status": Span.status,
    grammar.SPAN_CONTENT: Span.content,
}
_SESSION_SCOPED = f'"{grammar.TRACE_SESSION}":'  # in an assessment's metadata: it speaks for its whole session
_NUMBER_START = list("-0123456789")


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
        return exists().where(Span.trace_id == Trace.trace_id, _compare(_span_column(c.key), c.op, c.value))
    if c.kind in ("feedback", "expectation"):
        return _assessment_condition(c)
    if c.kind == "issue":  # an issue a trace analysis found on the trace: an assessment named by the id
        return exists().where(
            Assessment.trace_id == Trace.trace_id, Assessment.kind == "issue", Assessment.name == c.value
        )
    return _compare(_ATTRIBUTES[c.key], c.op, c.value)


def _span_column(key: str) -> Any:
    if key.startswith(grammar.SPAN_ATTRIBUTE_PREFIX):
        return json_text(Span.content, "attributes", key[len(grammar.SPAN_ATTRIBUTE_PREFIX) :])
    return _SPAN_COLUMNS[key]


def _assessment_value(c: Comparison) -> ColumnElement[bool]:
    """How a valid assessment's value (JSON text) compares: < <= > >= on numbers only (not booleans), = and != on the
    JSON text or the string it holds (`feedback.rating = '5'` and `feedback.verdict = 'yes'` both match), LIKE,
    ILIKE and RLIKE on the JSON text, as MLflow's SQL store compares them."""
    if c.op in ("IS NULL", "IS NOT NULL"):
        return true()
    if c.op in ("<", "<=", ">", ">="):
        number = case(
            (func.substr(Assessment.value, 1, 1).in_(_NUMBER_START), cast(Assessment.value, Float)), else_=null()
        )
        return _compare(number, c.op, c.value)
    if c.op in ("=", "!="):
        equal = or_(Assessment.value == c.value, Assessment.value == orjson.dumps(c.value).decode())
        return equal if c.op == "=" else not_(equal)
    return _compare(Assessment.value, c.op, c.value)


def _assessment_condition(c: Comparison) -> ColumnElement[bool]:
    """Traces with a valid feedback or expectation of that name whose value matches, or without one (IS NULL). An
    assessment whose metadata names a session (`mlflow.trace.session`) counts for every trace of that session in
    the same experiment, as MLflow counts it."""
    named = and_(Assessment.kind == c.kind, Assessment.name == c.key, Assessment.valid.is_(True), _assessment_value(c))
    on_this_trace = exists().where(Assessment.trace_id == Trace.trace_id, named)
    assessed, assessed_session, own_session = aliased(Trace), aliased(TraceMetadata), aliased(TraceMetadata)
    on_its_session = exists().where(
        named,
        Assessment.assessment_metadata.contains(_SESSION_SCOPED),
        assessed.trace_id == Assessment.trace_id,
        assessed.experiment_id == Trace.experiment_id,
        assessed_session.trace_id == Assessment.trace_id,
        assessed_session.key == grammar.TRACE_SESSION,
        own_session.trace_id == Trace.trace_id,
        own_session.key == grammar.TRACE_SESSION,
        own_session.value == assessed_session.value,
    )
    found = or_(on_this_trace, on_its_session)
    return not_(found) if c.op == "IS NULL" else found


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
    experiment_ids = scope.visible_experiment_ids(session, experiment_ids)
    query = select(Trace).where(Trace.experiment_id.in_(list(experiment_ids)), *map(_condition, comparisons))
    ordering = []
    for key in order_by:
        column = _order_column(key)
        ordering.append(column.asc() if key.ascending else column.desc())
    if not order_by:
        ordering.append(Trace.request_time.desc())
    query = query.order_by(*ordering, Trace.trace_id)
    return _paginate(session, query, max_results, page_token)
