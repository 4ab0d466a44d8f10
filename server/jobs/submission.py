"""Submission: a project snapshot (uploaded, or fetched from git once by the server) is checked, stored as its
run's artifact, and the run (SCHEDULED) and the job are created in one transaction. An idempotency key replays
the first answer instead of queueing twice."""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from server.artifacts.registry import ArtifactRegistry
from server.clock import now_ms
from server.config import Settings
from server.errors import MlflowError
from server.jobs import views as job_views
from server.jobs.signals import JobSignals
from server.jobspec import projects
from server.jobspec.schemas import GitJobSubmit, JobSpec, JobStatus, JobView
from server.services import runs as run_service
from server.services import validation
from server.store import experiments as experiment_store
from server.store import job_queue as queue
from server.store import runs as run_store
from server.store.engine import Database
from server.store.models import Job

JOB_TAG = "runyard.job_id"


@dataclass(frozen=True, slots=True)
class _Snapshot:
    path: Path
    sha256: str
    source: dict[str, Any]
    tags: dict[str, str]


class Submission:
    def __init__(self, settings: Settings, db: Database, artifacts: ArtifactRegistry, signals: JobSignals) -> None:
        self.settings = settings
        self.db = db
        self.artifacts = artifacts
        self.signals = signals

    @property
    def max_snapshot_bytes(self) -> int:
        return self.settings.job_max_snapshot_mb * 1024 * 1024

    async def submit_archive(self, spec: JobSpec, archive: Path, sha256: str) -> JobView:
        source = {"type": "archive", "sha256": sha256, "artifact": projects.SNAPSHOT_ARTIFACT}
        return await self._submit(spec, _Snapshot(archive, sha256, source, {}))

    async def submit_git(self, spec: GitJobSubmit) -> JobView:
        with tempfile.TemporaryDirectory(prefix="runyard-git-") as tmp:
            checkout, commit = await run_in_threadpool(
                projects.fetch_git, spec.source, Path(tmp) / "repo", allow_local=self.settings.job_allow_local_git
            )
            archive = Path(tmp) / "snapshot.tar.gz"
            await run_in_threadpool(projects.pack_directory, checkout, archive)
            source = {**spec.source.model_dump(), "commit": commit, "artifact": projects.SNAPSHOT_ARTIFACT}
            tags = {
                "mlflow.source.name": spec.source.uri,
                "mlflow.source.git.commit": commit,
                "mlflow.source.git.repoURL": spec.source.uri,
            }
            if spec.source.version:
                tags["mlflow.source.git.branch"] = spec.source.version
            digest = hashlib.sha256(orjson.dumps(source, option=orjson.OPT_SORT_KEYS)).hexdigest()
            return await self._submit(spec, _Snapshot(archive, digest, source, tags))

    def _request_hash(self, spec: JobSpec, snapshot: _Snapshot) -> str:
        body = spec.model_dump(exclude={"idempotency_key", "source"}, mode="json")
        return hashlib.sha256(orjson.dumps([body, snapshot.sha256], option=orjson.OPT_SORT_KEYS)).hexdigest()

    async def _replay(self, spec: JobSpec, request_hash: str) -> JobView | None:
        if not spec.idempotency_key:
            return None

        def read(session: Session) -> JobView | None:
            job = queue.find_by_idempotency_key(session, spec.idempotency_key or "")
            if job is None:
                return None
            if job.request_hash != request_hash:
                raise MlflowError.invalid_parameter(
                    f"Idempotency key '{spec.idempotency_key}' was already used for a different job request "
                    f"(job {job.job_id})."
                )
            return job_views.view(session, job)

        return await self.db.run_read(read)

    async def _submit(self, spec: JobSpec, snapshot: _Snapshot) -> JobView:
        request_hash = self._request_hash(spec, snapshot)
        if (replayed := await self._replay(spec, request_hash)) is not None:
            return replayed
        experiment_id, location = await self.db.run_read(lambda session: self._experiment_of(session, spec))
        parameters = spec.parameter_strings()
        with tempfile.TemporaryDirectory(prefix="runyard-check-") as tmp:
            await run_in_threadpool(
                projects.extract_archive, snapshot.path, Path(tmp), max_bytes=self.max_snapshot_bytes
            )
            checked = await run_in_threadpool(
                projects.load_checked, Path(tmp), spec.entry_point, parameters, spec.env_manager
            )
        run_id, job_id = uuid.uuid4().hex, uuid.uuid4().hex
        artifact_uri = f"{location}/{run_id}/artifacts"
        await self._store_snapshot(artifact_uri, snapshot.path)
        job = Job(
            job_id=job_id,
            run_id=run_id,
            experiment_id=experiment_id,
            status=JobStatus.QUEUED,
            backend=spec.backend,
            entry_point=spec.entry_point,
            parameters=orjson.dumps(parameters).decode(),
            env_manager=checked.env_manager,
            backend_config=orjson.dumps(spec.backend_config).decode(),
            source=orjson.dumps(snapshot.source).decode(),
            idempotency_key=spec.idempotency_key,
            request_hash=request_hash,
            priority=spec.priority,
            attempt=0,
            max_attempts=spec.max_attempts or self.settings.job_max_attempts,
            available_at=now_ms(),
            cancel_requested=False,
            created_at=now_ms(),
        )
        tags = {
            "mlflow.source.type": "PROJECT",
            "mlflow.source.name": snapshot.tags.get("mlflow.source.name", checked.name or "project snapshot"),
            "mlflow.project.entryPoint": spec.entry_point,
            "mlflow.project.backend": "runyard",
            "mlflow.project.env": checked.env_manager,
            **snapshot.tags,
            **spec.tags,
            JOB_TAG: job_id,
        }

        def write(session: Session) -> JobView:
            run_service.create_run(
                session,
                experiment_id=experiment_id,
                user_id=tags.get("mlflow.user", ""),
                run_name=spec.run_name,
                start_time=None,
                tags=tags,
                artifact_destination=self.artifacts.destination_uri,
                run_id=run_id,
                status="SCHEDULED",
            )
            run_store.insert_params(session, run_id, run_service.validate_params(list(checked.logged_params.items())))
            queue.insert_job(session, job)
            return job_views.view(session, job)

        try:
            view = await self.db.run_write(write)
        except IntegrityError:
            if (replayed := await self._replay(spec, request_hash)) is not None:
                return replayed  # a concurrent retry with the same key won the race
            raise
        self.signals.jobs_changed.notify()
        return view

    @staticmethod
    def _experiment_of(session: Session, spec: JobSpec) -> tuple[int, str]:
        if spec.experiment_name and not spec.experiment_id:
            experiment = experiment_store.find_experiment_by_name(session, spec.experiment_name)
            if experiment is None:
                raise MlflowError.invalid_parameter(f"No experiment named '{spec.experiment_name}' exists.")
            experiment_id = experiment.experiment_id
        else:
            experiment_id = validation.parse_experiment_id(spec.experiment_id or "0")
        try:
            return experiment_id, experiment_store.active_experiment_location(session, experiment_id)
        except MlflowError as exc:
            raise MlflowError.invalid_parameter(exc.message) from None

    async def _store_snapshot(self, artifact_uri: str, archive: Path) -> None:
        store, path = await self.artifacts.locate_async(artifact_uri, projects.SNAPSHOT_ARTIFACT)

        async def chunks() -> AsyncIterator[bytes]:
            async with await anyio.open_file(archive, "rb") as source:
                while chunk := await source.read(1024 * 1024):
                    yield chunk

        await store.write(path, chunks())
