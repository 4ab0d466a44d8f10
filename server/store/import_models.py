"""Rows written and read by `runyard import` for models: logged models and registered models inserted with the ids,
version numbers, times and states they had in the source (the server's own inserts stamp the present, number
versions from 1 and start them in stage None), and the same rows read back for comparison with the source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store import logged_models as logged_model_store
from server.store import registered_models as model_store
from server.store import scope
from server.store.dialect import insert_ignore
from server.store.imports import insert_as_imported
from server.store.model_versions import set_version_tags
from server.store.models import LoggedModel, LoggedModelMetric, ModelVersion, ModelVersionTag, RegisteredModel

# (key, timestamp, step, value, is_nan, run_id, dataset_name, dataset_digest)
ModelPointRow = tuple[str, int, int, float, bool, str, str, str]


def insert_logged_model(
    session: Session,
    model: LoggedModel,
    *,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    metrics: Sequence[ModelPointRow],
) -> None:
    """A logged model with its own id, times and status, and its params, tags and metric points."""
    insert_as_imported(session, model, f"logged model {model.model_id}")
    logged_model_store.set_params(session, model.model_id, params)
    logged_model_store.set_tags(session, model.model_id, tags)
    rows = [
        {
            "model_id": model.model_id,
            "key": key,
            "timestamp": timestamp,
            "step": step,
            "value": value,
            "is_nan": nan,
            "run_uuid": run_id,
            "dataset_name": dataset,
            "dataset_digest": digest,
        }
        for key, timestamp, step, value, nan, run_id, dataset, digest in metrics
    ]
    insert_ignore(session, LoggedModelMetric, rows)


def stored_logged_model(
    session: Session, model_id: str
) -> tuple[LoggedModel, logged_model_store.LoggedModelData] | None:
    model = session.get(LoggedModel, model_id)
    if model is None:
        return None
    return model, logged_model_store.load_data(session, [model_id])[model_id]


def existing_logged_model_ids(session: Session, model_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(model_ids), 500):
        chunk = model_ids[start : start + 500]
        found.update(session.scalars(select(LoggedModel.model_id).where(LoggedModel.model_id.in_(chunk))))
    return found


@dataclass(frozen=True, slots=True)
class VersionRow:
    """A version as the import writes it: its number and everything else as in the source; `storage_location`
    is where the destination serves its files from."""

    version: int
    source: str
    storage_location: str
    run_id: str | None
    model_id: str | None
    run_link: str | None
    description: str | None
    status: str
    stage: str
    tags: Mapping[str, str]
    creation_timestamp: int
    last_updated_timestamp: int


def insert_registered_model(
    session: Session,
    *,
    name: str,
    description: str | None,
    tags: Mapping[str, str],
    creation_timestamp: int,
    last_updated_timestamp: int,
    versions: Sequence[VersionRow],
    aliases: Mapping[str, int],
) -> RegisteredModel:
    """The model, its versions under their own numbers (the next one the server hands out follows the highest),
    their tags, and the aliases."""
    model = RegisteredModel(
        workspace=scope.current_or_default(),
        name=name,
        description=description,
        creation_timestamp=creation_timestamp,
        last_updated_timestamp=last_updated_timestamp,
        last_version=max((v.version for v in versions), default=0),
    )
    insert_as_imported(session, model, f"registered model {name!r}")
    model_store.set_model_tags(session, model, dict(tags))
    for version in versions:
        row = ModelVersion(
            model_pk=model.id,
            version=version.version,
            creation_timestamp=version.creation_timestamp,
            last_updated_timestamp=version.last_updated_timestamp,
            description=version.description,
            current_stage=version.stage,
            source=version.source,
            storage_location=version.storage_location,
            run_id=version.run_id,
            run_link=version.run_link,
            model_id=version.model_id,
            status=version.status,
        )
        session.add(row)
        session.flush()
        set_version_tags(session, row, dict(version.tags))
    for alias, number in sorted(aliases.items()):
        model_store.set_alias(session, model, alias, number)
    return model


@dataclass(slots=True)
class StoredRegisteredModel:
    """A registered model as the destination holds it, with its versions' rows and tags and its aliases."""

    model: RegisteredModel
    tags: dict[str, str]
    aliases: dict[str, int]
    versions: list[ModelVersion]
    version_tags: dict[int, dict[str, str]] = field(default_factory=dict)


def stored_registered_model(session: Session, name: str) -> StoredRegisteredModel | None:
    model = model_store.find_registered_model(session, name)
    if model is None:
        return None
    versions = list(
        session.scalars(select(ModelVersion).where(ModelVersion.model_pk == model.id).order_by(ModelVersion.version))
    )
    version_tags: dict[int, dict[str, str]] = {row.version: {} for row in versions}
    rows = session.execute(
        select(ModelVersionTag.version, ModelVersionTag.key, ModelVersionTag.value).where(
            ModelVersionTag.model_pk == model.id
        )
    )
    for version, key, value in rows:
        version_tags.setdefault(version, {})[key] = value
    return StoredRegisteredModel(
        model=model,
        tags=model_store.model_tags(session, [model.id])[model.id],
        aliases=model_store.model_aliases(session, [model.id])[model.id],
        versions=versions,
        version_tags=version_tags,
    )
