"""Queries on experiments and their tags."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import ErrorCode, MlflowError
from server.store import scope
from server.store.dialect import upsert
from server.store.models import Experiment, ExperimentTag, Run
from server.store.raw import Raw

ACTIVE, DELETED = "active", "deleted"


def get_experiment(session: Session, experiment_id: int) -> Experiment:
    experiment = session.get(Experiment, experiment_id)
    if experiment is None or not scope.owns(experiment):
        raise MlflowError.not_found(f"No Experiment with id={experiment_id} exists")
    return experiment


def get_active_experiment(session: Session, experiment_id: int) -> Experiment:
    experiment = get_experiment(session, experiment_id)
    if experiment.lifecycle_stage != ACTIVE:
        raise MlflowError.invalid_parameter(
            f"The experiment {experiment_id} must be in the 'active' state. "
            f"Current state is {experiment.lifecycle_stage}."
        )
    return experiment


def active_experiment_location(session: Session, experiment_id: int) -> str:
    """The artifact location of an active experiment, in one cheap query: the guard on every new run."""
    row = Raw(session).execute(
        "SELECT artifact_location, lifecycle_stage, workspace FROM experiments WHERE experiment_id = :e",
        {"e": experiment_id},
    )
    found = row.one_or_none()
    if found is None or scope.current() not in (None, found[2]):
        raise MlflowError.not_found(f"No Experiment with id={experiment_id} exists")
    if found[1] != ACTIVE:
        raise MlflowError.invalid_parameter(
            f"The experiment {experiment_id} must be in the 'active' state. Current state is {found[1]}."
        )
    return str(found[0])


def find_experiment_by_name(session: Session, name: str) -> Experiment | None:
    """Names are unique per workspace; without workspaces, every experiment is in `default`."""
    query = select(Experiment).where(Experiment.workspace == scope.current_or_default(), Experiment.name == name)
    return session.scalars(query).first()


def get_experiment_by_name(session: Session, name: str) -> Experiment:
    experiment = find_experiment_by_name(session, name)
    if experiment is None:
        raise MlflowError.not_found(f"Could not find experiment with name '{name}'")
    return experiment


def insert_experiment(
    session: Session, *, name: str, artifact_location: str | None, root: str, experiment_id: int | None = None
) -> Experiment:
    """Create an experiment; without an explicit location it gets `<root>/<id>`, as MLflow's SQL store does."""
    if find_experiment_by_name(session, name) is not None:
        raise MlflowError.already_exists(f"Experiment(name={name}) already exists.")
    now = now_ms()
    experiment = Experiment(
        experiment_id=experiment_id,
        workspace=scope.current_or_default(),
        name=name,
        artifact_location=artifact_location or "",
        lifecycle_stage=ACTIVE,
        creation_time=now,
        last_update_time=now,
    )
    session.add(experiment)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise MlflowError.already_exists(f"Experiment(name={name}) already exists.") from None
    if not artifact_location:
        experiment.artifact_location = f"{root}/{experiment.experiment_id}"
    return experiment


def experiment_tags(session: Session, experiment_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    tags: dict[int, dict[str, str]] = {eid: {} for eid in experiment_ids}
    rows = session.execute(
        select(ExperimentTag.experiment_id, ExperimentTag.key, ExperimentTag.value).where(
            ExperimentTag.experiment_id.in_(experiment_ids)
        )
    )
    for experiment_id, key, value in rows:
        tags[experiment_id][key] = value
    return tags


def set_experiment_tags(session: Session, experiment: Experiment, tags: dict[str, str]) -> None:
    rows = [{"experiment_id": experiment.experiment_id, "key": k, "value": v} for k, v in tags.items()]
    upsert(session, ExperimentTag, rows, update=["value"])
    experiment.last_update_time = now_ms()


def delete_experiment_tag(session: Session, experiment: Experiment, key: str) -> None:
    result = session.execute(
        delete(ExperimentTag).where(ExperimentTag.experiment_id == experiment.experiment_id, ExperimentTag.key == key)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise MlflowError.not_found(f"No tag with name: {key} in experiment with id {experiment.experiment_id}")
    experiment.last_update_time = now_ms()


def rename_experiment(session: Session, experiment: Experiment, new_name: str) -> None:
    if experiment.lifecycle_stage != ACTIVE:
        raise MlflowError.invalid_state("Cannot rename a non-active experiment.")
    clash = find_experiment_by_name(session, new_name)
    if clash is not None and clash.experiment_id != experiment.experiment_id:
        raise MlflowError(f"Experiment(name={new_name}) already exists.", ErrorCode.RESOURCE_ALREADY_EXISTS)
    experiment.name = new_name
    experiment.last_update_time = now_ms()


def set_lifecycle(session: Session, experiment: Experiment, stage: str) -> None:
    """Delete or restore an experiment together with all of its runs, as MLflow does."""
    now = now_ms()
    experiment.lifecycle_stage = stage
    experiment.last_update_time = now
    session.execute(
        update(Run)
        .where(Run.experiment_id == experiment.experiment_id)
        .values(lifecycle_stage=stage, deleted_time=now if stage == DELETED else None)
    )


def count_experiments(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Experiment)) or 0
