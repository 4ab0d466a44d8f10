"""Reads and writes of traces, their tags and metadata, and their spans.

Writes are upserts keyed by trace id and span id, so a retried request changes nothing. Deletes go in batches of
a bounded number of traces, each its own statement, so removing a large backlog never holds one long lock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from server.store import scope
from server.store.dialect import insert_ignore, json_text, upsert
from server.store.models import Span, Trace, TraceMetadata, TracePromptLink, TraceRunLink, TraceTag

DELETE_BATCH = 1000  # traces per statement, and per transaction when deleting by time
_SPAN_COLUMNS = ["parent_span_id", "name", "span_type", "status", "start_time_ns", "end_time_ns", "payload", "content"]


def find_trace(session: Session, trace_id: str) -> Trace | None:
    trace = session.get(Trace, trace_id)
    return None if trace is None or scope.hides(session, trace.experiment_id) else trace


def find_traces(session: Session, trace_ids: Sequence[str]) -> list[Trace]:
    if not trace_ids:
        return []
    query = select(Trace).where(Trace.trace_id.in_(list(trace_ids)), scope.visible(Trace.experiment_id))
    return list(session.scalars(query))


def insert_trace_if_new(session: Session, row: dict[str, Any]) -> None:
    insert_ignore(session, Trace, [row])


def trace_states(session: Session, trace_ids: Sequence[str]) -> dict[str, tuple[int, bool]]:
    """(experiment, finalized) of the traces among `trace_ids` that exist."""
    if not trace_ids:
        return {}
    query = select(Trace.trace_id, Trace.experiment_id, Trace.finalized).where(Trace.trace_id.in_(list(trace_ids)))
    return {trace_id: (experiment_id, finalized) for trace_id, experiment_id, finalized in session.execute(query)}


def insert_traces_if_new(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    insert_ignore(session, Trace, sorted(rows, key=lambda row: row["trace_id"]))  # key order: no deadlocks


def complete_traces(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Update traces by primary key, one executemany for all of them."""
    if rows:
        session.execute(update(Trace), sorted(rows, key=lambda row: row["trace_id"]))


def set_tags_many(session: Session, tags: Sequence[tuple[str, str, str]]) -> None:
    upsert(session, TraceTag, _unique_rows(tags), ["value"])


def set_metadata_many(session: Session, metadata: Sequence[tuple[str, str, str]]) -> None:
    upsert(session, TraceMetadata, _unique_rows(metadata), ["value"])


def _unique_rows(items: Sequence[tuple[str, str, str]]) -> list[dict[str, str]]:
    """One row per (trace, key), the last value winning (PostgreSQL refuses an upsert that names a key twice), in
    key order, so concurrent requests lock rows in the same order and cannot deadlock."""
    rows = {(trace_id, key): value for trace_id, key, value in items}
    return [{"trace_id": trace_id, "key": key, "value": value} for (trace_id, key), value in sorted(rows.items())]


def set_tags(session: Session, trace_id: str, tags: dict[str, str]) -> None:
    set_tags_many(session, [(trace_id, key, value) for key, value in tags.items()])


def delete_tag(session: Session, trace_id: str, key: str) -> bool:
    result = session.execute(delete(TraceTag).where(TraceTag.trace_id == trace_id, TraceTag.key == key))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def set_metadata(session: Session, trace_id: str, metadata: dict[str, str]) -> None:
    set_metadata_many(session, [(trace_id, key, value) for key, value in metadata.items()])


def upsert_spans(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """A span sent again replaces itself; within one request the last copy wins (PostgreSQL refuses an upsert
    that names a key twice)."""
    unique = {(row["trace_id"], row["span_id"]): row for row in rows}
    upsert(session, Span, [unique[key] for key in sorted(unique)], _SPAN_COLUMNS)  # key order: no deadlocks


def add_metadata_if_absent(session: Session, metadata: Sequence[tuple[str, str, str]]) -> None:
    """Metadata the trace does not have yet; a key it has keeps its value."""
    insert_ignore(session, TraceMetadata, _unique_rows(metadata))


def span_attribute_values(
    session: Session, trace_ids: Sequence[str], key: str
) -> list[tuple[str, str, str | None, str]]:
    """(trace, span, parent span, value) of the stored spans of these traces that have the attribute `key`."""
    value = json_text(Span.content, "attributes", key)
    query = select(Span.trace_id, Span.span_id, Span.parent_span_id, value).where(
        Span.trace_id.in_(list(trace_ids)), value.is_not(None)
    )
    return [(trace_id, span_id, parent, text) for trace_id, span_id, parent, text in session.execute(query)]


def has_spans(session: Session, trace_id: str) -> bool:
    return session.scalar(select(Span.span_id).where(Span.trace_id == trace_id).limit(1)) is not None


def span_payloads(session: Session, trace_id: str) -> list[bytes]:
    """A trace's spans in the order they started (ties by id, so the order is stable)."""
    query = select(Span.payload).where(Span.trace_id == trace_id).order_by(Span.start_time_ns, Span.span_id)
    return list(session.scalars(query))


def tags_of(session: Session, trace_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    return _key_values(session, TraceTag, trace_ids)


def metadata_of(session: Session, trace_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    return _key_values(session, TraceMetadata, trace_ids)


def _key_values(
    session: Session, table: type[TraceTag] | type[TraceMetadata], trace_ids: Iterable[str]
) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = defaultdict(dict)
    ids = list(trace_ids)
    if ids:
        for trace_id, key, value in session.execute(
            select(table.trace_id, table.key, table.value).where(table.trace_id.in_(ids))
        ):
            found[trace_id][key] = value
    return found


def delete_traces(session: Session, experiment_id: int, trace_ids: Sequence[str]) -> int:
    """Delete the named traces of one experiment (others are left alone); their spans and tags go with them."""
    deleted = 0
    for start in range(0, len(trace_ids), DELETE_BATCH):
        batch = list(trace_ids[start : start + DELETE_BATCH])
        result = session.execute(delete(Trace).where(Trace.experiment_id == experiment_id, Trace.trace_id.in_(batch)))
        deleted += result.rowcount  # type: ignore[attr-defined]
    return deleted


def oldest_trace_ids(session: Session, experiment_id: int, before_ms: int, limit: int) -> list[str]:
    """Up to `limit` traces of the experiment that started at or before `before_ms`, oldest first."""
    query = (
        select(Trace.trace_id)
        .where(Trace.experiment_id == experiment_id, Trace.request_time <= before_ms)
        .order_by(Trace.request_time, Trace.trace_id)
        .limit(limit)
    )
    return list(session.scalars(query))


def link_to_run(session: Session, trace_ids: Sequence[str], run_id: str) -> None:
    insert_ignore(session, TraceRunLink, [{"trace_id": trace_id, "run_id": run_id} for trace_id in trace_ids])


def link_prompts(session: Session, trace_id: str, prompt_versions: Sequence[str]) -> None:
    rows = [{"trace_id": trace_id, "prompt_version": version} for version in dict.fromkeys(prompt_versions)]
    insert_ignore(session, TracePromptLink, rows)
