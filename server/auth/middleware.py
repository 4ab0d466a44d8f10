"""Authentication for every route but the probes: a request without valid credentials gets MLflow's 401 before
any handler runs, so a route added later is protected from its first line."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from server.auth.identity import SIGNED_URL, Authenticator, unauthenticated
from server.auth.signing import SIGNATURE_PARAM, UrlSigner
from server.errors import MlflowError, error_response

# Liveness, readiness and the capability probes the client makes before it has decided how to authenticate.
PUBLIC_PATHS = frozenset(
    {"/health", "/ready", "/version", "/api/3.0/mlflow/server-info", "/ajax-api/3.0/mlflow/server-info"}
)


class AuthMiddleware:
    def __init__(self, app: ASGIApp, authenticator: Authenticator, signer: UrlSigner) -> None:
        self.app = app
        self.authenticator = authenticator
        self.signer = signer

    def _signed(self, scope: Scope) -> bool:
        if SIGNATURE_PARAM.encode() not in scope["query_string"]:
            return False
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        return self.signer.verify(scope["method"], scope["path"], query)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        if not header and self._signed(scope):
            scope.setdefault("state", {})["principal"] = SIGNED_URL
            await self.app(scope, receive, send)
            return
        try:
            if not header:
                raise unauthenticated()
            principal = self.authenticator.cached(header) or await run_in_threadpool(
                self.authenticator.authenticate, header
            )
        except MlflowError as exc:
            response = error_response(exc.code, exc.message)
            response.headers["WWW-Authenticate"] = 'Basic realm="runyard"'
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
