"""The traces in a review queue and where each one's review stands, with MLflow's checks and wording.

Only traces of the queue's own experiment can be attached (MLflow's server refuses others as not existing there).
Attaching is idempotent: a trace already in the queue keeps its status. A status changes only when a reviewer sets
it, never because an assessment was logged: reviewers answer the queue's questions by logging feedback or
expectations on the trace itself, under the label schema's name, and the queue records only the workflow. Closing
an item (complete or declined) records who closed it; reopening it (pending) forgets that.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import MlflowError
from server.services import review_queue_rules as rules
from server.services.review_queues import find_queue
from server.store import paging
from server.store import review_queues as store
from server.store.genai_models import ReviewQueueItem
from server.store.search import Page


def add_items(session: Session, queue_id: str, item_ids: Sequence[str]) -> list[ReviewQueueItem]:
    """The queue's rows for the requested traces, in request order, new ones pending."""
    ids = rules.item_ids(item_ids)
    queue = find_queue(session, queue_id, for_update=True)
    experiments = store.trace_experiments(session, ids)
    if invalid := [trace_id for trace_id in ids if experiments.get(trace_id) != queue.experiment_id]:
        raise MlflowError.not_found(
            f"Cannot attach trace(s) {invalid} to review queue '{queue_id}': "
            f"they do not exist in experiment '{queue.experiment_id}'."
        )
    now = now_ms()
    store.add_items(
        session,
        [
            {
                "queue_id": queue.queue_id,
                "item_id": trace_id,
                "item_type": rules.TRACE,
                "status": rules.PENDING,
                "creation_time_ms": now,
                "last_update_time_ms": now,
            }
            for trace_id in ids
        ],
    )
    rows = store.items(session, queue.queue_id, ids)
    return [rows[trace_id] for trace_id in ids if trace_id in rows]


def remove_items(session: Session, queue_id: str, item_ids: Sequence[str]) -> None:
    """A no-op for traces not in the queue; their assessments stay on the traces."""
    ids = rules.item_ids(item_ids)
    store.remove_items(session, find_queue(session, queue_id).queue_id, ids)


def list_items(
    session: Session, queue_id: str, *, status: str | None, max_results: int, page_token: str | None
) -> Page[ReviewQueueItem]:
    """Newest attached first, optionally only those in one status."""
    offset = paging.decode_offset(page_token)
    queue = find_queue(session, queue_id)
    rows = store.item_page(session, queue.queue_id, status=status, offset=offset, limit=max_results + 1)
    next_token = paging.encode_offset(offset + max_results) if len(rows) > max_results else None
    return Page(rows[:max_results], next_token)


def set_item_status(
    session: Session, queue_id: str, item_id: str, *, status: str, completed_by: str | None
) -> ReviewQueueItem:
    """Close (complete, declined: `completed_by` required) or reopen (pending: `completed_by` refused) an item. Setting
    the status it already has changes nothing, so a second reviewer closing it again does not take the credit."""
    item_id = item_id.strip()
    closer = rules.normal_user(completed_by) if completed_by is not None else None
    if status == rules.PENDING:
        if closer is not None:
            raise MlflowError.invalid_parameter("`completed_by` must not be set when reopening an item to `pending`.")
    elif not closer:
        raise MlflowError.invalid_parameter(f"`completed_by` is required when setting status to `{status}`.")
    if closer is not None and len(closer) > rules.USER_MAX_LENGTH:
        raise MlflowError.invalid_parameter(
            f"`completed_by` must be at most {rules.USER_MAX_LENGTH} characters; got {len(closer)}."
        )
    queue = find_queue(session, queue_id)
    item = store.items(session, queue.queue_id, [item_id]).get(item_id)
    if item is None:
        raise MlflowError.not_found(f"Item '{item_id}' is not attached to review queue '{queue_id}'.")
    if item.status == status:
        return item
    now = now_ms()
    item.status, item.last_update_time_ms = status, now
    item.completed_by, item.completed_time_ms = (None, None) if status == rules.PENDING else (closer, now)
    session.flush()
    return item
