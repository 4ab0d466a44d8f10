"""Run inputs (datasets, models) and outputs (models): MLflow's size limits, and the writes that record them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.services import validation as v
from server.store.inputs import DatasetSpec as DatasetSpec  # one dataset as a caller hands it to `log_inputs`
from server.store.inputs import add_dataset_inputs, add_model_links, dataset_summaries
from server.store.models import Run

MAX_EXPERIMENTS_PER_DATASET_SEARCH = 20
# A model a run consumed or produced: its id and the step.
ModelLink = tuple[str, int]
# A dataset a run consumed, with the tags of that input.
DatasetInput = tuple[DatasetSpec, dict[str, str]]


def check_dataset_count(count: int) -> None:
    """At most 1,000 datasets a request; checked before any of them is read."""
    if count > v.MAX_DATASETS_PER_BATCH:
        raise MlflowError.invalid_parameter(
            f"A batch logging request can contain at most {v.MAX_DATASETS_PER_BATCH} datasets. Got {count} datasets."
        )


def check_dataset(spec: DatasetSpec) -> DatasetSpec:
    """The sizes the dataset table holds, checked field by field in MLflow's order (the source type is free)."""
    for what, limit, value in (
        ("name", v.MAX_DATASET_NAME_SIZE, spec.name),
        ("digest", v.MAX_DATASET_DIGEST_SIZE, spec.digest),
        ("source", v.MAX_DATASET_SOURCE_SIZE, spec.source),
        ("schema", v.MAX_DATASET_SCHEMA_SIZE, spec.schema),
        ("profile", v.MAX_DATASET_PROFILE_SIZE, spec.profile),
    ):
        if value is not None:
            v.limit_length(f"Dataset {what}", limit, value)
    return spec


def input_tags(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """A dataset input's tags, refused (not truncated) past their sizes."""
    return {
        v.limit_length("Input tag key", v.MAX_INPUT_TAG_KEY_SIZE, key): v.limit_length(
            "Input tag value", v.MAX_INPUT_TAG_VALUE_SIZE, value
        )
        for key, value in pairs
    }


def log_inputs(session: Session, run: Run, datasets: Sequence[DatasetInput], models: Sequence[ModelLink]) -> None:
    """Records an active run's dataset inputs (datasets are shared within its experiment) and its model inputs.
    The datasets were checked with `check_dataset` and `input_tags`."""
    add_dataset_inputs(session, run.run_uuid, run.experiment_id, datasets)
    add_model_links(session, run.run_uuid, "input", models)


def log_outputs(session: Session, run: Run, models: Sequence[ModelLink]) -> None:
    add_model_links(session, run.run_uuid, "output", models)


def search_datasets(session: Session, experiment_ids: Sequence[str]) -> list[tuple[int, str, str, str | None]]:
    """(experiment id, name, digest, context) of the datasets used in 1 to 20 experiments, named as sent."""
    if not experiment_ids:
        raise MlflowError.invalid_parameter("SearchDatasets request must specify at least one experiment_id.")
    if len(experiment_ids) > MAX_EXPERIMENTS_PER_DATASET_SEARCH:
        raise MlflowError.invalid_parameter(
            f"SearchDatasets request cannot specify more than {MAX_EXPERIMENTS_PER_DATASET_SEARCH} experiment_ids. "
            f"Received {len(experiment_ids)} experiment_ids."
        )
    return dataset_summaries(session, [v.parse_experiment_id(e) for e in experiment_ids])
