"""MLflow's multipart upload through the proxy (`mpu/create`, `mpu/complete`, `mpu/abort`), on every backend.

The stock client (with `MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true`) asks `create` for one URL per part, PUTs
the parts there in parallel, then calls `complete`. Here the part URLs point back at this server, so the client
needs no storage credentials; the backend stages each part (a block blob's block, or a staged file) and
`complete` assembles them in part order, so nothing is visible until the upload is whole.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from server.api import presigned_only
from server.api.wire import Fields, json_response, read_fields, server_base_url
from server.artifacts.base import ArtifactStore, MultipartUploads
from server.artifacts.paths import clean_relative_path
from server.auth.signing import UrlSigner
from server.errors import MlflowError
from server.permissions import Permission

MAX_PARTS = 10_000
UPLOAD_URL_TTL_S = 3600  # a part URL must outlive the slowest part of a large upload
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


def uploads_for(store: ArtifactStore) -> MultipartUploads:
    uploads = store.multipart()
    if uploads is None:
        raise MlflowError.not_implemented("Multipart upload is not supported for the current artifact repository")
    return uploads


def _target(request: Request, fields: Fields) -> str:
    """The directory comes from the URL, the file name from `path` (older clients send their full local path)."""
    name = posixpath.basename((fields.required_string("path")).replace("\\", "/"))
    directory = request.path_params.get("artifact_path", "")
    return clean_relative_path(posixpath.join(directory, name) if directory else name)


def _upload_id(value: str | None) -> str:
    if not value or not _UPLOAD_ID.match(value):
        raise MlflowError.invalid_parameter(f"Invalid upload_id: {value!r}")
    return value


# (request, proxied path, permission needed) -> the store and the cleaned path, after the caller's permission check
Locate = Callable[[Request, str, Permission], Awaitable[tuple[ArtifactStore, str]]]


def routes(
    locate: Locate, *, direct_access: bool, signer: UrlSigner | None, proxied_parts: bool = True
) -> list[tuple[str, Any, list[str]]]:
    """The mpu routes over `locate`, which maps a proxied path to its store and the path within it. With
    `direct_access`, parts bound for Azure go straight to storage through single-block SAS URLs. Without
    `proxied_parts` (presigned-only mode), this server's own part route refuses bytes too."""

    async def uploads_at(request: Request, path: str) -> tuple[MultipartUploads, str]:
        store, located = await locate(request, path, Permission.EDIT)
        return uploads_for(store), located

    async def create(request: Request) -> Response:
        fields = await read_fields(request)
        path = _target(request, fields)
        store, located = await locate(request, path, Permission.EDIT)
        uploads_for(store)  # refuses a backend without multipart before any URL is handed out
        num_parts = fields.integer("num_parts", default=1) or 1
        if not 0 < num_parts <= MAX_PARTS:
            raise MlflowError.invalid_parameter(f"num_parts must be between 1 and {MAX_PARTS}, got {num_parts}")
        upload_id = uuid.uuid4().hex
        base = server_base_url(request)
        signed = store.signed_urls() if direct_access else None

        def part_url(n: int) -> str:
            if signed is not None:
                return signed.part_upload_url(located, upload_id, n, UPLOAD_URL_TTL_S)
            part_path = f"/api/2.0/mlflow-artifacts/mpu/part/{upload_id}/{n}"
            query = {"path": path, **(signer.sign("PUT", part_path, UPLOAD_URL_TTL_S) if signer else {})}
            return f"{base}{part_path}?{urlencode(query)}"

        urls = await run_in_threadpool(lambda: [part_url(n) for n in range(1, num_parts + 1)])  # signing may call Azure
        credentials = [{"url": url, "part_number": n, "headers": {}} for n, url in enumerate(urls, start=1)]
        return json_response({"upload_id": upload_id, "credentials": credentials})

    async def upload_part(request: Request) -> Response:
        if not proxied_parts:
            raise presigned_only.refused(upload=True)
        uploads, path = await uploads_at(request, request.query_params.get("path") or "")
        part_number = int(request.path_params["part_number"])
        if not 0 < part_number <= MAX_PARTS:
            raise MlflowError.invalid_parameter(f"Invalid part number {part_number}")
        upload_id = _upload_id(request.path_params["upload_id"])
        etag = await uploads.write_part(path, upload_id, part_number, request.stream())
        return Response(headers={"ETag": etag})

    async def complete(request: Request) -> Response:
        fields = await read_fields(request)
        uploads, path = await uploads_at(request, _target(request, fields))
        upload_id = _upload_id(fields.string("upload_id"))
        numbers = sorted({Fields(part).integer("part_number", default=0) or 0 for part in fields.objects("parts")})
        if not numbers or numbers != list(range(1, len(numbers) + 1)):
            raise MlflowError.invalid_parameter(f"Upload {upload_id} must list parts 1..N, got {numbers}")
        await run_in_threadpool(uploads.complete, path, upload_id, numbers)
        return json_response({})

    async def abort(request: Request) -> Response:
        fields = await read_fields(request)
        uploads, path = await uploads_at(request, _target(request, fields))
        await run_in_threadpool(uploads.abort, path, _upload_id(fields.string("upload_id")))
        return json_response({})

    return [
        ("/mlflow-artifacts/mpu/create/{artifact_path:path}", create, ["POST"]),
        ("/mlflow-artifacts/mpu/complete/{artifact_path:path}", complete, ["POST"]),
        ("/mlflow-artifacts/mpu/abort/{artifact_path:path}", abort, ["POST"]),
        ("/mlflow-artifacts/mpu/part/{upload_id}/{part_number:int}", upload_part, ["PUT"]),
    ]
