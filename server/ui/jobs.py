"""The Jobs pages, `/runyard/jobs` and `/runyard/jobs/{job_id}`: MLflow's UI has no view of a job queue, so these
are Runyard's own. They are static pages whose scripts read the job API (`/runyard/api`), so they need neither the
`ui` extra nor a build step, and under `--auth` the browser's sign-in carries over to every call they make."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from server.jobs import access
from server.jobs.service import JobService
from server.permissions import Permission
from server.ui.static import file_under
from server.web.context import Context

ASSETS = (Path(__file__).parent / "assets").resolve()
PAGE_URL = "/runyard/jobs"
ASSET_URL = "/runyard/ui"
# Asset names carry no content hash, so browsers revalidate (cheaply, by ETag) instead of keeping stale scripts.
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def page_response(name: str) -> Response:
    return FileResponse(ASSETS / name, media_type="text/html; charset=utf-8", headers=HEADERS)


async def job_list(_: Request) -> Response:
    return page_response("jobs.html")


async def asset(request: Request) -> Response:
    return file_under(ASSETS, request.path_params["path"], HEADERS)


def asset_routes() -> list[BaseRoute]:
    """The pages' scripts and styles: files under `assets/`, nothing beside them."""
    return [Route(ASSET_URL + "/{path:path}", asset, methods=["GET"])]


def routes(context: Context, jobs: JobService) -> list[BaseRoute]:
    async def job_detail(request: Request) -> Response:
        """Checked like the API's job read, so a job one may not read is a 403 here too, and an unknown one a 404."""
        job_id = request.path_params["job_id"]
        await access.require_job(context, request, job_id, Permission.READ)
        await jobs.get(job_id)
        return page_response("job.html")

    return [
        Route(PAGE_URL, job_list, methods=["GET"]),
        Route(PAGE_URL + "/{job_id}", job_detail, methods=["GET"]),
        *asset_routes(),
    ]
