"""The MLflow RPC table and its adapter onto HTTP.

Every RPC is served at `/api/<since>.0<path>` and its `/ajax-api/<since>.0<path>` twin, as MLflow's
`get_endpoints()` does. A handler is a plain function of (fields, session, context) returning the response
message as a dict; the adapter reads the request, runs the handler in a worker thread inside one database
session (committed only if the handler returns), and writes the JSON.

A write holds the writer (on SQLite the only one, shared by every write of the server) for as long as its handler
runs, so a write RPC whose checks can wait on the network (a webhook URL's DNS lookup) runs them first, as its
`check`, in a read session; its handler, inside the write transaction, then skips only that slow part.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.api.wire import Fields, json_response, read_fields
from server.auth import rules
from server.auth.identity import Principal, unauthenticated
from server.auth.rules import Access, Authorizer
from server.web.context import Context, principal_of

Handler = Callable[[Fields, Session, Context], Mapping[str, Any]]
Check = Callable[[Fields, Session, Context], None]


class Again(dict[str, Any]):
    """What a write handler returns to commit its work so far and be called again, in a new transaction, with
    these fields: long work (a retention delete of a million traces) goes in bounded steps, and other writers get
    the database between them."""


@dataclass(frozen=True, slots=True)
class Rpc:
    method: str
    path: str  # as in MLflow's service descriptor, e.g. "/mlflow/runs/create"
    handler: Handler
    since: int = 2
    writes: bool | None = None  # default: everything but GET writes
    prefixes: tuple[str, ...] = ("/api", "/ajax-api")  # a few UI helpers exist under /ajax-api only
    access: Access | None = None  # what the caller needs when auth is on; None is refused to everyone
    status: int = 200  # MLflow's workspace routes answer 201 (created) and 204 (deleted, with no body)
    check: Check | None = None  # a write's slow checks, in the handler's order: run before the write transaction

    @property
    def is_write(self) -> bool:
        return self.method != "GET" if self.writes is None else self.writes


def _permitted(rpc: Rpc, fields: Fields, session: Session, authorizer: Authorizer, principal: Principal) -> Fields:
    """The fields the handler may see; PERMISSION_DENIED unless the caller may make this request."""
    if principal.signed:
        raise rules.permission_denied("a signed artifact URL opens one artifact path only")
    checked: Fields = authorizer.check(rpc.access or rules.ADMIN, fields, session, principal)
    return checked


def invoke(
    rpc: Rpc, fields: Fields, session: Session, context: Context, principal: Principal | None
) -> Mapping[str, Any]:
    """Run one RPC handler with the caller's permissions applied; other surfaces (GraphQL) reuse it so that they
    can never see more than the RPC itself would show."""
    authorizer = context.authorizer
    if authorizer is None or principal is None:
        return rpc.handler(fields, session, context)
    fields = _permitted(rpc, fields, session, authorizer, principal)
    with rules.acting_as(principal):
        result = rpc.handler(fields, session, context)
    authorizer.grant_creator(rpc.access or rules.ADMIN, session, principal, result)
    return result


def _run_check(check: Check, rpc: Rpc, fields: Fields, context: Context, principal: Principal | None) -> None:
    """Run a write's `check` in a read session, behind the same permission check as its handler: a caller who may
    not make the request learns nothing from it and sets off no lookup."""
    with context.db.read() as session:
        authorizer = context.authorizer
        if authorizer is None or principal is None:
            check(fields, session, context)
            return
        fields = _permitted(rpc, fields, session, authorizer, principal)
        with rules.acting_as(principal):
            check(fields, session, context)


def _endpoint(rpc: Rpc, context: Context) -> Callable[[Request], Any]:
    def call(fields: Fields, session: Session, principal: Principal | None) -> Mapping[str, Any]:
        return invoke(rpc, fields, session, context, principal)

    def read(fields: Fields, principal: Principal | None) -> Mapping[str, Any]:
        with context.db.read() as session:
            return call(fields, session, principal)

    async def endpoint(request: Request) -> Response:
        fields = await read_fields(request)
        if request.method == "DELETE" and request.query_params:  # MLflow reads e.g. a workspace's `mode` there
            fields = Fields({**dict(request.query_params), **fields.as_dict()})
        if request.path_params:
            fields = Fields({**fields.as_dict(), **request.path_params}, from_query=fields.from_query)
        principal = principal_of(request)
        if context.authorizer is not None and principal is None:
            raise unauthenticated()
        if rpc.is_write:
            if rpc.check is not None:
                await run_in_threadpool(_run_check, rpc.check, rpc, fields, context, principal)
            result = await context.db.run_write(lambda session: call(fields, session, principal))
            while isinstance(result, Again):
                result = await context.db.run_write(partial(call, Fields(dict(result)), principal=principal))
        else:
            result = await run_in_threadpool(read, fields, principal)
        if rpc.status == 204:
            return Response(status_code=204)
        return json_response(result, rpc.status)

    endpoint.__name__ = rpc.handler.__name__
    return endpoint


def rpc_endpoint(rpc: Rpc, context: Context) -> Callable[[Request], Any]:
    """The endpoint of one RPC-style handler, for routes of our own outside MLflow's `/api/<n>.0` tree."""
    return _endpoint(rpc, context)


def route_path(path: str) -> str:
    """A descriptor path as Starlette reads it: a parameter naming a field of a body message
    (`{assessment.trace_id}`) becomes a plain one named after the field (`{trace_id}`), as in MLflow's server."""
    return re.sub(r"{\w+\.(\w+)}", r"{\1}", path)


def build_routes(rpcs: Sequence[Rpc], context: Context) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for rpc in rpcs:
        endpoint = _endpoint(rpc, context)
        for prefix in rpc.prefixes:
            routes.append(Route(f"{prefix}/{rpc.since}.0{route_path(rpc.path)}", endpoint, methods=[rpc.method]))
    return routes
