"""The artifact proxy (`mlflow-artifacts:/` URIs) and the tracking API's artifact listings.

Bytes stream both ways in bounded chunks. Every path is cleaned before the first byte moves, because once a
download has started an error can no longer become a JSON body.
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote, urlencode, urlparse

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.api import multipart, presigned_only
from server.api.registry import version_of
from server.api.routing import Rpc
from server.api.runs import run_id_of
from server.api.wire import Fields, json_response, server_base_url
from server.artifacts.base import ArtifactStore
from server.artifacts.paths import clean_relative_path
from server.auth import rules
from server.errors import ErrorCode, MlflowError
from server.permissions import Permission
from server.services import logged_models as model_service
from server.services import model_sources, workspaces
from server.services import runs as run_service
from server.web.context import Check, Context, authorize
from server.web.downloads import stream_file


def _file_path(request: Request) -> str:
    raw: str = request.path_params["artifact_path"]
    if not raw or raw.endswith("/"):
        raise MlflowError.invalid_parameter(f"Invalid path: {raw!r} names a directory, not a file")
    return raw


def _proxy_routes(context: Context) -> list[tuple[str, Callable[[Request], Any], list[str]]]:
    async def locate(request: Request, raw_path: str, need: Permission) -> tuple[ArtifactStore, str]:
        """The caller's right to `need` on the path (when auth is on), then the store holding it."""
        path = workspaces.proxied_artifact_path(clean_relative_path(raw_path))
        await authorize(request, context, lambda a, s, p: a.require_on_artifact_path(s, p, path, need))
        return await context.artifacts.proxied_async(path)

    presigned_only_mode = context.settings.artifacts_presigned_only

    async def upload(request: Request) -> Response:
        if presigned_only_mode:
            raise presigned_only.refused(upload=True)
        store, path = await locate(request, _file_path(request), rules.EDIT)
        await store.write(path, request.stream())
        return json_response({})

    async def download(request: Request) -> Response:
        if presigned_only_mode:
            raise presigned_only.refused(upload=False)
        store, path = await locate(request, _file_path(request), rules.READ)
        return await stream_file(store, path, request.headers.get("range"))

    async def delete(request: Request) -> Response:
        store, path = await locate(request, request.path_params["artifact_path"].rstrip("/"), rules.EDIT)
        await run_in_threadpool(store.delete, path)
        return json_response({})

    async def list_artifacts(request: Request) -> Response:
        store, path = await locate(request, request.query_params.get("path") or "", rules.READ)
        files = await run_in_threadpool(store.list, path)
        return json_response({"files": [f.to_json() for f in files]} if files else {})

    async def presigned(request: Request) -> Response:
        """Where to fetch one file in parallel ranges: a read-only SAS URL to the blob when direct access is on,
        else this server's own proxy URL (which serves ranges too)."""
        store, path = await locate(request, _file_path(request), rules.READ)
        size = (await run_in_threadpool(store.open, path, 0, 0)).size
        signed = store.signed_urls() if context.settings.hands_out_storage_urls else None
        if signed is not None:
            url = await run_in_threadpool(signed.download_url, path, context.settings.presigned_url_ttl)
        else:
            url_path = f"/api/2.0/mlflow-artifacts/artifacts/{path}"
            url = f"{server_base_url(request)}{quote(url_path)}"
            if context.signer is not None:  # the client fetches ranges without its credentials
                url += "?" + urlencode(context.signer.sign("GET", url_path, context.settings.presigned_url_ttl))
        return json_response({"url": url, "headers": {}, "file_size": size})

    return [
        ("/mlflow-artifacts/artifacts/{artifact_path:path}", upload, ["PUT"]),
        ("/mlflow-artifacts/artifacts/{artifact_path:path}", download, ["GET"]),
        ("/mlflow-artifacts/artifacts/{artifact_path:path}", delete, ["DELETE"]),
        ("/mlflow-artifacts/artifacts", list_artifacts, ["GET"]),
        *multipart.routes(
            locate,
            direct_access=context.settings.hands_out_storage_urls,
            signer=context.signer,
            proxied_parts=not presigned_only_mode,
        ),
        ("/mlflow-artifacts/presigned/{artifact_path:path}", presigned, ["GET"]),
    ]


MAX_UI_UPLOAD_BYTES = 10 * 1024 * 1024
# One read session that finds a file: its owner's artifact URI, then the store and path holding it.
Locate = Callable[[Session], tuple[ArtifactStore, str]]


