"""Rules for registry webhooks: creating, reading, updating and deleting them, with MLflow's checks and wording
(`mlflow/utils/validation.py`: `_validate_webhook_name`, `_validate_webhook_url`; the SQL store's CRUD).

The secret is write-only: it is stored as a Fernet token under `MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY` and never
returned. A deleted webhook keeps its row (MLflow deletes softly too), so its deliveries keep their history.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.config import Settings
from server.errors import MlflowError
from server.services import webhook_events, webhook_sender, webhook_urls
from server.store import paging
from server.store import webhooks as store
from server.store.webhook_models import Webhook, WebhookDelivery

STATUSES = ("ACTIVE", "DISABLED")
MAX_RESULTS = 1000
DEFAULT_MAX_RESULTS = 100

# MLflow's VALID_ENTITY_ACTIONS (mlflow/entities/webhook.py), in its lower-case names.
VALID_ACTIONS: dict[str, tuple[str, ...]] = {
    "registered_model": ("created",),
    "model_version": ("created",),
    "model_version_tag": ("set", "deleted"),
    "model_version_alias": ("created", "deleted"),
    "prompt": ("created",),
    "prompt_version": ("created",),
    "prompt_tag": ("set", "deleted"),
    "prompt_version_tag": ("set", "deleted"),
    "prompt_alias": ("created", "deleted"),
    "budget_policy": ("exceeded",),
}

_NAME = re.compile(r"^(?=.{1,63}$)[a-z0-9]([a-z0-9._-]*[a-z0-9])?$", re.IGNORECASE)
Event = tuple[str, str]  # (entity, action), lower-case


@dataclass(frozen=True, slots=True)
class WebhookView:
    webhook: Webhook
    events: list[Event]


@dataclass(frozen=True, slots=True)
class WebhookPage:
    items: list[WebhookView]
    next_page_token: str | None


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise MlflowError.invalid_parameter(
            f"Webhook name {name!r} is invalid. It must start and end with a letter or digit, "
            "be less than 63 characters long, and contain only letters, digits, dots (.), "
            "underscores (_), and hyphens (-)."
        )
    return name


def validate_event(entity: str, action: str) -> Event:
    """MLflow's `WebhookEvent` constructor check, in its words."""
    valid = VALID_ACTIONS.get(entity, ())
    if action not in valid:
        raise MlflowError.invalid_parameter(
            f"Invalid action '{action}' for entity '{entity}'. Valid actions are: {sorted(valid)}"
        )
    return entity, action


def validate_events(events: Sequence[Event]) -> list[Event]:
    if not events:
        raise MlflowError.invalid_parameter(
            f"Webhook events must be a non-empty list of WebhookEvent objects: {list(events)}."
        )
    return [validate_event(entity, action) for entity, action in events]


