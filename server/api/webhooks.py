"""Webhook RPCs (MLflow 3.3+): create, list, get, update, delete and test; administrators only, as in MLflow.

Events travel as protobuf JSON, `{"entity": "MODEL_VERSION", "action": "CREATED"}` (enum names or numbers); the
store speaks MLflow's lower-case names. An unknown name (lower-case ones included) is a 400 here, where MLflow
3.17.2 answers 500. The secret is accepted and never rendered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Route

from server.api import convert
from server.api.routing import Rpc, rpc_endpoint
from server.api.wire import Fields, invalid, missing
from server.auth import rules as access
from server.services import webhooks as service
from server.store.webhook_models import WebhookDelivery
from server.web.context import Context

# The protobuf enums (mlflow/protos/webhooks.proto), by name and number; the UNSPECIFIED zeros are not events.
ENTITIES = {
    "REGISTERED_MODEL": 1,
    "MODEL_VERSION": 2,
    "MODEL_VERSION_TAG": 3,
    "MODEL_VERSION_ALIAS": 4,
    "PROMPT": 5,
    "PROMPT_VERSION": 6,
    "PROMPT_TAG": 7,
    "PROMPT_VERSION_TAG": 8,
    "PROMPT_ALIAS": 9,
    "BUDGET_POLICY": 10,
}
ACTIONS = {"CREATED": 1, "UPDATED": 2, "DELETED": 3, "SET": 4, "EXCEEDED": 5}
STATUSES = {"ACTIVE": 1, "DISABLED": 2}


def _event(value: Any, field: str) -> service.Event:
    if not isinstance(value, dict):
        raise invalid(field, value)
    event = Fields(value)
    entity = event.enum("entity", ENTITIES)
    action = event.enum("action", ACTIONS)
    if entity is None or action is None:
        raise invalid(field, value, "Each event needs an entity and an action.")
    return entity.lower(), action.lower()


def _events(fields: Fields) -> list[service.Event]:
    return [_event(item, "events") for item in fields.objects("events")]


def webhook_json(view: service.WebhookView) -> dict[str, Any]:
    webhook = view.webhook
    body: dict[str, Any] = {"webhook_id": webhook.webhook_id, "name": webhook.name}
    if webhook.description:
        body["description"] = webhook.description
    body["url"] = webhook.url
    body["events"] = [{"entity": entity.upper(), "action": action.upper()} for entity, action in view.events]
    body["status"] = webhook.status
    body["creation_timestamp"] = webhook.creation_timestamp
    body["last_updated_timestamp"] = webhook.last_updated_timestamp
    return body


def _create_args(fields: Fields) -> dict[str, Any]:
    """The create's arguments, read in MLflow's order (a missing or malformed field is refused before any rule)."""
    name, url = fields.required_string("name"), fields.required_string("url")
    if not fields.has("events"):
        raise missing("events")
    return {
        "name": name,
        "url": url,
        "events": _events(fields),
        "description": fields.string("description") or None,
        "secret": fields.string("secret") or None,
        "status": fields.enum("status", STATUSES),
    }


def check_create_webhook(fields: Fields, _: Session, context: Context) -> None:
    """Everything the create refuses up to the URL's DNS lookup, before the write transaction opens."""
    args = _create_args(fields)
    service.check_create(context.settings, name=args["name"], url=args["url"])


