"""MLflow 3 logged-model RPCs: what `log_model`, `load_model("models:/m-…")` and `register_model` call."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.routing import Rpc
from server.api.wire import Fields, key_value_pairs, missing
from server.auth import rules
from server.clock import now_ms
from server.errors import MlflowError
from server.services import validation
from server.services.names import generate_run_name
from server.store import artifact_destinations, search
from server.store import experiments as experiment_store
from server.store import logged_models as store
from server.store.models import LoggedModel
from server.web.context import Context

_BAD_NAME = re.compile(r"[/:.%\"']")


def _models_json(session: Session, models: list[LoggedModel]) -> list[dict[str, Any]]:
    data = store.load_data(session, [m.model_id for m in models])
    return [
        convert.logged_model_json(
            model,
            params=data[model.model_id].params,
            tags=data[model.model_id].tags,
            metrics=[store.metric_json(m) for m in data[model.model_id].metrics],
        )
        for model in models
    ]


def _model_body(session: Session, model: LoggedModel) -> dict[str, Any]:
    return _models_json(session, [model])[0]


def create_logged_model(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    experiment_id = validation.parse_experiment_id(fields.required_string("experiment_id"))
    experiment = experiment_store.get_active_experiment(session, experiment_id)
    name = validation.limit_length("name", 500, fields.string("name") or generate_run_name())
    model_type = fields.string("model_type")
    if model_type is not None:
        validation.limit_length("model_type", 500, model_type)
    if _BAD_NAME.search(name):
        raise MlflowError.invalid_parameter(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string and cannot contain "
            "the following characters: ('/', ':', '.', '%', '\"', \"'\")"
        )
    model_id = f"m-{uuid.uuid4().hex}"
    now = now_ms()
    model = LoggedModel(
        model_id=model_id,
        experiment_id=experiment_id,
        name=name,
        artifact_uri=f"{experiment.artifact_location}/models/{model_id}/artifacts",
        status=store.STATUS_NUMBERS["LOGGED_MODEL_PENDING"],
        model_type=model_type,
        source_run_id=fields.string("source_run_id") or None,
        creation_timestamp_ms=now,
        last_updated_timestamp_ms=now,
        lifecycle_stage="active",
    )
    session.add(model)
    session.flush()
    artifact_destinations.record(session, model.artifact_uri, context.artifacts.destination_uri, model_id)
    store.set_params(session, model_id, dict(key_value_pairs(fields, "params")))
    store.set_tags(session, model_id, dict(key_value_pairs(fields, "tags")))
    return {"model": _model_body(session, model)}


def get_logged_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = store.get_logged_model(
        session, fields.required_string("model_id"), allow_deleted=fields.boolean("allow_deleted")
    )
    return {"model": _model_body(session, model)}


def finalize_logged_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = store.get_logged_model(session, fields.required_string("model_id"))
    status = fields.enum("status", store.STATUS_NUMBERS)
    if status is None:
        raise missing("status")
    model.status = store.STATUS_NUMBERS[status]
    model.last_updated_timestamp_ms = now_ms()
    return {"model": _model_body(session, model)}


def delete_logged_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = store.get_logged_model(session, fields.required_string("model_id"))
    model.lifecycle_stage = "deleted"
    model.last_updated_timestamp_ms = now_ms()
    return {}


def set_logged_model_tags(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = store.get_logged_model(session, fields.required_string("model_id"))
    store.set_tags(session, model.model_id, dict(key_value_pairs(fields, "tags")))
    model.last_updated_timestamp_ms = now_ms()
    return {"model": _model_body(session, model)}


def delete_logged_model_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = store.get_logged_model(session, fields.required_string("model_id"))
    store.delete_tag(session, model.model_id, fields.required_string("tag_key"))
    return {}


def log_logged_model_params(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = store.get_logged_model(session, fields.required_string("model_id"))
    store.set_params(session, model.model_id, dict(key_value_pairs(fields, "params")))
    return {}


def search_logged_models(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_ids = [validation.parse_experiment_id(e) for e in fields.string_list("experiment_ids")]
    order_by = [Fields(item) for item in fields.objects("order_by")]
    datasets = [Fields(item) for item in fields.objects("datasets")]
    if not all(d.string("dataset_name") for d in datasets):
        raise MlflowError.invalid_parameter("`dataset_name` in the `datasets` clause must be specified.")
    page = search.search_logged_models(
        session,
        experiment_ids=experiment_ids,
        filter_string=fields.string("filter"),
        order_by=[(o.required_string("field_name"), o.boolean("ascending", default=True)) for o in order_by],
        max_results=fields.integer("max_results", default=0) or 100,
        page_token=fields.string("page_token"),
        datasets=[(d.required_string("dataset_name"), d.string("dataset_digest")) for d in datasets],
    )
    return convert.page_json("models", _models_json(session, page.items), page.next_page_token)


RPCS = [
    Rpc("POST", "/mlflow/logged-models", create_logged_model, access=rules.experiment(rules.EDIT)),
    Rpc("POST", "/mlflow/logged-models/search", search_logged_models, writes=False, access=rules.READABLE_EXPERIMENTS),
    Rpc("GET", "/mlflow/logged-models/{model_id}", get_logged_model, access=rules.logged_model(rules.READ)),
    Rpc("PATCH", "/mlflow/logged-models/{model_id}", finalize_logged_model, access=rules.logged_model(rules.EDIT)),
    Rpc("DELETE", "/mlflow/logged-models/{model_id}", delete_logged_model, access=rules.logged_model(rules.MANAGE)),
    Rpc("PATCH", "/mlflow/logged-models/{model_id}/tags", set_logged_model_tags, access=rules.logged_model(rules.EDIT)),
    Rpc(
        "DELETE",
        "/mlflow/logged-models/{model_id}/tags/{tag_key}",
        delete_logged_model_tag,
        access=rules.logged_model(rules.MANAGE),
    ),
    Rpc(
        "POST",
        "/mlflow/logged-models/{model_id}/params",
        log_logged_model_params,
        access=rules.logged_model(rules.EDIT),
    ),
]