def encrypt_secret(settings: Settings, secret: str) -> str:
    key = settings.webhook_secret_encryption_key
    if not key:
        raise MlflowError.invalid_parameter(
            "A webhook secret cannot be stored: the server has no encryption key. Set "
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY to a Fernet key (e.g. from "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`), "
            "or create the webhook without a secret."
        )
    return Fernet(key).encrypt(secret.encode()).decode()


def decrypt_secret(settings: Settings, token: str | None) -> str | None:
    """The stored secret in the clear; a token the current key cannot open is a configuration error."""
    if token is None:
        return None
    key = settings.webhook_secret_encryption_key
    if not key:
        raise MlflowError.invalid_state("The webhook has a secret but MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY is not set.")
    try:
        return Fernet(key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise MlflowError.invalid_state(
            "The webhook's secret was encrypted with another MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY."
        ) from None


def _page_size(max_results: int | None) -> int:
    """MLflow's paging rule for webhook lists: 0 or absent means 100, and at most 1,000."""
    limit = max_results or DEFAULT_MAX_RESULTS
    if not 1 <= limit <= MAX_RESULTS:
        raise MlflowError.invalid_parameter("max_results must be between 1 and 1000.")
    return limit


def _view(session: Session, webhook: Webhook) -> WebhookView:
    return WebhookView(webhook, store.events_of(session, [webhook.webhook_id])[webhook.webhook_id])


def check_create(settings: Settings, *, name: str, url: str) -> None:
    """What `create_webhook` checks up to the URL's DNS lookup, in its order, for a caller to run before it opens
    the write transaction: a lookup may take seconds, and on SQLite every other write would wait for it."""
    validate_name(name)
    webhook_urls.validate_url(settings, url)


def create_webhook(
    session: Session,
    settings: Settings,
    *,
    name: str,
    url: str,
    events: Sequence[Event],
    description: str | None,
    secret: str | None,
    status: str | None,
    url_looked_up: bool = False,
) -> WebhookView:
    """Checks run in MLflow's order: name, URL, events; then the secret, which needs the key. With `url_looked_up`,
    `check_create` has passed for the same request, and the URL's host is not looked up again."""
    validate_name(name)
    webhook_urls.validate_url(settings, url, look_up=not url_looked_up)
    events = validate_events(events)
    now = now_ms()
    webhook = Webhook(
        webhook_id=str(uuid.uuid4()),
        name=name,
        url=url,
        description=description,
        secret=encrypt_secret(settings, secret) if secret else None,
        status=status or "ACTIVE",
        creation_timestamp=now,
        last_updated_timestamp=now,
    )
    store.insert_webhook(session, webhook, events)
    return WebhookView(webhook, sorted(dict.fromkeys(events)))


def get_webhook(session: Session, webhook_id: str) -> WebhookView:
    return _view(session, store.get_webhook(session, webhook_id))


def list_webhooks(session: Session, *, max_results: int | None, page_token: str | None) -> WebhookPage:
    limit = _page_size(max_results)
    offset = paging.decode_offset(page_token)
    rows = store.list_webhooks(session, offset=offset, limit=limit + 1)
    token = paging.encode_offset(offset + limit) if len(rows) > limit else None
    rows = rows[:limit]
    events = store.events_of(session, [row.webhook_id for row in rows])
    return WebhookPage([WebhookView(row, events[row.webhook_id]) for row in rows], token)


def check_update(session: Session, settings: Settings, webhook_id: str, *, name: str | None, url: str | None) -> None:
    """What `update_webhook` checks up to the URL's DNS lookup, in its order, for a caller to run in a read session
    before it opens the write transaction (see `check_create`)."""
    store.get_webhook(session, webhook_id)
    if name is not None:
        validate_name(name)
    if url is not None:
        webhook_urls.validate_url(settings, url)


def update_webhook(
    session: Session,
    settings: Settings,
    webhook_id: str,
    *,
    name: str | None,
    description: str | None,
    url: str | None,
    events: Sequence[Event] | None,
    secret: str | None,
    status: str | None,
    url_looked_up: bool = False,
) -> WebhookView:
    """Only what is given changes (MLflow's `update_webhook`); an empty secret removes it. With `url_looked_up`,
    `check_update` has passed for the same request, and the URL's host is not looked up again."""
    webhook = store.get_webhook(session, webhook_id)
    if name is not None:
        webhook.name = validate_name(name)
    if url is not None:
        webhook_urls.validate_url(settings, url, look_up=not url_looked_up)
        webhook.url = url
    if events is not None:
        store.replace_events(session, webhook_id, validate_events(events))
    if description is not None:
        webhook.description = description
    if secret is not None:
        webhook.secret = encrypt_secret(settings, secret) if secret else None
    if status is not None:
        webhook.status = status
    webhook.last_updated_timestamp = now_ms()
    session.flush()
    return _view(session, webhook)


def delete_webhook(session: Session, webhook_id: str) -> None:
    """Soft, as in MLflow: the webhook disappears from every read, and its pending deliveries are never sent."""
    webhook = store.get_webhook(session, webhook_id)
    webhook.deleted_timestamp = webhook.last_updated_timestamp = now_ms()
    session.flush()


@dataclass(frozen=True, slots=True)
class TestResult:
    success: bool
    response_status: int | None
    response_body: str | None
    error_message: str | None


def test_webhook(session: Session, settings: Settings, webhook_id: str, event: Event | None) -> TestResult:
    """Send an example payload of `event` (else the webhook's first event) now, outside the outbox, and report
    what the receiver answered, as MLflow's `test_webhook` does (success is any status below 400)."""
    view = get_webhook(session, webhook_id)
    entity, action = validate_event(*event) if event else view.events[0]
    secret = decrypt_secret(settings, view.webhook.secret)
    payload = webhook_events.body(entity, action, webhook_events.example(entity, action), view.webhook.workspace)
    sent = webhook_sender.send(settings, view.webhook.url, payload, str(uuid.uuid4()), secret)
    if sent.status is None:
        return TestResult(False, None, None, f"Failed to test webhook: {sent.error}")
    return TestResult(sent.status < 400, sent.status, sent.body, None)


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: list[WebhookDelivery]
    next_page_token: str | None


def list_deliveries(
    session: Session, webhook_id: str, *, max_results: int | None, page_token: str | None
) -> DeliveryPage:
    """A webhook's deliveries, newest first: what was sent, how often, and what the receiver last answered."""
    store.get_webhook(session, webhook_id)
    limit = _page_size(max_results)
    offset = paging.decode_offset(page_token)
    rows = store.list_deliveries(session, webhook_id, offset=offset, limit=limit + 1)
    token = paging.encode_offset(offset + limit) if len(rows) > limit else None
    return DeliveryPage(rows[:limit], token)


def redeliver(session: Session, webhook_id: str, delivery_id: str) -> WebhookDelivery:
    """An admin's retry of a delivery that failed (or one to send again): it goes out as first written, same
    delivery id, body and signature input, once the webhook's earlier pending deliveries are out."""
    store.get_webhook(session, webhook_id)
    delivery = store.get_delivery(session, webhook_id, delivery_id)
    if not store.redeliver(session, delivery, now=now_ms()):
        raise MlflowError.invalid_state(f"Delivery {delivery_id} is still pending; it is sent without being asked.")
    session.connection().info[webhook_events.ENQUEUED] = True  # wake this process's deliverer at commit
    return delivery