def create_webhook(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    """Runs only after its Rpc's check, `check_create_webhook`, has looked the URL up; so the write does not."""
    view = service.create_webhook(session, context.settings, **_create_args(fields), url_looked_up=True)
    return {"webhook": webhook_json(view)}


def list_webhooks(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    page = service.list_webhooks(
        session, max_results=fields.integer("max_results"), page_token=fields.string("page_token") or None
    )
    return convert.page_json("webhooks", [webhook_json(view) for view in page.items], page.next_page_token)


def get_webhook(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return {"webhook": webhook_json(service.get_webhook(session, fields.required_string("webhook_id")))}


def _update_args(fields: Fields) -> tuple[str, dict[str, Any]]:
    """As MLflow's handler: an empty name, URL or event list leaves it unchanged; description, secret and status
    change whenever they are present. Read in MLflow's order, events first."""
    events = _events(fields)
    webhook_id = fields.required_string("webhook_id")
    return webhook_id, {
        "name": fields.string("name") or None,
        "description": fields.string("description"),
        "url": fields.string("url") or None,
        "events": events or None,
        "secret": fields.string("secret"),
        "status": fields.enum("status", STATUSES),
    }


def check_update_webhook(fields: Fields, session: Session, context: Context) -> None:
    """Everything the update refuses up to the URL's DNS lookup, before the write transaction opens."""
    webhook_id, args = _update_args(fields)
    service.check_update(session, context.settings, webhook_id, name=args["name"], url=args["url"])


def update_webhook(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    """Runs only after its Rpc's check, `check_update_webhook`, has looked the URL up; so the write does not."""
    webhook_id, args = _update_args(fields)
    view = service.update_webhook(session, context.settings, webhook_id, **args, url_looked_up=True)
    return {"webhook": webhook_json(view)}


def delete_webhook(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_webhook(session, fields.required_string("webhook_id"))
    return {}


def test_webhook(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    raw = fields.raw("event")
    event = _event(raw, "event") if raw is not None else None
    result = service.test_webhook(session, context.settings, fields.required_string("webhook_id"), event)
    body: dict[str, Any] = {"success": result.success}
    if result.response_status is not None:
        body["response_status"] = result.response_status
    if result.response_body:
        body["response_body"] = result.response_body
    if result.error_message:
        body["error_message"] = result.error_message
    return {"result": body}


RPCS = [
    # The URL's DNS lookup (up to 5 s) runs in the check, before the write transaction: on SQLite the transaction
    # holds the only writer, and every other write of the server would wait for the lookup.
    Rpc("POST", "/mlflow/webhooks", create_webhook, access=access.ADMIN, check=check_create_webhook),
    Rpc("GET", "/mlflow/webhooks", list_webhooks, access=access.ADMIN),
    Rpc("GET", "/mlflow/webhooks/{webhook_id}", get_webhook, access=access.ADMIN),
    Rpc("PATCH", "/mlflow/webhooks/{webhook_id}", update_webhook, access=access.ADMIN, check=check_update_webhook),
    Rpc("DELETE", "/mlflow/webhooks/{webhook_id}", delete_webhook, access=access.ADMIN),
    # It sends a request and waits for the answer: outside any write transaction.
    Rpc("POST", "/mlflow/webhooks/{webhook_id}/test", test_webhook, writes=False, access=access.ADMIN),
]


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "delivery_id": delivery.delivery_id,
        "entity": delivery.entity,
        "action": delivery.action,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "created_at": delivery.created_at,
        "next_attempt_at": delivery.available_at if delivery.state == "pending" else None,
        "last_attempt_at": delivery.last_attempt_at,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "last_latency_ms": delivery.last_latency_ms,
        "finished_at": delivery.finished_at,
    }


def list_webhook_deliveries(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    page = service.list_deliveries(
        session,
        fields.required_string("webhook_id"),
        max_results=fields.integer("max_results"),
        page_token=fields.string("page_token") or None,
    )
    return {"deliveries": [delivery_json(d) for d in page.items], "next_page_token": page.next_page_token}


def redeliver_webhook_delivery(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    delivery = service.redeliver(session, fields.required_string("webhook_id"), fields.required_string("delivery_id"))
    return {"delivery": delivery_json(delivery)}


# Our own view of the outbox (MLflow has none), beside the job API: what happened, and a retry for admins.
DELIVERIES = Rpc("GET", "/runyard/api/webhooks/{webhook_id}/deliveries", list_webhook_deliveries, access=access.ADMIN)
REDELIVER = Rpc(
    "POST",
    "/runyard/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    redeliver_webhook_delivery,
    access=access.ADMIN,
)


def routes(context: Context) -> list[BaseRoute]:
    return [Route(rpc.path, rpc_endpoint(rpc, context), methods=[rpc.method]) for rpc in (DELIVERIES, REDELIVER)]
