"""Rules for GenAI evaluation datasets, with MLflow's checks and wording (its SQL store's dataset methods).

Names need not be unique: MLflow lets two datasets share a name (and `get_dataset(name=...)` then asks for the id).
A dataset's `digest` changes with its name and every records upsert; tags and experiment links do not change it.
Deleting a dataset removes its tags, links and records; deleting an experiment (which is soft) keeps its links.
Where MLflow fails with a 500 (tags or records that are not the JSON they must be) these are 400s, and an
unknown experiment in a create is refused as it is in `add-experiments` (MLflow links it anyway).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import MlflowError
from server.services import dataset_records as records
from server.store import datasets as store
from server.store.genai_models import EvaluationDataset
from server.store.search import Page

DATASET_ID_PREFIX = "d-"
DEFAULT_SEARCH_RESULTS, MAX_SEARCH_RESULTS = 1000, 50_000
MAX_NAME, MAX_TAG_KEY = 255, 255


@dataclass(frozen=True, slots=True)
class DatasetView:
    dataset: EvaluationDataset
    tags: dict[str, str | None]
    experiment_ids: list[str] | None = None  # only a create's answer lists them, as in MLflow


@dataclass(frozen=True, slots=True)
class UpsertResult:
    inserted: int
    updated: int


@dataclass(frozen=True, slots=True)
class RecordPage:
    dataset_id: str
    rows: list[tuple[Any, ...]]  # (seq, *store.RECORD_COLUMNS)
    next_page_token: str | None


def digest(name: str, when: int) -> str:
    """MLflow's dataset digest: it changes with every state the records upsert leaves."""
    return hashlib.sha256(f"{name}:{when}".encode()).hexdigest()[:8]


def parse_tags(text: str | None, *, keep_null: bool) -> dict[str, str | None]:
    """A JSON-encoded object of tags. Values are kept as strings (`str()` of numbers and booleans, as MLflow stores
    them; JSON of lists and objects); nulls are kept on create and skipped on set, as in MLflow."""
    if not text:
        return {}
    try:
        tags = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise MlflowError.invalid_parameter(f"Parameter 'tags' is not valid JSON: {error}") from None
    if not isinstance(tags, dict):
        raise MlflowError.invalid_parameter("Parameter 'tags' must be a JSON-encoded object of tag keys and values.")
    parsed: dict[str, str | None] = {}
    for key, value in tags.items():
        if len(key) > MAX_TAG_KEY:
            raise MlflowError.invalid_parameter(f"Tag key '{key[:50]}…' is longer than {MAX_TAG_KEY} characters.")
        if value is None:
            if keep_null:
                parsed[key] = None
        elif isinstance(value, str):
            parsed[key] = value
        else:
            parsed[key] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return parsed


def experiment_numbers(experiment_ids: Sequence[str]) -> list[int | None]:
    """Experiment ids as the integers they are stored as; None for one that is not a number (it exists nowhere)."""
    return [int(e) if e.isdigit() and len(e) < 19 else None for e in experiment_ids]


def _require_experiments(session: Session, experiment_ids: Sequence[str]) -> list[int]:
    """MLflow's `add_dataset_to_experiments` check: every experiment exists (deleted ones too)."""
    numbers = experiment_numbers(experiment_ids)
    found = store.existing_experiments(session, [n for n in numbers if n is not None])
    for text, number in zip(experiment_ids, numbers, strict=True):
        if number not in found:
            raise MlflowError.not_found(f"No Experiment with id={text}")
    return [n for n in numbers if n is not None]


def _view(session: Session, dataset: EvaluationDataset) -> DatasetView:
    return DatasetView(dataset, store.tags_of(session, [dataset.dataset_id])[dataset.dataset_id])


def _existing(session: Session, dataset_id: str, message: str, *, for_update: bool = False) -> EvaluationDataset:
    dataset = store.get_dataset(session, dataset_id, for_update=for_update)
    if dataset is None:
        raise MlflowError.not_found(message)
    return dataset


