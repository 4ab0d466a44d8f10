"""What `runyard export` lists: the default workspace's experiments (deleted ones too), each one's runs and logged
models, and its registered models (prompts included). Everything of one item is then read by the same functions
`runyard import` uses to read back what it wrote, so an export and an import see a run the same way.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.models import Experiment, LoggedModel, RegisteredModel, Run
from server.store.workspace_models import DEFAULT_WORKSPACE


def experiments(session: Session) -> list[Experiment]:
    """Every experiment of the default workspace, in every lifecycle stage, by id."""
    query = select(Experiment).where(Experiment.workspace == DEFAULT_WORKSPACE).order_by(Experiment.experiment_id)
    return list(session.scalars(query))


def run_ids(session: Session, experiment_id: int) -> list[str]:
    """The experiment's runs, deleted ones too, oldest first."""
    query = select(Run.run_uuid).where(Run.experiment_id == experiment_id).order_by(Run.start_time, Run.run_uuid)
    return list(session.scalars(query))


def run_artifact_uri(session: Session, run_id: str) -> str:
    found = session.scalars(select(Run.artifact_uri).where(Run.run_uuid == run_id)).one()
    return str(found)


def logged_model_ids(session: Session, experiment_id: int) -> list[str]:
    """The experiment's logged models that are not deleted (a deleted one is gone for MLflow's clients too)."""
    query = (
        select(LoggedModel.model_id)
        .where(LoggedModel.experiment_id == experiment_id, LoggedModel.lifecycle_stage != "deleted")
        .order_by(LoggedModel.creation_timestamp_ms, LoggedModel.model_id)
    )
    return list(session.scalars(query))


def registered_model_names(session: Session) -> list[str]:
    """The default workspace's registered models and prompts, by name."""
    query = (
        select(RegisteredModel.name)
        .where(RegisteredModel.workspace == DEFAULT_WORKSPACE)
        .order_by(RegisteredModel.name)
    )
    return list(session.scalars(query))
