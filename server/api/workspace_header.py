"""Which workspace a request works in: the `X-MLFLOW-WORKSPACE` header the client sends (`mlflow.set_workspace`,
`MLFLOW_WORKSPACE`), or `default` without one. Resolved once per request, before any route runs, and held in
`server.store.scope` for every query of the request."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import ErrorCode, MlflowError, error_response
from server.services import workspaces
from server.store.models import DEFAULT_WORKSPACE
from server.web.context import Context

HEADER = "x-mlflow-workspace"
DISABLED = "Workspace APIs are not available: workspaces are not enabled on this server"


class WorkspaceMiddleware:
    """With workspaces off, a request naming one is refused (it would otherwise land silently in the shared
    space); server-info answers whatever the header says, since the client reads it to learn whether workspaces
    exist at all."""

    def __init__(self, app: ASGIApp, *, context: Context) -> None:
        self.app = app
        self.enabled = context.settings.enable_workspaces
        self.context = context

    def _check_exists(self, name: str) -> None:
        with self.context.db.read() as session:
            workspaces.get_workspace(session, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/").endswith("/mlflow/server-info"):
            await self.app(scope, receive, send)
            return
        named = (Headers(scope=scope).get(HEADER) or "").strip()
        if not self.enabled:
            if named:
                await error_response(ErrorCode.FEATURE_DISABLED, DISABLED)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        name = named or DEFAULT_WORKSPACE
        try:
            if name != DEFAULT_WORKSPACE:
                workspaces.validate_name(name)
                await run_in_threadpool(self._check_exists, name)
        except MlflowError as error:
            await error_response(error.code, error.message)(scope, receive, send)
            return
        with workspaces.working_in(name):
            await self.app(scope, receive, send)
