"""What becomes of a job whose worker stopped heartbeating: requeued with backoff while attempts remain, else
failed (or its pending cancel finished).

A job that ran on remote compute is never simply ended: it would keep running there, at a cost, with nobody to stop
it. It goes back to the queue with a cancel requested, for the next worker to adopt and cancel.

The lost attempt's tracking token is revoked, so that a project process that outlived its worker cannot keep
writing into a run that is queued again or over (the next attempt gets a token of its own). The one exception is a
remote job that is queued to run on: the next worker adopts it, and it still holds that token.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from server.jobspec.schemas import RUN_STATUS, JobStatus
from server.store import job_queue as queue
from server.store import users as user_store

MAX_BACKOFF_MS = 600_000


@dataclass(frozen=True, slots=True)
class TakenBack:
    job_id: str
    run_id: str | None
    creator: str | None
    ended: bool
    token_revoked: bool


def take_back_expired(session: Session, *, now: int, backoff_ms: float) -> list[TakenBack]:
    """Every job whose lease ran out by `now`, handled in the caller's transaction; the caller notifies after."""
    handled = []
    for job in queue.expired_leases(session, now):
        token = job.lease_token or ""
        where = f"worker {job.lease_owner} stopped heartbeating (lease expired) on attempt {job.attempt}"
        if queue.has_remote_job(job) and (job.cancel_requested or job.attempt >= job.max_attempts):
            # The next worker adopts the remote job only to cancel it, and ends the job CANCELED, or FAILED when it
            # was given up (its attempt is then past max_attempts).
            why = "Canceling" if job.cancel_requested else f"Gave up after {job.max_attempts} attempt(s)"
            error = f"{why}; {where}; its remote job is canceled by the next worker."
            if queue.requeue(session, job.job_id, token, available_at=now, error=error):
                queue.request_remote_cancel(session, job.job_id, now=now)
                handled.append(TakenBack(job.job_id, job.run_id, job.creator, ended=False, token_revoked=True))
            continue
        if job.cancel_requested or job.attempt >= job.max_attempts:
            status = JobStatus.CANCELED if job.cancel_requested else JobStatus.FAILED
            error = f"Canceled; {where}." if job.cancel_requested else f"Gave up: {where} of {job.max_attempts}."
            if queue.finish(session, job.job_id, status=status, now=now, exit_code=None, error=error, token=token):
                queue.set_run_status(session, job.run_id, RUN_STATUS[status], end_time=now)
                handled.append(TakenBack(job.job_id, job.run_id, job.creator, ended=True, token_revoked=True))
            continue
        delay = min(MAX_BACKOFF_MS, int(backoff_ms * 2 ** (job.attempt - 1)))
        if queue.requeue(session, job.job_id, token, available_at=now + delay, error=f"Requeued: {where}."):
            queue.set_run_status(session, job.run_id, "SCHEDULED", end_time=None)
            handled.append(
                TakenBack(job.job_id, job.run_id, job.creator, ended=False, token_revoked=not queue.has_remote_job(job))
            )
    for taken in handled:
        if taken.token_revoked:
            user_store.revoke_job_tokens(session, taken.job_id, taken.run_id)
    return handled
