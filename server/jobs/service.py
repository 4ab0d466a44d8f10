"""The job queue's rules: submission (snapshot + SCHEDULED run + job in one transaction), leases, transitions, and
the MLflow run status that follows each job.

Dispatchers (local subprocesses today, Azure ML next) never reach this module directly: they hold leases through
the HTTP API, so a worker on another machine and the embedded one are the same thing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import orjson
from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from server.artifacts.base import ArtifactStore
from server.artifacts.registry import ArtifactRegistry
from server.clock import now_ms
from server.config import Settings
from server.errors import MlflowError
from server.jobs import expiry, log_budget, queue
from server.jobs import views as job_views
from server.jobspec import projects
from server.jobspec.schemas import (
    ACTIVE,
    RUN_STATUS,
    TERMINAL,
    ClaimedJob,
    ClaimRequest,
    FinishRequest,
    GitJobSubmit,
    Heartbeat,
    JobSpec,
    JobStatus,
    JobView,
    LeaseRequest,
    LeaseState,
)
from server.services import runs as run_service
from server.services import validation
from server.store import experiments as experiment_store
from server.store import runs as run_store
from server.store.engine import Database
from server.store.models import Job, JobLog

log = logging.getLogger(__name__)

JOB_TAG = "runyard.job_id"
_OUTCOMES = {"succeeded": JobStatus.SUCCEEDED, "failed": JobStatus.FAILED, "canceled": JobStatus.CANCELED}


@dataclass(frozen=True, slots=True)
class _Snapshot:
    path: Path
    sha256: str
    source: dict[str, Any]
    tags: dict[str, str]


def _lease_lost(job_id: str) -> MlflowError:
    return MlflowError.aborted(f"The lease on job {job_id} is no longer held by this worker.")


class _Wakeup:
    """Wakes long-polling claims and log tails in this process when something they wait for happens; other
    server processes fall back to their polling interval."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, seconds: float) -> None:
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        with anyio.move_on_after(seconds):
            await event.wait()


