"""Webhook rules that need a server configured otherwise than the module's: without an encryption key, and with
private addresses refused. They run against the services and a real SQLite store, in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from server.config import Settings
from server.errors import MlflowError
from server.services import webhook_urls
from server.services import webhooks as service
from server.store.engine import Database
from server.store.models import Webhook
from server.store.schema import ensure_schema

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
