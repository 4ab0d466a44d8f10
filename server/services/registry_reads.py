"""Finding the registered model or version a request names, and reading what their JSON needs besides their rows.

Every registry RPC answers with models or versions together with their tags, aliases and (for a model) the latest
version per stage; these reads are batched so a page costs a fixed number of queries, however long it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.services import registry as rules
from server.store import model_versions as version_store
from server.store import registered_models as model_store
from server.store.models import ModelVersion, RegisteredModel


@dataclass(frozen=True, slots=True)
class VersionView:
    """A model version with its model's name, its tags and the aliases that point at it."""

    row: ModelVersion
    name: str
    tags: Mapping[str, str]
    aliases: list[str]


@dataclass(frozen=True, slots=True)
class ModelView:
    """A registered model with its tags, its aliases (alias to version) and its newest version in each stage."""

    model: RegisteredModel
    tags: Mapping[str, str]
    aliases: Mapping[str, int]
    latest_versions: list[VersionView]


def get_model(session: Session, name: str) -> RegisteredModel:
    """The model a request names, once the name is one a model could have."""
    return model_store.get_registered_model(session, rules.validate_model_name(name))


def get_version(session: Session, name: str, version: str) -> tuple[RegisteredModel, ModelVersion]:
    """The named version (`version` as the client wrote it, a string in MLflow's protocol); an unknown model reads
    as an unknown version, as in MLflow's SQL store."""
    name = rules.validate_model_name(name)
    number = rules.parse_version(version)
    model = model_store.find_registered_model(session, name)
    row = version_store.find_version(session, model, number) if model is not None else None
    if model is None or row is None:
        raise MlflowError.not_found(f"Model Version (name={name}, version={number}) not found")
    return model, row


def describe_versions(session: Session, rows: Sequence[ModelVersion]) -> list[VersionView]:
    """Names, tags and aliases for many versions in three queries."""
    return [VersionView(d.row, d.name, d.tags, d.aliases) for d in version_store.describe(session, rows)]


def describe_version(session: Session, row: ModelVersion) -> VersionView:
    return describe_versions(session, [row])[0]


def describe_models(session: Session, models: Sequence[RegisteredModel]) -> list[ModelView]:
    """Models with their tags, aliases and latest version per stage, in a fixed number of queries per page."""
    pks = [model.id for model in models]
    tags, aliases = model_store.model_tags(session, pks), model_store.model_aliases(session, pks)
    latest: dict[int, list[VersionView]] = {pk: [] for pk in pks}
    rows = [row for rows in version_store.latest_per_stage(session, pks).values() for row in rows]
    for view in describe_versions(session, rows):
        latest[view.row.model_pk].append(view)
    return [ModelView(model, tags[model.id], aliases[model.id], latest[model.id]) for model in models]


def describe_model(session: Session, model: RegisteredModel) -> ModelView:
    return describe_models(session, [model])[0]