class JobService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        artifacts: ArtifactRegistry,
        forget_run_tokens: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.artifacts = artifacts
        # Revoked job tokens are also dropped from this server's sign-in cache, so they stop working at once.
        self.forget_run_tokens = forget_run_tokens
        self.jobs_changed = _Wakeup()
        self.logs_arrived = _Wakeup()
        self.stopping = False  # the server is shutting down: long polls and log tails return now

    def stop_waiting(self) -> None:
        self.stopping = True
        self.jobs_changed.notify()
        self.logs_arrived.notify()

    @property
    def lease_ms(self) -> int:
        return int(self.settings.job_lease_seconds * 1000)

    @property
    def max_log_bytes(self) -> int:
        return int(self.settings.job_max_log_mb * 2**20)

    @property
    def max_snapshot_bytes(self) -> int:
        return self.settings.job_max_snapshot_mb * 1024 * 1024

    # --- submission -------------------------------------------------------------------------------------------

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

        def read() -> JobView | None:
            with self.db.read() as session:
                job = queue.find_by_idempotency_key(session, spec.idempotency_key or "")
                if job is None:
                    return None
                if job.request_hash != request_hash:
                    raise MlflowError.invalid_parameter(
                        f"Idempotency key '{spec.idempotency_key}' was already used for a different job request "
                        f"(job {job.job_id})."
                    )
                return job_views.view(session, job)

        return await run_in_threadpool(read)

    async def _submit(self, spec: JobSpec, snapshot: _Snapshot) -> JobView:
        request_hash = self._request_hash(spec, snapshot)
        if (replayed := await self._replay(spec, request_hash)) is not None:
            return replayed
        experiment_id, location = await run_in_threadpool(self._experiment_of, spec)
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
        self.jobs_changed.notify()
        return view

    def _experiment_of(self, spec: JobSpec) -> tuple[int, str]:
        with self.db.read() as session:
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

    # --- reading ----------------------------------------------------------------------------------------------

    async def get(self, job_id: str) -> JobView:
        def read() -> JobView:
            with self.db.read() as session:
                return job_views.views(session, [queue.get_job(session, job_id)])[0]

        return await run_in_threadpool(read)

    async def list_jobs(
        self,
        where: queue.JobFilter,
        *,
        offset: int,
        limit: int,
        readable: Callable[[Session], ColumnElement[bool] | None] | None = None,
    ) -> list[JobView]:
        """`readable` builds the caller's visibility clause inside the same read session."""

        def read() -> list[JobView]:
            with self.db.read() as session:
                narrowed = replace(where, readable=readable(session)) if readable else where
                return job_views.views(session, queue.list_jobs(session, narrowed, offset=offset, limit=limit))

        return await run_in_threadpool(read)

    def snapshot_location(self, job_id: str) -> tuple[ArtifactStore, str]:
        with self.db.read() as session:
            job = queue.get_job(session, job_id)
            run = run_store.get_run(session, job.run_id)
            return self.artifacts.locate(session, run.artifact_uri, projects.SNAPSHOT_ARTIFACT)

    # --- the user's controls ----------------------------------------------------------------------------------

    async def cancel(self, job_id: str) -> JobView:
        """A queued job ends at once; a held one is flagged, and its worker stops it on its next heartbeat. A queued
        job whose lost worker had submitted it to remote compute stays queued, flagged, until a worker has
        canceled the remote job too; ending it here would leave that job running, and billed, with nobody to stop
        it."""

        def write(session: Session) -> tuple[JobView, bool]:
            job = queue.get_job(session, job_id)
            if job.status == JobStatus.QUEUED and expiry.has_remote_job(job):
                queue.request_remote_cancel(session, job_id, now=now_ms())
            elif job.status == JobStatus.QUEUED:
                now = now_ms()
                queue.finish(
                    session,
                    job_id,
                    status=JobStatus.CANCELED,
                    now=now,
                    exit_code=None,
                    error="Canceled before it started.",
                    expect=[JobStatus.QUEUED],
                )
                queue.set_run_status(session, job.run_id, "KILLED", end_time=now)
            elif job.status in ACTIVE:
                queue.request_cancel(session, job_id)
            session.expire_all()
            job = queue.get_job(session, job_id)
            return job_views.view(session, job), job.status == JobStatus.CANCELED

        view, ended = await self.db.run_write(write)
        if ended:
            self.jobs_changed.notify()
        return view

    async def retry(self, job_id: str) -> JobView:
        def write(session: Session) -> JobView:
            job = queue.get_job(session, job_id)
            if not queue.reopen(session, job_id, now=now_ms(), max_attempts=self.settings.job_max_attempts):
                raise MlflowError.invalid_parameter(
                    f"Job {job_id} is {job.status}; only FAILED or CANCELED jobs can be retried."
                )
            queue.reopen_run(session, job.run_id)
            session.expire_all()
            return job_views.view(session, queue.get_job(session, job_id))

        view = await self.db.run_write(write)
        self.jobs_changed.notify()
        return view

    # --- the worker's side ------------------------------------------------------------------------------------

    async def claim(
        self, request: ClaimRequest, disconnected: Callable[[], Awaitable[bool]] | None = None
    ) -> list[ClaimedJob]:
        """Lease due jobs, waiting up to `wait_seconds` for one to arrive (long poll). The wait ends when the worker
        hangs up (`disconnected`): a job leased to a worker that is gone would sit out a whole lease."""
        deadline = asyncio.get_running_loop().time() + request.wait_seconds

        def write(session: Session) -> list[ClaimedJob]:
            won = queue.claim(
                session,
                owner=request.worker_id,
                backends=request.backends,
                limit=request.max_jobs,
                now=now_ms(),
                lease_ms=self.lease_ms,
            )
            claimed = []
            for job_id in won:
                job = queue.get_job(session, job_id)
                queue.set_run_status(session, job.run_id, "SCHEDULED", end_time=None)
                token, seconds = job.lease_token or "", self.settings.job_lease_seconds
                claimed.append(ClaimedJob(job=job_views.view(session, job), lease_token=token, lease_seconds=seconds))
            return claimed

        while True:
            claimed = await self.db.run_write(write)
            remaining = deadline - asyncio.get_running_loop().time()
            if claimed or remaining <= 0 or self.stopping:
                return claimed
            await self.jobs_changed.wait(min(remaining, 1.0))
            if disconnected is not None and await disconnected():
                return []

    async def start(self, job_id: str, request: LeaseRequest) -> LeaseState:
        def write(session: Session) -> LeaseState:
            now = now_ms()
            if not queue.mark_running(session, job_id, request.lease_token, now=now, lease_ms=self.lease_ms):
                raise _lease_lost(job_id)
            job = queue.get_job(session, job_id)
            queue.set_run_status(session, job.run_id, "RUNNING", end_time=None)
            return LeaseState(cancel_requested=job.cancel_requested, lease_seconds=self.settings.job_lease_seconds)

        return await self.db.run_write(write)

    async def release(self, job_id: str, request: LeaseRequest) -> None:
        """A worker shutting down hands its job back at once, rather than leaving it until its lease expires."""

        def write(session: Session) -> None:
            job = queue.get_job(session, job_id)
            if queue.requeue(
                session,
                job_id,
                request.lease_token,
                available_at=now_ms(),
                error="Released by its worker at shutdown; queued again.",
            ):
                queue.set_run_status(session, job.run_id, "SCHEDULED", end_time=None)
            else:
                raise _lease_lost(job_id)

        await self.db.run_write(write)
        self.jobs_changed.notify()

    async def heartbeat(self, job_id: str, beat: Heartbeat) -> LeaseState:
        """Extends the lease and stores the log lines it carries; the answer says whether to stop."""

        def write(session: Session) -> LeaseState:
            now = now_ms()
            if not queue.extend_lease(
                session, job_id, beat.lease_token, now=now, lease_ms=self.lease_ms, external_id=beat.external_id
            ):
                raise _lease_lost(job_id)
            job = queue.get_job(session, job_id)
            fresh = queue.unstored_chunks(session, job_id, job.attempt, beat.chunks)  # a retried beat counts once
            kept, used = log_budget.within_budget(fresh, job.log_bytes, self.max_log_bytes)
            if kept:
                queue.append_logs(session, job_id, job.attempt, kept, now)
            if used != job.log_bytes:
                queue.add_log_bytes(session, job_id, used - job.log_bytes)
            return LeaseState(cancel_requested=job.cancel_requested, lease_seconds=self.settings.job_lease_seconds)

        state = await self.db.run_write(write)
        if beat.chunks:
            self.logs_arrived.notify()
        return state

    async def finish(self, job_id: str, request: FinishRequest) -> JobView:
        def check() -> None:
            with self.db.read() as session:
                job = queue.get_job(session, job_id)
                if job.lease_token != request.lease_token or job.status not in ACTIVE:
                    raise _lease_lost(job_id)

        await run_in_threadpool(check)
        await self.publish_logs(job_id)  # before the status flips, so a client that saw it end finds the logs
        status = _OUTCOMES[request.outcome]

        def write(session: Session) -> JobView:
            now = now_ms()
            if not queue.finish(
                session,
                job_id,
                status=status,
                now=now,
                exit_code=request.exit_code,
                error=request.error,
                token=request.lease_token,
            ):
                raise _lease_lost(job_id)
            job = queue.get_job(session, job_id)
            queue.set_run_status(session, job.run_id, RUN_STATUS[status], end_time=now)
            return job_views.view(session, job)

        view = await self.db.run_write(write)
        self.jobs_changed.notify()
        self.logs_arrived.notify()
        return view

    # --- recovery ---------------------------------------------------------------------------------------------

    def grant_grace(self) -> None:
        with self.db.write() as session:
            if count := queue.grant_grace(session, now_ms(), self.lease_ms):
                log.info("%d running job(s) kept for their workers to reattach", count)

    async def reap(self) -> int:
        """Take back jobs whose worker stopped heartbeating (see `expiry`). Returns how many were handled."""
        backoff_ms = self.settings.job_retry_backoff_seconds * 1000
        handled = await self.db.run_write(
            lambda session: expiry.take_back_expired(session, now=now_ms(), backoff_ms=backoff_ms)
        )
        for taken in handled:
            log.warning("job %s: lease expired; %s", taken.job_id, "ended" if taken.ended else "requeued")
            if taken.token_revoked and self.forget_run_tokens is not None:
                self.forget_run_tokens(taken.run_id)
            if taken.ended:
                await self.publish_logs(taken.job_id)
        if handled:
            self.jobs_changed.notify()
        return len(handled)

    async def reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.job_reap_interval_seconds)
            try:
                await self.reap()
            except Exception:  # the reaper must outlive a database hiccup
                log.exception("reaping expired job leases failed")

    # --- logs -------------------------------------------------------------------------------------------------

    def log_lines(self, job_id: str, *, stream: str | None = None) -> Iterator[bytes]:
        """The whole log in order, read page by page; attempts after the first are marked."""
        with self.db.read() as session:
            queue.get_job(session, job_id)
        after, attempt = 0, None
        while True:
            with self.db.read() as session:
                rows = queue.log_rows(session, job_id, after=after, limit=2000, stream=stream)
            if not rows:
                return
            for row in rows:
                if attempt is not None and row.attempt != attempt:
                    yield f"\n--- attempt {row.attempt} ---\n".encode()
                attempt = row.attempt
                yield row.text.encode()
            after = rows[-1].id

    def log_page(self, job_id: str, after: int) -> tuple[list[JobLog], JobStatus]:
        with self.db.read() as session:
            job = queue.get_job(session, job_id)
            return queue.log_rows(session, job_id, after=after, limit=1000), JobStatus(job.status)

    async def publish_logs(self, job_id: str) -> None:
        """Copy the job's output into its run's artifacts (`runyard/logs/stdout.log` and `stderr.log`)."""

        def locate() -> str:
            with self.db.read() as session:
                return run_store.get_run(session, queue.get_job(session, job_id).run_id).artifact_uri

        artifact_uri = await run_in_threadpool(locate)
        for stream, relative in projects.LOG_ARTIFACTS.items():
            store, path = await self.artifacts.locate_async(artifact_uri, relative)
            lines = self.log_lines(job_id, stream=stream)

            async def chunks(lines: Iterator[bytes] = lines) -> AsyncIterator[bytes]:
                while (chunk := await run_in_threadpool(next, lines, None)) is not None:
                    yield chunk

            try:
                await store.write(path, chunks())
            except Exception:  # the job's outcome must not hinge on the artifact store; the logs stay queryable
                log.exception("could not store the %s log of job %s", stream, job_id)


def is_terminal(status: JobStatus) -> bool:
    return status in TERMINAL
