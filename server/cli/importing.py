"""`runyard import SOURCE`: copy experiments and runs from an MLflow tracking server or an `mlruns` folder into a
Runyard store, with the same run ids, then check the copy.

Phases: read the source's experiments and run ids; compare the runs the destination already has (same content:
skipped; other content: a conflict, and nothing is written); import the rest, each run's artifacts first and the
run in one transaction; verify, experiment by experiment. Safe to run again, and after an interruption: the
destination itself records which runs are in.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from server.artifacts.base import StorageCredentials
from server.artifacts.registry import ArtifactRegistry
from server.cli.importing_models import ModelPlan, copy_models, dry_run_lines, plan_models
from server.cli.importing_traces import TracePlan, copy_traces, plan_traces
from server.cli.prefetch import prefetched
from server.cli.progress import progress
from server.cli.settings import settings_from_flags
from server.cli.store_options import store_options
from server.config import Settings
from server.errors import MlflowError
from server.services.experiments import artifact_root
from server.services.import_check import ExperimentCheck, RunCounts, count_destination, table
from server.services.import_content import RunContent
from server.services.import_destination import Destination, ExperimentPlan
from server.services.import_model_destination import ModelDestination
from server.services.import_model_source import ModelSource
from server.services.import_source import Source
from server.services.import_trace_destination import TraceDestination
from server.services.import_trace_source import TraceSource
from server.services.store_setup import prepare_database
from server.store.schema import is_empty

T = TypeVar("T")

CONFLICT_EXIT = 3  # something in the destination has the source's id and other content; nothing was written
MISMATCH_EXIT = 4  # the verification found a difference between the source and the destination
READ_AHEAD = 4  # runs read from the source (content and artifacts) while the one before them is written


@dataclass(slots=True)
class Plan:
    """What the source holds and what of it the destination lacks, keyed by source experiment id."""

    experiments: list[ExperimentPlan] = field(default_factory=list)
    runs_by_experiment: dict[int, list[str]] = field(default_factory=dict)
    to_import: dict[int, list[str]] = field(default_factory=dict)
    already_there: dict[int, list[RunCounts]] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)


@click.command("import")
@click.argument("source")
@store_options
@click.option(
    "--experiments",
    "experiment_names",
    multiple=True,
    metavar="NAME",
    help="Import only this experiment, its runs, traces and logged models (repeat for more); all of them, and the "
    "registered models and prompts, by default.",
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    metavar="DATE",
    help="Import only runs started, traces begun and logged models created at or after DATE (UTC, "
    "YYYY-MM-DD[THH:MM:SS]); "
    "registered models and prompts come with an import without it.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be imported, and write nothing.")
def import_command(
    source: str, experiment_names: tuple[str, ...], since: datetime | None, dry_run: bool, **flags: Any
) -> None:
    """Import experiments, runs, traces, models and prompts from an MLflow tracking server or an mlruns folder.

    Traces come with their spans and assessments; models are logged models and registered models with their
    versions and aliases.

    SOURCE is a tracking URI (http(s)://host:port of `mlflow server` or another Runyard, with the credentials in
    MLFLOW_TRACKING_USERNAME/_PASSWORD or MLFLOW_TRACKING_TOKEN; an Azure ML workspace's azureml:// tracking URI,
    signed with DefaultAzureCredential) or a local mlruns folder. Runs, traces and logged models keep their ids,
    model versions their numbers; whatever was imported already is skipped, and anything the
    destination holds under the same id or name with other content stops the import before anything is written.
    The store is named as for `runyard server`, which may be running on it.

    Exit status: 0 when the destination holds what the source holds, 3 on a conflict (nothing written), 4 when
    the verification after the copy finds a difference, 1 when the source or the store cannot be read.
    """
    try:
        since_ms = None if since is None else int(since.replace(tzinfo=UTC).timestamp() * 1000)
        code = _import(source, Selection(list(experiment_names), since_ms), dry_run, flags)
    except MlflowError as exc:
        raise click.ClickException(exc.message) from None
    sys.exit(code)


@dataclass(frozen=True, slots=True)
class Selection:
    """What of the source to import: the experiments named (all when none are), and what was created since a time
    (ms; everything when None). Registered models come only with everything: a selection could leave out the runs
    their versions point at."""

    names: list[str]
    since_ms: int | None

    @property
    def everything(self) -> bool:
        return not self.names and self.since_ms is None


def _import(source_arg: str, selection: Selection, dry_run: bool, flags: dict[str, Any]) -> int:
    started = time.monotonic()
    settings = settings_from_flags(**flags)
    source = Source(source_arg)
    source.check()
    with _destination(settings, dry_run) as destination:
        plan = _plan(source, destination, selection)
        models = ModelSource(source), ModelDestination(destination)
        model_plan = plan_models(
            *models, plan.experiments, since_ms=selection.since_ms, registered=selection.everything
        )
        traces = TraceSource(source), TraceDestination(destination)
        trace_plan = plan_traces(*traces, plan.experiments, since_ms=selection.since_ms)
        conflicts = plan.conflicts + trace_plan.conflicts + model_plan.conflicts
        if conflicts:
            _echo("Conflicts: the destination holds these ids with other content. Nothing was written.")
            for conflict in conflicts:
                _echo(f"  {conflict}")
            return CONFLICT_EXIT
        if dry_run:
            _echo(_dry_run_table(plan, trace_plan, model_plan))
            return 0
        return _copy_and_verify(
            source, destination, plan, (*traces, trace_plan, selection.since_ms), (*models, model_plan), started
        )


@contextmanager
def _destination(settings: Settings, dry_run: bool) -> Iterator[Destination]:
    """The store named by the flags, opened as the server opens it (created if empty). A dry run writes nothing: an
    empty store is planned against a throwaway one, which shows what a fresh store would receive."""
    with tempfile.TemporaryDirectory(prefix="runyard-import-") as scratch:
        if dry_run and is_empty(settings.backend_store_uri):
            settings = settings.model_copy(update={"backend_store_uri": f"sqlite:///{Path(scratch) / 'plan.db'}"})
        db = prepare_database(settings)
        try:
            credentials = StorageCredentials(
                settings.azure_storage_connection_string, settings.azure_storage_access_key
            )
            root = artifact_root(settings)
            registry = ArtifactRegistry(settings.artifacts_destination, db, local_roots=[root], credentials=credentials)
            yield Destination(db, registry, artifact_root=root)
        finally:
            db.dispose()


def _plan(source: Source, destination: Destination, selection: Selection) -> Plan:
    plan = Plan()
    experiments = source.experiments(selection.names)
    with progress(experiments, "Reading experiments") as bar:
        for experiment in bar:
            planned = destination.plan_experiment(experiment)
            plan.experiments.append(planned)
            if planned.conflict:
                plan.conflicts.append(planned.conflict)
            run_ids = source.run_ids(experiment.experiment_id, since_ms=selection.since_ms)
            plan.runs_by_experiment[experiment.experiment_id] = run_ids
    pending = [
        (planned, run_id)
        for planned in plan.experiments
        for run_id in plan.runs_by_experiment[planned.source.experiment_id]
    ]
    present = destination.existing_run_ids([run_id for _, run_id in pending])
    for planned in plan.experiments:
        plan.to_import[planned.source.experiment_id] = []
        plan.already_there[planned.source.experiment_id] = []
    with progress(pending, "Checking the destination") as bar:
        for planned, run_id in bar:
            key = planned.source.experiment_id
            if run_id not in present:
                plan.to_import[key].append(run_id)
                continue
            stored = destination.stored_run(run_id)
            if stored is None or planned.destination_id is None or not planned.existing:
                plan.conflicts.append(f"run {run_id}: the destination holds it in another experiment")
                continue
            wanted = source.run(run_id, planned.destination_id)
            differences = wanted.differences(stored)
            if differences:
                plan.conflicts.append(f"run {run_id}: the destination's run has another {', '.join(differences)}")
            else:
                plan.already_there[key].append(RunCounts.of(wanted))
    return plan


def _copy_and_verify(
    source: Source,
    destination: Destination,
    plan: Plan,
    traces: tuple[TraceSource, TraceDestination, TracePlan, int | None],
    models: tuple[ModelSource, ModelDestination, ModelPlan],
    started: float,
) -> int:
    checks: dict[int, ExperimentCheck] = {}
    for planned in plan.experiments:
        check = checks[planned.source.experiment_id] = ExperimentCheck(planned.source.name)
        for counts in plan.already_there[planned.source.experiment_id]:
            check.count_source_run(counts, _source_files(source, counts.run_id))
    destination_ids = {
        planned.source.experiment_id: destination.ensure_experiment(planned) for planned in plan.experiments
    }
    work = [(key, run_id) for key, run_ids in plan.to_import.items() for run_id in run_ids]
    imported_points = imported_bytes = 0

    def fetch(item: tuple[int, str]) -> FetchedRun:
        key, run_id = item
        return FetchedRun.read(source, run_id, destination_ids[key])

    with progress(work, "Importing runs") as bar:
        fetched = prefetched(bar, fetch, ahead=READ_AHEAD, discard=FetchedRun.discard)
        for (key, run_id), run in fetched:
            content, files = run.content, run.files
            try:
                destination.import_run(content, run.folder)
            finally:
                run.discard()
            checks[key].count_source_run(RunCounts.of(content), files)
            if destination.stored_run(run_id) != content:
                checks[key].differing_runs.append(run_id)
            imported_points += len(content.points)
            imported_bytes += sum(size for _, size in files)
    trace_source, trace_destination, trace_plan, since_ms = traces
    imported_traces = copy_traces(
        trace_source, trace_destination, trace_plan, destination_ids, checks, since_ms=since_ms
    )
    with progress(list(checks.values()), "Verifying") as verifying:
        for check in verifying:
            count_destination(check, destination)
    _echo(table(list(checks.values())))
    models_match = copy_models(*models, destination_ids)
    skipped = sum(len(contents) for contents in plan.already_there.values())
    traces_there = sum(len(counts) for counts in trace_plan.already_there.values())
    _echo(
        f"Imported {_count(len(work), 'run')} ({imported_points:,} metric points, {imported_bytes:,} artifact bytes) "
        f"and {_count(imported_traces, 'trace')} from {_count(len(checks), 'experiment')} in "
        f"{time.monotonic() - started:.1f} s; {_count(skipped, 'run')} and {_count(traces_there, 'trace')} "
        "already there."
    )
    if source.artifacts_left:
        _echo(
            f"Not imported: the artifacts of {_count(len(source.artifacts_left), 'run')}, kept in the Azure ML "
            "workspace's own artifact store (azureml:// artifact URIs), which runyard import does not read."
        )
    if models_match and all(check.matches for check in checks.values()):
        return 0
    _echo("The destination differs from the source where marked DIFFERENT above.")
    return MISMATCH_EXIT


@dataclass(slots=True)
class FetchedRun:
    """A source run read ahead of its write: its content, its artifact files, and the scratch folder they were
    downloaded into (removed by `discard` once the run is written, or given up)."""

    content: RunContent
    files: list[tuple[str, int]]
    scratch: Path
    folder: Path | None

    @classmethod
    def read(cls, source: Source, run_id: str, experiment_id: int) -> FetchedRun:
        content = source.run(run_id, experiment_id)
        files = _source_files(source, run_id)
        scratch = Path(tempfile.mkdtemp(prefix="runyard-import-run-"))
        try:
            folder = source.download_artifacts(run_id, scratch) if files else None
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return cls(content, files, scratch, folder)

    def discard(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _source_files(source: Source, run_id: str) -> list[tuple[str, int]]:
    return [(f.path, f.size) for f in source.artifact_files(run_id)]


def _dry_run_table(plan: Plan, traces: TracePlan, models: ModelPlan) -> str:
    header = ("experiment", "id", "in the destination", "runs to import", "runs already there")
    rows = [(*header, "traces to import", "traces already there")]
    for planned in plan.experiments:
        key = planned.source.experiment_id
        rows.append(
            (
                planned.source.name,
                str(key),
                f"yes, as {planned.destination_id}" if planned.existing else "no: created",
                f"{len(plan.to_import[key]):,}",
                f"{len(plan.already_there[key]):,}",
                f"{traces.importing(key):,}",
                f"{traces.there(key):,}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    total = sum(len(run_ids) for run_ids in plan.to_import.values())
    trace_total = sum(traces.importing(key) for key in traces.to_import)
    summary = (
        f"Dry run: {_count(total, 'run')} and {_count(trace_total, 'trace')} would be imported; nothing was written."
    )
    trace_lines = [
        f"trace {trace_id} of {planned.source.name}: to import"
        for planned in plan.experiments
        for trace_id in sorted(traces.to_import.get(planned.source.experiment_id, ()))
    ]
    return "\n".join([*lines, *trace_lines, *dry_run_lines(models), summary])


def _echo(text: str) -> None:
    click.echo(text)
