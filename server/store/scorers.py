"""Reads and writes of registered scorers, their versions and their online scoring configs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session

from server.store import scope
from server.store.dialect import insert_ignore
from server.store.genai_models import OnlineScoringConfig, Scorer, ScorerVersion
from server.store.models import Experiment


@dataclass(frozen=True, slots=True)
class ScorerRow:
    """One version of a scorer with what names it: the shape every scorer answer is built from."""

    scorer_id: str
    experiment_id: int
    scorer_name: str
    scorer_version: int
    serialized_scorer: str
    creation_time: int


def find_scorer(session: Session, experiment_id: int, name: str, *, for_update: bool = False) -> Scorer | None:
    query = select(Scorer).where(Scorer.experiment_id == experiment_id, Scorer.scorer_name == name)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def scorer_experiments(session: Session, scorer_ids: Sequence[str]) -> dict[str, int]:
    """The experiment of each known scorer id (ids nobody holds are left out)."""
    if not scorer_ids:
        return {}
    query = select(Scorer.scorer_id, Scorer.experiment_id).where(
        Scorer.scorer_id.in_(scorer_ids), scope.visible(Scorer.experiment_id)
    )
    return dict(session.execute(query).tuples().all())


def get_or_create_scorer(session: Session, experiment_id: int, name: str) -> Scorer:
    """The scorer of this name, locked for the caller's transaction, made first if there is none. Two first
    registrations racing each other end with one row: the loser's insert is ignored and it reads the winner's."""
    insert_ignore(
        session, Scorer, [{"scorer_id": str(uuid.uuid4()), "experiment_id": experiment_id, "scorer_name": name}]
    )
    scorer = find_scorer(session, experiment_id, name, for_update=True)
    assert scorer is not None
    return scorer


def add_version(session: Session, scorer: Scorer, serialized_scorer: str, now: int) -> ScorerRow:
    """The scorer's next version (1 for its first); the caller holds the scorer's row lock, so numbers never clash."""
    latest = session.scalar(
        select(func.max(ScorerVersion.scorer_version)).where(ScorerVersion.scorer_id == scorer.scorer_id)
    )
    version = ScorerVersion(
        scorer_id=scorer.scorer_id,
        scorer_version=(latest or 0) + 1,
        serialized_scorer=serialized_scorer,
        creation_time=now,
    )
    session.add(version)
    session.flush()
    return _row(scorer, version)


def _row(scorer: Scorer, version: ScorerVersion) -> ScorerRow:
    return ScorerRow(
        scorer.scorer_id,
        scorer.experiment_id,
        scorer.scorer_name,
        version.scorer_version,
        version.serialized_scorer,
        version.creation_time,
    )


def versions(session: Session, scorer: Scorer) -> list[ScorerRow]:
    query = (
        select(ScorerVersion).where(ScorerVersion.scorer_id == scorer.scorer_id).order_by(ScorerVersion.scorer_version)
    )
    return [_row(scorer, version) for version in session.scalars(query)]


def version(session: Session, scorer: Scorer, number: int | None) -> ScorerRow | None:
    """One version, or the latest when `number` is None."""
    query = select(ScorerVersion).where(ScorerVersion.scorer_id == scorer.scorer_id)
    if number is None:
        query = query.order_by(ScorerVersion.scorer_version.desc()).limit(1)
    else:
        query = query.where(ScorerVersion.scorer_version == number)
    found = session.scalars(query).first()
    return None if found is None else _row(scorer, found)


def latest_versions(session: Session, experiments: ColumnElement[bool]) -> list[ScorerRow]:
    """The latest version of every scorer of the active experiments `experiments` selects, by experiment and
    name, as MLflow lists them."""
    latest = (
        select(ScorerVersion.scorer_id, func.max(ScorerVersion.scorer_version).label("newest"))
        .group_by(ScorerVersion.scorer_id)
        .subquery()
    )
    query = (
        select(Scorer, ScorerVersion)
        .join(latest, latest.c.scorer_id == Scorer.scorer_id)
        .join(
            ScorerVersion,
            and_(ScorerVersion.scorer_id == Scorer.scorer_id, ScorerVersion.scorer_version == latest.c.newest),
        )
        .join(Experiment, Experiment.experiment_id == Scorer.experiment_id)
        .where(Experiment.lifecycle_stage == "active", scope.visible(Experiment.experiment_id), experiments)
        .order_by(Scorer.experiment_id, Scorer.scorer_name)
    )
    return [_row(scorer, version) for scorer, version in session.execute(query).tuples()]


def delete_versions(session: Session, scorer: Scorer, number: int | None) -> int:
    """Delete one version, or all of them and the scorer itself (its online config goes with it)."""
    query = delete(ScorerVersion).where(ScorerVersion.scorer_id == scorer.scorer_id)
    if number is not None:
        query = query.where(ScorerVersion.scorer_version == number)
    deleted = session.execute(query).rowcount  # type: ignore[attr-defined]
    if number is None:
        session.execute(delete(OnlineScoringConfig).where(OnlineScoringConfig.scorer_id == scorer.scorer_id))
        session.delete(scorer)
        session.flush()
    return int(deleted)


def online_configs(session: Session, scorer_ids: Sequence[str]) -> list[OnlineScoringConfig]:
    if not scorer_ids:
        return []
    query = select(OnlineScoringConfig).where(OnlineScoringConfig.scorer_id.in_(scorer_ids))
    if scope.current() is not None:
        visible = select(Scorer.scorer_id).where(scope.visible(Scorer.experiment_id))
        query = query.where(OnlineScoringConfig.scorer_id.in_(visible))
    return list(session.scalars(query.order_by(OnlineScoringConfig.scorer_id)))


def replace_online_config(
    session: Session, scorer: Scorer, *, sample_rate: float, filter_string: str | None
) -> OnlineScoringConfig:
    """The scorer's one config, replaced whole under a new id (MLflow's upsert deletes and inserts)."""
    session.execute(delete(OnlineScoringConfig).where(OnlineScoringConfig.scorer_id == scorer.scorer_id))
    config = OnlineScoringConfig(
        online_scoring_config_id=uuid.uuid4().hex,
        scorer_id=scorer.scorer_id,
        experiment_id=scorer.experiment_id,
        sample_rate=sample_rate,
        filter_string=filter_string,
    )
    session.add(config)
    session.flush()
    return config
