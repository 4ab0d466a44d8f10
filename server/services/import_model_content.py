"""What an imported logged model or registered model is made of, as plain values read from the source or from the
destination, so that "already imported" is an equality test and "other content" a list of the fields that differ.

Timestamps of the last update are copied but not compared: the destination's own server moves them (a tag set, a
stage changed back), and that alone is no reason to refuse an import. Unset strings read as "" from one store and
None from another; both are None here.

A version's `source` is compared as the destination holds it, after `relocated` pointed it at the destination's
copy of the files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from urllib.parse import urlparse

from server.services.validation import clamp_metric_value

PROMPT_TAG = "mlflow.prompt.is_prompt"
MODEL_VERSIONS_TAG = "mlflow.modelVersions"  # on a logged model: the registered versions made from it

# (key, timestamp, step, value, is_nan, run_id, dataset_name, dataset_digest); a NaN's value is 0.0.
ModelPoint = tuple[str, int, int, float, bool, str, str, str]

_UNCOMPARED = frozenset({"last_updated_timestamp"})


def model_point(
    key: str, timestamp: int, step: int, value: float, run_id: str | None, dataset: str | None, digest: str | None
) -> ModelPoint:
    nan = math.isnan(value)
    return (
        key,
        timestamp,
        step,
        0.0 if nan else clamp_metric_value(value),
        nan,
        run_id or "",
        dataset or "",
        digest or "",
    )


def _differences(mine: object, theirs: object) -> list[str]:
    return [
        f.name
        for f in fields(mine)  # type: ignore[arg-type]
        if f.name not in _UNCOMPARED and getattr(mine, f.name) != getattr(theirs, f.name)
    ]


@dataclass(frozen=True, slots=True)
class LoggedModelContent:
    """An MLflow 3 logged model, `experiment_id` being the destination's; `status` is LoggedModelStatus's proto
    number, as the destination stores it."""

    model_id: str
    experiment_id: int
    name: str
    model_type: str | None
    status: int
    status_message: str | None
    source_run_id: str | None
    creation_timestamp: int
    last_updated_timestamp: int
    params: dict[str, str]
    tags: dict[str, str]
    metrics: frozenset[ModelPoint]

    def differences(self, other: LoggedModelContent) -> list[str]:
        return _differences(self, other)


@dataclass(frozen=True, slots=True)
class VersionContent:
    version: int
    source: str
    run_id: str | None
    model_id: str | None
    run_link: str | None
    description: str | None
    status: str
    stage: str
    tags: dict[str, str]
    creation_timestamp: int
    last_updated_timestamp: int

    def differences(self, other: VersionContent) -> list[str]:
        return _differences(self, other)


@dataclass(frozen=True, slots=True)
class RegisteredModelContent:
    """A registered model (or a prompt: a registered model tagged as one) with every version and alias."""

    name: str
    description: str | None
    tags: dict[str, str]
    aliases: dict[str, int]
    versions: tuple[VersionContent, ...]
    creation_timestamp: int
    last_updated_timestamp: int

    @property
    def is_prompt(self) -> bool:
        return self.tags.get(PROMPT_TAG, "").lower() == "true"

    @property
    def kind(self) -> str:
        return "prompt" if self.is_prompt else "model"

    def differences(self, other: RegisteredModelContent) -> list[str]:
        """Field names, and `version N` for each version whose fields differ, is missing, or is extra."""
        found = [name for name in _differences(self, other) if name != "versions"]
        mine = {v.version: v for v in self.versions}
        theirs = {v.version: v for v in other.versions}
        for number in sorted(mine.keys() | theirs.keys()):
            if number not in mine or number not in theirs:
                found.append(f"version {number}")
            elif differing := mine[number].differences(theirs[number]):
                found.append(f"version {number} ({', '.join(differing)})")
        return found


@dataclass(frozen=True, slots=True)
class Relocation:
    """Files that were at `source_prefix` in the source and are at `destination_prefix` in the destination: a
    run's or a logged model's artifact folder."""

    source_prefix: str
    destination_prefix: str


def needs_relocation(source: str) -> bool:
    """`runs:/` and `models:/` sources name a run or a model, whose ids the import keeps: they stay as they are."""
    return urlparse(source).scheme.lower() not in ("runs", "models")


def relocated(source: str, moves: Sequence[Relocation]) -> str:
    """A version's source pointed at the destination's copy of its files; a source outside every moved folder
    (an object store the import did not copy from, a prompt's placeholder) stays as it is."""
    if not needs_relocation(source):
        return source
    for move in moves:
        prefix = move.source_prefix.rstrip("/")
        if prefix and (source == prefix or source.startswith(prefix + "/")):
            return move.destination_prefix.rstrip("/") + source[len(prefix) :]
    return source


def with_model_ids(model: RegisteredModelContent, logged: Iterable[LoggedModelContent]) -> RegisteredModelContent:
    """The model with each version's logged model filled in where the source did not say it. MLflow's REST
    client does not read a version's `model_id` off the wire, but the logged model records the versions made from
    it (its `mlflow.modelVersions` tag), and a `models:/<model_id>` source names it too."""
    made_from: dict[tuple[str, int], str] = {}
    ids = set()
    for candidate in logged:
        ids.add(candidate.model_id)
        for entry in _registrations(candidate.tags.get(MODEL_VERSIONS_TAG)):
            made_from[entry] = candidate.model_id
    versions = []
    for version in model.versions:
        model_id = version.model_id or made_from.get((model.name, version.version))
        if model_id is None and urlparse(version.source).scheme.lower() == "models":
            named = urlparse(version.source).path.strip("/")
            model_id = named if named in ids else None
        versions.append(replace(version, model_id=model_id))
    return replace(model, versions=tuple(versions))


def _registrations(tag: str | None) -> list[tuple[str, int]]:
    """(name, version) pairs of an `mlflow.modelVersions` tag; nothing for a value that is not such a list."""
    try:
        entries = json.loads(tag) if tag else []
    except ValueError:
        return []
    found = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and str(entry.get("version", "")).isdigit() and entry.get("name"):
            found.append((str(entry["name"]), int(entry["version"])))
    return found