def create_dataset(session: Session, *, name: str, experiment_ids: Sequence[str], tags: str | None) -> DatasetView:
    if len(name) > MAX_NAME:
        raise MlflowError.invalid_parameter(f"Dataset name '{name[:50]}…' is longer than {MAX_NAME} characters.")
    parsed_tags = parse_tags(tags, keep_null=True)
    linked = _require_experiments(session, experiment_ids)
    now = now_ms()
    user = parsed_tags.get(records.MLFLOW_USER)
    dataset = EvaluationDataset(
        dataset_id=f"{DATASET_ID_PREFIX}{uuid.uuid4().hex}",
        name=name,
        digest=digest(name, now),
        created_time=now,
        last_update_time=now,
        created_by=user,
        last_updated_by=user,
        record_count=0,
    )
    store.insert_dataset(session, dataset, parsed_tags, linked)
    return DatasetView(dataset, dict(sorted(parsed_tags.items())), [str(e) for e in dict.fromkeys(linked)])


def get_dataset(session: Session, dataset_id: str) -> DatasetView:
    return _view(session, _existing(session, dataset_id, f"Evaluation dataset with id '{dataset_id}' not found"))


def delete_dataset(session: Session, dataset_id: str) -> None:
    """Idempotent, as in MLflow: an unknown dataset (or one of another workspace) is not an error."""
    if store.get_dataset(session, dataset_id) is not None:
        store.delete_dataset(session, dataset_id)


def search_datasets(
    session: Session,
    *,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    order_by: Sequence[str],
    max_results: int | None,
    page_token: str | None,
    visible: ColumnElement[bool] | None,
) -> Page[DatasetView]:
    """MLflow's page rule: absent means 1,000; 0 reads as absent in its handler, which its store then refuses."""
    if max_results is None or max_results < 1 or max_results > MAX_SEARCH_RESULTS:
        shown = None if max_results == 0 else max_results
        bound = "be a positive integer" if shown is None or shown < 1 else f"be at most {MAX_SEARCH_RESULTS}"
        raise MlflowError.invalid_parameter(
            f"Invalid value {shown} for parameter 'max_results' supplied. It must {bound}"
        )
    scope = None
    if experiment_ids:
        numbers = [n for n in experiment_numbers(experiment_ids) if n is not None]
        scope = store.in_experiments(numbers) if numbers else false()
    page = store.search_datasets(
        session,
        filter_string=filter_string,
        order_by=order_by,
        scope=scope,
        max_results=max_results,
        page_token=page_token,
        visible=visible,
    )
    tags = store.tags_of(session, [d.dataset_id for d in page.items])
    return Page([DatasetView(d, tags[d.dataset_id]) for d in page.items], page.next_page_token)


def set_tags(session: Session, dataset_id: str, tags: str) -> None:
    """Merges into the dataset's tags; a null value leaves that tag as it is."""
    parsed = parse_tags(tags, keep_null=False)
    _existing(session, dataset_id, f"Could not find evaluation dataset with ID {dataset_id}")
    store.set_tags(session, dataset_id, parsed)


def delete_tag(session: Session, dataset_id: str, key: str) -> None:
    """Idempotent, as in MLflow: an unknown dataset or tag is not an error."""
    if store.get_dataset(session, dataset_id) is not None:
        store.delete_tag(session, dataset_id, key)


def experiment_ids(session: Session, dataset_id: str) -> list[str]:
    """An unknown dataset (or one of another workspace) has none (MLflow does not check)."""
    if store.get_dataset(session, dataset_id) is None:
        return []
    return [str(e) for e in store.experiment_ids_of(session, dataset_id)]


def add_experiments(session: Session, dataset_id: str, experiment_ids: Sequence[str]) -> DatasetView:
    """Idempotent: experiments already linked stay as they are. Every experiment must exist."""
    dataset = _existing(session, dataset_id, f"Dataset '{dataset_id}' not found", for_update=True)
    linked = _require_experiments(session, experiment_ids)
    now = now_ms()
    store.link_experiments(session, dataset_id, linked, now)
    dataset.last_update_time = now
    return _view(session, dataset)


