"""Review queue RPCs (MLflow 3.14+, `/api/3.0/mlflow/review-queues/...`): queues of an experiment's traces for
people to review, their users and questions, the traces in them and where each one's review stands.

With sign-in on, the server says who did it, never the client: a custom queue is owned by its creator, and an item
is closed by the caller (the `created_by` and `completed_by` a client sends are ignored, as in MLflow). Without
sign-in there is nobody to name, so a queue has no owner and `completed_by` is taken from the request. Who may do
what follows MLflow's basic-auth app (`server/auth/review_queue_access.py`); a caller who may only read the
experiment lists just the queues they are assigned to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.labeling_wire import enum_number, page_size
from server.api.routing import Rpc
from server.api.wire import Fields
from server.auth import rules as access
from server.errors import MlflowError
from server.permissions import Permission
from server.services import review_items, review_queues
from server.services import review_queue_rules as rules
from server.store.genai_models import ReviewQueueItem
from server.web.context import Context

QUEUE_TYPES = {"REVIEW_QUEUE_TYPE_UNSPECIFIED": 0, "USER": 1, "CUSTOM": 2}
STATUSES = {"REVIEW_STATUS_UNSPECIFIED": 0, "PENDING": 1, "COMPLETE": 2, "DECLINED": 3}
_STATUS_OF_NUMBER = {1: rules.PENDING, 2: rules.COMPLETE, 3: rules.DECLINED}
DEFAULT_PAGE_SIZE = 1000  # MLflow's SEARCH_MAX_RESULTS_DEFAULT


def queue_json(view: review_queues.QueueView) -> dict[str, Any]:
    queue = view.queue
    body: dict[str, Any] = {
        "queue_id": queue.queue_id,
        "experiment_id": str(queue.experiment_id),
        "name": queue.name,
        "queue_type": queue.queue_type.upper(),
    }
    if queue.created_by is not None:
        body["created_by"] = queue.created_by
    body["creation_time_ms"] = queue.creation_time_ms
    body["last_update_time_ms"] = queue.last_update_time_ms
    if view.users:
        body["users"] = view.users
    if view.schema_ids:
        body["schema_ids"] = view.schema_ids
    return body


def item_json(item: ReviewQueueItem) -> dict[str, Any]:
    body: dict[str, Any] = {
        "queue_id": item.queue_id,
        "item_type": item.item_type.upper(),
        "item_id": item.item_id,
        "status": item.status.upper(),
    }
    if item.completed_by is not None:
        body["completed_by"] = item.completed_by
    if item.completed_time_ms is not None:
        body["completed_time_ms"] = item.completed_time_ms
    body["creation_time_ms"] = item.creation_time_ms
    body["last_update_time_ms"] = item.last_update_time_ms
    return body


def _queue_type(fields: Fields) -> str:
    number = enum_number(fields, "queue_type", QUEUE_TYPES)
    if number == 0:
        raise MlflowError.invalid_parameter(
            f"`queue_type` must be one of USER or CUSTOM; got proto enum value {number}."
        )
    return rules.USER if number == QUEUE_TYPES["USER"] else rules.CUSTOM


def _caller() -> str | None:
    principal = access.current_principal()
    return principal.username if principal is not None else None


def create_review_queue(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    experiment_id, name = fields.required_string("experiment_id"), fields.required_string("name")
    queue_type = _queue_type(fields)
    if context.authorizer is not None and queue_type == rules.CUSTOM:
        review_queues.refuse_username_as_name(session, name, rename=False)
    view = review_queues.create_review_queue(
        session,
        experiment_id,
        name=name,
        queue_type=queue_type,
        users=fields.string_list("users"),
        schema_ids=fields.string_list("schema_ids"),
        created_by=_caller(),
    )
    return {"review_queue": queue_json(view)}


def get_or_create_user_queue(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_id, user = fields.required_string("experiment_id"), fields.required_string("user")
    return {"review_queue": queue_json(review_queues.get_or_create_user_queue(session, experiment_id, user))}


def get_review_queue(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return {"review_queue": queue_json(review_queues.get_review_queue(session, fields.required_string("queue_id")))}


def get_review_queue_by_name(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_id, name = fields.required_string("experiment_id"), fields.required_string("name")
    return {"review_queue": queue_json(review_queues.get_review_queue_by_name(session, experiment_id, name))}


def _only_assigned_to(session: Session, context: Context, experiment_id: str) -> str | None:
    """Whom the listing is narrowed to: a caller who may only read the experiment sees the queues assigned to them
    (MLflow drops the others from the page it sends; here they are never read, so pages stay full)."""
    principal = access.current_principal()
    if context.authorizer is None or principal is None or not experiment_id.isdigit():
        return None
    have = context.authorizer.on_experiment(session, principal, int(experiment_id))
    return None if have.allows(Permission.EDIT) else principal.username


def list_review_queues(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    experiment_id = fields.required_string("experiment_id")
    max_results = page_size(fields, DEFAULT_PAGE_SIZE)
    page = review_queues.list_review_queues(
        session,
        experiment_id,
        user=fields.string("user"),
        item_id=fields.string("item_id"),
        assigned_to=_only_assigned_to(session, context, experiment_id),
        max_results=max_results,
        page_token=fields.string("page_token") or None,
    )
    return convert.page_json("review_queues", [queue_json(view) for view in page.items], page.next_page_token)


def update_review_queue(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    queue_id = fields.required_string("queue_id")
    name = fields.string("name")
    if context.authorizer is not None and name is not None:
        if review_queues.find_queue(session, queue_id).queue_type == rules.CUSTOM:
            review_queues.refuse_username_as_name(session, name, rename=True)
    changes = review_queues.QueueChanges(
        users=fields.string_list("users") if fields.boolean("update_users") else None,
        schema_ids=fields.string_list("schema_ids") if fields.boolean("update_schema_ids") else None,
        name=name,
        new_owner=fields.string("new_owner"),
    )
    return {"review_queue": queue_json(review_queues.update_review_queue(session, queue_id, changes))}


def delete_review_queue(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    review_queues.delete_review_queue(session, fields.required_string("queue_id"))
    return {}


def add_items_to_review_queue(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    queue_id = fields.required_string("queue_id")
    items = review_items.add_items(session, queue_id, fields.string_list("item_ids"))
    return {"items": [item_json(item) for item in items]} if items else {}


def remove_items_from_review_queue(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    review_items.remove_items(session, fields.required_string("queue_id"), fields.string_list("item_ids"))
    return {}


def list_review_queue_items(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    queue_id = fields.required_string("queue_id")
    max_results = page_size(fields, DEFAULT_PAGE_SIZE)
    page = review_items.list_items(
        session,
        queue_id,
        status=_STATUS_OF_NUMBER.get(enum_number(fields, "status", STATUSES)),
        max_results=max_results,
        page_token=fields.string("page_token") or None,
    )
    return convert.page_json("items", [item_json(item) for item in page.items], page.next_page_token)


def set_review_queue_item_status(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    queue_id, item_id = fields.required_string("queue_id"), fields.required_string("item_id")
    number = enum_number(fields, "status", STATUSES)
    if number not in _STATUS_OF_NUMBER:
        raise MlflowError.invalid_parameter(
            f"`status` must be one of PENDING, COMPLETE, or DECLINED; got proto enum value {number}."
        )
    status = _STATUS_OF_NUMBER[number]
    if context.authorizer is not None:  # the caller closes it; nobody is named when it is reopened
        completed_by = None if status == rules.PENDING else _caller()
    else:
        completed_by = fields.string("completed_by")
    item = review_items.set_item_status(session, queue_id, item_id, status=status, completed_by=completed_by)
    return {"item": item_json(item)}


_PREFIX = "/mlflow/review-queues"

RPCS = [
    Rpc("POST", f"{_PREFIX}/create", create_review_queue, since=3, access=access.experiment(access.EDIT)),
    Rpc(
        "POST",
        f"{_PREFIX}/get-or-create-user",
        get_or_create_user_queue,
        since=3,
        access=access.experiment(access.EDIT),
    ),
    Rpc("GET", f"{_PREFIX}/get", get_review_queue, since=3, access=access.REVIEW_QUEUE_VIEW),
    Rpc("GET", f"{_PREFIX}/get-by-name", get_review_queue_by_name, since=3, access=access.REVIEW_QUEUE_VIEW_BY_NAME),
    Rpc("GET", f"{_PREFIX}/list", list_review_queues, since=3, access=access.experiment(access.READ)),
    Rpc("POST", f"{_PREFIX}/update", update_review_queue, since=3, access=access.REVIEW_QUEUE_SHAPE),
    Rpc("POST", f"{_PREFIX}/delete", delete_review_queue, since=3, access=access.REVIEW_QUEUE_PRUNE),
    Rpc(
        "POST",
        f"{_PREFIX}/items/add",
        add_items_to_review_queue,
        since=3,
        access=access.review_queue(access.EDIT),
    ),
    Rpc("POST", f"{_PREFIX}/items/remove", remove_items_from_review_queue, since=3, access=access.REVIEW_QUEUE_PRUNE),
    Rpc("GET", f"{_PREFIX}/items/list", list_review_queue_items, since=3, access=access.REVIEW_QUEUE_VIEW),
    Rpc(
        "POST", f"{_PREFIX}/items/set-status", set_review_queue_item_status, since=3, access=access.REVIEW_QUEUE_REVIEW
    ),
]
