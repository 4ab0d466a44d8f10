"""Registered-model RPCs: create, read, rename, update, delete, search, tags, aliases and latest versions.

Prompts are registered models too (tagged `mlflow.prompt.is_prompt`); the client builds the prompt registry on
these RPCs, so nothing here is prompt-specific except the wording of a name clash and search's default of
leaving prompts out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from server.api import convert
from server.api.registry import model_json, model_of, models_json, name_of, version_json, version_of, versions_json
from server.api.routing import Rpc
from server.api.wire import Fields, key_value_pairs
from server.auth import rules as access
from server.errors import MlflowError
from server.services import registry as rules
from server.services import validation
from server.store import model_versions as version_store
from server.store import registered_models as store
from server.store import search, users
from server.web.context import Context

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 1000


def create_registered_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    name = name_of(fields)
    tags = rules.validate_tags(dict(key_value_pairs(fields, "tags")))
    description = rules.validate_description(fields.string("description"))
    model = store.insert_registered_model(session, name=name, description=description, tags=tags)
    return model_json(session, model)


def get_registered_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return model_json(session, model_of(fields, session))


def rename_registered_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    new_name = name_of(fields, "new_name")
    model = model_of(fields, session)
    old_name = model.name
    store.rename_registered_model(session, model, new_name)
    users.rename_registered_model_permissions(session, old_name, new_name)
    return model_json(session, model)


def update_registered_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """Like MLflow, a missing `description` clears it: the field is the whole update."""
    model = model_of(fields, session)
    model.description = rules.validate_description(fields.string("description"))
    store.touch(model)
    return model_json(session, model)


def delete_registered_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = model_of(fields, session)
    store.delete_registered_model(session, model)
    users.delete_registered_model_permissions(session, model.name)
    return {}


def readable_models(context: Context, session: Session) -> ColumnElement[bool] | None:
    """Searches only ever see the registered models the caller may read (everything when auth is off)."""
    if context.authorizer is None:
        return None
    return access.readable_model_condition(context.authorizer, session, access.current_principal())


def search_registered_models(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    max_results = fields.integer("max_results", default=DEFAULT_MAX_RESULTS)
    check_max_results(max_results, MAX_RESULTS)
    page = search.search_registered_models(
        session,
        filter_string=fields.string("filter"),
        order_by=fields.string_list("order_by"),
        max_results=max_results or DEFAULT_MAX_RESULTS,
        page_token=fields.string("page_token"),
        visible=readable_models(context, session),
    )
    return convert.page_json("registered_models", models_json(session, page.items), page.next_page_token)


def check_max_results(max_results: int | None, limit: int) -> None:
    if max_results is None or max_results < 1:
        raise MlflowError.invalid_parameter(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results}"
        )
    if max_results > limit:
        raise MlflowError.invalid_parameter(
            f"Invalid value for request parameter max_results. It must be at most {limit}, but got value {max_results}"
        )


def get_latest_versions(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """The newest version in each requested stage (every stage when none is named)."""
    model = model_of(fields, session)
    stages = {rules.canonical_stage(stage) for stage in fields.string_list("stages")} or set(rules.STAGES)
    latest = version_store.latest_per_stage(session, [model.id])[model.id]
    versions = versions_json(session, [row for row in latest if row.current_stage in stages])
    return {"model_versions": versions} if versions else {}


def set_registered_model_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = model_of(fields, session)
    key, value = fields.required_string("key"), fields.string("value", default="") or ""
    rules.validate_tag(key, value)
    store.set_model_tags(session, model, {key: value})
    return {}


def delete_registered_model_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = model_of(fields, session)
    store.delete_model_tag(session, model, validation.validate_entity_key(fields.required_string("key")))
    return {}


def set_registered_model_alias(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    alias = rules.validate_new_alias(fields.required_string("alias"))
    model, row = version_of(fields, session)
    store.set_alias(session, model, alias, row.version)
    return {}


def delete_registered_model_alias(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    alias = rules.validate_alias(fields.required_string("alias"))
    store.delete_alias(session, model_of(fields, session), alias)
    return {}


def get_model_version_by_alias(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """`latest` (any case) is the highest version, as MLflow resolves `models:/name@latest`."""
    alias = rules.validate_alias(fields.required_string("alias"))
    model = model_of(fields, session)
    if alias.lower() == "latest":
        row = version_store.latest_version(session, model)
        if row is None:
            raise MlflowError.not_found(f"Latest version not found for model {model.name}.")
        return version_json(session, row)
    return version_json(
        session, version_store.get_version(session, model, store.aliased_version(session, model, alias))
    )


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
