"""What an imported experiment or run is made of, as plain values read from the source or from the destination.

"Already imported" is then an equality test, and "other content" a list of the fields that differ: the conflict
report names them. Values are held in the form the destination stores them (±inf clamped, NaN as a flag, a metric
point logged twice counted once), so a faithful copy compares equal to its source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from server.services.validation import clamp_metric_value
from server.store.imports import StoredRun
from server.store.inputs import DatasetSpec
from server.store.metrics import MetricPoint

# (key, timestamp, step, value, is_nan); a NaN's value is 0.0, so points compare (and hash) by value.
Point = tuple[str, int, int, float, bool]
# A dataset input: the dataset's fields and the input's tags, both hashable.
DatasetInputKey = tuple[DatasetSpec, frozenset[tuple[str, str]]]


def point(key: str, timestamp: int, step: int, value: float) -> Point:
    nan = math.isnan(value)
    return (key, timestamp, step, 0.0 if nan else clamp_metric_value(value), nan)


def metric_point(stored: Point) -> MetricPoint:
    key, timestamp, step, value, nan = stored
    return MetricPoint(key, math.nan if nan else value, timestamp, step)


def dataset_spec(
    name: str, digest: str, source_type: str, source: str, schema: str | None, profile: str | None
) -> DatasetSpec:
    """Unset schema and profile read as "" from one store and None from another: both are None here."""
    return DatasetSpec(name, digest, source_type, source, schema or None, profile or None)


@dataclass(frozen=True, slots=True)
class ExperimentContent:
    """An experiment of the source. Its id is the source's; the destination keeps it when it can."""

    experiment_id: int
    name: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str]

    def differences(self, name: str, lifecycle_stage: str, tags: dict[str, str]) -> list[str]:
        """Which of what an import copies differs from the destination's experiment of the same id or name."""
        mine = {"name": self.name, "lifecycle_stage": self.lifecycle_stage, "tags": self.tags}
        theirs = {"name": name, "lifecycle_stage": lifecycle_stage, "tags": tags}
        return [field for field in mine if mine[field] != theirs[field]]


@dataclass(frozen=True, slots=True)
class RunContent:
    """Everything an import copies of a run besides its artifacts, `experiment_id` being the destination's."""

    run_id: str
    experiment_id: int
    name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    params: dict[str, str]
    tags: dict[str, str]
    points: frozenset[Point]
    dataset_inputs: frozenset[DatasetInputKey]

    def differences(self, other: RunContent) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


def stored_content(stored: StoredRun) -> RunContent:
    run = stored.run
    return RunContent(
        run_id=run.run_uuid,
        experiment_id=run.experiment_id,
        name=run.name,
        user_id=run.user_id,
        status=run.status,
        start_time=run.start_time,
        end_time=run.end_time,
        lifecycle_stage=run.lifecycle_stage,
        params=stored.params,
        tags=stored.tags,
        points=frozenset(stored.points),
        dataset_inputs=frozenset(
            (
                dataset_spec(d.name, d.digest, d.source_type, d.source, d.schema, d.profile),
                frozenset(item.tags.items()),
            )
            for item in stored.dataset_inputs
            for d in (item.dataset,)
        ),
    )
