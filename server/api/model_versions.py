"""Model-version RPCs: register, read, update, delete, search, tags, stage transitions and download URIs."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.registry import version_json, versions_json
from server.api.routing import Rpc
from server.api.wire import Fields, key_value_pairs
from server.auth import rules as access
from server.services import model_versions as versions
from server.services import registry as rules
from server.services import registry_search
from server.web.context import Context


def _name_and_version(fields: Fields) -> tuple[str, str]:
    return fields.required_string("name"), fields.required_string("version")


def create_model_version(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    """A new version, READY at once: the files already exist where `source` says (nothing is copied)."""
    return version_json(
        versions.create_model_version(
            session,
            name=fields.required_string("name"),
            tags=dict(key_value_pairs(fields, "tags")),
            run_link=fields.string("run_link"),
            source=fields.required_string("source"),
            run_id=fields.string("run_id"),
            model_id=fields.string("model_id"),
            description=fields.string("description"),
            trusted_roots=(context.settings.effective_artifact_root, context.artifacts.destination_uri),
        )
    )


def get_model_version(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return version_json(versions.get_model_version(session, *_name_and_version(fields)))


def update_model_version(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    name, version = _name_and_version(fields)
    return version_json(versions.update_model_version(session, name, version, fields.string("description")))


def transition_model_version_stage(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    name, version = _name_and_version(fields)
    view = versions.transition_stage(
        session,
        name,
        version,
        fields.required_string("stage"),
        archive_existing=fields.boolean("archive_existing_versions"),
    )
    return version_json(view)


def delete_model_version(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    versions.delete_model_version(session, *_name_and_version(fields))
    return {}


def get_model_version_download_uri(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    if not fields.has("version"):
        rules.parse_version("")  # a missing version is worded as an unparsable one, as MLflow words it
    return {"artifact_uri": versions.download_uri(session, *_name_and_version(fields))}


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
    name, version = _name_and_version(fields)
    key, value = fields.required_string("key"), fields.string("value", default="") or ""
    versions.set_model_version_tag(session, name, version, key, value)
    return {}


def delete_model_version_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    name, version = _name_and_version(fields)
    versions.delete_model_version_tag(session, name, version, fields.required_string("key"))
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
