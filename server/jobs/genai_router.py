"""MLflow's job API for its GenAI jobs (`/ajax-api/3.0/jobs`: submit, get, cancel, search), as the web UI and
`mlflow.server.job_api` clients call it, served from Runyard's queue. Jobs belong to their experiment: submitting
needs EDIT on it, reading READ, cancelling EDIT; a search lists only what the caller may read. Errors keep Runyard's
one error shape (`{"error_code", "message"}`) with MLflow's messages and statuses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from server.jobs import access
from server.jobs.service import JobService
from server.permissions import Permission
from server.services import genai_jobs as genai
from server.web.context import Context, principal_of

PREFIX = "/ajax-api/3.0/jobs"


class SubmitJobPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_name: str
    params: dict[str, Any]
    timeout: float | None = None


class SearchJobPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_name: str | None = None
    params: dict[str, Any] | None = None
    statuses: list[str] | None = None


def genai_job_router(context: Context, jobs: JobService) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["GenAI jobs"])

    async def require_experiment_of(request: Request, params: dict[str, Any], need: Permission) -> None:
        experiment_id = await context.db.run_read(lambda session: genai.experiment_of(session, params))
        await access.require_experiment(context, request, str(experiment_id), None, need)

    @router.post("/", summary="Submit a GenAI job (MLflow's job API)")
    @router.post("", include_in_schema=False)
    async def submit_job(payload: SubmitJobPayload, request: Request) -> dict[str, Any]:
        genai.function_name(payload.job_name)  # an unknown name is refused before anything is looked up
        await require_experiment_of(request, payload.params, Permission.EDIT)
        principal = principal_of(request)
        creator = principal.username if principal is not None else None

        def write(session: Session) -> dict[str, Any]:
            job = genai.submit(
                session, context.settings, payload.job_name, payload.params, timeout=payload.timeout, creator=creator
            )
            return genai.to_mlflow(job)

        submitted = await context.db.run_write(write)
        jobs.signals.jobs_changed.notify()
        return submitted

    @router.get("/{job_id}", summary="Get a GenAI job")
    async def get_job(job_id: str, request: Request) -> dict[str, Any]:
        await access.require_job(context, request, job_id, Permission.READ)
        return await context.db.run_read(lambda session: genai.to_mlflow(genai.get(session, job_id)))

    @router.patch("/cancel/{job_id}", summary="Cancel a GenAI job")
    async def cancel_job(job_id: str, request: Request) -> dict[str, Any]:
        """A queued job ends at once; a running one is stopped by its worker, which then reports it CANCELED."""
        await access.require_job(context, request, job_id, Permission.EDIT)
        await context.db.run_read(lambda session: genai.check_cancellable(genai.get(session, job_id)))
        await jobs.cancel(job_id)
        return await context.db.run_read(lambda session: genai.to_mlflow(genai.get(session, job_id)))

    @router.post("/search", summary="Search GenAI jobs")
    async def search_jobs(payload: SearchJobPayload, request: Request) -> dict[str, Any]:
        readable = access.readable_clause(context, request)

        def read(session: Session) -> dict[str, Any]:
            found = genai.search(
                session,
                job_name=payload.job_name,
                params=payload.params,
                statuses=payload.statuses,
                readable=readable(session) if readable else None,
            )
            return {"jobs": [genai.to_mlflow(job) for job in found]}

        return await context.db.run_read(read)

    return router
