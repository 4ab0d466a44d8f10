"""The worker's side of the queue: leases. A worker claims due jobs (long-polling for them), holds each by
heartbeating within its lease, and reports the outcome; a lease that runs out is taken back by the reaper
(`expiry` says what becomes of the job). Every transition also moves the job's MLflow run to the matching status.

Workers reach this only through the HTTP API, so a worker on another machine and the embedded one are the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.config import Settings
from server.errors import MlflowError, is_refused_write
from server.jobs import expiry, log_budget
from server.jobs import views as job_views
from server.jobs.logs import JobLogs
from server.jobs.signals import JobSignals
from server.jobspec.schemas import (
    ACTIVE,
    RUN_STATUS,
    ClaimedJob,
    ClaimRequest,
    FinishRequest,
    Heartbeat,
    JobStatus,
    JobView,
    LeaseRequest,
    LeaseState,
)
from server.store import job_queue as queue
from server.store.engine import Database

log = logging.getLogger(__name__)

_OUTCOMES = {"succeeded": JobStatus.SUCCEEDED, "failed": JobStatus.FAILED, "canceled": JobStatus.CANCELED}


def _lease_lost(job_id: str) -> MlflowError:
    return MlflowError.aborted(f"The lease on job {job_id} is no longer held by this worker.")


class Leases:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        logs: JobLogs,
        signals: JobSignals,
        forget_job_tokens: Callable[[str | None, str | None], None] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.logs = logs
        self.signals = signals
        # Revoked job tokens are also dropped from this server's sign-in cache, so they stop working at once.
        self.forget_job_tokens = forget_job_tokens

    @property
    def lease_ms(self) -> int:
        return int(self.settings.job_lease_seconds * 1000)

    @property
    def max_log_bytes(self) -> int:
        return int(self.settings.job_max_log_mb * 2**20)

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
            if claimed or remaining <= 0 or self.signals.stopping:
                return claimed
            await self.signals.jobs_changed.wait(min(remaining, 1.0))
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
        self.signals.jobs_changed.notify()

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
            self.signals.logs_arrived.notify()
        return state

    async def finish(self, job_id: str, request: FinishRequest) -> JobView:
        def check(session: Session) -> None:
            job = queue.get_job(session, job_id)
            if job.lease_token != request.lease_token or job.status not in ACTIVE:
                raise _lease_lost(job_id)

        await self.db.run_read(check)
        await self.logs.publish(job_id)  # before the status flips, so a client that saw it end finds the logs
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
                result=None if request.result is None else orjson.dumps(request.result).decode(),
            ):
                raise _lease_lost(job_id)
            job = queue.get_job(session, job_id)
            queue.set_run_status(session, job.run_id, RUN_STATUS[status], end_time=now)
            return job_views.view(session, job)

        view = await self.db.run_write(write)
        self.signals.jobs_changed.notify()
        self.signals.logs_arrived.notify()
        return view

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
            if taken.token_revoked and self.forget_job_tokens is not None:
                self.forget_job_tokens(taken.run_id, taken.creator)
            if taken.ended:
                await self.logs.publish(taken.job_id)
        if handled:
            self.signals.jobs_changed.notify()
        return len(handled)

    async def reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.job_reap_interval_seconds)
            try:
                await self.reap()
            except Exception as exc:  # the reaper must outlive a database hiccup
                if is_refused_write(exc):  # another process holds the database: expected, and retried next round
                    log.warning("reaping expired job leases: the database is busy (%s); retrying next round", exc)
                else:
                    log.exception("reaping expired job leases failed")
