"""Queries on model versions and their tags, and the per-model version counter.

Version numbers come from `registered_models.last_version`, bumped by a single UPDATE in the creating
transaction. On PostgreSQL that UPDATE takes the model's row lock, so concurrent registrations of one model queue
on it and each reads the number its predecessor committed; on SQLite writes are serialised anyway. A rolled-back
registration rolls its increment back too, so numbers are distinct, gap-free, and never reused after a delete.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import MlflowError
from server.store.dialect import upsert
from server.store.models import ModelVersion, ModelVersionTag, RegisteredModel
from server.store.registered_models import model_aliases


@dataclass(slots=True)
class VersionDetails:
    """A version with what its JSON needs besides its own row."""

    row: ModelVersion
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


def next_version_number(session: Session, model: RegisteredModel, now: int) -> int:
    number = session.execute(
        update(RegisteredModel)
        .where(RegisteredModel.id == model.id)
        .values(last_version=RegisteredModel.last_version + 1, last_updated_timestamp=now)
        .returning(RegisteredModel.last_version)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    session.expire(model, ["last_version", "last_updated_timestamp"])
    return int(number)


def insert_version(
    session: Session,
    model: RegisteredModel,
    *,
    source: str,
    storage_location: str,
    run_id: str | None,
    model_id: str | None,
    run_link: str | None,
    description: str | None,
) -> ModelVersion:
    """The model's next version, READY at once: its files already exist where `storage_location` says."""
    now = now_ms()
    row = ModelVersion(
        model_pk=model.id,
        version=next_version_number(session, model, now),
        creation_timestamp=now,
        last_updated_timestamp=now,
        description=description,
        current_stage="None",
        source=source,
        storage_location=storage_location,
        run_id=run_id,
        run_link=run_link,
        model_id=model_id,
        status="READY",
    )
    session.add(row)
    session.flush()
    return row


def find_version(session: Session, model: RegisteredModel, version: int) -> ModelVersion | None:
    return session.get(ModelVersion, (model.id, version))


def get_version(session: Session, model: RegisteredModel, version: int) -> ModelVersion:
    row = find_version(session, model, version)
    if row is None:
        raise MlflowError.not_found(f"Model Version (name={model.name}, version={version}) not found")
    return row


def latest_version(session: Session, model: RegisteredModel, stages: Sequence[str] = ()) -> ModelVersion | None:
    query = select(ModelVersion).where(ModelVersion.model_pk == model.id)
    if stages:
        query = query.where(ModelVersion.current_stage.in_(stages))
    return session.scalars(query.order_by(ModelVersion.version.desc()).limit(1)).first()


def latest_per_stage(session: Session, model_pks: Sequence[int]) -> dict[int, list[ModelVersion]]:
    """Each model's newest version in every stage it has versions in: `RegisteredModel.latest_versions`."""
    latest: dict[int, list[ModelVersion]] = {pk: [] for pk in model_pks}
    if not model_pks:
        return latest
    newest = (
        select(ModelVersion.model_pk, func.max(ModelVersion.version).label("version"))
        .where(ModelVersion.model_pk.in_(model_pks))
        .group_by(ModelVersion.model_pk, ModelVersion.current_stage)
        .subquery()
    )
    rows = session.scalars(
        select(ModelVersion)
        .join(newest, (ModelVersion.model_pk == newest.c.model_pk) & (ModelVersion.version == newest.c.version))
        .order_by(ModelVersion.version)
    )
    for row in rows:
        latest[row.model_pk].append(row)
    return latest


def describe(session: Session, rows: Sequence[ModelVersion]) -> list[VersionDetails]:
    """Names, tags and aliases for many versions in three queries."""
    if not rows:
        return []
    pks = sorted({row.model_pk for row in rows})
    query = select(RegisteredModel.id, RegisteredModel.name).where(RegisteredModel.id.in_(pks))
    names = dict(session.execute(query).tuples().all())
    details = {(row.model_pk, row.version): VersionDetails(row, names[row.model_pk]) for row in rows}
    for (pk, version), key, value in _tags(session, details):
        details[(pk, version)].tags[key] = value
    for pk, aliases in model_aliases(session, pks).items():
        for alias, version in aliases.items():
            if (pk, version) in details:
                details[(pk, version)].aliases.append(alias)
    return list(details.values())


def _tags(session: Session, keys: Iterable[tuple[int, int]]) -> Iterable[tuple[tuple[int, int], str, str]]:
    wanted = list(keys)
    if not wanted:
        return []
    rows = session.execute(
        select(ModelVersionTag.model_pk, ModelVersionTag.version, ModelVersionTag.key, ModelVersionTag.value).where(
            tuple_(ModelVersionTag.model_pk, ModelVersionTag.version).in_(wanted)
        )
    )
    return [((pk, version), key, value) for pk, version, key, value in rows]


def set_version_tags(session: Session, row: ModelVersion, tags: dict[str, str]) -> None:
    rows = [{"model_pk": row.model_pk, "version": row.version, "key": k, "value": v} for k, v in tags.items()]
    upsert(session, ModelVersionTag, rows, update=["value"])


def delete_version_tag(session: Session, row: ModelVersion, key: str) -> None:
    """A missing tag is not an error, as in MLflow."""
    session.execute(
        delete(ModelVersionTag).where(
            ModelVersionTag.model_pk == row.model_pk, ModelVersionTag.version == row.version, ModelVersionTag.key == key
        )
    )


def archive_stage(session: Session, model: RegisteredModel, stage: str, *, keep: int, now: int) -> None:
    """Move every other version in `stage` to Archived (`archive_existing_versions`)."""
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.model_pk == model.id, ModelVersion.current_stage == stage, ModelVersion.version != keep)
        .values(current_stage="Archived", last_updated_timestamp=now)
        .execution_options(synchronize_session="fetch")
    )


def delete_version(session: Session, row: ModelVersion) -> None:
    """Its tags and aliases go with it (foreign keys); its files stay where they are, since the run, the logged
    model or another version may still use them. The number is not handed out again (see the module docstring)."""
    session.delete(row)
    session.flush()
