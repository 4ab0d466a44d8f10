"""MLflow 3 logged-model RPCs: what `log_model`, `load_model("models:/m-…")` and `register_model` call."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.routing import Rpc
from server.api.wire import Fields, key_value_pairs, missing
from server.auth import rules
from server.services import logged_models as service
from server.services import validation
from server.services.logged_models import LoggedModelData
from server.store.models import LoggedModel, LoggedModelMetric
from server.web.context import Context


def _metric_json(metric: LoggedModelMetric) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": metric.key,
        "value": "NaN" if metric.is_nan else metric.value,
        "timestamp": metric.timestamp,
        "step": metric.step,
        "model_id": metric.model_id,
        "run_id": metric.run_uuid,
    }
    if metric.dataset_name:
        body["dataset_name"] = metric.dataset_name
        body["dataset_digest"] = metric.dataset_digest
    return body


def _model_json(model: LoggedModel, data: LoggedModelData) -> dict[str, Any]:
    return convert.logged_model_json(
        model, params=data.params, tags=data.tags, metrics=[_metric_json(m) for m in data.metrics]
    )


def _model_body(model: LoggedModel, data: LoggedModelData) -> dict[str, Any]:
    return {"model": _model_json(model, data)}


def create_logged_model(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    return _model_body(
        *service.create_logged_model(
            session,
            experiment_id=validation.parse_experiment_id(fields.required_string("experiment_id")),
            name=fields.string("name"),
            model_type=fields.string("model_type"),
            source_run_id=fields.string("source_run_id"),
            params=dict(key_value_pairs(fields, "params")),
            tags=dict(key_value_pairs(fields, "tags")),
            artifact_destination=context.artifacts.destination_uri,
        )
    )


def get_logged_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model_id, allow_deleted = fields.required_string("model_id"), fields.boolean("allow_deleted")
    return _model_body(*service.get_logged_model(session, model_id, allow_deleted=allow_deleted))


def finalize_logged_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = service.live_model(session, fields.required_string("model_id"))
    status = fields.enum("status", service.STATUS_NUMBERS)
    if status is None:
        raise missing("status")
    return _model_body(*service.finalize_logged_model(session, model, status))


def delete_logged_model(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_logged_model(session, fields.required_string("model_id"))
    return {}


def set_logged_model_tags(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = service.live_model(session, fields.required_string("model_id"))
    return _model_body(*service.set_tags(session, model, dict(key_value_pairs(fields, "tags"))))


def delete_logged_model_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_tag(session, fields.required_string("model_id"), fields.required_string("tag_key"))
    return {}


def log_logged_model_params(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    model = service.live_model(session, fields.required_string("model_id"))
    service.log_params(session, model, dict(key_value_pairs(fields, "params")))
    return {}


def search_logged_models(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_ids = [validation.parse_experiment_id(e) for e in fields.string_list("experiment_ids")]
    order_by = [Fields(item) for item in fields.objects("order_by")]
    datasets = [Fields(item) for item in fields.objects("datasets")]
    service.check_dataset_names(d.string("dataset_name") for d in datasets)
    page, data = service.search_logged_models(
        session,
        experiment_ids=experiment_ids,
        filter_string=fields.string("filter"),
        order_by=[(o.required_string("field_name"), o.boolean("ascending", default=True)) for o in order_by],
        max_results=fields.integer("max_results", default=0),
        page_token=fields.string("page_token"),
        datasets=[(d.required_string("dataset_name"), d.string("dataset_digest")) for d in datasets],
    )
    models = [_model_json(model, data[model.model_id]) for model in page.items]
    return convert.page_json("models", models, page.next_page_token)


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
