"""HTTP surface: the MLflow RPC table plus the non-RPC routes (artifacts, health, GraphQL, the UI's helper RPCs)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from server.api import (
    accounts,
    artifacts,
    assessments,
    datasets,
    experiments,
    genai_invoke,
    graphql,
    health,
    inputs,
    issues,
    label_schemas,
    logged_models,
    mcp_servers,
    metrics,
    model_versions,
    otlp,
    prompt_optimization,
    promptlab,
    registered_models,
    review_queues,
    roles,
    runs,
    scorers,
    search,
    skill_uploads,
    skills,
    trace_artifacts,
    trace_metrics,
    traces,
    ui_helpers,
    users,
    webhooks,
    workspaces,
)
from server.api.routing import Rpc, build_routes
from server.web.context import Context

RPCS: list[Rpc] = [
    *experiments.RPCS,
    *runs.RPCS,
    *search.RPCS,
    *metrics.RPCS,
    *inputs.RPCS,
    *logged_models.RPCS,
    *registered_models.RPCS,
    *model_versions.RPCS,
    *webhooks.RPCS,
    *artifacts.RPCS,
    *traces.RPCS,
    *assessments.RPCS,
    *scorers.RPCS,
    *issues.RPCS,
    *skills.RPCS,
    *mcp_servers.RPCS,
    *label_schemas.RPCS,
    *review_queues.RPCS,
    *datasets.RPCS,
    *trace_metrics.RPCS,
    *users.RPCS,
    *accounts.RPCS,
    *roles.RPCS,
    *ui_helpers.RPCS,
    *genai_invoke.RPCS,
    *prompt_optimization.RPCS,
    *workspaces.RPCS,
]


def all_routes(context: Context) -> list[BaseRoute]:
    return [
        *health.routes(context),
        *skill_uploads.routes(context),  # ahead of the RPCs of the same paths, which they call
        *build_routes(RPCS, context),
        *otlp.routes(context),
        *trace_artifacts.routes(context),
        *artifacts.proxy_routes(context),
        *artifacts.ui_routes(context),
        *graphql.routes(RPCS, context),
        *ui_helpers.routes(),
        *promptlab.routes(context),
        *webhooks.routes(context),
    ]