async def _limited(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Passes the body through, refusing it (and so discarding the partial file) past 10 MB or when empty."""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > MAX_UI_UPLOAD_BYTES:
            raise MlflowError.invalid_parameter("Artifact size is too large. Max size is 10MB.")
        yield chunk
    if received == 0:
        raise MlflowError.invalid_parameter("Request must specify data.")


def proxy_routes(context: Context) -> list[BaseRoute]:
    """`/api/2.0/mlflow-artifacts/...` and its ajax twin; without `--serve-artifacts` they say so plainly."""

    async def disabled(_: Request) -> Response:
        raise MlflowError(
            "Artifact proxying is disabled on this server (started with --no-serve-artifacts).",
            ErrorCode.ENDPOINT_NOT_FOUND,
        )

    routes: list[BaseRoute] = []
    for path, endpoint, methods in _proxy_routes(context):
        for prefix in ("/api/2.0", "/ajax-api/2.0"):
            target = endpoint if context.settings.serve_artifacts else disabled
            routes.append(Route(prefix + path, target, methods=methods))
    return routes


def _listing(session: Session, context: Context, artifact_uri: str, path: str | None) -> dict[str, Any]:
    """A run's or a model's artifact listing through the tracking API: paths relative to `artifact_uri`."""
    store, located = context.artifacts.locate(session, artifact_uri, path)
    relative = clean_relative_path(path)
    files = [
        {**info.to_json(), "path": posixpath.join(relative, info.path) if relative else info.path}
        for info in store.list(located)
    ]
    # `files` even when empty: MLflow leaves it out, and its compare page then fails on a run without artifacts.
    return {"root_uri": artifact_uri, "files": files}


def list_artifacts(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    artifact_uri = run_service.artifact_uri(session, run_id_of(fields))
    return _listing(session, context, artifact_uri, fields.string("path"))


def list_logged_model_artifacts(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    artifact_uri = model_service.artifact_uri(session, fields.required_string("model_id"))
    return _listing(session, context, artifact_uri, fields.string("artifact_directory_path"))


# MLflow's `_UnsupportedPresignedDownloadException` (NOT_IMPLEMENTED).
PRESIGNED_DOWNLOAD_UNSUPPORTED = "Presigned download is not supported for the current artifact repository"


def _wants_presigned(request: Request) -> bool:
    return request.query_params.get("presigned") == "true"


def ui_routes(context: Context) -> list[BaseRoute]:
    """Download routes the web UI uses outside the RPC table."""

    presigned_only_mode = context.settings.artifacts_presigned_only

    def run_file(run_id: str, path: str) -> Locate:
        return lambda session: context.artifacts.locate(session, run_service.artifact_uri(session, run_id), path)

    def on_run(run_id: str, need: Permission) -> Check:
        return lambda a, s, p: a.require(a.on_run(s, p, run_id), need, f"run {run_id}")

    async def run_artifact(request: Request) -> Response:
        params = request.query_params
        run_id = params.get("run_id") or params.get("run_uuid") or ""
        await authorize(request, context, on_run(run_id, rules.READ))
        return await _serve(params.get("path", ""), run_file(run_id, params.get("path", "")))

    async def model_artifact(request: Request) -> Response:
        model_id = request.path_params["model_id"]
        await authorize(
            request, context, lambda a, s, p: a.require(a.on_logged_model(s, p, model_id), rules.READ, model_id)
        )
        path = request.query_params.get("artifact_file_path", "")

        def model_file(session: Session) -> tuple[ArtifactStore, str]:
            return context.artifacts.locate(session, model_service.artifact_uri(session, model_id), path)

        return await _serve(path, model_file, presigned=_wants_presigned(request))

    async def _serve(path: str, locate: Locate, *, presigned: bool = False) -> Response:
        """`locate` finds the file's store in one read session, run off the event loop (an unknown owner is a 404
        before a bad path is a 400). With `presigned` (MLflow 3.18's `?presigned=true`), where to fetch the file
        instead of the file."""
        if presigned_only_mode and not presigned:
            raise presigned_only.refused(upload=False)
        store, located = await context.db.run_read(locate)
        if not (relative := clean_relative_path(path)):
            raise MlflowError.invalid_parameter("Invalid path: a file path is required")
        if presigned:
            return await _presigned_download(store, located)
        return await stream_file(store, located, name=posixpath.basename(relative))

    async def _presigned_download(store: ArtifactStore, path: str) -> Response:
        """A read-only URL straight to the blob, as MLflow answers for a repository that can sign one; only with
        direct access on, since otherwise the URL would lead back through this server."""
        signed = store.signed_urls() if context.settings.hands_out_storage_urls else None
        if signed is None:
            raise MlflowError.not_implemented(PRESIGNED_DOWNLOAD_UNSUPPORTED)
        size = (await run_in_threadpool(store.open, path, 0, 0)).size
        url = await run_in_threadpool(signed.download_url, path, context.settings.presigned_url_ttl)
        return json_response({"url": url, "headers": {}, "file_size": size})

    async def upload_artifact(request: Request) -> Response:
        """The UI's small-file upload into a run (MLflow's `upload_artifact_handler`), at most 10 MB."""
        if presigned_only_mode:
            raise presigned_only.refused(upload=True)
        params = request.query_params
        run_id = params.get("run_uuid") or params.get("run_id")
        if not run_id:
            raise MlflowError.invalid_parameter("Request must specify run_uuid.")
        if not params.get("path"):
            raise MlflowError.invalid_parameter("Request must specify path.")
        clean_relative_path(params["path"])  # refuse a bad path before looking anything up
        if int(request.headers.get("content-length") or 0) > MAX_UI_UPLOAD_BYTES:
            raise MlflowError.invalid_parameter("Artifact size is too large. Max size is 10MB.")
        await authorize(request, context, on_run(run_id, rules.EDIT))
        store, path = await context.db.run_read(run_file(run_id, params["path"]))
        await store.write(path, _limited(request.stream()))
        return json_response({})

    def version_file(name: str, version: str, path: str) -> Locate:
        def locate(session: Session) -> tuple[ArtifactStore, str]:
            row = version_of(Fields({"name": name, "version": version}), session)[1]
            return context.artifacts.locate(session, model_sources.served_location(session, row.storage_location), path)

        return locate

    async def model_version_artifact(request: Request) -> Response:
        """A registered version's file for the UI (MLflow's `get_model_version_artifact_handler`)."""
        params = request.query_params
        if not clean_relative_path(params.get("path")):  # checked first, as MLflow does
            raise MlflowError.invalid_parameter("Invalid path: a file path is required")
        name = params.get("name", "")
        await authorize(
            request, context, lambda a, s, p: a.require(a.on_registered_model(s, p, name), rules.READ, name)
        )
        locate = version_file(name, params.get("version", ""), params["path"])
        return await _serve(params["path"], locate, presigned=_wants_presigned(request))

    return [
        Route("/model-versions/get-artifact", model_version_artifact, methods=["GET"]),
        Route("/ajax-api/2.0/mlflow/upload-artifact", upload_artifact, methods=["POST"]),
        Route("/get-artifact", run_artifact, methods=["GET"]),
        Route("/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files", model_artifact, methods=["GET"]),
    ]


_PROXIED_SCHEMES = ("http", "https", "mlflow-artifacts")
_MAX_SIGNED_URL_TTL_S = 604_800  # the longest any cloud signs a URL for


def _refuse_presigned(artifact_uri: str, direction: str, subject: str) -> MlflowError:
    """Why MLflow's tracking-API presigned URLs (made for clients that write to cloud storage themselves) are
    refused: proxied runs go through the proxy's own presigned and multipart routes instead."""
    scheme = urlparse(artifact_uri).scheme
    if scheme in _PROXIED_SCHEMES:
        return MlflowError.invalid_parameter(
            f"Presigned {direction} is not supported for {subject}proxied artifact storage (artifact URI scheme: "
            f"{scheme}). This endpoint requires a {'run with a ' if subject else ''}direct cloud storage artifact URI."
        )
    return MlflowError.not_implemented(f"Presigned {direction} is not supported for the current artifact repository")


