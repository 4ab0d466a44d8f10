"""`runyard export`'s work: a Runyard store written out as an MLflow `mlruns` tree, item by item.

Each run, logged model and registered model is read with the functions `runyard import` reads its own copy back
with (`stored_content`, `ModelDestination`), so what an export writes is what an import of the tree compares with;
only a run's metric histories are streamed instead, a batch of points at a time. Ids
stay as they are (experiments, runs, logged models, version numbers). Locations move into the tree: a run's or a
logged model's files are copied into its folder there, and a model version whose source lies in one of those
folders is pointed at the tree's copy. A trace is read as the server answers a client's GetTrace (`export_traces`);
the files attached to it are copied into its artifact folder in the tree, next to its spans.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from server.artifacts.registry import ArtifactRegistry
from server.errors import MlflowError
from server.services.export_artifacts import CopiedFiles, copy_folder
from server.services.export_layout import ARTIFACTS, MlrunsTree
from server.services.export_traces import trace_files
from server.services.import_content import ExperimentContent, stored_content
from server.services.import_destination import Destination
from server.services.import_model_content import RegisteredModelContent, Relocation, relocated
from server.services.import_model_destination import ModelDestination
from server.store import experiments as experiment_store
from server.store import exports
from server.store import traces as trace_store
from server.store.engine import Database


@dataclass(frozen=True, slots=True)
class ExperimentWork:
    """An experiment to export with the ids of its runs, logged models and traces."""

    experiment: ExperimentContent
    run_ids: list[str]
    model_ids: list[str]
    trace_ids: list[str]


@dataclass(frozen=True, slots=True)
class Written:
    """What one item's export wrote: metric points and artifact files and bytes."""

    points: int
    files: CopiedFiles


class Exporter:
    """Writes into `tree`; remembers where each run's and logged model's files went, in Runyard and in the tree,
    for the model versions written last."""

    def __init__(self, db: Database, artifacts: ArtifactRegistry, tree: MlrunsTree) -> None:
        self.db = db
        self.artifacts = artifacts
        self.tree = tree
        self.reader = Destination(db, artifacts, artifact_root="")  # only read here, never written to
        self.models = ModelDestination(self.reader)
        self.folders: dict[str, Path] = {}  # experiment folders in the tree, by experiment id
        self.moves: dict[str, Relocation] = {}  # run or logged model id -> its artifact folder, Runyard -> tree

    def plan(self, names: list[str]) -> list[ExperimentWork]:
        """The default workspace's experiments (or those named, each of which must exist) with their contents."""
        with self.db.read() as session:
            found = exports.experiments(session)
            if names:
                missing = sorted(set(names) - {e.name for e in found})
                if missing:
                    raise MlflowError.not_found(f"No experiment named {', '.join(map(repr, missing))} in the store.")
                found = [e for e in found if e.name in names]
            tags = experiment_store.experiment_tags(session, [e.experiment_id for e in found])
            return [
                ExperimentWork(
                    ExperimentContent(
                        experiment_id=e.experiment_id,
                        name=e.name,
                        lifecycle_stage=e.lifecycle_stage,
                        creation_time=e.creation_time,
                        last_update_time=e.last_update_time,
                        tags=tags[e.experiment_id],
                    ),
                    exports.run_ids(session, e.experiment_id),
                    exports.logged_model_ids(session, e.experiment_id),
                    exports.trace_ids(session, e.experiment_id),
                )
                for e in found
            ]

    def experiment(self, work: ExperimentWork) -> None:
        self.folders[str(work.experiment.experiment_id)] = self.tree.write_experiment(work.experiment)

    def run(self, run_id: str) -> Written:
        """The run with every point of every metric's history (streamed from the store) and its artifacts."""
        with self.db.read() as session:
            stored = exports.run_without_history(session, run_id)
            if stored is None:
                raise MlflowError.not_found(f"Run {run_id} was deleted from the store while the export ran.")
            location = stored.run.artifact_uri
            content = stored_content(stored)
            folder = self.tree.write_run(self.folders[str(content.experiment_id)], content, stored.run.deleted_time)
            points = sum(
                self.tree.write_history(folder, key, exports.metric_points(session, run_id, key))
                for key in exports.metric_keys(session, run_id)
            )
        into = folder / ARTIFACTS
        self.moves[run_id] = Relocation(location, into.as_uri())
        return Written(points, self._copy(f"run {run_id}", location, into))

    def logged_model(self, model_id: str) -> Written:
        content = self.models.stored_logged_model(model_id)
        location = self.models.logged_model_location(model_id)
        if content is None or location is None:
            raise MlflowError.not_found(f"Logged model {model_id} was deleted from the store while the export ran.")
        into = self.tree.write_logged_model(self.folders[str(content.experiment_id)], content)
        self.moves[model_id] = Relocation(location, into.as_uri())
        return Written(len(content.metrics), self._copy(f"logged model {model_id}", location, into))

    def trace(self, experiment_id: int, trace_id: str) -> CopiedFiles:
        """The trace with its spans and assessments, and the files attached to it; returns the files copied."""
        experiment = self.folders[str(experiment_id)]
        into = self.tree.trace_artifacts(experiment, trace_id)
        with self.db.read() as session:
            if trace_store.find_trace(session, trace_id) is None:
                raise MlflowError.not_found(f"Trace {trace_id} was deleted from the store while the export ran.")
            files = trace_files(session, trace_id, experiment.name, into.as_uri())
        location = files.attachments_from
        copied = self._copy(f"trace {trace_id}", location, into) if location else CopiedFiles()
        self.tree.write_trace(experiment, files)
        return copied

    def _copy(self, owner: str, location: str, into: Path) -> CopiedFiles:
        """The artifact folder's files, or an error naming whose they are (a location this store cannot read)."""
        try:
            return copy_folder(self.db, self.artifacts, location, into)
        except MlflowError as exc:
            raise MlflowError(f"Cannot copy the artifacts of {owner}: {exc.message}", exc.code) from None

    def registered_model_names(self) -> list[str]:
        with self.db.read() as session:
            return exports.registered_model_names(session)

    def registered_model(self, name: str) -> int:
        """Writes the model (or prompt) with its versions, sources pointed into the tree; returns the number of
        versions."""
        stored = self.models.stored_registered_model(name)
        if stored is None:
            raise MlflowError.not_found(f"Registered model {name!r} was deleted from the store while the export ran.")
        model = self._relocated(stored)
        self.tree.write_registered_model(model, {v.version: self._storage(v.source) for v in model.versions})
        return len(model.versions)

    def _relocated(self, model: RegisteredModelContent) -> RegisteredModelContent:
        versions = []
        for version in model.versions:
            moves = [self.moves[key] for key in (version.model_id, version.run_id) if key and key in self.moves]
            versions.append(replace(version, source=relocated(version.source, moves)))
        return replace(model, versions=tuple(versions))

    def _storage(self, source: str) -> str:
        """Where the file store finds a version's files: a `models:/<id>` or `runs:/<id>/<path>` source names a
        logged model's or a run's folder, which the tree holds; any other source is its own location."""
        parsed = urlparse(source)
        scheme, path = parsed.scheme.lower(), f"{parsed.netloc}{parsed.path}".strip("/")
        owner, _, rest = path.partition("/")
        move = self.moves.get(owner) if scheme in ("models", "runs") else None
        if move is None or (scheme == "models" and rest):
            return source
        return f"{move.destination_prefix}/{rest}" if rest else move.destination_prefix
