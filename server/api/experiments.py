"""Experiment RPCs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from server.api import convert
from server.api.routing import Rpc
from server.api.wire import Fields, key_value_pairs
from server.auth import rules
from server.services import experiments as service
from server.services import validation
from server.store.models import Experiment
from server.web.context import Context


def _body(experiment: Experiment, tags: dict[str, str]) -> dict[str, Any]:
    return {"experiment": convert.experiment_json(experiment, tags)}


def _experiment_id(fields: Fields) -> int:
    return validation.parse_experiment_id(fields.required_string("experiment_id"))


def get_experiment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return _body(*service.get_experiment(session, _experiment_id(fields)))


def get_experiment_by_name(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return _body(*service.get_experiment_by_name(session, fields.required_string("experiment_name")))


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
    max_results = service.check_page_size(fields.integer("max_results", default=0) or 0)
    page, tags = service.search_experiments(
        session,
        filter_string=fields.string("filter"),
        order_by=fields.string_list("order_by"),
        view_type=fields.enum("view_type", service.VIEW_TYPES, default="ACTIVE_ONLY") or "ACTIVE_ONLY",
        max_results=max_results,
        page_token=fields.string("page_token"),
        visible=_readable(context, session),
    )
    experiments = [convert.experiment_json(e, tags[e.experiment_id]) for e in page.items]
    return convert.page_json("experiments", experiments, page.next_page_token)


def update_experiment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment = service.existing_experiment(session, _experiment_id(fields))
    service.rename_experiment(session, experiment, fields.required_string("new_name"))
    return {}


def delete_experiment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_experiment(session, _experiment_id(fields))
    return {}


def restore_experiment(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.restore_experiment(session, _experiment_id(fields))
    return {}


def set_experiment_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment = service.active_experiment(session, _experiment_id(fields))
    key, value = fields.required_string("key"), fields.string("value", default="") or ""
    service.set_experiment_tag(session, experiment, key, value)
    return {}


def delete_experiment_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment = service.active_experiment(session, _experiment_id(fields))
    service.delete_experiment_tag(session, experiment, fields.required_string("key"))
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
