"""The model phases of `runyard import`: MLflow 3 logged models (after the runs they come from), then registered
models and prompts (after the runs and logged models their versions point at).

Planned with the experiments and runs, so a conflict anywhere stops the import before anything is written; copied
after the runs; verified model by model. Registered models come along only with a whole import: with
`--experiments` or `--since`, their versions could point at runs left out, and a later whole import would find
their sources pointing elsewhere than it would point them.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import click

from server.cli.progress import progress
from server.services.import_destination import ExperimentPlan
from server.services.import_model_check import (
    LoggedModelsCheck,
    RegisteredModelCheck,
    logged_models_table,
    registered_models_table,
)
from server.services.import_model_content import LoggedModelContent, RegisteredModelContent, with_model_ids
from server.services.import_model_destination import ModelDestination
from server.services.import_model_source import ModelSource

T = TypeVar("T")


@dataclass(slots=True)
class ModelPlan:
    """The source's models and what of them the destination lacks. Logged models carry their source experiment
    id until the copy, when the destination's ids are known; `locations` are their artifact folders in the
    source, by model id."""

    has_logged_models: bool = True
    logged_to_import: list[LoggedModelContent] = field(default_factory=list)
    logged_there: list[LoggedModelContent] = field(default_factory=list)
    locations: dict[str, str] = field(default_factory=dict)
    registered: bool = True
    registered_to_import: list[RegisteredModelContent] = field(default_factory=list)
    registered_there: list[RegisteredModelContent] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def plan_models(
    source: ModelSource,
    destination: ModelDestination,
    experiments: list[ExperimentPlan],
    *,
    since_ms: int | None,
    registered: bool,
) -> ModelPlan:
    """`since_ms` leaves out logged models created before it; `registered` False leaves out registered models."""
    plan = ModelPlan(registered=registered)
    _plan_logged_models(source, destination, experiments, plan, since_ms)
    if registered:
        _plan_registered_models(source, destination, plan)
    return plan


def _plan_logged_models(
    source: ModelSource,
    destination: ModelDestination,
    experiments: list[ExperimentPlan],
    plan: ModelPlan,
    since_ms: int | None,
) -> None:
    planned = {experiment.source.experiment_id: experiment for experiment in experiments}
    found = source.logged_models(sorted(planned))
    if found is None:
        plan.has_logged_models = False
        click.echo(f"Warning: {source.source.uri} has no logged models (MLflow 2.x): none imported.", err=True)
        return
    found = [(model, location) for model, location in found if (since_ms or 0) <= model.creation_timestamp]
    present = destination.existing_logged_model_ids([model.model_id for model, _ in found])
    for model, location in found:
        plan.locations[model.model_id] = location
        if model.model_id not in present:
            plan.logged_to_import.append(model)
            continue
        experiment = planned[model.experiment_id]
        stored = destination.stored_logged_model(model.model_id)
        if stored is None or experiment.destination_id is None or not experiment.existing:
            plan.conflicts.append(f"logged model {model.model_id}: the destination holds it in another experiment")
            continue
        wanted = replace(model, experiment_id=experiment.destination_id)
        if differences := wanted.differences(stored):
            plan.conflicts.append(
                f"logged model {model.model_id}: the destination's logged model has another {', '.join(differences)}"
            )
        else:
            plan.logged_there.append(wanted)


def _plan_registered_models(source: ModelSource, destination: ModelDestination, plan: ModelPlan) -> None:
    found = source.registered_models()
    if found is None:
        plan.registered = False
        click.echo(f"Warning: {source.source.uri} has no model registry: no registered models imported.", err=True)
        return
    logged = plan.logged_to_import + plan.logged_there
    for registered in (with_model_ids(model, logged) for model in found):
        copy = destination.stored_registered_model(registered.name)
        if copy is None:
            plan.registered_to_import.append(registered)
            continue
        wanted = destination.relocate(registered, source.run_artifact_uri, plan.locations.get)
        if differences := wanted.differences(copy):
            plan.conflicts.append(
                f"registered {registered.kind} {registered.name!r}: the destination's {copy.kind} has another "
                f"{', '.join(differences)}"
            )
        else:
            plan.registered_there.append(wanted)


def dry_run_lines(plan: ModelPlan) -> list[str]:
    lines = []
    if plan.has_logged_models:
        lines.append(
            f"logged models: {len(plan.logged_to_import):,} to import, {len(plan.logged_there):,} already there"
        )
    if plan.registered:
        versions = sum(len(model.versions) for model in plan.registered_to_import)
        lines.append(
            f"registered models and prompts: {len(plan.registered_to_import):,} ({versions:,} versions) to import, "
            f"{len(plan.registered_there):,} already there"
        )
    return lines


def copy_models(
    source: ModelSource, destination: ModelDestination, plan: ModelPlan, experiment_ids: dict[int, int]
) -> bool:
    """Import what the plan lacks, print the verification tables and a summary line; True when the destination
    holds every model as the source does. `experiment_ids` maps source experiment ids to the destination's."""
    matches = True
    logged = LoggedModelsCheck()
    work = [(model, False) for model in plan.logged_to_import] + [(model, True) for model in plan.logged_there]
    with progress(work, "Importing logged models") as bar:
        for model, already_there in bar:
            wanted = model if already_there else replace(model, experiment_id=experiment_ids[model.experiment_id])
            files = [(f.path, f.size) for f in source.logged_model_files(model.model_id)]
            if not already_there:
                with tempfile.TemporaryDirectory(prefix="runyard-import-model-") as scratch:
                    folder = None
                    if files:
                        location = plan.locations[model.model_id]
                        folder = source.download_logged_model(model.model_id, location, Path(scratch))
                    destination.import_logged_model(wanted, folder)
            logged.count(wanted, files, destination)
    if plan.has_logged_models:
        click.echo(logged_models_table(logged))
        matches = logged.matches
    checks: list[RegisteredModelCheck] = []
    with progress(plan.registered_to_import, "Importing registered models") as bar:
        for registered in bar:
            relocated = destination.relocate(registered, source.run_artifact_uri, plan.locations.get)
            destination.import_registered_model(relocated)
            checks.append(RegisteredModelCheck(relocated))
    checks.extend(RegisteredModelCheck(registered) for registered in plan.registered_there)
    for check in checks:
        check.copy = destination.stored_registered_model(check.source.name)
    if checks:
        click.echo(registered_models_table(sorted(checks, key=lambda check: check.source.name)))
        matches = matches and all(check.matches for check in checks)
    versions = sum(len(model.versions) for model in plan.registered_to_import)
    click.echo(
        f"Imported {_count(len(plan.logged_to_import), 'logged model')} and "
        f"{_count(len(plan.registered_to_import), 'registered model')} ({_count(versions, 'version')}); "
        f"{_count(len(plan.logged_there), 'logged model')} and "
        f"{_count(len(plan.registered_there), 'registered model')} already there."
    )
    return matches


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
