"""Rules for registered models: creating, renaming, describing and deleting them, their tags and their aliases.

Prompts are registered models too (tagged `mlflow.prompt.is_prompt`); the client builds MLflow's prompt registry on
these operations, so nothing here is prompt-specific: the store words a name clash between a prompt and a model.
A model's access grants are keyed by its name, so a rename or a delete carries them along in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.services import registry as rules
from server.services import registry_reads as reads
from server.services import validation, webhook_events
from server.store import model_versions as version_store
from server.store import registered_models as store
from server.store import users


def create_registered_model(
    session: Session, *, name: str, description: str | None, tags: dict[str, str]
) -> reads.ModelView:
    name = rules.validate_model_name(name)
    tags = rules.validate_tags(tags)
    description = rules.validate_description(description)
    model = store.insert_registered_model(session, name=name, description=description, tags=tags)
    webhook_events.registered_model_created(session, model, tags, description)
    return reads.describe_model(session, model)


def get_registered_model(session: Session, name: str) -> reads.ModelView:
    return reads.describe_model(session, reads.get_model(session, name))


def rename_registered_model(session: Session, name: str, new_name: str) -> reads.ModelView:
    new_name = rules.validate_model_name(new_name, "new_name")
    model = reads.get_model(session, name)
    old_name = model.name
    store.rename_registered_model(session, model, new_name)
    users.rename_registered_model_permissions(session, old_name, new_name)
    return reads.describe_model(session, model)


def update_registered_model(session: Session, name: str, description: str | None) -> reads.ModelView:
    """Like MLflow, a missing `description` clears it: the field is the whole update."""
    model = reads.get_model(session, name)
    model.description = rules.validate_description(description)
    store.touch(model)
    return reads.describe_model(session, model)


def delete_registered_model(session: Session, name: str) -> None:
    model = reads.get_model(session, name)
    store.delete_registered_model(session, model)
    users.delete_registered_model_permissions(session, model.name)


def latest_versions(session: Session, name: str, stages: Sequence[str]) -> list[reads.VersionView]:
    """The newest version in each requested stage (every stage when none is named)."""
    model = reads.get_model(session, name)
    wanted = {rules.canonical_stage(stage) for stage in stages} or set(rules.STAGES)
    latest = version_store.latest_per_stage(session, [model.id])[model.id]
    return reads.describe_versions(session, [row for row in latest if row.current_stage in wanted])


def set_registered_model_tag(session: Session, name: str, key: str, value: str) -> None:
    model = reads.get_model(session, name)
    rules.validate_tag(key, value)
    store.set_model_tags(session, model, {key: value})
    prompt = webhook_events.model_is_prompt(session, model)
    webhook_events.model_tag_set(session, prompt=prompt, model=model, key=key, value=value)


def delete_registered_model_tag(session: Session, name: str, key: str) -> None:
    model = reads.get_model(session, name)
    store.delete_model_tag(session, model, validation.validate_entity_key(key))
    prompt = webhook_events.model_is_prompt(session, model)  # after, as MLflow asks: deleting the prompt tag fires none
    webhook_events.model_tag_deleted(session, prompt=prompt, model=model, key=key)


def set_alias(session: Session, name: str, version: str, alias: str) -> None:
    """Setting an existing alias moves it to `version`."""
    alias = rules.validate_new_alias(alias)
    model, row = reads.get_version(session, name, version)
    store.set_alias(session, model, alias, row.version)
    prompt = webhook_events.model_is_prompt(session, model)
    webhook_events.alias_created(session, prompt=prompt, model=model, alias=alias, version=version)


def delete_alias(session: Session, name: str, alias: str) -> None:
    alias = rules.validate_alias(alias)
    model = reads.get_model(session, name)
    store.delete_alias(session, model, alias)
    webhook_events.alias_deleted(
        session, prompt=webhook_events.model_is_prompt(session, model), model=model, alias=alias
    )


def version_by_alias(session: Session, name: str, alias: str) -> reads.VersionView:
    """`latest` (any case) is the highest version, as MLflow resolves `models:/name@latest`."""
    alias = rules.validate_alias(alias)
    model = reads.get_model(session, name)
    if alias.lower() == "latest":
        row = version_store.latest_version(session, model)
        if row is None:
            raise MlflowError.not_found(f"Latest version not found for model {model.name}.")
        return reads.describe_version(session, row)
    return reads.describe_version(
        session, version_store.get_version(session, model, store.aliased_version(session, model, alias))
    )