def create_presigned_upload_url(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run_id, model_id = fields.string("run_id"), fields.string("model_id")
    if bool(run_id) == bool(model_id):
        raise MlflowError.invalid_parameter("Exactly one of run_id and model_id must be provided.")
    clean_relative_path(fields.required_string("path"))
    fields.integer("expiration")
    if run_id:
        artifact_uri = run_service.artifact_uri(session, run_id)
    else:
        artifact_uri = model_service.artifact_uri(session, model_id or "")
    raise _refuse_presigned(artifact_uri, "upload", "")


def create_presigned_download_url(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run_id = fields.required_string("run_id")
    clean_relative_path(fields.required_string("path"))
    expiration = fields.integer("expiration", default=300) or 0
    if not 1 <= expiration <= _MAX_SIGNED_URL_TTL_S:
        raise MlflowError.invalid_parameter(
            f"expiration must be between 1 and {_MAX_SIGNED_URL_TTL_S} seconds (got {expiration})."
        )
    raise _refuse_presigned(run_service.artifact_uri(session, run_id), "download", "runs with ")


RPCS = [
    Rpc(
        "POST",
        "/mlflow/artifacts/presigned-upload-url",
        create_presigned_upload_url,
        writes=False,
        access=rules.run(rules.EDIT),
    ),
    Rpc(
        "POST",
        "/mlflow/artifacts/presigned-download-url",
        create_presigned_download_url,
        writes=False,
        access=rules.run(rules.READ),
    ),
    Rpc("GET", "/mlflow/artifacts/list", list_artifacts, access=rules.run(rules.READ)),
    Rpc(
        "GET",
        "/mlflow/logged-models/{model_id}/artifacts/directories",
        list_logged_model_artifacts,
        access=rules.logged_model(rules.READ),
    ),
]
