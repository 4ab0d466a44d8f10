"""Rules for review queues: named worklists of an experiment's traces, the users who review them and the questions
they answer, with MLflow's checks, order and wording (the SQL store's review-queue CRUD).

A user queue is a person's own worklist: named after them, assigned to them alone, asking every question of the
experiment; nothing about it can be updated. A custom queue has any name but the reserved "default", 0 to 10 users
and the questions it is given, which are locked once it holds traces (answers already given would no longer match
its questions). Names are unique in an experiment without regard to case.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import ErrorCode, MlflowError
from server.services import review_queue_rules as rules
from server.services.labeling_scope import active_experiment_id
from server.store import label_schemas as schema_store
from server.store import paging
from server.store import review_queues as store
from server.store import users as user_store
from server.store.genai_models import ReviewQueue
from server.store.search import Page

QUEUE_ID_PREFIX = "rq-"


@dataclass(frozen=True, slots=True)
class QueueView:
    queue: ReviewQueue
    users: list[str]
    schema_ids: list[str]


@dataclass(frozen=True, slots=True)
class QueueChanges:
    """A sparse update: None leaves a field as it is; an empty list empties the set."""

    users: list[str] | None = None
    schema_ids: list[str] | None = None
    name: str | None = None
    new_owner: str | None = None

    @property
    def empty(self) -> bool:
        return self.users is None and self.schema_ids is None and self.name is None and self.new_owner is None


def views(session: Session, queues: Sequence[ReviewQueue]) -> list[QueueView]:
    ids = [queue.queue_id for queue in queues]
    users, schemas = store.users_of(session, ids), store.schemas_of(session, ids)
    return [QueueView(queue, users[queue.queue_id], schemas[queue.queue_id]) for queue in queues]


def _name_taken(name: str) -> MlflowError:
    return MlflowError.already_exists(f"Review queue with name '{name}' already exists (names are case-insensitive).")


def find_queue(session: Session, queue_id: str, *, for_update: bool = False) -> ReviewQueue:
    queue = store.find(session, queue_id, for_update=for_update)
    if queue is None:
        raise MlflowError.not_found(f"Review queue with id '{queue_id}' not found.")
    return queue


def _require_schemas(session: Session, experiment_id: int, shown_experiment: str, schema_ids: list[str]) -> None:
    found = schema_store.existing_ids(session, experiment_id, schema_ids)
    if missing := [schema_id for schema_id in schema_ids if schema_id not in found]:
        raise MlflowError.invalid_parameter(
            f"Label schema id(s) {missing} not found for experiment '{shown_experiment}'."
        )


def refuse_username_as_name(session: Session, name: str, *, rename: bool) -> None:
    """With sign-in on, a custom queue may not take a registered user's name (in any casing): it would pass for that
    user's own queue. MLflow's basic-auth app refuses it in these words."""
    target = name.strip().lower()
    if not target:
        return
    matched = next((u.username for u in user_store.list_users(session) if u.username.strip().lower() == target), None)
    if matched is not None:
        refusal = "be renamed to a username" if rename else "use a username as its name"
        raise MlflowError.invalid_parameter(
            f"'{matched}' is a registered user. A custom review queue cannot {refusal}; "
            "assign that user to a queue instead."
        )


def create_review_queue(
    session: Session,
    experiment_id: str,
    *,
    name: str,
    queue_type: str,
    users: Sequence[str],
    schema_ids: Sequence[str],
    created_by: str | None,
) -> QueueView:
    """Checks run in MLflow's order: the fields, the experiment, the questions, then the name's uniqueness."""
    shape = rules.queue_shape(name=name, queue_type=queue_type, users=users, schema_ids=schema_ids)
    experiment = active_experiment_id(session, experiment_id)
    _require_schemas(session, experiment, experiment_id, shape.schema_ids)
    name_key = shape.name.lower()
    if store.find_by_name_key(session, experiment, name_key) is not None:
        raise _name_taken(shape.name)
    now = now_ms()
    queue = ReviewQueue(
        queue_id=f"{QUEUE_ID_PREFIX}{uuid.uuid4().hex}",
        experiment_id=experiment,
        name=shape.name,
        name_key=name_key,
        queue_type=shape.queue_type,
        created_by=created_by,
        creation_time_ms=now,
        last_update_time_ms=now,
    )
    if not store.insert(session, queue, shape.users, shape.schema_ids):
        raise _name_taken(shape.name)
    return views(session, [queue])[0]


def get_or_create_user_queue(session: Session, experiment_id: str, user: str) -> QueueView:
    """The user's own queue, made (owned by that user) if it does not exist yet; a custom queue holding the user's
    name is refused rather than handed back as theirs."""
    name = rules.normal_user(user)
    rules.queue_shape(name=name, queue_type=rules.USER, users=[], schema_ids=[])
    experiment = active_experiment_id(session, experiment_id)
    existing = store.find_by_name_key(session, experiment, name.lower())
    if existing is None:
        try:
            return create_review_queue(
                session, experiment_id, name=name, queue_type=rules.USER, users=[], schema_ids=[], created_by=name
            )
        except MlflowError as error:
            if error.code != ErrorCode.RESOURCE_ALREADY_EXISTS:
                raise
            existing = store.find_by_name_key(session, experiment, name.lower())  # made meanwhile by another call
            if existing is None:
                raise
    if existing.queue_type != rules.USER:
        raise MlflowError.already_exists(
            f"A non-user queue named '{name}' already exists; cannot get-or-create a user queue with that name."
        )
    return views(session, [existing])[0]


def get_review_queue(session: Session, queue_id: str) -> QueueView:
    return views(session, [find_queue(session, queue_id)])[0]


def get_review_queue_by_name(session: Session, experiment_id: str, name: str) -> QueueView:
    queue = store.find_by_name_key(session, active_experiment_id(session, experiment_id), name.lower())
    if queue is None:
        raise MlflowError.not_found(f"Review queue with name '{name}' not found for experiment '{experiment_id}'.")
    return views(session, [queue])[0]


def list_review_queues(
    session: Session,
    experiment_id: str,
    *,
    user: str | None,
    item_id: str | None,
    assigned_to: str | None = None,
    max_results: int,
    page_token: str | None,
) -> Page[QueueView]:
    """Newest first; `user` keeps the queues the user is assigned to, `item_id` the queues holding that trace;
    `assigned_to` narrows the listing to one caller's queues whatever the request asked."""
    offset = paging.decode_offset(page_token)
    experiment = active_experiment_id(session, experiment_id)
    assigned = [rules.normal_user(name) for name in (user, assigned_to) if name is not None]
    rows = store.list_page(
        session,
        experiment,
        assigned_to=assigned,
        item_id=item_id,
        offset=offset,
        limit=max_results + 1,
    )
    next_token = paging.encode_offset(offset + max_results) if len(rows) > max_results else None
    return Page(views(session, rows[:max_results]), next_token)


