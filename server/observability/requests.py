"""One middleware per request for what operators watch: a request id (taken from the caller's `X-Request-Id`
when it looks sane, else made up) echoed in the response, the Prometheus request metrics, and one structured
access-log line. Pure ASGI, so it costs microseconds, not the hundreds a `BaseHTTPMiddleware` would."""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.observability.logs import ACCESS_LOGGER
from server.observability.metrics import LATENCY, REQUESTS

access_log = logging.getLogger(ACCESS_LOGGER)
REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


def _route_template(scope: Scope) -> str:
    """The matched route's template (`/api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}`), so metrics
    stay a bounded set of series whatever paths clients send; unmatched paths share one label."""
    route = scope.get("route")
    return getattr(route, "path", None) or "<unmatched>"


def label_routes(routes: Iterable[BaseRoute]) -> None:
    """Make every plain Starlette route record itself in `scope["route"]` as Starlette's router does; FastAPI's
    router only does so for its own `APIRoute`s, and the middleware needs the template either way."""
    for route in routes:
        if isinstance(route, Route) and not getattr(route.app, "labels_route", False):
            route.app = _RouteLabel(route, route.app)


class _RouteLabel:
    labels_route = True

    def __init__(self, route: Route, app: ASGIApp) -> None:
        self.route = route
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route
        await self.app(scope, receive, send)


@functools.cache
def _series(route: str, method: str, status: int) -> tuple[Any, Any]:
    """The metric children of one (route, method, status): `labels()` validates and locks on every call, and the set
    of keys is bounded by the route table, so each pair is looked up once."""
    return REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method)


class RequestObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route, method = _route_template(scope), scope["method"]
            counter, latency = _series(route, method, status)
            counter.inc()
            latency.observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                line = {
                    "request_id": request_id.decode(),
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "client": client[0] if client else None,
                }
                access_log.info(orjson.dumps(line).decode())
