"""What the registry RPCs share: finding the model or version a request names, and rendering both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.wire import Fields
from server.errors import MlflowError
from server.services import registry as rules
from server.store import model_versions as version_store
from server.store import registered_models as model_store
from server.store.models import ModelVersion, RegisteredModel


def name_of(fields: Fields, field: str = "name") -> str:
    return rules.validate_model_name(fields.required_string(field), field)


def model_of(fields: Fields, session: Session) -> RegisteredModel:
    return model_store.get_registered_model(session, name_of(fields))


def version_of(fields: Fields, session: Session) -> tuple[RegisteredModel, ModelVersion]:
    """The named version; an unknown model reads as an unknown version, as in MLflow's SQL store."""
    name = name_of(fields)
    number = rules.parse_version(fields.required_string("version"))
    model = model_store.find_registered_model(session, name)
    row = version_store.find_version(session, model, number) if model is not None else None
    if model is None or row is None:
        raise MlflowError.not_found(f"Model Version (name={name}, version={number}) not found")
    return model, row


def versions_json(session: Session, rows: Sequence[ModelVersion]) -> list[dict[str, Any]]:
    return [
        convert.model_version_json(d.row, name=d.name, tags=d.tags, aliases=d.aliases)
        for d in version_store.describe(session, rows)
    ]


def version_json(session: Session, row: ModelVersion) -> dict[str, Any]:
    return {"model_version": versions_json(session, [row])[0]}


def models_json(session: Session, models: Sequence[RegisteredModel]) -> list[dict[str, Any]]:
    """Models with their tags, aliases and latest version per stage, in a fixed number of queries per page."""
    pks = [model.id for model in models]
    tags, aliases = model_store.model_tags(session, pks), model_store.model_aliases(session, pks)
    latest: dict[int, list[dict[str, Any]]] = {pk: [] for pk in pks}
    rows = [row for rows in version_store.latest_per_stage(session, pks).values() for row in rows]
    for row, body in zip(rows, versions_json(session, rows), strict=True):
        latest[row.model_pk].append(body)
    return [
        convert.registered_model_json(
            model, tags=tags[model.id], aliases=aliases[model.id], latest_versions=latest[model.id]
        )
        for model in models
    ]


def model_json(session: Session, model: RegisteredModel) -> dict[str, Any]:
    return {"registered_model": models_json(session, [model])[0]}
