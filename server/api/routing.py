"""The MLflow RPC table and its adapter onto HTTP.

Every RPC is served at `/api/<since>.0<path>` and its `/ajax-api/<since>.0<path>` twin, as MLflow's
`get_endpoints()` does. A handler is a plain function of (fields, session, context) returning the response
message as a dict; the adapter reads the request, runs the handler in a worker thread inside one database
session (committed only if the handler returns), and writes the JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.api.wire import Fields, json_response, read_fields
from server.artifacts.registry import ArtifactRegistry
from server.config import Settings
from server.store.engine import Database


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler may use besides its request and session; built once per app."""

    settings: Settings
    db: Database
    artifacts: ArtifactRegistry


Handler = Callable[[Fields, Session, Context], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Rpc:
    method: str
    path: str  # as in MLflow's service descriptor, e.g. "/mlflow/runs/create"
    handler: Handler
    since: int = 2
    writes: bool | None = None  # default: everything but GET writes
    prefixes: tuple[str, ...] = ("/api", "/ajax-api")  # a few UI helpers exist under /ajax-api only

    @property
    def is_write(self) -> bool:
        return self.method != "GET" if self.writes is None else self.writes


def _endpoint(rpc: Rpc, context: Context) -> Callable[[Request], Any]:
    def read(fields: Fields) -> Mapping[str, Any]:
        with context.db.read() as session:
            return rpc.handler(fields, session, context)

    async def endpoint(request: Request) -> Response:
        fields = await read_fields(request)
        if request.path_params:
            fields = Fields({**fields.as_dict(), **request.path_params}, from_query=fields.from_query)
        if rpc.is_write:
            return json_response(await context.db.run_write(lambda session: rpc.handler(fields, session, context)))
        return json_response(await run_in_threadpool(read, fields))

    endpoint.__name__ = rpc.handler.__name__
    return endpoint


def build_routes(rpcs: Sequence[Rpc], context: Context) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for rpc in rpcs:
        endpoint = _endpoint(rpc, context)
        for prefix in rpc.prefixes:
            routes.append(Route(f"{prefix}/{rpc.since}.0{rpc.path}", endpoint, methods=[rpc.method]))
    return routes
