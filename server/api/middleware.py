"""Request normalisation shared by every route."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

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
