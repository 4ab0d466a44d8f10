"""Jobs as the API shows them: the stored row, plus the run and experiment names and the run's user that a person
reads on the job pages, fetched for a whole page of jobs at once."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from sqlalchemy.orm import Session

from server.jobspec.schemas import RUN_STATUS, JobStatus, JobView
from server.store import job_queue as queue
from server.store.models import Job
from server.store.workspace_models import DEFAULT_WORKSPACE


def to_view(
    job: Job,
    *,
    run_name: str | None = None,
    user_id: str | None = None,
    experiment_name: str | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> JobView:
    status = JobStatus(job.status)
    return JobView(
        job_id=job.job_id,
        kind="genai" if job.kind == "genai" else "project",
        run_id=job.run_id,
        experiment_id=str(job.experiment_id),
        run_name=run_name,
        experiment_name=experiment_name,
        workspace=workspace,
        user_id=user_id,
        status=status,
        run_status=RUN_STATUS[status],
        backend=job.backend,
        entry_point=job.entry_point,
        parameters=orjson.loads(job.parameters),
        env_manager=job.env_manager,
        backend_config=orjson.loads(job.backend_config),
        source=orjson.loads(job.source),
        priority=job.priority,
        attempt=job.attempt,
        max_attempts=job.max_attempts,
        cancel_requested=job.cancel_requested,
        lease_owner=job.lease_owner,
        external_id=job.external_id,
        exit_code=job.exit_code,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        creator=job.creator,
        timeout_seconds=job.timeout_seconds,
        result=None if job.result is None else orjson.loads(job.result),
    )


def views(session: Session, jobs: Sequence[Job]) -> list[JobView]:
    runs, experiments = queue.names_of(session, jobs)
    named: list[JobView] = []
    for job in jobs:
        run_name, user_id = runs.get(job.run_id, (None, None)) if job.run_id else (None, job.creator)
        experiment_name, workspace = experiments.get(job.experiment_id, (None, DEFAULT_WORKSPACE))
        named.append(
            to_view(
                job, run_name=run_name, user_id=user_id or None, experiment_name=experiment_name, workspace=workspace
            )
        )
    return named


def view(session: Session, job: Job) -> JobView:
    return views(session, [job])[0]
