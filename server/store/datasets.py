"""SQL for evaluation datasets: the dataset rows, their tags and experiment links, search, and their records.

Records are the bulk (100,000 to a dataset is ordinary), so their statements are plain SQL on the request's own
connection (`Raw`): an upsert batch finds which of its input hashes exist in one query per 500 hashes, then writes
with one `executemany` for the new records and one for the changed ones. Pages follow `seq` from a cursor, so each
page is an index range scan however deep the reader is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, select, true
from sqlalchemy.orm import Session, aliased

from server.store import dataset_grammar as grammar
from server.store import scope as workspace_scope
from server.store.dialect import insert_ignore, upsert
from server.store.genai_models import (
    EvaluationDataset,
    EvaluationDatasetExperiment,
    EvaluationDatasetRecord,
    EvaluationDatasetTag,
)
from server.store.models import Experiment
from server.store.raw import Raw, placeholders
from server.store.search import Page, _compare, _keyed_condition, _paginate
from server.store.search_grammar import Comparison, OrderKey

HASH_LOOKUP_CHUNK = 500  # hashes per IN list: well under either database's limit on bound parameters


def get_dataset(session: Session, dataset_id: str, *, for_update: bool = False) -> EvaluationDataset | None:
    """The dataset, or None; `for_update` locks its row (PostgreSQL), so writers to one dataset take turns."""
    query = select(EvaluationDataset).where(EvaluationDataset.dataset_id == dataset_id, _in_workspace())
    return session.scalars(query.with_for_update() if for_update else query).one_or_none()


def _in_workspace() -> ColumnElement[bool]:
    """Datasets of the request's workspace (all of them without workspaces)."""
    workspace = workspace_scope.current()
    return true() if workspace is None else EvaluationDataset.workspace == workspace


def insert_dataset(
    session: Session, dataset: EvaluationDataset, tags: dict[str, str | None], experiment_ids: Sequence[int]
) -> None:
    dataset.workspace = workspace_scope.current_or_default()
    session.add(dataset)
    session.flush()
    set_tags(session, dataset.dataset_id, tags)
    link_experiments(session, dataset.dataset_id, experiment_ids, dataset.created_time)


def delete_dataset(session: Session, dataset_id: str) -> None:
    """The dataset with its tags, links and records (the foreign keys cascade)."""
    session.execute(delete(EvaluationDataset).where(EvaluationDataset.dataset_id == dataset_id))


def tags_of(session: Session, dataset_ids: Sequence[str]) -> dict[str, dict[str, str | None]]:
    """Each dataset's tags, by key."""
    found: dict[str, dict[str, str | None]] = {dataset_id: {} for dataset_id in dataset_ids}
    if dataset_ids:
        rows = session.execute(
            select(EvaluationDatasetTag.dataset_id, EvaluationDatasetTag.key, EvaluationDatasetTag.value)
            .where(EvaluationDatasetTag.dataset_id.in_(dataset_ids))
            .order_by(EvaluationDatasetTag.dataset_id, EvaluationDatasetTag.key)
        )
        for dataset_id, key, value in rows:
            found[dataset_id][key] = value
    return found


def set_tags(session: Session, dataset_id: str, tags: dict[str, str | None]) -> None:
    rows = [{"dataset_id": dataset_id, "key": key, "value": value} for key, value in tags.items()]
    upsert(session, EvaluationDatasetTag, rows, update=["value"])


def delete_tag(session: Session, dataset_id: str, key: str) -> None:
    session.execute(
        delete(EvaluationDatasetTag).where(
            EvaluationDatasetTag.dataset_id == dataset_id, EvaluationDatasetTag.key == key
        )
    )


# --- experiments ----------------------------------------------------------------------------------------------------


def experiment_ids_of(session: Session, dataset_id: str) -> list[int]:
    """The experiments a dataset belongs to, in the order they were linked."""
    query = (
        select(EvaluationDatasetExperiment.experiment_id)
        .where(EvaluationDatasetExperiment.dataset_id == dataset_id)
        .order_by(EvaluationDatasetExperiment.created_time, EvaluationDatasetExperiment.experiment_id)
    )
    return list(session.scalars(query))


def existing_experiments(session: Session, experiment_ids: Iterable[int]) -> set[int]:
    """Those of `experiment_ids` that exist, deleted ones included (MLflow links those too)."""
    wanted = set(experiment_ids)
    if not wanted:
        return set()
    query = select(Experiment.experiment_id).where(
        Experiment.experiment_id.in_(wanted), workspace_scope.visible(Experiment.experiment_id)
    )
    return set(session.scalars(query))


def link_experiments(session: Session, dataset_id: str, experiment_ids: Iterable[int], now: int) -> None:
    rows = [{"dataset_id": dataset_id, "experiment_id": e, "created_time": now} for e in dict.fromkeys(experiment_ids)]
    insert_ignore(session, EvaluationDatasetExperiment, rows)


def unlink_experiments(session: Session, dataset_id: str, experiment_ids: Iterable[int]) -> int:
    result = session.execute(
        delete(EvaluationDatasetExperiment).where(
            EvaluationDatasetExperiment.dataset_id == dataset_id,
            EvaluationDatasetExperiment.experiment_id.in_(set(experiment_ids)),
        )
    )
    return int(getattr(result, "rowcount", 0))


# --- search ---------------------------------------------------------------------------------------------------------

