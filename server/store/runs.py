"""Queries on runs, their params and tags, and the bulk loading of everything a `Run` message shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.store.dialect import insert_ignore, upsert
from server.store.models import (
    Dataset,
    LatestMetric,
    Param,
    Run,
    RunDatasetInput,
    RunDatasetInputTag,
    RunModelLink,
    RunTag,
)

RUN_NAME_TAG = "mlflow.runName"


@dataclass(slots=True)
class DatasetInputData:
    dataset: Dataset
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RunData:
    """A run's latest metrics, params, tags, inputs and outputs: what `Run.data/inputs/outputs` carry."""

    metrics: list[LatestMetric] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    dataset_inputs: list[DatasetInputData] = field(default_factory=list)
    model_inputs: list[RunModelLink] = field(default_factory=list)
    model_outputs: list[RunModelLink] = field(default_factory=list)


def get_run(session: Session, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise MlflowError.not_found(f"Run with id={run_id} not found")
    return run


def get_active_run(session: Session, run_id: str) -> Run:
    run = get_run(session, run_id)
    if run.lifecycle_stage != "active":
        raise MlflowError.invalid_parameter(
            f"The run {run_id} must be in the 'active' state. Current state is {run.lifecycle_stage}."
        )
    return run


def load_run_data(session: Session, run_ids: Sequence[str]) -> dict[str, RunData]:
    """Everything shown with the given runs, in a fixed number of queries whatever the number of runs."""
    data = {run_id: RunData() for run_id in run_ids}
    if not run_ids:
        return data
    for metric in session.scalars(select(LatestMetric).where(LatestMetric.run_uuid.in_(run_ids))):
        data[metric.run_uuid].metrics.append(metric)
    for run_id, key, value in session.execute(
        select(Param.run_uuid, Param.key, Param.value).where(Param.run_uuid.in_(run_ids))
    ):
        data[run_id].params[key] = value
    for run_id, key, value in session.execute(
        select(RunTag.run_uuid, RunTag.key, RunTag.value).where(RunTag.run_uuid.in_(run_ids))
    ):
        data[run_id].tags[key] = value
    _load_inputs(session, data, run_ids)
    return data


def _load_inputs(session: Session, data: dict[str, RunData], run_ids: Sequence[str]) -> None:
    inputs: dict[tuple[str, str], DatasetInputData] = {}
    for run_id, dataset in session.execute(
        select(RunDatasetInput.run_uuid, Dataset)
        .join(Dataset, Dataset.dataset_uuid == RunDatasetInput.dataset_uuid)
        .where(RunDatasetInput.run_uuid.in_(run_ids))
    ):
        item = DatasetInputData(dataset)
        inputs[(run_id, dataset.dataset_uuid)] = item
        data[run_id].dataset_inputs.append(item)
    if inputs:
        for tag in session.scalars(select(RunDatasetInputTag).where(RunDatasetInputTag.run_uuid.in_(run_ids))):
            if (item := inputs.get((tag.run_uuid, tag.dataset_uuid))) is not None:
                item.tags[tag.key] = tag.value
    for link in session.scalars(select(RunModelLink).where(RunModelLink.run_uuid.in_(run_ids))):
        target = data[link.run_uuid].model_inputs if link.direction == "input" else data[link.run_uuid].model_outputs
        target.append(link)


def insert_params(session: Session, run_id: str, params: Mapping[str, str]) -> None:
    """Params are write-once: the same value again is a no-op, a different one is refused and nothing is written."""
    if not params:
        return
    insert_ignore(session, Param.__table__, [{"run_uuid": run_id, "key": k, "value": v} for k, v in params.items()])  # type: ignore[arg-type]
    stored = dict(
        session.execute(select(Param.key, Param.value).where(Param.run_uuid == run_id, Param.key.in_(list(params))))
        .tuples()
        .all()
    )
    changed = [(k, stored[k], v) for k, v in params.items() if stored.get(k) != v]
    if len(changed) == 1 and len(params) == 1:
        key, old, new = changed[0]
        raise MlflowError.invalid_parameter(
            f"Changing param values is not allowed. Param with key='{key}' was already logged with value='{old}' "
            f"for run ID='{run_id}'. Attempted logging new value '{new}'."
        )
    if changed:
        details = [{"key": k, "old_value": old, "new_value": new} for k, old, new in changed]
        raise MlflowError.invalid_parameter(
            f"Changing param values is not allowed. Params were already logged='{details}' for run ID='{run_id}'."
        )


def set_tags(session: Session, run: Run, tags: Mapping[str, str]) -> None:
    """Upsert tags; `mlflow.runName` also renames the run, as in MLflow."""
    if not tags:
        return
    rows = [{"run_uuid": run.run_uuid, "key": k, "value": v} for k, v in tags.items()]
    upsert(session, RunTag.__table__, rows, update=["value"])  # type: ignore[arg-type]
    if RUN_NAME_TAG in tags:
        run.name = tags[RUN_NAME_TAG]


def delete_tag(session: Session, run: Run, key: str) -> None:
    result = session.execute(delete(RunTag).where(RunTag.run_uuid == run.run_uuid, RunTag.key == key))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise MlflowError.not_found(f"No tag with name: {key} in run with id {run.run_uuid}")
