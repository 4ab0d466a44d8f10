"""Queries on runs, their params and tags, and the bulk loading of everything a `Run` message shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.store import scope
from server.store.models import Dataset, Run, RunDatasetInput, RunDatasetInputTag, RunTag
from server.store.raw import Raw, placeholders

RUN_NAME_TAG = "mlflow.runName"


class LatestValue(NamedTuple):
    """A run's latest value of one metric. A named tuple, not a frozen dataclass: a search page builds hundreds,
    and a frozen dataclass sets each field through `object.__setattr__`."""

    key: str
    value: float
    timestamp: int
    step: int
    is_nan: bool


@dataclass(frozen=True, slots=True)
class ModelLink:
    model_id: str
    step: int


@dataclass(slots=True)
class DatasetInputData:
    dataset: Dataset
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RunData:
    """A run's latest metrics, params, tags, inputs and outputs: what `Run.data/inputs/outputs` carry."""

    metrics: list[LatestValue] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    dataset_inputs: list[DatasetInputData] = field(default_factory=list)
    model_inputs: list[ModelLink] = field(default_factory=list)
    model_outputs: list[ModelLink] = field(default_factory=list)


def get_run(session: Session, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None or scope.hides(session, run.experiment_id):
        raise MlflowError.not_found(f"Run with id={run_id} not found")
    return run


def get_active_run(session: Session, run_id: str) -> Run:
    run = get_run(session, run_id)
    if run.lifecycle_stage != "active":
        raise MlflowError.invalid_parameter(
            f"The run {run_id} must be in the 'active' state. Current state is {run.lifecycle_stage}."
        )
    return run


def _run_row(session: Session, run_id: str) -> tuple[int, str] | None:
    """(experiment, lifecycle) of a run in the request's workspace, in one query: with workspaces on, the run's
    experiment is joined in, so a run of another workspace is not found."""
    workspace = scope.current()
    if workspace is None:
        sql, params = "SELECT experiment_id, lifecycle_stage FROM runs WHERE run_uuid = :r", {"r": run_id}
    else:
        sql = (
            "SELECT r.experiment_id, r.lifecycle_stage FROM runs r JOIN experiments e "
            "ON e.experiment_id = r.experiment_id WHERE r.run_uuid = :r AND e.workspace = :w"
        )
        params = {"r": run_id, "w": workspace}
    found = Raw(session).execute(sql, params).one_or_none()
    return None if found is None else (int(found[0]), str(found[1]))


def ensure_run_exists(session: Session, run_id: str) -> None:
    if _run_row(session, run_id) is None:
        raise MlflowError.not_found(f"Run with id={run_id} not found")


def active_run_experiment(session: Session, run_id: str) -> int:
    """The experiment of an active run, checked in one cheap query: the guard on every logging call."""
    found = _run_row(session, run_id)
    if found is None:
        raise MlflowError.not_found(f"Run with id={run_id} not found")
    if found[1] != "active":
        raise MlflowError.invalid_parameter(
            f"The run {run_id} must be in the 'active' state. Current state is {found[1]}."
        )
    return found[0]


# A page's runs' data in one statement, one round trip: each arm's rows tagged with what they are. Columns: kind,
# run, key (a model id for links), number (a metric's value), timestamp, step, is_nan, text (a param's or tag's value,
# a link's direction). The dataset arm only says whether any run has dataset inputs, which are then read apart.
_METRIC, _PARAM, _TAG, _LINK, _DATASETS = range(5)
_RUN_DATA = (
    "SELECT 0, run_uuid, key, value, timestamp, step, is_nan, NULL FROM latest_metrics WHERE {owned} "
    "UNION ALL SELECT 1, run_uuid, key, NULL, NULL, NULL, NULL, value FROM params WHERE {owned} "
    "UNION ALL SELECT 2, run_uuid, key, NULL, NULL, NULL, NULL, value FROM tags WHERE {owned} "
    "UNION ALL SELECT 3, run_uuid, model_id, NULL, NULL, step, NULL, direction FROM run_model_links WHERE {owned} "
    "UNION ALL SELECT 4, run_uuid, NULL, NULL, NULL, NULL, NULL, NULL "
    "FROM (SELECT run_uuid FROM run_dataset_inputs WHERE {owned} LIMIT 1) AS any_input"
)


def load_run_data(session: Session, run_ids: Sequence[str]) -> dict[str, RunData]:
    """Everything shown with the given runs, in one statement whatever the number of runs (two when some have
    dataset inputs). On PostgreSQL each statement is a round trip, which cost more than the reading."""
    data = {run_id: RunData() for run_id in run_ids}
    if not run_ids:
        return data
    raw = Raw(session)
    owned, params = raw.among("run_uuid", "r", run_ids)
    has_datasets = False
    for kind, run_id, key, number, timestamp, step, is_nan, text in raw.execute(
        _RUN_DATA.format(owned=owned), params
    ).all():
        run = data[run_id]
        if kind == _METRIC:
            run.metrics.append(LatestValue(key, number, timestamp, step, bool(is_nan)))
        elif kind == _PARAM:
            run.params[key] = text
        elif kind == _TAG:
            run.tags[key] = text
        elif kind == _LINK:
            (run.model_inputs if text == "input" else run.model_outputs).append(ModelLink(key, step))
        else:
            has_datasets = True
    if has_datasets:
        _load_dataset_inputs(session, data, run_ids)
    return data


def _load_dataset_inputs(session: Session, data: dict[str, RunData], run_ids: Sequence[str]) -> None:
    inputs: dict[tuple[str, str], DatasetInputData] = {}
    for run_id, dataset in session.execute(
        select(RunDatasetInput.run_uuid, Dataset)
        .join(Dataset, Dataset.dataset_uuid == RunDatasetInput.dataset_uuid)
        .where(RunDatasetInput.run_uuid.in_(run_ids))
    ):
        item = DatasetInputData(dataset)
        inputs[(run_id, dataset.dataset_uuid)] = item
        data[run_id].dataset_inputs.append(item)
    for tag in session.scalars(select(RunDatasetInputTag).where(RunDatasetInputTag.run_uuid.in_(run_ids))):
        if (tagged := inputs.get((tag.run_uuid, tag.dataset_uuid))) is not None:
            tagged.tags[tag.key] = tag.value


def insert_params(session: Session, run_id: str, params: Mapping[str, str]) -> None:
    """Params are write-once: the same value again is a no-op, a different one is refused and nothing is written."""
    if not params:
        return
    raw = Raw(session)
    raw.executemany(
        "INSERT INTO params (run_uuid, key, value) VALUES (:r, :k, :v) ON CONFLICT DO NOTHING",
        [{"r": run_id, "k": k, "v": v} for k, v in sorted(params.items())],  # sorted: one lock order for all
    )
    marks, keys = placeholders("k", params)
    stored = dict(
        raw.execute(
            f"SELECT key, value FROM params WHERE run_uuid = :r AND key IN ({marks})", {"r": run_id, **keys}
        ).all()
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


def set_tags(session: Session, run_id: str, tags: Mapping[str, str], *, rename: bool = True) -> None:
    """Upsert tags; `mlflow.runName` also renames the run, as in MLflow (not needed for a run just inserted with
    that name, which is why creation passes `rename=False`)."""
    if not tags:
        return
    raw = Raw(session)
    raw.executemany(
        "INSERT INTO tags (run_uuid, key, value) VALUES (:r, :k, :v) "
        "ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value",
        [{"r": run_id, "k": k, "v": v} for k, v in sorted(tags.items())],
    )
    if rename and RUN_NAME_TAG in tags:
        raw.execute("UPDATE runs SET name = :n WHERE run_uuid = :r", {"n": tags[RUN_NAME_TAG], "r": run_id})


def insert_run(session: Session, run: Run) -> None:
    columns = (
        "run_uuid",
        "experiment_id",
        "name",
        "user_id",
        "status",
        "start_time",
        "end_time",
        "deleted_time",
        "lifecycle_stage",
        "artifact_uri",
    )
    Raw(session).execute(
        f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})",
        {c: getattr(run, c) for c in columns},
    )


def delete_tag(session: Session, run: Run, key: str) -> None:
    result = session.execute(delete(RunTag).where(RunTag.run_uuid == run.run_uuid, RunTag.key == key))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise MlflowError.not_found(f"No tag with name: {key} in run with id {run.run_uuid}")
