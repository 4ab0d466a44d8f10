"""The job API under /runyard/api: Runyard's own surface, so pydantic models and OpenAPI (at
/runyard/api/docs) rather than MLflow's protobuf RPC table. Errors keep MLflow's `{"error_code", "message"}` shape."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Literal

import anyio
import orjson
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from server.errors import MlflowError
from server.jobs import access
from server.jobs.service import JobService, is_terminal
from server.jobspec.schemas import (
    API_PREFIX,
    ClaimRequest,
    ClaimResponse,
    FinishRequest,
    GitJobSubmit,
    Heartbeat,
    JobList,
    JobSpec,
    JobView,
    LeaseRequest,
    LeaseState,
)
from server.permissions import Permission
from server.services import validation, workspaces
from server.store import job_queue as queue
from server.store.paging import decode_offset, encode_offset
from server.web.context import Context
from server.web.downloads import stream_file

PREFIX = API_PREFIX
SSE_KEEPALIVE_SECONDS = 15.0
READ, EDIT = Permission.READ, Permission.EDIT


async def _spool(upload: UploadFile, limit: int) -> tuple[Path, str]:
    digest = hashlib.sha256()
    size = 0
    handle = tempfile.NamedTemporaryFile(prefix="runyard-upload-", suffix=".tar.gz", delete=False)
    path = Path(handle.name)
    async with anyio.wrap_file(handle) as target:
        while chunk := await upload.read(1024 * 1024):
            size += len(chunk)
            if size > limit:
                await anyio.Path(path).unlink(missing_ok=True)
                raise MlflowError.invalid_parameter(f"Invalid project archive: larger than {limit} bytes")
            digest.update(chunk)
            await target.write(chunk)
    return path, digest.hexdigest()


MAX_CURSOR = 2**63 - 1  # log cursors are 64-bit row ids


def _cursor(last_event_id: str | None, after: int) -> int:
    if last_event_id is None:
        return after
    if not re.fullmatch(r"[0-9]{1,19}", last_event_id) or int(last_event_id) > MAX_CURSOR:
        raise MlflowError.invalid_parameter("Last-Event-ID must be a log cursor: a whole number of at most 64 bits.")
    return int(last_event_id)


def _event(name: str, data: object, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {orjson.dumps(data).decode()}\n\n".encode()


def any_workspace() -> AbstractContextManager[None]:
    """A worker serves the jobs of every workspace: its lease on a job, not a workspace header, says which job it
    may touch, so the lease routes look jobs and runs up wherever they are."""
    return workspaces.working_in(None)


def job_router(context: Context, jobs: JobService) -> APIRouter:
    """The routes close over the app's context and job service, as the MLflow RPC routes do."""
    router = APIRouter(prefix=PREFIX, tags=["jobs"])

    @router.post("/jobs", response_model=JobView, summary="Submit a project from a git repository")
    async def submit_git_job(body: GitJobSubmit, request: Request) -> JobView:
        """The server fetches the repository once, checks the MLproject, stores the snapshot as a run artifact and
        creates the run (SCHEDULED) and the job together."""
        await access.require_experiment(context, request, body.experiment_id, body.experiment_name, EDIT)
        return await jobs.submission.submit_git(body)

    @router.post("/jobs/archive", response_model=JobView, summary="Submit a project snapshot (.tar.gz)")
    async def submit_archive_job(
        request: Request,
        spec: Annotated[str, Form(description="A JobSpec as JSON.")],
        archive: Annotated[UploadFile, File(description="The project folder as a gzipped tar.")],
    ) -> JobView:
        """Multipart form: `spec` (JSON, see JobSpec) and `archive` (the project folder, `.tar.gz`)."""
        try:
            parsed = JobSpec.model_validate_json(spec)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise MlflowError.invalid_parameter(f"Invalid value for 'spec.{where}': {first['msg']}") from None
        await access.require_experiment(context, request, parsed.experiment_id, parsed.experiment_name, EDIT)
        path, sha256 = await _spool(archive, jobs.submission.max_snapshot_bytes)
        try:
            return await jobs.submission.submit_archive(parsed, path, sha256)
        finally:
            path.unlink(missing_ok=True)

    @router.get("/jobs", response_model=JobList, summary="List and filter jobs, newest first")
    async def list_jobs(
        request: Request,
        status: Annotated[list[str], Query()] = [],  # noqa: B006  (FastAPI copies query defaults)
        experiment_id: Annotated[list[str], Query()] = [],  # noqa: B006
        backend: str | None = None,
        run_id: str | None = None,
        max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
        page_token: str | None = None,
    ) -> JobList:
        offset = decode_offset(page_token)
        where = queue.JobFilter(
            statuses=[s.upper() for s in status],
            experiment_ids=[validation.parse_experiment_id(e) for e in experiment_id],
            backend=backend,
            run_id=run_id,
        )
        page = await jobs.list_jobs(
            where, offset=offset, limit=max_results + 1, readable=access.readable_clause(context, request)
        )
        more = len(page) > max_results
        return JobList(jobs=page[:max_results], next_page_token=encode_offset(offset + max_results) if more else None)

    @router.get("/jobs/{job_id}", response_model=JobView, summary="Get a job")
    async def get_job(job_id: str, request: Request) -> JobView:
        await access.require_job(context, request, job_id, READ)
        return await jobs.get(job_id)

    @router.post("/jobs/{job_id}/cancel", response_model=JobView, summary="Cancel a job")
    async def cancel_job(job_id: str, request: Request) -> JobView:
        """A queued job is canceled at once; a running one is stopped by its worker (SIGTERM to the process group,
        SIGKILL after a grace period) and its run ends KILLED."""
        await access.require_job(context, request, job_id, EDIT)
        return await jobs.cancel(job_id)

    @router.post("/jobs/{job_id}/retry", response_model=JobView, summary="Queue a failed or canceled job again")
    async def retry_job(job_id: str, request: Request) -> JobView:
        await access.require_job(context, request, job_id, EDIT)
        return await jobs.retry(job_id)

    @router.get("/jobs/{job_id}/logs", summary="The whole log (text)", response_class=Response)
    async def get_logs(job_id: str, request: Request, stream: Literal["stdout", "stderr"] | None = None) -> Response:
        await access.require_job(context, request, job_id, READ)
        chunks = await run_in_threadpool(lambda: list(jobs.logs.lines(job_id, stream=stream)))
        return Response(b"".join(chunks), media_type="text/plain; charset=utf-8")

    @router.get(
        "/jobs/{job_id}/logs/stream", summary="Live tail (server-sent events)", response_class=StreamingResponse
    )
    async def stream_logs(
        job_id: str, request: Request, after: Annotated[int, Query(ge=0, le=MAX_CURSOR)] = 0
    ) -> StreamingResponse:
        """`log` events carry `{attempt, stream, text}` with the cursor as the event id (resume with `after` or
        Last-Event-ID); a final `end` event carries the job's status. A cursor is checked before the stream starts,
        since an error inside it can only drop the connection."""
        cursor = _cursor(request.headers.get("last-event-id"), after)
        await access.require_job(context, request, job_id, READ)
        await jobs.get(job_id)  # a 404 before the stream starts, not inside it

        async def events() -> AsyncIterator[bytes]:
            nonlocal cursor
            idle = 0.0
            while True:
                rows, status = await run_in_threadpool(jobs.logs.page, job_id, cursor)
                for row in rows:
                    data = {"id": row.id, "attempt": row.attempt, "stream": row.stream, "text": row.text}
                    yield _event("log", data, row.id)
                    cursor = row.id
                if rows:
                    idle = 0.0
                    continue
                if is_terminal(status):
                    yield _event("end", {"status": status.value})
                    return
                if jobs.signals.stopping:  # the server is going down; the client reconnects and resumes from its cursor
                    return
                if idle >= SSE_KEEPALIVE_SECONDS:
                    yield b": keep-alive\n\n"
                    idle = 0.0
                await jobs.signals.logs_arrived.wait(0.5)
                idle += 0.5

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    @router.get("/jobs/{job_id}/snapshot", summary="Download the project snapshot", response_class=StreamingResponse)
    async def get_snapshot(job_id: str, request: Request) -> Response:
        await access.require_job(context, request, job_id, READ)
        store, path = await jobs.snapshot_location(job_id)
        return await stream_file(store, path)

    @router.post("/workers/claim", response_model=ClaimResponse, summary="Lease queued jobs (workers)")
    async def claim_jobs(body: ClaimRequest, request: Request) -> ClaimResponse:
        await access.require_worker(context, request)
        with any_workspace():
            claimed = await jobs.leases.claim(
                body, request.is_disconnected
            )  # a worker that hung up gets nothing leased
        return ClaimResponse(jobs=await access.issue_tracking_tokens(context, request, claimed))

    @router.post("/jobs/{job_id}/start", response_model=LeaseState, summary="The entry point starts (workers)")
    async def start_job(job_id: str, body: LeaseRequest, request: Request) -> LeaseState:
        await access.require_worker(context, request)
        with any_workspace():
            return await jobs.leases.start(job_id, body)

    @router.post("/jobs/{job_id}/heartbeat", response_model=LeaseState, summary="Keep the lease, ship logs (workers)")
    async def heartbeat(job_id: str, body: Heartbeat, request: Request) -> LeaseState:
        """409 ABORTED means the lease is gone (expired and handed on): the worker must stop the job."""
        await access.require_worker(context, request)
        with any_workspace():
            return await jobs.leases.heartbeat(job_id, body)

    @router.post("/jobs/{job_id}/release", status_code=204, summary="Hand a job back at shutdown (workers)")
    async def release_job(job_id: str, body: LeaseRequest, request: Request) -> Response:
        """The job goes back to the queue at once, for another worker to run from the start."""
        await access.require_worker(context, request)
        with any_workspace():
            await jobs.leases.release(job_id, body)
        return Response(status_code=204)

    @router.post("/jobs/{job_id}/finish", response_model=JobView, summary="Report the outcome (workers)")
    async def finish_job(job_id: str, body: FinishRequest, request: Request) -> JobView:
        await access.require_worker(context, request)
        with any_workspace():
            finished = await jobs.leases.finish(job_id, body)
        await access.revoke_tracking_tokens(context, finished)
        return finished

    return router
