"""The experiment a label schema or review queue call names, found as MLflow's SQL store finds it for these calls
(`_validate_experiment_exists`): an active experiment, or MLflow's not-found error, which a deleted experiment gets
too. Schemas and queues of a deleted experiment stay and are still reachable by id, as in MLflow."""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.services import validation
from server.store import experiments as experiment_store

_INT64_MAX = 2**63 - 1


def active_experiment_id(session: Session, experiment_id: str) -> int:
    number = validation.parse_experiment_id(experiment_id)
    gone = MlflowError.not_found(f"No Experiment with id={number} exists")
    if abs(number) > _INT64_MAX:  # no experiment has such an id, and the database would refuse to compare it
        raise gone
    if experiment_store.get_experiment(session, number).lifecycle_stage != experiment_store.ACTIVE:
        raise gone
    return number
