"""Which workspace a request works in: the `X-MLFLOW-WORKSPACE` header the client sends (`mlflow.set_workspace`,
`MLFLOW_WORKSPACE`), or `default` without one. Resolved once per request, before any route runs, and held in
`server.store.scope` for every query of the request."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import ErrorCode, MlflowError, error_response
from server.services import workspaces
from server.store.workspace_models import DEFAULT_WORKSPACE
from server.web.context import Context

HEADER = "x-mlflow-workspace"
RUNYARD_ROUTES = "/runyard/"
# A workspace found to exist is not looked up again for this long (in this process): the lookup, a thread hop and
# a read, would double the cost of a small logging call. Within it, requests naming a workspace just deleted go on
# and find nothing in it (its experiments were moved or refused its deletion).
CONFIRMED_SECONDS = 5.0
_MAX_CONFIRMED = 10_000
DISABLED = "Workspace APIs are not available: workspaces are not enabled on this server"


class WorkspaceMiddleware:
    """With workspaces off, a request naming one is refused (it would otherwise land silently in the shared
    space); server-info answers whatever the header says, since the client reads it to learn whether workspaces
    exist at all."""

    def __init__(self, app: ASGIApp, *, context: Context) -> None:
        self.app = app
        self.enabled = context.settings.enable_workspaces
        self.context = context
        self._confirmed_until: dict[str, float] = {}

    def _check_exists(self, name: str) -> None:
        with self.context.db.read() as session:
            workspaces.get_workspace(session, name)

    @staticmethod
    def _from_query(scope: Scope) -> str:
        """Runyard's own pages link to a job's log and follow it with EventSource, neither of which can send a
        header: on Runyard's routes (never MLflow's), `?workspace=` names it instead."""
        if not scope["path"].startswith(RUNYARD_ROUTES):
            return ""
        return (QueryParams(scope.get("query_string", b"")).get("workspace") or "").strip()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/").endswith("/mlflow/server-info"):
            await self.app(scope, receive, send)
            return
        named = (Headers(scope=scope).get(HEADER) or "").strip() or self._from_query(scope)
        if not self.enabled:
            if named:
                await error_response(ErrorCode.FEATURE_DISABLED, DISABLED)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        name = named or DEFAULT_WORKSPACE
        try:
            if name != DEFAULT_WORKSPACE and self._confirmed_until.get(name, 0.0) < time.monotonic():
                workspaces.validate_name(name)
                await run_in_threadpool(self._check_exists, name)
                if len(self._confirmed_until) >= _MAX_CONFIRMED:
                    self._confirmed_until.clear()
                self._confirmed_until[name] = time.monotonic() + CONFIRMED_SECONDS
        except MlflowError as error:
            await error_response(error.code, error.message)(scope, receive, send)
            return
        with workspaces.working_in(name):
            await self.app(scope, receive, send)
