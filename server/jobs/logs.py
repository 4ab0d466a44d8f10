"""A job's log: read back whole or page by page from SQL, where heartbeats store it, and copied into its run's
artifacts when the job ends, so MLflow's UI shows it beside the run."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from server.artifacts.registry import ArtifactRegistry
from server.jobspec import projects
from server.jobspec.schemas import JobStatus
from server.store import job_queue as queue
from server.store import runs as run_store
from server.store.engine import Database
from server.store.models import JobLog

log = logging.getLogger(__name__)


class JobLogs:
    def __init__(self, db: Database, artifacts: ArtifactRegistry) -> None:
        self.db = db
        self.artifacts = artifacts

    def lines(self, job_id: str, *, stream: str | None = None) -> Iterator[bytes]:
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

    def page(self, job_id: str, after: int) -> tuple[list[JobLog], JobStatus]:
        with self.db.read() as session:
            job = queue.get_job(session, job_id)
            return queue.log_rows(session, job_id, after=after, limit=1000), JobStatus(job.status)

    async def publish(self, job_id: str) -> None:
        """Copy the job's output into its run's artifacts (`runyard/logs/stdout.log` and `stderr.log`). A GenAI job
        has no run: its log stays where the job API reads it."""

        def locate(session: Session) -> str | None:
            run_id = queue.get_job(session, job_id).run_id
            return None if run_id is None else run_store.get_run(session, run_id).artifact_uri

        artifact_uri = await self.db.run_read(locate)
        if artifact_uri is None:
            return
        for stream, relative in projects.LOG_ARTIFACTS.items():
            store, path = await self.artifacts.locate_async(artifact_uri, relative)
            lines = self.lines(job_id, stream=stream)

            async def chunks(lines: Iterator[bytes] = lines) -> AsyncIterator[bytes]:
                while (chunk := await run_in_threadpool(next, lines, None)) is not None:
                    yield chunk

            try:
                await store.write(path, chunks())
            except Exception:  # the job's outcome must not hinge on the artifact store; the logs stay queryable
                log.exception("could not store the %s log of job %s", stream, job_id)