_COLUMNS: dict[str, Any] = {
    "name": EvaluationDataset.name,
    "created_time": EvaluationDataset.created_time,
    "last_update_time": EvaluationDataset.last_update_time,
    "created_by": EvaluationDataset.created_by,
    "last_updated_by": EvaluationDataset.last_updated_by,
}


def _condition(c: Comparison) -> ColumnElement[bool]:
    if c.kind == "tag":
        tag = aliased(EvaluationDatasetTag)
        return _keyed_condition(tag.dataset_id == EvaluationDataset.dataset_id, tag, c)
    return _compare(_COLUMNS[c.key], c.op, c.value)


def in_experiments(experiment_ids: Sequence[int]) -> ColumnElement[bool]:
    link = aliased(EvaluationDatasetExperiment)
    return exists().where(link.dataset_id == EvaluationDataset.dataset_id, link.experiment_id.in_(experiment_ids))


def search_datasets(
    session: Session,
    *,
    filter_string: str | None,
    order_by: Sequence[str],
    scope: ColumnElement[bool] | None,
    max_results: int,
    page_token: str | None,
    visible: ColumnElement[bool] | None = None,
) -> Page[EvaluationDataset]:
    """Newest first unless ordered otherwise; ties go to the greater dataset id, as in MLflow. `scope` limits the
    search to some experiments' datasets, `visible` to what the caller may read."""
    conditions = [_condition(c) for c in grammar.parse_dataset_filter(filter_string)]
    keys = grammar.parse_dataset_order_by(order_by) or [OrderKey("attribute", "created_time", False)]
    query = select(EvaluationDataset).where(scope if scope is not None else true(), _in_workspace(), *conditions)
    if visible is not None:
        query = query.where(visible)
    for key in keys:
        query = query.order_by(_COLUMNS[key.key].asc() if key.ascending else _COLUMNS[key.key].desc())
    return _paginate(session, query.order_by(EvaluationDataset.dataset_id.desc()), max_results, page_token)


# --- records --------------------------------------------------------------------------------------------------------

_RECORDS = "evaluation_dataset_records"
RECORD_COLUMNS = (
    "dataset_record_id",
    "inputs",
    "outputs",
    "expectations",
    "tags",
    "source",
    "source_id",
    "source_type",
    "created_time",
    "last_update_time",
    "created_by",
    "last_updated_by",
)
_INSERT = (
    f"INSERT INTO {_RECORDS} (dataset_id, input_hash, {', '.join(RECORD_COLUMNS)}) "
    f"VALUES (:dataset_id, :input_hash, {', '.join(':' + c for c in RECORD_COLUMNS)})"
)
_UPDATE = (
    f"UPDATE {_RECORDS} SET outputs = :outputs, expectations = :expectations, tags = :tags, "
    "last_update_time = :last_update_time, last_updated_by = :last_updated_by WHERE seq = :seq"
)
_PAGE = (
    f"SELECT seq, {', '.join(RECORD_COLUMNS)} FROM {_RECORDS} "
    "WHERE dataset_id = :dataset_id AND seq > :after ORDER BY seq LIMIT :limit"
)


@dataclass(slots=True)
class StoredRecord:
    """What a merge needs of a record already in the dataset."""

    seq: int
    outputs: str | None
    expectations: str | None
    tags: str | None
    last_updated_by: str | None


def records_by_hash(session: Session, dataset_id: str, hashes: Sequence[str]) -> dict[str, StoredRecord]:
    """The dataset's records whose input hash is among `hashes`, by hash."""
    raw, found = Raw(session), {}
    unique = list(dict.fromkeys(hashes))
    for start in range(0, len(unique), HASH_LOOKUP_CHUNK):
        marks, params = placeholders("h", unique[start : start + HASH_LOOKUP_CHUNK])
        rows = raw.execute(
            f"SELECT input_hash, seq, outputs, expectations, tags, last_updated_by FROM {_RECORDS} "
            f"WHERE dataset_id = :dataset_id AND input_hash IN ({marks})",
            {"dataset_id": dataset_id, **params},
        ).all()
        for input_hash, *stored in rows:
            found[input_hash] = StoredRecord(*stored)
    return found


def insert_records(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """New records: each row has `dataset_id`, `input_hash` and every one of RECORD_COLUMNS."""
    Raw(session).executemany(_INSERT, rows)


def update_records(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Merged records, by `seq`: their outputs, expectations, tags and last update."""
    Raw(session).executemany(_UPDATE, rows)


def records_page(session: Session, dataset_id: str, *, after: int, limit: int) -> list[tuple[Any, ...]]:
    """Up to `limit` records after the cursor `after`, each as (seq, *RECORD_COLUMNS)."""
    return Raw(session).execute(_PAGE, {"dataset_id": dataset_id, "after": after, "limit": limit}).all()


def delete_records(session: Session, dataset_id: str, record_ids: Sequence[str]) -> int:
    """Deletes those of `record_ids` that belong to the dataset; returns how many did."""
    unique = list(dict.fromkeys(record_ids))
    deleted = 0
    for start in range(0, len(unique), HASH_LOOKUP_CHUNK):
        chunk = unique[start : start + HASH_LOOKUP_CHUNK]
        result = session.execute(
            delete(EvaluationDatasetRecord).where(
                EvaluationDatasetRecord.dataset_id == dataset_id, EvaluationDatasetRecord.dataset_record_id.in_(chunk)
            )
        )
        deleted += int(getattr(result, "rowcount", 0))
    return deleted
