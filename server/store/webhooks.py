"""SQL for registry webhooks: the subscribers, their events, and the outbox of deliveries.

The outbox is written inside the transaction that changes the registry. The enqueue locks the subscribed webhook
rows (`FOR UPDATE` on PostgreSQL; SQLite's writers already take turns), so two transactions enqueueing for the same
webhook commit in the order of their delivery ids, and "oldest pending first" is commit order.

The claim is the job queue's: one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`, whose
WHERE re-checks the lease, so two server processes never hold the same delivery. A holder's writes name its
`lease_token`; once its lease expired and another process took the delivery, they match no row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, and_, delete, or_, select, update
from sqlalchemy.orm import Session, aliased

from server.errors import MlflowError
from server.store import scope
from server.store.webhook_models import Webhook, WebhookDelivery, WebhookEvent

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
ACTIVE = "ACTIVE"


def _rowcount(result: Any) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


def insert_webhook(session: Session, webhook: Webhook, events: Sequence[tuple[str, str]]) -> None:
    """The webhook belongs to the request's workspace, and hears only the events of that workspace's models."""
    webhook.workspace = scope.current_or_default()
    session.add(webhook)
    session.flush()
    replace_events(session, webhook.webhook_id, events)


def replace_events(session: Session, webhook_id: str, events: Sequence[tuple[str, str]]) -> None:
    session.execute(delete(WebhookEvent).where(WebhookEvent.webhook_id == webhook_id))
    session.add_all(WebhookEvent(webhook_id=webhook_id, entity=e, action=a) for e, a in dict.fromkeys(events))
    session.flush()


def get_webhook(session: Session, webhook_id: str) -> Webhook:
    """A webhook that is not deleted, in MLflow's words otherwise (`_get_webhook_by_id`); one of another workspace
    is answered the same way."""
    webhook = session.scalars(
        select(Webhook).where(
            Webhook.webhook_id == webhook_id,
            Webhook.deleted_timestamp.is_(None),
            scope.in_workspace(Webhook.workspace),
        )
    ).one_or_none()
    if webhook is None:
        raise MlflowError.not_found(f"Webhook with ID {webhook_id} not found.")
    return webhook


def events_of(session: Session, webhook_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {webhook_id: [] for webhook_id in webhook_ids}
    if webhook_ids:
        rows = session.execute(
            select(WebhookEvent.webhook_id, WebhookEvent.entity, WebhookEvent.action)
            .where(WebhookEvent.webhook_id.in_(webhook_ids))
            .order_by(WebhookEvent.webhook_id, WebhookEvent.entity, WebhookEvent.action)
        )
        for webhook_id, entity, action in rows:
            found[webhook_id].append((entity, action))
    return found


def list_webhooks(session: Session, *, offset: int, limit: int) -> list[Webhook]:
    """Newest first, as MLflow lists them; the id breaks ties so that pages never overlap."""
    query = (
        select(Webhook)
        .where(Webhook.deleted_timestamp.is_(None), scope.in_workspace(Webhook.workspace))
        .order_by(Webhook.creation_timestamp.desc(), Webhook.webhook_id)
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query))


def enqueue(
    session: Session, *, workspace: str, entity: str, action: str, body_for: Callable[[], str], now: int
) -> int:
    """One pending delivery per active webhook of `workspace` (the changed model's) subscribed to (entity, action),
    all with the body `body_for()` makes (called once, and only if some webhook is subscribed). Returns how many
    were written. Without workspaces, every webhook hears every event, as before they existed."""
    conditions = [
        WebhookEvent.entity == entity,
        WebhookEvent.action == action,
        Webhook.status == ACTIVE,
        Webhook.deleted_timestamp.is_(None),
    ]
    if scope.current() is not None:
        conditions.append(Webhook.workspace == workspace)
    subscribed = (
        select(Webhook.webhook_id)
        .join(WebhookEvent, WebhookEvent.webhook_id == Webhook.webhook_id)
        .where(*conditions)
        .order_by(Webhook.webhook_id)  # lock in one order, so concurrent enqueues cannot deadlock
        .with_for_update(of=Webhook)
    )
    webhook_ids = list(session.scalars(subscribed))
    if not webhook_ids:
        return 0
    body = body_for()
    session.add_all(
        WebhookDelivery(
            delivery_id=str(uuid.uuid4()),
            webhook_id=webhook_id,
            entity=entity,
            action=action,
            body=body,
            state=PENDING,
            attempts=0,
            available_at=now,
            created_at=now,
            retry_from=now,
        )
        for webhook_id in webhook_ids
    )
    session.flush()
    return len(webhook_ids)


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a deliverer needs to send one delivery, read in the transaction that leased it."""

    id: int
    delivery_id: str
    token: str
    body: str
    attempts: int
    retry_from: int
    url: str
    secret: str | None


def _lease_free(now: int) -> ColumnElement[bool]:
    """No process holds the delivery: never leased, or its lease ran out."""
    return or_(WebhookDelivery.lease_expires_at.is_(None), WebhookDelivery.lease_expires_at < now)


def any_due(session: Session, *, now: int) -> bool:
    """Whether some delivery waits to be sent: a read, so that an idle server's rounds never take SQLite's write
    lock."""
    free = _lease_free(now)
    due = select(WebhookDelivery.id).where(WebhookDelivery.state == PENDING, WebhookDelivery.available_at <= now, free)
    return session.execute(due.limit(1)).first() is not None


def claim(session: Session, *, limit: int, now: int, lease_ms: int) -> list[Claimed]:
    """Lease up to `limit` due deliveries, each the oldest pending one of an active, undeleted webhook."""
    older = aliased(WebhookDelivery)
    head_of_webhook = ~(
        select(older.id)
        .where(older.webhook_id == WebhookDelivery.webhook_id, older.state == PENDING, older.id < WebhookDelivery.id)
        .exists()
    )
    free = _lease_free(now)
    candidates = (
        select(WebhookDelivery.id)
        .join(Webhook, Webhook.webhook_id == WebhookDelivery.webhook_id)
        .where(
            WebhookDelivery.state == PENDING,
            WebhookDelivery.available_at <= now,
            free,
            head_of_webhook,
            Webhook.status == ACTIVE,
            Webhook.deleted_timestamp.is_(None),
        )
        .order_by(WebhookDelivery.id)
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
        .scalar_subquery()
    )
    token = uuid.uuid4().hex
    won = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(candidates), WebhookDelivery.state == PENDING, free)
        .values(lease_token=token, lease_expires_at=now + lease_ms, attempts=WebhookDelivery.attempts + 1)
        .returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)
    )
    ids = list(won.scalars())
    if not ids:
        return []
    rows = session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.delivery_id,
            WebhookDelivery.body,
            WebhookDelivery.attempts,
            WebhookDelivery.retry_from,
            Webhook.url,
            Webhook.secret,
        )
        .join(Webhook, Webhook.webhook_id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.id.in_(ids))
        .order_by(WebhookDelivery.id)
    )
    return [
        Claimed(row_id, delivery_id, token, body, attempts, retry_from, url, secret)
        for row_id, delivery_id, body, attempts, retry_from, url, secret in rows
    ]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result; `retry_at` None ends the delivery (`state` says how)."""

    state: str
    status: int | None
    error: str | None
    latency_ms: int | None
    retry_at: int | None = None


def record_attempt(session: Session, delivery: int, token: str, outcome: Outcome, *, now: int) -> bool:
    """Store an attempt's outcome if the lease is still ours; returns whether it was."""
    values: dict[str, Any] = {
        "last_status": outcome.status,
        "last_error": outcome.error,
        "last_latency_ms": outcome.latency_ms,
        "last_attempt_at": now,
        "lease_token": None,
        "lease_expires_at": None,
        "state": outcome.state,
    }
    if outcome.retry_at is not None:
        values["available_at"] = outcome.retry_at
    else:
        values["finished_at"] = now
    result = session.execute(
        update(WebhookDelivery)
        .where(
            and_(WebhookDelivery.id == delivery, WebhookDelivery.lease_token == token, WebhookDelivery.state == PENDING)
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def list_deliveries(session: Session, webhook_id: str, *, offset: int, limit: int) -> list[WebhookDelivery]:
    """Newest first."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query))


def get_delivery(session: Session, webhook_id: str, delivery_id: str) -> WebhookDelivery:
    delivery = session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.delivery_id == delivery_id
        )
    ).one_or_none()
    if delivery is None:
        raise MlflowError.not_found(f"Delivery {delivery_id} of webhook {webhook_id} not found.")
    return delivery


def redeliver(session: Session, delivery: WebhookDelivery, *, now: int) -> bool:
    """Send a finished delivery (failed or delivered) again, as it was, with a fresh retry window; False if it is
    still pending (a compare-and-set, so a deliverer finishing it meanwhile is not overwritten)."""
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery.id, WebhookDelivery.state != PENDING)
        .values(state=PENDING, attempts=0, available_at=now, retry_from=now, finished_at=None)
        .execution_options(synchronize_session=False)
    )
    session.refresh(delivery)
    return _rowcount(result) == 1
