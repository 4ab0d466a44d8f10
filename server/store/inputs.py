"""Datasets a run consumed and logged models it consumed or produced."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.dialect import insert_ignore, upsert
from server.store.models import Dataset, RunDatasetInput, RunDatasetInputTag, RunModelLink
from server.store.raw import Raw, placeholders


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None
    profile: str | None


def _dataset_uuid(session: Session, experiment_id: int, spec: DatasetSpec) -> str:
    """Datasets are shared per experiment, identified by (name, digest)."""
    existing = session.scalar(
        select(Dataset.dataset_uuid).where(
            Dataset.experiment_id == experiment_id, Dataset.name == spec.name, Dataset.digest == spec.digest
        )
    )
    if existing:
        return existing
    dataset_uuid = uuid.uuid4().hex
    session.add(Dataset(dataset_uuid=dataset_uuid, experiment_id=experiment_id, **asdict(spec)))
    session.flush()
    return dataset_uuid


def add_dataset_inputs(
    session: Session, run_id: str, experiment_id: int, inputs: Sequence[tuple[DatasetSpec, dict[str, str]]]
) -> None:
    for spec, tags in inputs:
        dataset_uuid = _dataset_uuid(session, experiment_id, spec)
        insert_ignore(session, RunDatasetInput, [{"run_uuid": run_id, "dataset_uuid": dataset_uuid}])
        rows = [{"run_uuid": run_id, "dataset_uuid": dataset_uuid, "key": k, "value": v} for k, v in tags.items()]
        upsert(session, RunDatasetInputTag, rows, update=["value"])


def add_model_links(session: Session, run_id: str, direction: str, links: Sequence[tuple[str, int]]) -> None:
    rows = [{"run_uuid": run_id, "model_id": m, "direction": direction, "step": step} for m, step in links]
    upsert(session, RunModelLink, rows, update=["step"])


MAX_DATASET_SUMMARIES = 1000


def dataset_summaries(session: Session, experiment_ids: Sequence[int]) -> list[tuple[int, str, str, str | None]]:
    """Distinct (experiment, name, digest, context) of the datasets runs used, as MLflow's `_search_datasets`."""
    marks, params = placeholders("e", experiment_ids)
    sql = (
        "SELECT DISTINCT d.experiment_id, d.name, d.digest, t.value FROM datasets d "
        "JOIN run_dataset_inputs i ON i.dataset_uuid = d.dataset_uuid "
        "LEFT JOIN run_dataset_input_tags t ON t.run_uuid = i.run_uuid AND t.dataset_uuid = i.dataset_uuid "
        f"AND t.key = 'mlflow.data.context' WHERE d.experiment_id IN ({marks}) LIMIT {MAX_DATASET_SUMMARIES}"
    )
    return [(int(e), name, digest, context) for e, name, digest, context in Raw(session).execute(sql, params).all()]
