"""Registry webhooks: the subscribers, the events a registry change records in its own transaction, and the
deliveries (one per event and subscriber) that the deliverer leases, sends and retries."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.base import Base
from server.store.workspace_models import workspace_column


class Webhook(Base):
    """A subscriber to registry events. `secret` is a Fernet token, never the secret itself; a deleted webhook
    keeps its row (`deleted_timestamp`) so that its deliveries keep their history."""

    __tablename__ = "webhooks"
    __table_args__ = (Index(None, "deleted_timestamp", "creation_timestamp"),)

    webhook_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # A webhook hears the registry events of its own workspace only.
    workspace: Mapped[str] = workspace_column()
    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)
    deleted_timestamp: Mapped[int | None] = mapped_column(BigInteger)


class WebhookEvent(Base):
    """One (entity, action) a webhook subscribes to, in MLflow's lower-case names (`model_version`, `created`)."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index(None, "entity", "action"),)

    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.webhook_id", ondelete="CASCADE"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str] = mapped_column(String(16), primary_key=True)


class WebhookDelivery(Base):
    """The outbox: one row per event per subscribed webhook, written in the transaction that made the change, with
    the exact body to send. `id` orders a webhook's deliveries as their transactions committed (the enqueue locks
    the webhook row, see `server/store/webhooks.py`); only the oldest pending one of a webhook is ever sent."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(None, "webhook_id", "state", "id"),
        Index(None, "state", "available_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.webhook_id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[int] = mapped_column(BigInteger)  # when the next attempt is due (ms)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer)
    last_attempt_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    retry_from: Mapped[int] = mapped_column(BigInteger)  # retries end RUNYARD_WEBHOOK_RETRY_HOURS after this
    finished_at: Mapped[int | None] = mapped_column(BigInteger)
