"""The job queue's entry point for the routers: a job's reads and the user's controls (cancel, retry) here, and
the three concerns that have modules of their own, `submission`, `leases` and `logs`, composed once per app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from server.artifacts.base import ArtifactStore
from server.artifacts.registry import ArtifactRegistry
from server.clock import now_ms
from server.config import Settings
from server.errors import MlflowError
from server.jobs import views as job_views
from server.jobs.leases import Leases
from server.jobs.logs import JobLogs
from server.jobs.signals import JobSignals
from server.jobs.submission import Submission
from server.jobspec import projects
from server.jobspec.schemas import TERMINAL, JobStatus, JobView
from server.store import job_queue as queue
from server.store import runs as run_store
from server.store.engine import Database


class JobService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        artifacts: ArtifactRegistry,
        forget_job_tokens: Callable[[str | None, str | None], None] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.artifacts = artifacts
        self.signals = JobSignals()
        self.logs = JobLogs(db, artifacts)
        self.submission = Submission(settings, db, artifacts, self.signals)
        self.leases = Leases(settings, db, self.logs, self.signals, forget_job_tokens)

    async def get(self, job_id: str) -> JobView:
        return await self.db.run_read(lambda session: job_views.views(session, [queue.get_job(session, job_id)])[0])

    async def list_jobs(
        self,
        where: queue.JobFilter,
        *,
        offset: int,
        limit: int,
        readable: Callable[[Session], ColumnElement[bool] | None] | None = None,
    ) -> list[JobView]:
        """`readable` builds the caller's visibility clause inside the same read session."""

        def read(session: Session) -> list[JobView]:
            narrowed = replace(where, readable=readable(session)) if readable else where
            return job_views.views(session, queue.list_jobs(session, narrowed, offset=offset, limit=limit))

        return await self.db.run_read(read)

    async def snapshot_location(self, job_id: str) -> tuple[ArtifactStore, str]:
        def locate(session: Session) -> tuple[ArtifactStore, str]:
            run_id = queue.get_job(session, job_id).run_id
            if run_id is None:
                raise MlflowError.not_found(f"Job {job_id} is a GenAI job; it has no project snapshot.")
            run = run_store.get_run(session, run_id)
            return self.artifacts.locate(session, run.artifact_uri, projects.SNAPSHOT_ARTIFACT)

        return await self.db.run_read(locate)

    async def cancel(self, job_id: str) -> JobView:
        """See `job_queue.cancel`; workers waiting for work are woken when the job ended here."""

        def write(session: Session) -> tuple[JobView, bool]:
            queue.cancel(session, queue.get_job(session, job_id), now=now_ms())
            session.expire_all()
            job = queue.get_job(session, job_id)
            return job_views.view(session, job), job.status == JobStatus.CANCELED

        view, ended = await self.db.run_write(write)
        if ended:
            self.signals.jobs_changed.notify()
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
        self.signals.jobs_changed.notify()
        return view


def is_terminal(status: JobStatus) -> bool:
    return status in TERMINAL
