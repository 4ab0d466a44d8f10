"""`/graphql`: the few GraphQL queries MLflow's web UI sends (GetRun, MlflowGetExperimentQuery, SearchRuns,
GetMetricHistoryBulkInterval, ...), answered on MLflow's own schema by our RPC handlers.

Every root field runs the matching RPC through `routing.invoke`, so it applies exactly the permission checks of
the RPC and can never show more than the REST route would. As in MLflow, the answer is always HTTP 200 with
`{"data", "errors"}`; an MLflow error of one root field becomes that field's `apiError`, which the UI displays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.api.routing import Rpc
from server.auth.identity import unauthenticated
from server.errors import MlflowError
from server.web.context import Context, principal_of

# Root field -> (method, path) of the RPC that answers it.
ROOT_FIELDS: dict[str, tuple[str, str]] = {
    "mlflowGetExperiment": ("GET", "/mlflow/experiments/get"),
    "mlflowGetRun": ("GET", "/mlflow/runs/get"),
    "mlflowSearchRuns": ("POST", "/mlflow/runs/search"),
    "mlflowGetMetricHistoryBulkInterval": ("GET", "/mlflow/metrics/get-history-bulk-interval"),
    "mlflowListArtifacts": ("GET", "/mlflow/artifacts/list"),
    "mlflowSearchModelVersions": ("GET", "/mlflow/model-versions/search"),
    "mlflowSearchDatasets": ("POST", "/mlflow/experiments/search-datasets"),
}


async def _body(request: Request) -> dict[str, Any]:
    if request.method == "GET":
        body: dict[str, Any] = dict(request.query_params)
        if isinstance(body.get("variables"), str):
            body["variables"] = orjson.loads(body["variables"])
        return body
    try:
        parsed = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        raise MlflowError.invalid_parameter("The GraphQL request body must be JSON.") from None
    if not isinstance(parsed, dict):
        raise MlflowError.invalid_parameter("The GraphQL request body must be a JSON object.")
    return parsed


def routes(rpcs: Iterable[Rpc], context: Context) -> list[BaseRoute]:
    table = {(rpc.method, rpc.path): rpc for rpc in rpcs}
    missing = [path for path in ROOT_FIELDS.values() if path not in table]
    assert not missing, f"GraphQL root fields without an RPC: {missing}"

    async def graphql(request: Request) -> Response:
        principal = principal_of(request)
        if context.authorizer is not None and principal is None:
            raise unauthenticated()
        body = await _body(request)

        def answer() -> dict[str, Any]:
            from server.api.graphql_engine import Call, run_query  # graphql-core loads with the first query

            with context.db.read() as session:
                return run_query(Call(session, context, principal, table), body)

        return Response(orjson.dumps(await run_in_threadpool(answer)), media_type="application/json")

    return [Route("/graphql", graphql, methods=["GET", "POST"])]
