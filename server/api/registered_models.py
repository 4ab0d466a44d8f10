"""Registered-model RPCs: create, read, rename, update, delete, search, tags, aliases and latest versions.

Prompts are registered models too (tagged `mlflow.prompt.is_prompt`); the client builds the prompt registry on
these RPCs, so nothing here is prompt-specific; the rules (a name clash's wording, search leaving prompts out unless
asked) are in the services.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.registry import model_json, models_json, version_json, versions_json
from server.api.routing import Rpc
from server.api.wire import Fields, key_value_pairs
from server.auth import rules as access
from server.services import registered_models as service
from server.services import registry_search
from server.web.context import Context


def create_registered_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    name = fields.required_string("name")
    tags = dict(key_value_pairs(fields, "tags"))
    model = service.create_registered_model(session, name=name, description=fields.string("description"), tags=tags)
    return model_json(model)


def get_registered_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return model_json(service.get_registered_model(session, fields.required_string("name")))


def rename_registered_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    new_name = fields.required_string("new_name")
    return model_json(service.rename_registered_model(session, fields.required_string("name"), new_name))


def update_registered_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    name = fields.required_string("name")
    return model_json(service.update_registered_model(session, name, fields.string("description")))


def delete_registered_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_registered_model(session, fields.required_string("name"))
    return {}


def search_registered_models(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    page = registry_search.search_registered_models(
        session,
        context.authorizer,
        max_results=fields.integer("max_results"),
        filter_string=fields.string("filter"),
        order_by=fields.string_list("order_by"),
        page_token=fields.string("page_token"),
    )
    return convert.page_json("registered_models", models_json(page.items), page.next_page_token)


def get_latest_versions(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    name = fields.required_string("name")
    versions = versions_json(service.latest_versions(session, name, fields.string_list("stages")))
    return {"model_versions": versions} if versions else {}


def set_registered_model_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    name, key = fields.required_string("name"), fields.required_string("key")
    service.set_registered_model_tag(session, name, key, fields.string("value", default="") or "")
    return {}


def delete_registered_model_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    name = fields.required_string("name")
    service.delete_registered_model_tag(session, name, fields.required_string("key"))
    return {}


def set_registered_model_alias(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    alias, name = fields.required_string("alias"), fields.required_string("name")
    service.set_alias(session, name, fields.required_string("version"), alias)
    return {}


def delete_registered_model_alias(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    alias = fields.required_string("alias")
    service.delete_alias(session, fields.required_string("name"), alias)
    return {}


def get_model_version_by_alias(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    alias = fields.required_string("alias")
    return version_json(service.version_by_alias(session, fields.required_string("name"), alias))


RPCS = [
    Rpc(
        "POST",
        "/mlflow/registered-models/create",
        create_registered_model,
        access=access.Access("signed_in", grants_creator=True),
    ),
    Rpc("GET", "/mlflow/registered-models/get", get_registered_model, access=access.registered_model(access.READ)),
    Rpc(
        "POST", "/mlflow/registered-models/rename", rename_registered_model, access=access.registered_model(access.EDIT)
    ),
    Rpc(
        "PATCH",
        "/mlflow/registered-models/update",
        update_registered_model,
        access=access.registered_model(access.EDIT),
    ),
    Rpc(
        "DELETE",
        "/mlflow/registered-models/delete",
        delete_registered_model,
        access=access.registered_model(access.MANAGE),
    ),
    Rpc("GET", "/mlflow/registered-models/search", search_registered_models, access=access.SIGNED_IN),
    Rpc(
        "POST",
        "/mlflow/registered-models/get-latest-versions",
        get_latest_versions,
        writes=False,
        access=access.registered_model(access.READ),
    ),
    Rpc(
        "GET",
        "/mlflow/registered-models/get-latest-versions",
        get_latest_versions,
        access=access.registered_model(access.READ),
    ),
    Rpc(
        "POST",
        "/mlflow/registered-models/set-tag",
        set_registered_model_tag,
        access=access.registered_model(access.EDIT),
    ),
    Rpc(
        "DELETE",
        "/mlflow/registered-models/delete-tag",
        delete_registered_model_tag,
        access=access.registered_model(access.EDIT),
    ),
    Rpc(
        "POST",
        "/mlflow/registered-models/alias",
        set_registered_model_alias,
        access=access.registered_model(access.EDIT),
    ),
    Rpc(
        "DELETE",
        "/mlflow/registered-models/alias",
        delete_registered_model_alias,
        access=access.registered_model(access.EDIT),
    ),
    Rpc(
        "GET",
        "/mlflow/registered-models/alias",
        get_model_version_by_alias,
        access=access.registered_model(access.READ),
    ),
]
