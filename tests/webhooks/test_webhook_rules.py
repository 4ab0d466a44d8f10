"""Webhook rules that need a server configured otherwise than the module's: without an encryption key, and with
private addresses refused. They run against the services and a real SQLite store, in process."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from server.config import Settings
from server.errors import MlflowError
from server.services import webhook_sender, webhook_urls
from server.services import webhooks as service
from server.services.webhook_delivery import Deliverer
from server.store import webhooks as webhook_store
from server.store.engine import Database
from server.store.schema import ensure_schema
from server.store.webhook_models import Webhook

EVENTS = [("model_version", "created")]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'rules.db'}")
    ensure_schema(database.engine)
    yield database
    database.dispose()


def _settings(**overrides: object) -> Settings:
    return Settings(webhook_allowed_schemes="http,https", webhook_allow_private_ips=True, **overrides)


def _create(db: Database, settings: Settings, secret: str | None) -> service.WebhookView:
    with db.write() as session:
        return service.create_webhook(
            session,
            settings,
            name="hook",
            url="http://127.0.0.1:9/x",
            events=EVENTS,
            description=None,
            secret=secret,
            status=None,
        )


def test_a_secret_without_the_key_is_refused_naming_the_variable(db: Database) -> None:
    with pytest.raises(MlflowError) as refused:
        _create(db, _settings(), "s3cret")
    assert refused.value.status == 400
    assert "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY" in refused.value.message
    assert _create(db, _settings(), None).webhook.secret is None  # no secret, no key needed
    with db.read() as session:
        assert session.scalars(select(Webhook.name)).all() == ["hook"]  # the refused one was not stored


def test_the_secret_is_stored_encrypted(db: Database) -> None:
    key = Fernet.generate_key().decode()
    settings = _settings(webhook_secret_encryption_key=key)
    webhook_id = _create(db, settings, "s3cret").webhook.webhook_id
    with db.read() as session:
        stored = session.scalars(select(Webhook.secret).where(Webhook.webhook_id == webhook_id)).one()
    assert stored is not None
    assert "s3cret" not in stored
    assert service.decrypt_secret(settings, stored) == "s3cret"


def test_a_key_fernet_cannot_use_fails_at_start() -> None:
    with pytest.raises(ValueError, match="MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY must be a Fernet key"):
        Settings(webhook_secret_encryption_key="not-a-key")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://127.0.0.1/x",
            "Webhook URL must not resolve to a non-public IP address. '127.0.0.1' resolves to 127.0.0.1.",
        ),
        (
            "https://[::ffff:10.0.0.1]/x",
            "Webhook URL must not resolve to a non-public IP address. '::ffff:10.0.0.1' resolves to ::ffff:a00:1.",
        ),
        ("https://127.1/x", "Webhook URL host '127.1' is not a canonical IP address literal."),
        ("http://example.com/x", "Invalid webhook URL scheme: 'http'. Allowed schemes are: https."),
    ],
)
def test_private_addresses_are_refused_by_default(url: str, message: str) -> None:
    with pytest.raises(MlflowError) as refused:
        webhook_urls.validate_url(Settings(), url)
    assert refused.value.message == message


def _resolving_to(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    def fake(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(webhook_urls.socket, "getaddrinfo", fake)


def test_delivery_connects_to_the_address_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolving_to(monkeypatch, "93.184.216.34")
    target, headers, extensions = webhook_sender._pinned(Settings(), "https://hooks.example.com:8443/in?x=1")
    assert target == "https://93.184.216.34:8443/in?x=1"
    assert headers == {"Host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}


def test_a_name_rebound_to_a_private_address_is_not_delivered_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """The name passed the check when the webhook was saved; at delivery it resolves inside: nothing is sent."""
    _resolving_to(monkeypatch, "10.0.0.5")
    sent = webhook_sender.send(Settings(), "https://hooks.example.com/in", "{}", "d-1", None)
    assert sent.status is None
    assert sent.error == (
        "Webhook URL must not resolve to a non-public IP address. 'hooks.example.com' resolves to 10.0.0.5."
    )


def _claimed(attempts: int, retry_from: int) -> webhook_store.Claimed:
    return webhook_store.Claimed(1, "d-1", "t", "{}", attempts, retry_from, "https://hooks.example.com", None)


@pytest.mark.parametrize(
    ("status", "retry_after", "attempts", "expected"),
    [
        (200, None, 1, ("delivered", None)),
        (204, None, 1, ("delivered", None)),
        (503, None, 1, ("pending", 2_000)),  # the base delay
        (500, None, 3, ("pending", 8_000)),  # doubled per attempt
        (None, None, 2, ("pending", 4_000)),  # no answer at all
        (408, None, 1, ("pending", 2_000)),
        (429, 7.0, 1, ("pending", 7_000)),  # Retry-After wins
        (503, None, 30, ("pending", 60_000)),  # capped
        (404, None, 1, ("failed", None)),
        (410, None, 5, ("failed", None)),
    ],
)
def test_what_an_answer_leads_to(
    db: Database, status: int | None, retry_after: float | None, attempts: int, expected: tuple[str, int | None]
) -> None:
    settings = Settings(webhook_retry_base_seconds=2, webhook_retry_max_seconds=60, webhook_retry_hours=1)
    deliverer = Deliverer(settings, db)
    now = 10_000_000
    sent = webhook_sender.Sent(status, "x", None if status else "ConnectError: refused", 5, retry_after)
    outcome = deliverer.judge(_claimed(attempts, retry_from=now), sent, now)
    assert (outcome.state, None if outcome.retry_at is None else outcome.retry_at - now) == expected
    assert outcome.status == status


def test_retries_end_when_the_retry_window_has_passed(db: Database) -> None:
    settings = Settings(webhook_retry_base_seconds=2, webhook_retry_hours=1)
    now = 10_000_000
    sent = webhook_sender.Sent(503, "busy", None, 5)
    outcome = Deliverer(settings, db).judge(_claimed(7, retry_from=now - 3_599_000), sent, now)
    assert (outcome.state, outcome.retry_at) == ("failed", None)
    assert outcome.error == "gave up after 7 attempts; HTTP 503: busy"
