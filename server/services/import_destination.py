"""The Runyard store an import writes into, through the server's own store and artifact layers.

A run is written in one transaction, after its artifacts are in the artifact store: a run the destination shows is
complete, and one that is missing (an import killed half-way) is simply imported again by the next attempt, its
artifact files rewritten with the same bytes. So the destination itself is the import's progress record: "already
imported" is "this run id is there with the source's content", and "other content" is a conflict, never
overwritten.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import anyio
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.artifacts.base import ArtifactStore
from server.artifacts.local_files import file_chunks
from server.artifacts.registry import ArtifactRegistry
from server.clock import now_ms
from server.errors import ErrorCode, MlflowError
from server.services.import_content import ExperimentContent, RunContent, metric_point, stored_content
from server.store import artifact_destinations, imports
from server.store import experiments as experiment_store
from server.store import runs as run_store
from server.store.engine import Database
from server.store.inputs import add_dataset_inputs
from server.store.metrics import insert_metrics
from server.store.models import Experiment, Run

_POINTS_PER_INSERT = 10_000  # metric rows per bulk insert: bounded statements, whatever a history's length


@dataclass(frozen=True, slots=True)
class ExperimentPlan:
    """Where a source experiment goes: the destination experiment it is (`existing`) or will be created as."""

    source: ExperimentContent
    destination_id: int | None  # None: a new id, the source's being too large for the destination's column
    existing: bool
    conflict: str | None = None


class Destination:
    def __init__(self, db: Database, artifacts: ArtifactRegistry, *, artifact_root: str) -> None:
        self.db = db
        self.artifacts = artifacts
        self.artifact_root = artifact_root
        self.destination_uri = artifacts.destination_uri

    def plan_experiment(self, source: ExperimentContent) -> ExperimentPlan:
        """The source's id when the destination can hold it; else (a file store's 18-digit ids on PostgreSQL)
        the experiment of the same name. Either found with other content is a conflict."""
        with self.db.read() as session:
            if source.experiment_id <= imports.largest_experiment_id(session):
                return self._plan_by_id(session, source)
            return self._plan_by_name(session, source)

    def _plan_by_id(self, session: Session, source: ExperimentContent) -> ExperimentPlan:
        found = session.get(Experiment, source.experiment_id)
        if found is None:
            clash = experiment_store.find_experiment_by_name(session, source.name)
            if clash is not None:
                return ExperimentPlan(
                    source,
                    source.experiment_id,
                    existing=False,
                    conflict=f"experiment {source.name!r} (id {source.experiment_id}): the name belongs to "
                    f"experiment {clash.experiment_id} in the destination",
                )
            return ExperimentPlan(source, source.experiment_id, existing=False)
        return self._compare(session, source, found)

    def _plan_by_name(self, session: Session, source: ExperimentContent) -> ExperimentPlan:
        found = experiment_store.find_experiment_by_name(session, source.name)
        if found is None:
            return ExperimentPlan(source, None, existing=False)
        return self._compare(session, source, found)

    def _compare(self, session: Session, source: ExperimentContent, found: Experiment) -> ExperimentPlan:
        tags = experiment_store.experiment_tags(session, [found.experiment_id])[found.experiment_id]
        differences = source.differences(found.name, found.lifecycle_stage, tags)
        conflict = None
        if differences:
            conflict = (
                f"experiment {source.name!r} (id {source.experiment_id}): the destination's experiment "
                f"{found.experiment_id} has another {', '.join(differences)}"
            )
        return ExperimentPlan(source, found.experiment_id, existing=True, conflict=conflict)

    def ensure_experiment(self, plan: ExperimentPlan) -> int:
        """The id of the planned experiment, created first unless it exists (tags, lifecycle and times as in the
        source)."""
        if plan.existing and plan.destination_id is not None:
            return plan.destination_id
        source = plan.source
        with self.db.write() as session:
            experiment = imports.insert_experiment(
                session,
                experiment_id=plan.destination_id,
                name=source.name,
                lifecycle_stage=source.lifecycle_stage,
                creation_time=source.creation_time,
                last_update_time=source.last_update_time,
                tags=source.tags,
                root=self.artifact_root,
            )
            return experiment.experiment_id

    def existing_run_ids(self, run_ids: list[str]) -> set[str]:
        with self.db.read() as session:
            return imports.existing_run_ids(session, run_ids)

    def stored_run(self, run_id: str) -> RunContent | None:
        with self.db.read() as session:
            stored = imports.stored_run(session, run_id)
            return stored_content(stored) if stored is not None else None

    def import_run(self, content: RunContent, artifacts: Path | None) -> None:
        """The run's artifacts first, then the run in one transaction: it appears complete or not at all."""
        with self.db.read() as session:
            location = experiment_store.get_experiment(session, content.experiment_id).artifact_location
        artifact_uri = f"{location}/{content.run_id}/artifacts"
        if artifacts is not None:
            self.upload(artifact_uri, artifacts)
        run = Run(
            run_uuid=content.run_id,
            experiment_id=content.experiment_id,
            name=content.name,
            user_id=content.user_id,
            status=content.status,
            start_time=content.start_time,
            end_time=content.end_time,
            deleted_time=now_ms() if content.lifecycle_stage == "deleted" else None,
            lifecycle_stage=content.lifecycle_stage,
            artifact_uri=artifact_uri,
        )
        points = sorted(content.points)
        try:
            with self.db.write() as session:
                run_store.insert_run(session, run)
                run_store.insert_params(session, run.run_uuid, content.params)
                run_store.set_tags(session, run.run_uuid, content.tags, rename=False)
                for start in range(0, len(points), _POINTS_PER_INSERT):
                    chunk = points[start : start + _POINTS_PER_INSERT]
                    insert_metrics(session, run.run_uuid, [metric_point(p) for p in chunk])
                datasets = [(spec, dict(tags)) for spec, tags in sorted(content.dataset_inputs, key=repr)]
                add_dataset_inputs(session, run.run_uuid, run.experiment_id, datasets)
                # Once: a folder whose run was purged keeps its record, and the files just went where it says.
                artifact_destinations.record_once(session, artifact_uri, self.destination_uri, run.run_uuid)
        except IntegrityError:
            raise MlflowError(
                f"run {content.run_id}: it was created in the destination while this import ran",
                ErrorCode.RESOURCE_ALREADY_EXISTS,
            ) from None

    def upload(self, artifact_uri: str, folder: Path) -> None:
        """Every file under `folder` into the artifact folder `artifact_uri`, streamed in chunks."""
        for directory, _, names in os.walk(folder):
            for name in sorted(names):
                file = Path(directory) / name
                relative = file.relative_to(folder).as_posix()
                with self.db.read() as session:
                    store, path = self.artifacts.locate(session, artifact_uri, relative)
                anyio.run(store.write, path, file_chunks(file))

    def artifact_files(self, run_id: str) -> list[tuple[str, int]]:
        """(path, size) of every file under the run's artifact root in the destination."""
        with self.db.read() as session:
            uri = run_store.get_run(session, run_id).artifact_uri
        return self.artifact_files_at(uri)

    def artifact_files_at(self, artifact_uri: str) -> list[tuple[str, int]]:
        """(path, size) of every file under an artifact folder of the destination (a run's or a logged model's)."""
        with self.db.read() as session:
            store, base = self.artifacts.locate(session, artifact_uri, None)
        return _walk(store, base, "")


def _walk(store: ArtifactStore, base: str, relative: str) -> list[tuple[str, int]]:
    files = []
    for info in store.list(f"{base}/{relative}".strip("/") if relative else base):
        path = f"{relative}/{info.path}" if relative else info.path
        if info.is_dir:
            files.extend(_walk(store, base, path))
        else:
            files.append((path, info.file_size or 0))
    return sorted(files)