def update_review_queue(session: Session, queue_id: str, changes: QueueChanges) -> QueueView:
    """A custom queue's name, owner, users and questions: every change is checked (in MLflow's order) before any is
    made."""
    queue = find_queue(session, queue_id, for_update=True)
    if queue.queue_type == rules.USER:
        raise MlflowError.invalid_parameter(
            "A user queue's name, assigned user, schemas, and owner are fixed and cannot be updated."
        )
    if changes.empty:
        return views(session, [queue])[0]
    owner = rules.queue_owner(changes.new_owner) if changes.new_owner is not None else None
    name = rules.custom_queue_name(changes.name) if changes.name is not None else None
    users = rules.normal_users(changes.users) if changes.users is not None else None
    schema_ids = None
    if changes.schema_ids is not None:
        if store.count_items(session, queue.queue_id) > 0:
            raise MlflowError.invalid_parameter(
                "A review queue's questions are locked once items are assigned to it. "
                "Remove the items before changing its questions."
            )
        schema_ids = rules.normal_schema_ids(changes.schema_ids)
        _require_schemas(session, queue.experiment_id, str(queue.experiment_id), schema_ids)
    if name is not None and name.lower() != queue.name_key:
        if store.find_by_name_key(session, queue.experiment_id, name.lower()) is not None:
            raise _name_taken(name)
    if name is not None and not store.rename(session, queue, name):
        raise _name_taken(name)
    if owner is not None:
        queue.created_by = owner
    if users is not None:
        store.replace_users(session, queue.queue_id, users)
    if schema_ids is not None:
        store.replace_schemas(session, queue.queue_id, schema_ids)
    queue.last_update_time_ms = now_ms()
    session.flush()
    return views(session, [queue])[0]


def delete_review_queue(session: Session, queue_id: str) -> None:
    """A no-op for an unknown id, as in MLflow. The assessments given through the queue stay on their traces."""
    queue = store.find(session, queue_id)
    if queue is not None:
        store.delete_queue(session, queue)
