"""SQL for review queues: the queues, their assigned users and questions (label schemas), and the traces in them.

A queue's users and questions are small sets read for a whole page of queues at once; its items are many and are
read a page at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.store import scope
from server.store.dialect import insert_ignore
from server.store.genai_models import ReviewQueue, ReviewQueueItem, ReviewQueueLabelSchema, ReviewQueueUser
from server.store.models import Trace
from server.store.unique_insert import add_unless_taken


def find(session: Session, queue_id: str, *, for_update: bool = False) -> ReviewQueue | None:
    """`for_update` locks the queue row (PostgreSQL), so that attaching items and changing the questions, which
    must not interleave, take turns."""
    query = select(ReviewQueue).where(ReviewQueue.queue_id == queue_id, scope.visible(ReviewQueue.experiment_id))
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def find_by_name_key(session: Session, experiment_id: int, name_key: str) -> ReviewQueue | None:
    query = select(ReviewQueue).where(ReviewQueue.experiment_id == experiment_id, ReviewQueue.name_key == name_key)
    return session.scalars(query).one_or_none()


def insert(session: Session, queue: ReviewQueue, users: Sequence[str], schema_ids: Sequence[str]) -> bool:
    """Add the queue with its users and questions; False (and nothing added) when its name was taken meanwhile."""
    if not add_unless_taken(session, queue):
        return False
    replace_users(session, queue.queue_id, users)
    replace_schemas(session, queue.queue_id, schema_ids)
    return True


def rename(session: Session, queue: ReviewQueue, name: str) -> bool:
    """Rename the queue; False (and not renamed) when another queue of the experiment took the name meanwhile."""
    try:
        with session.begin_nested():
            queue.name, queue.name_key = name, name.lower()
            session.flush()
    except IntegrityError:
        return False
    return True


def replace_users(session: Session, queue_id: str, users: Sequence[str]) -> None:
    session.execute(delete(ReviewQueueUser).where(ReviewQueueUser.queue_id == queue_id))
    session.add_all(ReviewQueueUser(queue_id=queue_id, user_id=user) for user in users)
    session.flush()


def replace_schemas(session: Session, queue_id: str, schema_ids: Sequence[str]) -> None:
    session.execute(delete(ReviewQueueLabelSchema).where(ReviewQueueLabelSchema.queue_id == queue_id))
    session.add_all(ReviewQueueLabelSchema(queue_id=queue_id, schema_id=schema_id) for schema_id in schema_ids)
    session.flush()


def users_of(session: Session, queue_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each queue's assigned users, sorted (as MLflow lists them; sorted here, so both databases agree)."""
    query = select(ReviewQueueUser.queue_id, ReviewQueueUser.user_id).where(
        ReviewQueueUser.queue_id.in_(list(queue_ids))
    )
    return _grouped(session, queue_ids, query)


def schemas_of(session: Session, queue_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each queue's questions (label schema ids), sorted (as MLflow lists them)."""
    query = select(ReviewQueueLabelSchema.queue_id, ReviewQueueLabelSchema.schema_id).where(
        ReviewQueueLabelSchema.queue_id.in_(list(queue_ids))
    )
    return _grouped(session, queue_ids, query)


def _grouped(session: Session, queue_ids: Sequence[str], query: Select[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {queue_id: [] for queue_id in queue_ids}
    if queue_ids:
        for queue_id, value in session.execute(query).tuples():
            found[queue_id].append(value)
    return {queue_id: sorted(values) for queue_id, values in found.items()}


def list_page(
    session: Session,
    experiment_id: int,
    *,
    assigned_to: Sequence[str],
    item_id: str | None,
    offset: int,
    limit: int,
) -> list[ReviewQueue]:
    """Newest first, as MLflow lists them; only queues assigned to every one of `assigned_to`, and with `item_id`
    only those holding that item."""
    conditions: list[ColumnElement[bool]] = [ReviewQueue.experiment_id == experiment_id]
    for user in assigned_to:
        assigned = select(ReviewQueueUser.queue_id).where(ReviewQueueUser.user_id == user)
        conditions.append(ReviewQueue.queue_id.in_(assigned))
    if item_id is not None:
        holding = select(ReviewQueueItem.queue_id).where(ReviewQueueItem.item_id == item_id)
        conditions.append(ReviewQueue.queue_id.in_(holding))
    query = (
        select(ReviewQueue)
        .where(*conditions)
        .order_by(ReviewQueue.creation_time_ms.desc(), ReviewQueue.queue_id)
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query))


def delete_queue(session: Session, queue: ReviewQueue) -> None:
    """The queue with its users, questions and items (the database cascades); assessments on its traces stay."""
    session.delete(queue)
    session.flush()


# --- items ----------------------------------------------------------------------------------------------------------


def items(session: Session, queue_id: str, item_ids: Sequence[str]) -> dict[str, ReviewQueueItem]:
    if not item_ids:
        return {}
    query = select(ReviewQueueItem).where(ReviewQueueItem.queue_id == queue_id, ReviewQueueItem.item_id.in_(item_ids))
    return {item.item_id: item for item in session.scalars(query)}


def trace_experiments(session: Session, trace_ids: Sequence[str]) -> dict[str, int]:
    """The experiment of each of `trace_ids` that exists. The traces are share-locked (PostgreSQL) until the
    transaction ends, so one deleted meanwhile takes its new queue items with it instead of failing their insert."""
    if not trace_ids:
        return {}
    query = (
        select(Trace.trace_id, Trace.experiment_id)
        .where(Trace.trace_id.in_(list(trace_ids)), scope.visible(Trace.experiment_id))
        .order_by(Trace.trace_id)  # lock in one order, so concurrent attaches cannot deadlock
        .with_for_update(read=True)
    )
    return {row.trace_id: row.experiment_id for row in session.execute(query)}


def add_items(session: Session, rows: Sequence[dict[str, object]]) -> None:
    """Attach items; one already attached (by an earlier or a concurrent call) keeps its row and status."""
    insert_ignore(session, ReviewQueueItem, sorted(rows, key=lambda row: str(row["item_id"])))


def count_items(session: Session, queue_id: str) -> int:
    query = select(func.count()).select_from(ReviewQueueItem).where(ReviewQueueItem.queue_id == queue_id)
    return int(session.scalar(query) or 0)


def remove_items(session: Session, queue_id: str, item_ids: Sequence[str]) -> None:
    session.execute(
        delete(ReviewQueueItem).where(ReviewQueueItem.queue_id == queue_id, ReviewQueueItem.item_id.in_(item_ids))
    )


def item_page(session: Session, queue_id: str, *, status: str | None, offset: int, limit: int) -> list[ReviewQueueItem]:
    """Newest attached first, as MLflow lists them; the id breaks ties so that pages never overlap."""
    conditions: list[ColumnElement[bool]] = [ReviewQueueItem.queue_id == queue_id]
    if status is not None:
        conditions.append(ReviewQueueItem.status == status)
    query = (
        select(ReviewQueueItem)
        .where(*conditions)
        .order_by(ReviewQueueItem.creation_time_ms.desc(), ReviewQueueItem.item_id)
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query))
