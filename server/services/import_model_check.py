"""The verification of an import's models: for each registered model (or prompt) its versions and aliases in the
source next to the destination's, and for the logged models their count, params, metric points and artifact files
and bytes; each compared field by field as well, so a copy that differs in content is marked even where the
counts agree."""

from __future__ import annotations

from dataclasses import dataclass, field

from server.services.import_model_content import LoggedModelContent, RegisteredModelContent
from server.services.import_model_destination import ModelDestination


@dataclass(slots=True)
class RegisteredModelCheck:
    """One row: `source` is the model as the destination should hold it (its sources relocated)."""

    source: RegisteredModelContent
    copy: RegisteredModelContent | None = None

    @property
    def matches(self) -> bool:
        return self.copy is not None and not self.source.differences(self.copy)


@dataclass(slots=True)
class LoggedModelTally:
    models: int = 0
    params: int = 0
    metric_points: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0

    def add(self, model: LoggedModelContent, files: list[tuple[str, int]]) -> None:
        self.models += 1
        self.params += len(model.params)
        self.metric_points += len(model.metrics)
        self.artifact_files += len(files)
        self.artifact_bytes += sum(size for _, size in files)

    def values(self) -> tuple[int, ...]:
        return (self.models, self.params, self.metric_points, self.artifact_files, self.artifact_bytes)


@dataclass(slots=True)
class LoggedModelsCheck:
    source: LoggedModelTally = field(default_factory=LoggedModelTally)
    destination: LoggedModelTally = field(default_factory=LoggedModelTally)
    differing: list[str] = field(default_factory=list)

    def count(self, wanted: LoggedModelContent, files: list[tuple[str, int]], models: ModelDestination) -> None:
        """The source's model and its files, next to what the destination holds of it."""
        self.source.add(wanted, files)
        copy = models.stored_logged_model(wanted.model_id)
        if copy is None:
            return
        location = models.logged_model_location(wanted.model_id)
        self.destination.add(copy, models.destination.artifact_files_at(location) if location else [])
        if wanted.differences(copy):
            self.differing.append(wanted.model_id)

    @property
    def matches(self) -> bool:
        return self.source.values() == self.destination.values() and not self.differing


def _cell(mine: int, theirs: int) -> str:
    return f"{mine:,}" if mine == theirs else f"{mine:,} / {theirs:,} DIFFERENT"


def _lines(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def registered_models_table(checks: list[RegisteredModelCheck]) -> str:
    rows = [["registered model", "kind", "versions", "aliases", "content"]]
    for check in checks:
        copy = check.copy
        rows.append(
            [
                check.source.name,
                check.source.kind,
                _cell(len(check.source.versions), len(copy.versions) if copy else 0),
                _cell(len(check.source.aliases), len(copy.aliases) if copy else 0),
                "identical" if check.matches else "DIFFERENT",
            ]
        )
    return _lines(rows)


def logged_models_table(check: LoggedModelsCheck) -> str:
    rows = [["logged models", "params", "metric points", "artifact files", "artifact bytes", "content"]]
    cells = [
        _cell(mine, theirs) for mine, theirs in zip(check.source.values(), check.destination.values(), strict=True)
    ]
    rows.append([*cells, "identical" if not check.differing else f"{len(check.differing)} models DIFFER"])
    return _lines(rows)
