"""Registered-scorer RPCs (MLflow 3.4+): register, list, list versions, get and delete, plus the two online scoring
config routes MLflow serves beside them (plain JSON, no protobuf message).

A `Scorer` message carries its experiment id as a number (int32 in the proto), while RegisterScorer's response
and the online configs carry it as a string, as MLflow sends them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.wire import Fields, invalid, missing
from server.auth import genai_access
from server.auth import rules as access
from server.errors import MlflowError
from server.services import scorers as service
from server.store.genai_models import OnlineScoringConfig
from server.web.context import Context


def scorer_json(row: service.ScorerRow) -> dict[str, Any]:
    return {
        "experiment_id": row.experiment_id,
        "scorer_name": row.scorer_name,
        "scorer_version": row.scorer_version,
        "serialized_scorer": row.serialized_scorer,
        "creation_time": row.creation_time,
        "scorer_id": row.scorer_id,
    }


def _scorers(rows: list[service.ScorerRow]) -> dict[str, Any]:
    return {"scorers": [scorer_json(row) for row in rows]} if rows else {}


def _version(fields: Fields) -> int | None:
    """`version` as MLflow's `_assert_intlike` takes it: a number, or text that is one."""
    return fields.integer("version")


def register_scorer(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    experiment_id, name = fields.required_string("experiment_id"), fields.required_string("name")
    row = service.register_scorer(
        session,
        experiment_id=experiment_id,
        name=name,
        serialized_scorer=fields.required_string("serialized_scorer"),
        allow_custom=context.settings.enable_custom_scorers,
    )
    return {
        "version": row.scorer_version,
        "scorer_id": row.scorer_id,
        "experiment_id": str(row.experiment_id),
        "name": row.scorer_name,
        "serialized_scorer": row.serialized_scorer,
        "creation_time": row.creation_time,
    }


def _readable(context: Context, session: Session) -> ColumnElement[bool] | None:
    authorizer = context.authorizer
    return authorizer.readable_condition(session, access.current_principal()) if authorizer else None


def list_scorers(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    """One experiment (`experiment_id`), several (`experiment_ids`), or every readable one (neither)."""
    experiment_id = fields.string("experiment_id")
    if experiment_id and fields.has("experiment_ids"):
        raise MlflowError.invalid_parameter(
            "Cannot specify both 'experiment_id' and 'experiment_ids'. Use 'experiment_ids' to scope the query to "
            "multiple experiments, or 'experiment_id' to scope it to a single experiment."
        )
    if fields.has("experiment_ids"):
        return _scorers(service.list_scorers_of(session, fields.string_list("experiment_ids")))
    if experiment_id:
        return _scorers(service.list_scorers(session, experiment_id))
    return _scorers(service.list_all_scorers(session, _readable(context, session)))


def list_scorer_versions(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_id, name = fields.required_string("experiment_id"), fields.required_string("name")
    return _scorers(service.list_scorer_versions(session, experiment_id, name))


def get_scorer(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_id, name = fields.required_string("experiment_id"), fields.required_string("name")
    return {"scorer": scorer_json(service.get_scorer(session, experiment_id, name, _version(fields)))}


def delete_scorer(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_id, name = fields.required_string("experiment_id"), fields.required_string("name")
    service.delete_scorer(session, experiment_id, name, _version(fields))
    return {}


def online_config_json(config: OnlineScoringConfig) -> dict[str, Any]:
    body: dict[str, Any] = {
        "online_scoring_config_id": config.online_scoring_config_id,
        "scorer_id": config.scorer_id,
        "sample_rate": config.sample_rate,
        "experiment_id": str(config.experiment_id),
    }
    if config.filter_string is not None:
        body["filter_string"] = config.filter_string
    return body


def get_online_scoring_configs(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """Always answers `configs`, an empty list included (MLflow writes this one with `json.dumps`)."""
    scorer_ids = fields.string_list("scorer_ids")
    if not scorer_ids:
        raise missing("scorer_ids")
    return {"configs": [online_config_json(c) for c in service.online_configs(session, scorer_ids)]}


def _sample_rate(fields: Fields) -> float:
    """A number, or text that is one (MLflow applies `float()`, and answers 500 to anything else)."""
    value = fields.raw("sample_rate")
    if value is None or value == "":
        raise missing("sample_rate")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid("sample_rate", value)
    try:
        return float(value)
    except ValueError:
        raise invalid("sample_rate", value) from None


def _filter_string(fields: Fields) -> str | None:
    value = fields.raw("filter_string")
    if value is not None and not isinstance(value, str):
        raise MlflowError.invalid_parameter(
            f"Invalid value {value!r} for parameter 'filter_string' supplied: Value was of type "
            f"'{type(value).__name__}'. Expected type 'str' or None."
        )
    return value


def upsert_online_scoring_config(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_id, name = fields.required_string("experiment_id"), fields.required_string("name")
    sample_rate, filter_string = _sample_rate(fields), _filter_string(fields)
    config = service.set_online_config(
        session, experiment_id=experiment_id, name=name, sample_rate=sample_rate, filter_string=filter_string
    )
    return {"config": online_config_json(config)}


RPCS = [
    Rpc("POST", "/mlflow/scorers/register", register_scorer, since=3, access=access.experiment(access.EDIT)),
    Rpc("GET", "/mlflow/scorers/list", list_scorers, since=3, access=genai_access.SCORER_LIST),
    Rpc("GET", "/mlflow/scorers/versions", list_scorer_versions, since=3, access=access.experiment(access.READ)),
    Rpc("GET", "/mlflow/scorers/get", get_scorer, since=3, access=access.experiment(access.READ)),
    Rpc("DELETE", "/mlflow/scorers/delete", delete_scorer, since=3, access=access.experiment(access.EDIT)),
    Rpc("GET", "/mlflow/scorers/online-configs", get_online_scoring_configs, since=3, access=genai_access.SCORER_IDS),
    Rpc(
        "PUT",
        "/mlflow/scorers/online-config",
        upsert_online_scoring_config,
        since=3,
        access=access.experiment(access.EDIT),
    ),
]
