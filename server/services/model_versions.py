"""Rules for model versions: registering one, describing it, moving it between stages, deleting it, its tags.

A version is READY as soon as it is registered: its files already sit where `source` says, nothing is copied. A
version registered from a logged model is recorded on that model too (its `mlflow.modelVersions` tag), in the same
transaction, as MLflow's server does, so the model's page lists where it went. Prompts are versions of a registered
model tagged as a prompt; their "source" is not a location, so they record nothing on a logged model.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import MlflowError
from server.services import model_sources, validation, webhook_events
from server.services import registry as rules
from server.services import registry_reads as reads
from server.store import logged_models as logged_model_store
from server.store import model_versions as store
from server.store import registered_models as model_store


def create_model_version(
    session: Session,
    *,
    name: str,
    source: str,
    run_id: str | None,
    model_id: str | None,
    run_link: str | None,
    description: str | None,
    tags: dict[str, str],
    trusted_roots: Sequence[str] = (),
) -> reads.VersionView:
    """Checks run in MLflow's order: the name, the tags, the run link, where the files are, then the model.
    `trusted_roots` are the server's artifact root and destination, whose host a source may name."""
    name = rules.validate_model_name(name)
    tags = rules.validate_tags(tags)
    is_prompt = tags.get(model_store.PROMPT_TAG, "false").lower() == "true"
    if run_link is not None:
        validation.limit_length("run_link", rules.MAX_SOURCE_LENGTH, run_link)
    lineage = model_sources.resolve(
        session, source=source, run_id=run_id, model_id=model_id, is_prompt=is_prompt, trusted_roots=trusted_roots
    )
    model = model_store.get_registered_model(session, name)
    row = store.insert_version(
        session,
        model,
        source=lineage.source,
        storage_location=lineage.storage_location,
        run_id=lineage.run_id,
        model_id=lineage.model_id,
        run_link=run_link,
        description=rules.validate_description(description),
    )
    store.set_version_tags(session, row, tags)
    if lineage.model_id and not is_prompt:
        logged_model_store.record_registration(session, lineage.model_id, model.name, row.version)
    webhook_events.model_version_created(
        session,
        model=model,
        version=row.version,
        source=source,
        run_id=run_id,
        tags=tags,
        description=description,
    )
    return reads.describe_version(session, row)


def get_model_version(session: Session, name: str, version: str) -> reads.VersionView:
    return reads.describe_version(session, reads.get_version(session, name, version)[1])


def update_model_version(session: Session, name: str, version: str, description: str | None) -> reads.VersionView:
    """Like MLflow, a missing `description` clears it: the field is the whole update."""
    row = reads.get_version(session, name, version)[1]
    row.description = rules.validate_description(description)
    row.last_updated_timestamp = now_ms()
    return reads.describe_version(session, row)


def transition_stage(
    session: Session, name: str, version: str, stage: str, *, archive_existing: bool
) -> reads.VersionView:
    """Stages are deprecated in MLflow but still called. `archive_existing` archives the versions already in the
    target stage; asked for None or Archived it is a 400, where MLflow answers with a 500."""
    model, row = reads.get_version(session, name, version)
    stage = rules.canonical_stage(stage)
    if archive_existing and stage not in rules.ACTIVE_STAGES:
        raise MlflowError.invalid_parameter(
            "Model version transition cannot archive existing model versions because "
            f"'{stage}' is not an Active stage. Valid stages are {list(rules.ACTIVE_STAGES)}"
        )
    now = now_ms()
    if archive_existing:
        store.archive_stage(session, model, stage, keep=row.version, now=now)
    row.current_stage = stage
    row.last_updated_timestamp = now
    model_store.touch(model, now)
    return reads.describe_version(session, row)


def delete_model_version(session: Session, name: str, version: str) -> None:
    model, row = reads.get_version(session, name, version)
    model_store.touch(model)
    store.delete_version(session, row)


def download_uri(session: Session, name: str, version: str) -> str:
    """Where the version's files are: a logged model's or copied version's location, else the source itself."""
    return reads.get_version(session, name, version)[1].storage_location


def set_model_version_tag(session: Session, name: str, version: str, key: str, value: str) -> None:
    model, row = reads.get_version(session, name, version)
    rules.validate_tag(key, value)
    store.set_version_tags(session, row, {key: value})
    prompt = webhook_events.model_is_prompt(session, model)
    webhook_events.version_tag_set(session, prompt=prompt, model=model, version=version, key=key, value=value)


def delete_model_version_tag(session: Session, name: str, version: str, key: str) -> None:
    model, row = reads.get_version(session, name, version)
    store.delete_version_tag(session, row, validation.validate_entity_key(key))
    prompt = webhook_events.model_is_prompt(session, model)
    webhook_events.version_tag_deleted(session, prompt=prompt, model=model, version=version, key=key)
