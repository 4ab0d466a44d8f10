"""Experiment RPCs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from server.api import convert
from server.api.routing import Rpc
from server.api.wire import Fields, key_value_pairs
from server.auth import rules
from server.errors import MlflowError
from server.services import experiments as service
from server.services import validation
from server.store import experiments as store
from server.store import search
from server.web.context import Context

VIEW_TYPES = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}


def _one(session: Session, experiment_id: int) -> dict[str, Any]:
    experiment = store.get_experiment(session, experiment_id)
    tags = store.experiment_tags(session, [experiment_id])[experiment_id]
    return {"experiment": convert.experiment_json(experiment, tags)}


def _experiment_id(fields: Fields) -> int:
    return validation.parse_experiment_id(fields.required_string("experiment_id"))


def get_experiment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return _one(session, _experiment_id(fields))


def get_experiment_by_name(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment = store.get_experiment_by_name(session, fields.required_string("experiment_name"))
    return _one(session, experiment.experiment_id)


def create_experiment(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    experiment = service.create_experiment(
        session,
        context.settings,
        name=fields.required_string("name"),
        artifact_location=fields.string("artifact_location"),
        tags=dict(key_value_pairs(fields, "tags")),
    )
    return {"experiment_id": str(experiment.experiment_id)}


def _readable(context: Context, session: Session) -> ColumnElement[bool] | None:
    authorizer = context.authorizer
    return authorizer.readable_condition(session, rules.current_principal()) if authorizer else None


def search_experiments(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    max_results = fields.integer("max_results", default=0) or 0
    if max_results <= 0 or max_results > validation.MAX_EXPERIMENTS_PER_PAGE:
        raise validation.invalid_max_results(max_results, validation.MAX_EXPERIMENTS_PER_PAGE)
    page = search.search_experiments(
        session,
        filter_string=fields.string("filter"),
        order_by=fields.string_list("order_by"),
        view_type=fields.enum("view_type", VIEW_TYPES, default="ACTIVE_ONLY") or "ACTIVE_ONLY",
        max_results=max_results,
        page_token=fields.string("page_token"),
        visible=_readable(context, session),
    )
    tags = store.experiment_tags(session, [e.experiment_id for e in page.items])
    experiments = [convert.experiment_json(e, tags[e.experiment_id]) for e in page.items]
    return convert.page_json("experiments", experiments, page.next_page_token)


def update_experiment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment = store.get_experiment(session, _experiment_id(fields))
    new_name = validation.validate_experiment_name(fields.required_string("new_name"))
    store.rename_experiment(session, experiment, new_name)
    return {}


def delete_experiment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return _move(session, _experiment_id(fields), from_stage=store.ACTIVE, to_stage=store.DELETED)


def restore_experiment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return _move(session, _experiment_id(fields), from_stage=store.DELETED, to_stage=store.ACTIVE)


def _move(session: Session, experiment_id: int, *, from_stage: str, to_stage: str) -> dict[str, Any]:
    experiment = store.get_experiment(session, experiment_id)
    if experiment.lifecycle_stage != from_stage:
        raise MlflowError.not_found(
            f"Cannot {'delete' if to_stage == store.DELETED else 'restore'} experiment {experiment_id}: "
            f"it is {experiment.lifecycle_stage}."
        )
    store.set_lifecycle(session, experiment, to_stage)
    return {}


def set_experiment_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment = store.get_active_experiment(session, _experiment_id(fields))
    key, value = fields.required_string("key"), fields.string("value", default="") or ""
    service.validate_experiment_tag(key, value)
    store.set_experiment_tags(session, experiment, {key: value})
    return {}


def delete_experiment_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment = store.get_active_experiment(session, _experiment_id(fields))
    store.delete_experiment_tag(session, experiment, fields.required_string("key"))
    return {}


RPCS = [
    Rpc(
        "GET",
        "/mlflow/experiments/get-by-name",
        get_experiment_by_name,
        access=rules.Access("experiment_name", rules.READ, "experiment_name"),
    ),
    Rpc("POST", "/mlflow/experiments/create", create_experiment, access=rules.Access("signed_in", grants_creator=True)),
    Rpc("POST", "/mlflow/experiments/search", search_experiments, writes=False, access=rules.SIGNED_IN),
    Rpc("GET", "/mlflow/experiments/search", search_experiments, access=rules.SIGNED_IN),
    Rpc("GET", "/mlflow/experiments/get", get_experiment, access=rules.experiment(rules.READ)),
    Rpc("POST", "/mlflow/experiments/delete", delete_experiment, access=rules.experiment(rules.MANAGE)),
    Rpc("POST", "/mlflow/experiments/restore", restore_experiment, access=rules.experiment(rules.MANAGE)),
    Rpc("POST", "/mlflow/experiments/update", update_experiment, access=rules.experiment(rules.EDIT)),
    Rpc("POST", "/mlflow/experiments/set-experiment-tag", set_experiment_tag, access=rules.experiment(rules.EDIT)),
    Rpc(
        "POST", "/mlflow/experiments/delete-experiment-tag", delete_experiment_tag, access=rules.experiment(rules.EDIT)
    ),
]
