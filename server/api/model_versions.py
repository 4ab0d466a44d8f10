"""Model-version RPCs: register, read, update, delete, search, tags, stage transitions and download URIs."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.registry import version_json, version_of, versions_json
from server.api.routing import Rpc
from server.api.wire import Fields, key_value_pairs
from server.auth import rules as access
from server.clock import now_ms
from server.errors import MlflowError
from server.services import model_sources, registry_search, validation
from server.services import registry as rules
from server.services import registry_reads as reads
from server.store import logged_models as logged_model_store
from server.store import model_versions as store
from server.store import registered_models as model_store
from server.web.context import Context


def create_model_version(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """A new version, READY at once: the files already exist where `source` says (nothing is copied)."""
    name = rules.validate_model_name(fields.required_string("name"))
    tags = rules.validate_tags(dict(key_value_pairs(fields, "tags")))
    is_prompt = tags.get(model_store.PROMPT_TAG, "false").lower() == "true"
    run_link = fields.string("run_link")
    if run_link is not None:
        validation.limit_length("run_link", rules.MAX_SOURCE_LENGTH, run_link)
    lineage = model_sources.resolve(
        session,
        source=fields.required_string("source"),
        run_id=fields.string("run_id"),
        model_id=fields.string("model_id"),
        is_prompt=is_prompt,
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
        description=rules.validate_description(fields.string("description")),
    )
    store.set_version_tags(session, row, tags)
    if lineage.model_id and not is_prompt:
        logged_model_store.record_registration(session, lineage.model_id, model.name, row.version)
    return version_json(reads.describe_version(session, row))


def get_model_version(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return version_json(reads.describe_version(session, version_of(fields, session)[1]))


def update_model_version(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """Like MLflow, a missing `description` clears it."""
    row = version_of(fields, session)[1]
    row.description = rules.validate_description(fields.string("description"))
    row.last_updated_timestamp = now_ms()
    return version_json(reads.describe_version(session, row))


def transition_model_version_stage(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """Stages are deprecated in MLflow but still called; `archive_existing_versions` archives the versions
    already in the target stage (a 400 for None and Archived, where MLflow answers with a 500)."""
    model, row = version_of(fields, session)
    stage = rules.canonical_stage(fields.required_string("stage"))
    archive = fields.boolean("archive_existing_versions")
    if archive and stage not in rules.ACTIVE_STAGES:
        raise MlflowError.invalid_parameter(
            "Model version transition cannot archive existing model versions because "
            f"'{stage}' is not an Active stage. Valid stages are {list(rules.ACTIVE_STAGES)}"
        )
    now = now_ms()
    if archive:
        store.archive_stage(session, model, stage, keep=row.version, now=now)
    row.current_stage = stage
    row.last_updated_timestamp = now
    model_store.touch(model, now)
    return version_json(reads.describe_version(session, row))


def delete_model_version(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model, row = version_of(fields, session)
    model_store.touch(model)
    store.delete_version(session, row)
    return {}


def get_model_version_download_uri(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """Where the version's files are: a logged model's or copied version's location, else the source itself."""
    if not fields.has("version"):
        rules.parse_version("")
    return {"artifact_uri": version_of(fields, session)[1].storage_location}


def search_model_versions(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    page = registry_search.search_model_versions(
        session,
        context.authorizer,
        max_results=fields.integer("max_results"),
        filter_string=fields.string("filter"),
        order_by=fields.string_list("order_by"),
        page_token=fields.string("page_token"),
    )
    return convert.page_json("model_versions", versions_json(page.items), page.next_page_token)


def set_model_version_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    row = version_of(fields, session)[1]
    key, value = fields.required_string("key"), fields.string("value", default="") or ""
    rules.validate_tag(key, value)
    store.set_version_tags(session, row, {key: value})
    return {}


def delete_model_version_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    row = version_of(fields, session)[1]
    store.delete_version_tag(session, row, validation.validate_entity_key(fields.required_string("key")))
    return {}


RPCS = [
    Rpc("POST", "/mlflow/model-versions/create", create_model_version, access=access.registered_model(access.EDIT)),
    Rpc("GET", "/mlflow/model-versions/get", get_model_version, access=access.registered_model(access.READ)),
    Rpc("PATCH", "/mlflow/model-versions/update", update_model_version, access=access.registered_model(access.EDIT)),
    Rpc(
        "POST",
        "/mlflow/model-versions/transition-stage",
        transition_model_version_stage,
        access=access.registered_model(access.EDIT),
    ),
    Rpc("DELETE", "/mlflow/model-versions/delete", delete_model_version, access=access.registered_model(access.MANAGE)),
    Rpc(
        "GET",
        "/mlflow/model-versions/get-download-uri",
        get_model_version_download_uri,
        access=access.registered_model(access.READ),
    ),
    Rpc("GET", "/mlflow/model-versions/search", search_model_versions, access=access.SIGNED_IN),
    Rpc("POST", "/mlflow/model-versions/set-tag", set_model_version_tag, access=access.registered_model(access.EDIT)),
    Rpc(
        "DELETE",
        "/mlflow/model-versions/delete-tag",
        delete_model_version_tag,
        access=access.registered_model(access.EDIT),
    ),
]
