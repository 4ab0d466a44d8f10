"""Registry events for webhooks: which change fires which event, with which payload (MLflow's handlers and
`mlflow/webhooks/types.py`), written to the outbox in the transaction of the change.

A prompt is a registered model tagged `mlflow.prompt.is_prompt=true`; for prompts MLflow fires the PROMPT* events
instead of the model ones, and so do we. The body is serialized here, once: the bytes delivered (and signed) are
fixed when the change commits, whatever happens to the registry afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from server.clock import now_ms
from server.store import registered_models as model_store
from server.store import scope
from server.store import webhooks as store
from server.store.models import RegisteredModel

PROMPT_TAG = "mlflow.prompt.is_prompt"
PROMPT_TYPE_TAG = "_mlflow_prompt_type"
PROMPT_TEXT_TAG = "mlflow.prompt.text"
# Set on the transaction's connection when a delivery was written, so the deliverer is woken at commit.
ENQUEUED = "runyard.webhook_deliveries_enqueued"


def body(entity: str, action: str, data: Mapping[str, Any], workspace: str) -> str:
    """MLflow's envelope, serialized as MLflow serializes it (`json.dumps`). With workspaces on, MLflow adds the
    webhook's workspace, so that one receiver can serve several teams."""
    envelope: dict[str, Any] = {
        "entity": entity,
        "action": action,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": dict(data),
    }
    if scope.current() is not None:
        envelope["workspace"] = workspace
    return json.dumps(envelope)


def publish(session: Session, model: RegisteredModel, entity: str, action: str, data: Mapping[str, Any]) -> None:
    """Enqueue the event of a change to `model` for the webhooks of the model's workspace."""
    written = store.enqueue(
        session,
        workspace=model.workspace,
        entity=entity,
        action=action,
        body_for=lambda: body(entity, action, data, model.workspace),
        now=now_ms(),
    )
    if written:
        session.connection().info[ENQUEUED] = True


def is_prompt(tags: Mapping[str, str]) -> bool:
    return tags.get(PROMPT_TAG, "false").lower() == "true"


def model_is_prompt(session: Session, model: RegisteredModel) -> bool:
    """MLflow's `RegisteredModel._is_prompt`: the model carries a true-valued prompt tag."""
    return is_prompt(model_store.model_tags(session, [model.id])[model.id])


def registered_model_created(
    session: Session, model: RegisteredModel, tags: Mapping[str, str], description: str | None
) -> None:
    """MLflow sends the request's description, "" when none was given."""
    if is_prompt(tags):
        own = {k: v for k, v in tags.items() if k not in (PROMPT_TAG, PROMPT_TYPE_TAG)}
        publish(
            session, model, "prompt", "created", {"name": model.name, "tags": own, "description": description or ""}
        )
    else:
        publish(
            session,
            model,
            "registered_model",
            "created",
            {"name": model.name, "tags": dict(tags), "description": description or ""},
        )


def model_version_created(
    session: Session,
    *,
    model: RegisteredModel,
    version: int,
    source: str,
    run_id: str | None,
    tags: Mapping[str, str],
    description: str | None,
) -> None:
    if is_prompt(tags):
        own = {k: v for k, v in tags.items() if k not in (PROMPT_TAG, PROMPT_TYPE_TAG, PROMPT_TEXT_TAG)}
        data = {
            "name": model.name,
            "version": str(version),
            "template": tags.get(PROMPT_TEXT_TAG),
            "tags": own,
            "description": description or None,
        }
        publish(session, model, "prompt_version", "created", data)
    else:
        data = {
            "name": model.name,
            "version": str(version),
            "source": source,
            "run_id": run_id or None,
            "tags": dict(tags),
            "description": description or None,
        }
        publish(session, model, "model_version", "created", data)


def model_tag_set(session: Session, *, prompt: bool, model: RegisteredModel, key: str, value: str) -> None:
    """Only prompts have tag events at the model level (MLflow has no registered-model tag event)."""
    if prompt:
        publish(session, model, "prompt_tag", "set", {"name": model.name, "key": key, "value": value})


def model_tag_deleted(session: Session, *, prompt: bool, model: RegisteredModel, key: str) -> None:
    if prompt:
        publish(session, model, "prompt_tag", "deleted", {"name": model.name, "key": key})


def version_tag_set(
    session: Session, *, prompt: bool, model: RegisteredModel, version: str, key: str, value: str
) -> None:
    entity = "prompt_version_tag" if prompt else "model_version_tag"
    publish(session, model, entity, "set", {"name": model.name, "version": version, "key": key, "value": value})


def version_tag_deleted(session: Session, *, prompt: bool, model: RegisteredModel, version: str, key: str) -> None:
    entity = "prompt_version_tag" if prompt else "model_version_tag"
    publish(session, model, entity, "deleted", {"name": model.name, "version": version, "key": key})


def alias_created(session: Session, *, prompt: bool, model: RegisteredModel, alias: str, version: str) -> None:
    entity = "prompt_alias" if prompt else "model_version_alias"
    publish(session, model, entity, "created", {"name": model.name, "alias": alias, "version": version})


def alias_deleted(session: Session, *, prompt: bool, model: RegisteredModel, alias: str) -> None:
    entity = "prompt_alias" if prompt else "model_version_alias"
    publish(session, model, entity, "deleted", {"name": model.name, "alias": alias})


def example(entity: str, action: str) -> dict[str, Any]:
    """What `test_webhook` sends for an event: MLflow's own example payload (`get_example_payload_for_event`), so a
    receiver, or a test, that checks the example gets the same values from both servers. MLflow is imported here, on
    the first test request, not at start (loading it takes over a second)."""
    from mlflow.entities.webhook import WebhookEvent
    from mlflow.webhooks.types import get_example_payload_for_event

    return dict(get_example_payload_for_event(WebhookEvent(entity, action)))
