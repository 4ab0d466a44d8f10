"""The deliverer: a task in every server process that sends the outbox's due deliveries.

Each round leases due deliveries (at most one per webhook, its oldest pending one, and only while the webhook is
active and not deleted), sends them, and records each attempt under its lease. Several processes can run it at
once: the lease is a compare-and-set, and a process that dies mid-request loses its lease, so the delivery is sent
again by someone else (at least once; the `X-MLflow-Delivery-Id` lets a receiver drop the repeat).

A 2xx is delivered. No answer, a 5xx, 408 or 429 (after its `Retry-After` seconds, when given) is retried with
exponential backoff until `RUNYARD_WEBHOOK_RETRY_HOURS` after the event (or after an admin asked to redeliver it);
any other status fails at once.

It wakes as soon as a transaction of this process that wrote a delivery commits, and otherwise polls, so that
deliveries other processes wrote are sent too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio
from sqlalchemy import event

from server.clock import now_ms
from server.config import Settings
from server.errors import MlflowError, is_refused_write
from server.services import webhook_events, webhook_sender
from server.services.webhooks import decrypt_secret
from server.store import webhooks as store
from server.store.engine import Database

log = logging.getLogger(__name__)

BATCH = 8  # deliveries leased per round (each to a different webhook), sent concurrently
RETRYABLE = frozenset({408, 429})


class Deliverer:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._senders = anyio.CapacityLimiter(BATCH)  # threads of its own: slow receivers never starve requests
        self.lease_ms = int((settings.webhook_request_timeout + 30) * 1000)

    def _on_commit(self, connection: Any) -> None:
        if connection.info.pop(webhook_events.ENQUEUED, False) and self._loop is not None and self._wake:
            self._loop.call_soon_threadsafe(self._wake.set)

    @staticmethod
    def _on_rollback(connection: Any) -> None:
        connection.info.pop(webhook_events.ENQUEUED, None)

    async def run_forever(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        event.listen(self.db.engine, "commit", self._on_commit)
        event.listen(self.db.engine, "rollback", self._on_rollback)
        try:
            while True:
                self._wake.clear()  # before the round: a commit during it makes the wait below return at once
                try:
                    busy = await self.run_once()
                except Exception as exc:  # a busy or unreachable database: try again next round
                    if is_refused_write(exc):
                        log.warning("webhook delivery round: the database is busy (%s); retrying next round", exc)
                    else:
                        log.exception("webhook delivery round failed")
                    busy = False
                if not busy:
                    with anyio.move_on_after(self.settings.webhook_poll_seconds):
                        await self._wake.wait()
        finally:
            event.remove(self.db.engine, "commit", self._on_commit)
            event.remove(self.db.engine, "rollback", self._on_rollback)

    async def run_once(self) -> bool:
        """One round; True if it sent anything (so the next round starts at once)."""
        now = now_ms()
        if not await self.db.run_read(lambda session: store.any_due(session, now=now)):
            return False
        claimed = await self.db.run_write(
            lambda session: store.claim(session, limit=BATCH, now=now, lease_ms=self.lease_ms)
        )
        async with anyio.create_task_group() as group:
            for delivery in claimed:
                group.start_soon(self._deliver, delivery)
        return bool(claimed)

    async def _deliver(self, delivery: store.Claimed) -> None:
        try:
            secret = decrypt_secret(self.settings, delivery.secret)
        except MlflowError as exc:
            outcome = store.Outcome(store.FAILED, None, exc.message, None)
        else:
            sent = await anyio.to_thread.run_sync(
                webhook_sender.send,
                self.settings,
                delivery.url,
                delivery.body,
                delivery.delivery_id,
                secret,
                limiter=self._senders,
            )
            outcome = self.judge(delivery, sent, now_ms())
        finished = now_ms()
        kept = await self.db.run_write(
            lambda session: store.record_attempt(session, delivery.id, delivery.token, outcome, now=finished)
        )
        if not kept:
            log.warning("webhook delivery %s: lease lost before its outcome was recorded", delivery.delivery_id)

    def judge(self, delivery: store.Claimed, sent: webhook_sender.Sent, now: int) -> store.Outcome:
        status, latency = sent.status, sent.latency_ms
        if status is not None and 200 <= status < 300:
            return store.Outcome(store.DELIVERED, status, None, latency)
        error = sent.error if status is None else f"HTTP {status}: {sent.body[:1000]}"
        if status is not None and status < 500 and status not in RETRYABLE:
            return store.Outcome(store.FAILED, status, error, latency)
        settings = self.settings
        backoff = min(
            settings.webhook_retry_base_seconds * 2 ** (delivery.attempts - 1), settings.webhook_retry_max_seconds
        )
        delay = sent.retry_after if sent.retry_after is not None else backoff
        retry_at = now + int(delay * 1000)
        if retry_at > delivery.retry_from + int(settings.webhook_retry_hours * 3_600_000):
            return store.Outcome(store.FAILED, status, f"gave up after {delivery.attempts} attempts; {error}", latency)
        return store.Outcome(store.PENDING, status, error, latency, retry_at=retry_at)
