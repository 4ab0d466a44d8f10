"""SQL for the queue. Every state change is a compare-and-set UPDATE whose row count says whether it won.

The claim is one `UPDATE ... WHERE job_id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING`: on PostgreSQL
concurrent claimers skip each other's locked rows instead of queueing behind them; SQLite has no row locks
(SQLAlchemy drops the clause) but the statement runs inside `BEGIN IMMEDIATE`, so claimers take turns. A worker's
writes name its `lease_token` (a fencing token): once a lease has expired and the job was handed to someone else,
the old holder's writes match no row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, and_, or_, select, update
from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.jobspec.schemas import ACTIVE, JobStatus, LogChunk
from server.store import scope
from server.store.dialect import insert_ignore
from server.store.models import Experiment, Job, JobLog, Run

_ACTIVE = [s.value for s in ACTIVE]


def _rowcount(result: Any) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


def get_job(session: Session, job_id: str) -> Job:
    """A job of the request's workspace: its experiment's."""
    job = session.get(Job, job_id)
    if job is None or scope.hides(session, job.experiment_id):
        raise MlflowError.not_found(f"Job with id={job_id} not found")
    return job


def find_by_idempotency_key(session: Session, key: str) -> Job | None:
    return session.scalars(select(Job).where(Job.idempotency_key == key)).one_or_none()


def insert_job(session: Session, job: Job) -> None:
    session.add(job)
    session.flush()


@dataclass(frozen=True, slots=True)
class JobFilter:
    statuses: Sequence[str] = ()
    experiment_ids: Sequence[int] = ()
    backend: str | None = None
    run_id: str | None = None
    # A WHERE clause on `Experiment.experiment_id` (the experiments the caller may read), applied in SQL so that
    # a page is full and its token stable.
    readable: ColumnElement[bool] | None = None


def list_jobs(session: Session, where: JobFilter, *, offset: int, limit: int) -> list[Job]:
    query = select(Job).where(scope.visible(Job.experiment_id))
    if where.readable is not None:
        query = query.where(Job.experiment_id.in_(select(Experiment.experiment_id).where(where.readable)))
    if where.statuses:
        query = query.where(Job.status.in_(where.statuses))
    if where.experiment_ids:
        query = query.where(Job.experiment_id.in_(where.experiment_ids))
    if where.backend:
        query = query.where(Job.backend == where.backend)
    if where.run_id:
        query = query.where(Job.run_id == where.run_id)
    query = query.order_by(Job.created_at.desc(), Job.job_id).offset(offset).limit(limit)
    return list(session.scalars(query))


def names_of(session: Session, jobs: Sequence[Job]) -> tuple[dict[str, tuple[str, str]], dict[int, tuple[str, str]]]:
    """(run name, run user) per run and (name, workspace) per experiment for a page of jobs, in two queries, not two
    per job."""
    run_ids = {job.run_id for job in jobs if job.run_id is not None}
    runs = select(Run.run_uuid, Run.name, Run.user_id).where(Run.run_uuid.in_(run_ids))
    experiments = select(Experiment.experiment_id, Experiment.name, Experiment.workspace).where(
        Experiment.experiment_id.in_({job.experiment_id for job in jobs})
    )
    by_run = {run_id: (name, user) for run_id, name, user in session.execute(runs).tuples()}
    return by_run, {experiment_id: (name, workspace) for experiment_id, name, workspace in session.execute(experiments)}


def claim(session: Session, *, owner: str, backends: Sequence[str], limit: int, now: int, lease_ms: int) -> list[str]:
    """Lease up to `limit` due jobs to `owner`; the ids won (each now LEASED, attempt counted)."""
    candidates = (
        select(Job.job_id)
        .where(Job.status == JobStatus.QUEUED, Job.available_at <= now, Job.backend.in_(backends))
        .order_by(Job.priority.desc(), Job.created_at, Job.job_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    won = session.execute(
        update(Job)
        .where(Job.job_id.in_(candidates), Job.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.LEASED,
            attempt=Job.attempt + 1,
            log_bytes=0,
            lease_owner=owner,
            lease_token=uuid.uuid4().hex,
            lease_expires_at=now + lease_ms,
            exit_code=None,
            error=None,
        )
        .returning(Job.job_id)
        .execution_options(synchronize_session=False)
    )
    return list(won.scalars())


def _held(job_id: str, token: str) -> Any:
    return and_(Job.job_id == job_id, Job.lease_token == token, Job.status.in_(_ACTIVE))


def extend_lease(
    session: Session, job_id: str, token: str, *, now: int, lease_ms: int, external_id: str | None = None
) -> bool:
    values: dict[str, Any] = {"lease_expires_at": now + lease_ms}
    if external_id is not None:
        values["external_id"] = external_id
    result = session.execute(
        update(Job).where(_held(job_id, token)).values(**values).execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def mark_running(session: Session, job_id: str, token: str, *, now: int, lease_ms: int) -> bool:
    result = session.execute(
        update(Job)
        .where(_held(job_id, token))
        .values(status=JobStatus.RUNNING, started_at=now, lease_expires_at=now + lease_ms)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def finish(
    session: Session,
    job_id: str,
    *,
    status: JobStatus,
    now: int,
    exit_code: int | None,
    error: str | None,
    token: str | None = None,
    expect: Sequence[str] = _ACTIVE,
    result: str | None = None,
) -> bool:
    """Move a job to a terminal status if it is still in one of `expect` (and held under `token`, if given)."""
    condition = and_(Job.job_id == job_id, Job.status.in_(expect))
    if token is not None:
        condition = and_(condition, Job.lease_token == token)
    updated = session.execute(
        update(Job)
        .where(condition)
        .values(
            status=status,
            finished_at=now,
            exit_code=exit_code,
            error=error,
            lease_token=None,
            lease_expires_at=None,
            result=result,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(updated) == 1


def requeue(session: Session, job_id: str, token: str, *, available_at: int, error: str) -> bool:
    result = session.execute(
        update(Job)
        .where(_held(job_id, token))
        .values(
            status=JobStatus.QUEUED,
            available_at=available_at,
            lease_owner=None,
            lease_token=None,
            lease_expires_at=None,
            error=error,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def request_cancel(session: Session, job_id: str) -> bool:
    result = session.execute(
        update(Job)
        .where(Job.job_id == job_id, Job.status.in_(_ACTIVE))
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def has_remote_job(job: Job) -> bool:
    """Whether an attempt submitted the job to remote compute (Azure ML), where it runs on without a worker."""
    return job.backend == "azureml" and bool(job.external_id)


def cancel(session: Session, job: Job, *, now: int) -> None:
    """The user's cancel. A queued job ends at once (its run KILLED); a held one is flagged, and its worker stops it
    on its next heartbeat. A queued job whose lost worker had submitted it to remote compute stays queued, flagged,
    until a worker has canceled the remote job too; ending it here would leave that job running, and billed, with
    nobody to stop it. A finished job is left as it is."""
    if job.status == JobStatus.QUEUED and has_remote_job(job):
        request_remote_cancel(session, job.job_id, now=now)
    elif job.status == JobStatus.QUEUED:
        error = "Canceled before it started."
        if finish(
            session,
            job.job_id,
            status=JobStatus.CANCELED,
            now=now,
            exit_code=None,
            error=error,
            expect=[JobStatus.QUEUED],
        ):
            set_run_status(session, job.run_id, "KILLED", end_time=now)
    elif job.status in ACTIVE:
        request_cancel(session, job.job_id)


def request_remote_cancel(session: Session, job_id: str, *, now: int) -> bool:
    """A queued job that still has a job on remote compute (its worker was lost) is offered again at once, flagged,
    so the next worker adopts the remote job only to cancel it."""
    result = session.execute(
        update(Job)
        .where(Job.job_id == job_id, Job.status == JobStatus.QUEUED)
        .values(cancel_requested=True, available_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def reopen(session: Session, job_id: str, *, now: int, max_attempts: int) -> bool:
    """A finished or failed job back in the queue (the user's retry), with a fresh budget of attempts."""
    result = session.execute(
        update(Job)
        .where(Job.job_id == job_id, Job.status.in_([JobStatus.FAILED, JobStatus.CANCELED]))
        .values(
            status=JobStatus.QUEUED,
            available_at=now,
            max_attempts=Job.attempt + max_attempts,
            cancel_requested=False,
            finished_at=None,
            started_at=None,
            exit_code=None,
            error=None,
            external_id=None,  # a retry runs afresh; it must not adopt the remote job that failed
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def expired_leases(session: Session, now: int, limit: int = 100) -> list[Job]:
    return list(
        session.scalars(
            select(Job)
            .where(Job.status.in_(_ACTIVE), Job.lease_expires_at < now)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def grant_grace(session: Session, now: int, lease_ms: int) -> int:
    """Give every held lease at least one more full term: run at server start, so workers that kept running
    while the server was down can reattach with their next heartbeat instead of losing their jobs."""
    result = session.execute(
        update(Job)
        .where(Job.status.in_(_ACTIVE), or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now + lease_ms))
        .values(lease_expires_at=now + lease_ms)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def set_run_status(session: Session, run_id: str | None, status: str, *, end_time: int | None) -> None:
    """Move a project job's run along with its job; a GenAI job has no run."""
    if run_id is None:
        return
    values: dict[str, Any] = {"status": status}
    if end_time is not None:
        values["end_time"] = end_time
    session.execute(
        update(Run).where(Run.run_uuid == run_id).values(**values).execution_options(synchronize_session=False)
    )


def add_log_bytes(session: Session, job_id: str, added: int) -> None:
    session.execute(
        update(Job)
        .where(Job.job_id == job_id)
        .values(log_bytes=Job.log_bytes + added)
        .execution_options(synchronize_session=False)
    )


def unstored_chunks(session: Session, job_id: str, attempt: int, chunks: Sequence[LogChunk]) -> list[LogChunk]:
    """The chunks of a heartbeat that are not stored yet: a worker resends a beat whose answer it did not get."""
    if not chunks:
        return []
    stored = set(
        session.scalars(
            select(JobLog.seq).where(
                JobLog.job_id == job_id, JobLog.attempt == attempt, JobLog.seq.in_([c.seq for c in chunks])
            )
        )
    )
    return [c for c in chunks if c.seq not in stored]


def append_logs(session: Session, job_id: str, attempt: int, chunks: Sequence[LogChunk], now: int) -> None:
    rows = [
        {"job_id": job_id, "attempt": attempt, "seq": c.seq, "stream": c.stream, "text": c.text, "created_at": now}
        for c in chunks
    ]
    insert_ignore(session, JobLog, rows)


def log_rows(
    session: Session, job_id: str, *, after: int = 0, limit: int = 1000, stream: str | None = None
) -> list[JobLog]:
    query = select(JobLog).where(JobLog.job_id == job_id, JobLog.id > after)
    if stream:
        query = query.where(JobLog.stream == stream)
    return list(session.scalars(query.order_by(JobLog.id).limit(limit)))


def reopen_run(session: Session, run_id: str | None) -> None:
    if run_id is None:
        return
    session.execute(
        update(Run)
        .where(Run.run_uuid == run_id)
        .values(status="SCHEDULED", end_time=None)
        .execution_options(synchronize_session=False)
    )
