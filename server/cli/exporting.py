"""`runyard export DEST_FOLDER`: write a Runyard store out as an MLflow `mlruns` folder, artifacts included, which the
stock MLflow client reads as a file store and `runyard import` brings back, with the same ids: the data is never
locked in.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TypeVar

import click

from server.artifacts.base import StorageCredentials
from server.artifacts.registry import ArtifactRegistry
from server.cli.progress import progress
from server.cli.settings import settings_from_flags
from server.cli.store_options import store_options
from server.errors import MlflowError
from server.services.experiments import artifact_root
from server.services.export_layout import MlrunsTree
from server.services.export_runyard import Exporter
from server.services.store_setup import prepare_database
from server.store.schema import is_empty

T = TypeVar("T")


@click.command("export")
@click.argument("dest_folder", type=click.Path(path_type=Path))
@store_options
@click.option(
    "--experiments",
    "experiment_names",
    multiple=True,
    metavar="NAME",
    help="Export only this experiment, its runs, traces and logged models (repeat for more); all of them, and the "
    "registered models and prompts, by default.",
)
def export_command(dest_folder: Path, experiment_names: tuple[str, ...], **flags: Any) -> None:
    """Export experiments, runs, traces, models and prompts to an MLflow mlruns folder, artifacts included.

    DEST_FOLDER must not exist or be empty. It becomes a tree in the layout of MLflow's file store: the stock
    client reads it with `MlflowClient("file:///.../DEST_FOLDER")` (MLflow 3 wants MLFLOW_ALLOW_FILE_STORE=true),
    and `runyard import DEST_FOLDER` brings it into a Runyard store. Runs and logged models keep their ids, model
    versions their numbers; every location in it points inside DEST_FOLDER. The store is named as for `runyard
    server`, which may be running on it; the default workspace is exported.
    """
    if dest_folder.exists() and (not dest_folder.is_dir() or any(dest_folder.iterdir())):
        raise click.ClickException(f"{dest_folder} exists and is not empty: export into a new or empty folder.")
    try:
        _export(dest_folder, list(experiment_names), flags)
    except MlflowError as exc:
        written = dest_folder.is_dir() and any(dest_folder.iterdir())
        hint = f" {dest_folder} holds an incomplete export: remove it before exporting again." if written else ""
        raise click.ClickException(exc.message + hint) from None


def _export(dest_folder: Path, names: list[str], flags: dict[str, Any]) -> None:
    started = time.monotonic()
    settings = settings_from_flags(**flags)
    if is_empty(settings.backend_store_uri):
        raise MlflowError.invalid_parameter(f"No Runyard store at {settings.backend_store_uri}.")
    db = prepare_database(settings)
    try:
        credentials = StorageCredentials(settings.azure_storage_connection_string, settings.azure_storage_access_key)
        registry = ArtifactRegistry(
            settings.artifacts_destination, db, local_roots=[artifact_root(settings)], credentials=credentials
        )
        exporter = Exporter(db, registry, MlrunsTree(dest_folder))
        work = exporter.plan(names)
        dest_folder.mkdir(parents=True, exist_ok=True)
        points = files = size = 0
        for experiment in work:
            exporter.experiment(experiment)
        runs = [run_id for experiment in work for run_id in experiment.run_ids]
        with progress(runs, "Exporting runs") as bar:
            for run_id in bar:
                written = exporter.run(run_id)
                points, files, size = points + written.points, files + written.files.files, size + written.files.bytes
        models = [model_id for experiment in work for model_id in experiment.model_ids]
        with progress(models, "Exporting logged models") as bar:
            for model_id in bar:
                written = exporter.logged_model(model_id)
                files, size = files + written.files.files, size + written.files.bytes
        traces = [(each.experiment.experiment_id, trace_id) for each in work for trace_id in each.trace_ids]
        with progress(traces, "Exporting traces") as bar:
            for experiment_id, trace_id in bar:
                copied = exporter.trace(experiment_id, trace_id)
                files, size = files + copied.files, size + copied.bytes
        registered = [] if names else exporter.registered_model_names()
        versions = 0
        with progress(registered, "Exporting registered models") as bar:
            for name in bar:
                versions += exporter.registered_model(name)
    finally:
        db.dispose()
    click.echo(
        f"Exported {_count(len(work), 'experiment')}, {_count(len(runs), 'run')} ({points:,} metric points), "
        f"{_count(len(traces), 'trace')}, {_count(len(models), 'logged model')} and "
        f"{_count(len(registered), 'registered model')} "
        f"({_count(versions, 'version')}) with {_count(files, 'artifact file')} ({size:,} bytes) to {dest_folder} "
        f"in {time.monotonic() - started:.1f} s."
    )


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
