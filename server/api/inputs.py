"""Run inputs (datasets, models) and outputs (models)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.wire import Fields, key_value_pairs, missing
from server.auth import rules
from server.errors import MlflowError
from server.services import validation as v
from server.store import runs as run_store
from server.store.inputs import DatasetSpec, add_dataset_inputs, add_model_links, dataset_summaries
from server.web.context import Context

_DATASET_LIMITS = (
    ("name", v.MAX_DATASET_NAME_SIZE),
    ("digest", v.MAX_DATASET_DIGEST_SIZE),
    ("source", v.MAX_DATASET_SOURCE_SIZE),
    ("schema", v.MAX_DATASET_SCHEMA_SIZE),
    ("profile", v.MAX_DATASET_PROFILE_SIZE),
)


def _dataset(item: dict[str, Any], index: int) -> tuple[DatasetSpec, dict[str, str]]:
    entry = Fields(item)
    raw = entry.raw("dataset")
    if not isinstance(raw, dict):
        raise missing(f"datasets[{index}].dataset")
    dataset = Fields(raw)
    values = {name: dataset.string(name) for name in ("name", "digest", "source_type", "source", "schema", "profile")}
    for name in ("name", "digest", "source_type", "source"):
        if not values[name]:
            raise missing(f"datasets[{index}].dataset.{name}")
    for name, limit in _DATASET_LIMITS:
        if values[name] is not None:
            v.limit_length(f"Dataset {name}", limit, values[name])  # type: ignore[arg-type]
    tags = {
        v.limit_length("Input tag key", v.MAX_INPUT_TAG_KEY_SIZE, key): v.limit_length(
            "Input tag value", v.MAX_INPUT_TAG_VALUE_SIZE, value
        )
        for key, value in key_value_pairs(entry, "tags")
    }
    return DatasetSpec(**values), tags  # type: ignore[arg-type]


def _model_links(fields: Fields, name: str) -> list[tuple[str, int]]:
    links = []
    for i, item in enumerate(fields.objects(name)):
        entry = Fields(item)
        model_id = entry.string("model_id")
        if not model_id:
            raise missing(f"{name}[{i}].model_id")
        links.append((model_id, entry.integer("step", default=0) or 0))
    return links


def log_inputs(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run = run_store.get_active_run(session, fields.required_string("run_id"))
    datasets = fields.objects("datasets")
    if len(datasets) > v.MAX_DATASETS_PER_BATCH:
        raise MlflowError.invalid_parameter(
            f"A batch logging request can contain at most {v.MAX_DATASETS_PER_BATCH} datasets. "
            f"Got {len(datasets)} datasets."
        )
    add_dataset_inputs(session, run.run_uuid, run.experiment_id, [_dataset(d, i) for i, d in enumerate(datasets)])
    add_model_links(session, run.run_uuid, "input", _model_links(fields, "models"))
    return {}


def log_outputs(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run = run_store.get_active_run(session, fields.required_string("run_id"))
    add_model_links(session, run.run_uuid, "output", _model_links(fields, "models"))
    return {}


MAX_EXPERIMENTS_PER_DATASET_SEARCH = 20


def search_datasets(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """The UI's dataset dropdown (MLflow serves it under /ajax-api only; its /api route is broken upstream)."""
    experiment_ids = fields.string_list("experiment_ids")
    if not experiment_ids:
        raise MlflowError.invalid_parameter("SearchDatasets request must specify at least one experiment_id.")
    if len(experiment_ids) > MAX_EXPERIMENTS_PER_DATASET_SEARCH:
        raise MlflowError.invalid_parameter(
            f"SearchDatasets request cannot specify more than {MAX_EXPERIMENTS_PER_DATASET_SEARCH} experiment_ids. "
            f"Received {len(experiment_ids)} experiment_ids."
        )
    ids = [v.parse_experiment_id(e) for e in experiment_ids]
    summaries = [
        {"experiment_id": str(eid), "name": name, "digest": digest, **({"context": context} if context else {})}
        for eid, name, digest, context in dataset_summaries(session, ids)
    ]
    return {"dataset_summaries": summaries} if summaries else {}


RPCS = [
    Rpc("POST", "/mlflow/runs/log-inputs", log_inputs, access=rules.run(rules.EDIT)),
    Rpc("POST", "/mlflow/runs/outputs", log_outputs, access=rules.run(rules.EDIT)),
    Rpc(
        "POST",
        "/mlflow/experiments/search-datasets",
        search_datasets,
        writes=False,
        prefixes=("/ajax-api",),
        access=rules.READABLE_EXPERIMENTS,
    ),
]
