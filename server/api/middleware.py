"""Request normalisation shared by every route."""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import ErrorCode, error_response

_LEADING_SLASHES = re.compile(r"^/{2,}")


class MergeSlashesMiddleware:
    """`//model-versions/get-artifact` reaches the same route as `/model-versions/get-artifact`, as it does on
    MLflow's Flask server; clients that join a base URL ending in `/` with a path starting with `/` rely on it.
    Only the leading run is merged: inside an artifact path, `//` keeps meaning "absolute", which is refused."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("//"):
            scope = {**scope, "path": _LEADING_SLASHES.sub("/", scope["path"])}
        await self.app(scope, receive, send)


# Routes whose bodies are files, bounded by their own rules: artifact uploads and multipart parts stream to
# storage, the UI's small-file upload stops at 10 MB by itself, project snapshots at RUNYARD_JOB_MAX_SNAPSHOT_MB,
# skill uploads at MLFLOW_SKILL_CONTENT_MAX_DECOMPRESSED_SIZE.
_STREAMED_BODIES = re.compile(
    r"^(?:/(?:ajax-)?api/2\.0/(?:mlflow-artifacts/(?:artifacts|mpu/part)/|mlflow/upload-artifact$)"
    r"|/(?:ajax-)?api/3\.0/mlflow/skills/(?:@[^/]+/)?[^/]+/versions$"
    r"|/runyard/api/jobs/archive$)"
)


def _too_large(limit: int) -> StarletteHTTPException:
    return StarletteHTTPException(413, f"Request body is larger than the server's limit of {limit:,} bytes.")


class BodyLimitMiddleware:
    """Refuses an oversized request body with 413: at once when `Content-Length` says so, before a byte is read,
    and mid-stream for chunked bodies, before the handler has seen it all. The limit is sized (see Settings) so
    the biggest log-batch MLflow allows still passes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS")
            or _STREAMED_BODIES.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            exc = _too_large(self.max_bytes)
            await error_response(ErrorCode.INVALID_PARAMETER_VALUE, str(exc.detail), 413)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _too_large(self.max_bytes)  # the error handler answers 413 if nothing was sent yet
            return message

        await self.app(scope, receive if declared is not None else counting_receive, send)