def remove_experiments(session: Session, dataset_id: str, experiment_ids: Sequence[str]) -> DatasetView:
    """Idempotent: experiments that were not linked are ignored; the dataset changes only if a link went."""
    dataset = _existing(session, dataset_id, f"Dataset '{dataset_id}' not found", for_update=True)
    numbers = [n for n in experiment_numbers(experiment_ids) if n is not None]
    if numbers and store.unlink_experiments(session, dataset_id, numbers):
        dataset.last_update_time = now_ms()
    return _view(session, dataset)


# --- records ------------------------------------------------------------------------------------------------------


def upsert_records(session: Session, dataset_id: str, text: str) -> UpsertResult:
    """MLflow's upsert, batch at a time: a record whose inputs are already in the dataset (or earlier in the batch)
    is merged into that record, any other is added. The dataset's schema, profile, digest and last update follow,
    its updater being the `mlflow.user` of the batch's last record that names one (none: cleared), as in MLflow."""
    codec = records.JsonCodec()
    batch = records.parse_batch(text, codec)
    dataset = _existing(session, dataset_id, f"Evaluation dataset with id '{dataset_id}' not found", for_update=True)
    stored = store.records_by_hash(session, dataset_id, [r.input_hash for r in batch])
    now = now_ms()
    merged: dict[str, records.Merged] = {
        h: records.Merged(s.seq, s.outputs, s.expectations, s.tags, s.last_updated_by) for h, s in stored.items()
    }
    inserted = updated = 0
    updated_by: str | None = None
    for incoming in batch:
        updated_by = incoming.user if incoming.user is not None else updated_by
        if incoming.input_hash in merged:
            records.merge(merged[incoming.input_hash], incoming, codec)
            updated += 1
        else:
            merged[incoming.input_hash] = records.new_record(dataset_id, incoming, codec, now)
            inserted += 1
    _write(session, merged, now)
    dataset.record_count += inserted
    dataset.last_update_time, dataset.last_updated_by = now, updated_by
    dataset.digest = digest(dataset.name, now)
    dataset.schema = records.updated_schema(dataset.schema, batch) or dataset.schema
    if dataset.record_count > 0:
        dataset.profile = json.dumps({"num_records": dataset.record_count})
    return UpsertResult(inserted, updated)


def _write(session: Session, merged: dict[str, records.Merged], now: int) -> None:
    new, changed = [], []
    for record in merged.values():
        parts = {
            "outputs": record.outputs,
            "expectations": record.expectations,
            "tags": record.tags,
            "last_update_time": now,
            "last_updated_by": record.last_updated_by,
        }
        if record.seq is None:
            new.append({**record.row, **parts})
        else:
            changed.append({"seq": record.seq, **parts})
    store.insert_records(session, new)
    store.update_records(session, changed)


def records_page(session: Session, dataset_id: str, *, max_results: int | None, page_token: str | None) -> RecordPage:
    """A page of records in the order they were added; an unknown dataset has none (MLflow does not check)."""
    limit = records.page_size(max_results)
    after = records.decode_cursor(page_token)
    if store.get_dataset(session, dataset_id) is None:  # unknown, or of another workspace
        return RecordPage(dataset_id, [], None)
    rows = store.records_page(session, dataset_id, after=after, limit=limit + 1)
    token = records.encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return RecordPage(dataset_id, rows[:limit], token)


def delete_records(session: Session, dataset_id: str, record_ids: Sequence[str]) -> int:
    """Deletes those of the records that are in the dataset; the profile's count follows (MLflow leaves `null`
    there when none remain), nothing else about the dataset changes."""
    dataset = store.get_dataset(session, dataset_id, for_update=True)
    if dataset is None:
        return 0
    deleted = store.delete_records(session, dataset_id, record_ids)
    if deleted:
        dataset.record_count = max(0, dataset.record_count - deleted)
        dataset.profile = json.dumps({"num_records": dataset.record_count} if dataset.record_count else None)
    return deleted
