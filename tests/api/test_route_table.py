"""Our route table against MLflow's own service descriptors: every RPC of the tracking surface and the model
registry this release covers is routed under both prefixes, and what is not yet served is named here, so the gap is
visible."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mlflow.protos import databricks_pb2, model_registry_pb2, service_pb2

from server.api import RPCS

# Tracking RPCs not served yet (workspaces and the GenAI evaluation features), so the gap stays visible.
NOT_YET = {
    "searchDatasets",
}
NOT_YET_PREFIXES = ("/mlflow/workspaces",)


def _descriptor_endpoints(service: Any = None) -> list[tuple[str, str, str, int]]:
    service = service or service_pb2.DESCRIPTOR.services_by_name["MlflowService"]
    endpoints = []
    for method in service.methods:
        for endpoint in method.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
            endpoints.append((method.name, endpoint.method, endpoint.path, endpoint.since.major))
    return endpoints


def _core_tracking_endpoints() -> list[tuple[str, str, str, int]]:
    core_paths = (
        "/mlflow/experiments",
        "/mlflow/runs",
        "/mlflow/metrics",
        "/mlflow/artifacts",
        "/mlflow/logged",
        "/mlflow/traces",
        "/mlflow/scorers",
        "/mlflow/issues",
        "/mlflow/label-schemas",
        "/mlflow/review-queues",
        "/mlflow/datasets",
        "/mlflow/prompt-optimization",
    )
    return [
        e
        for e in _descriptor_endpoints()
        if e[2].startswith(core_paths) and e[0] not in NOT_YET and not e[2].startswith(NOT_YET_PREFIXES)
    ]


def _registry_endpoints() -> list[tuple[str, str, str, int]]:
    return _descriptor_endpoints(model_registry_pb2.DESCRIPTOR.services_by_name["ModelRegistryService"])


@pytest.mark.parametrize(("name", "method", "path", "since"), _core_tracking_endpoints() + _registry_endpoints())
def test_descriptor_endpoint_is_routed(name: str, method: str, path: str, since: int) -> None:
    served = {(rpc.method, rpc.path, rpc.since) for rpc in RPCS}
    assert (method, path, since) in served, f"{name}: {method} /api/{since}.0{path} has no handler"


def test_ajax_twin_answers_like_the_api_route(server_url: str) -> None:
    for prefix in ("api", "ajax-api"):
        response = httpx.get(f"{server_url}/{prefix}/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
        assert response.status_code == 200
        assert response.json()["experiment"]["name"] == "Default"


def test_registry_ajax_twin_answers_like_the_api_route(server_url: str) -> None:
    for prefix in ("api", "ajax-api"):
        response = httpx.get(f"{server_url}/{prefix}/2.0/mlflow/registered-models/search")
        assert response.status_code == 200, response.text


# MLflow 3.18's Skill Registry is a FastAPI router (`mlflow/server/skill_registry_api.py`), not a protobuf service, so
# its routes are listed here as 3.18's router declares them, under `/api/3.0/mlflow/skills` and the ajax twin.
SKILL_ROUTES_318 = [
    (method, f"/mlflow/skills{prefix}{suffix}")
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/versions"),
        ("POST", "/versions"),
        ("GET", "/versions/{version}"),
        ("PATCH", "/versions/{version}"),
        ("DELETE", "/versions/{version}"),
        ("POST", "/tags"),
        ("DELETE", "/tags/{key:path}"),
        ("POST", "/versions/{version}/tags"),
        ("DELETE", "/versions/{version}/tags/{key:path}"),
        ("POST", "/aliases"),
        ("GET", "/aliases/{alias}"),
        ("DELETE", "/aliases/{alias}"),
    ]
    for prefix in ("/{name}", "/@{organization}/{name}")
] + [("POST", "/mlflow/skills"), ("GET", "/mlflow/skills"), ("POST", "/mlflow/skills/bulk-register")]


@pytest.mark.parametrize(("method", "path"), SKILL_ROUTES_318)
def test_skill_registry_route_is_served(method: str, path: str) -> None:
    served = {(rpc.method, rpc.path, rpc.since, rpc.prefixes) for rpc in RPCS}
    assert (method, path, 3, ("/api", "/ajax-api")) in served, f"{method} /api/3.0{path} has no handler"


# MLflow 3.18's MCP Server Registry is a FastAPI router too (`mlflow/server/mcp_server_api.py`): its 23 routes, in the
# order it declares them, since a server's name spans slashes and the first route that matches a path answers it.
MCP_ROUTES_318 = [
    ("POST", "/mlflow/mcp-servers"),
    ("GET", "/mlflow/mcp-servers"),
    ("GET", "/mlflow/mcp-servers/endpoints"),
    ("POST", "/mlflow/mcp-servers/{name:path}/versions/{version:path}/tags"),
    ("DELETE", "/mlflow/mcp-servers/{name:path}/versions/{version:path}/tags/{key:path}"),
    ("GET", "/mlflow/mcp-servers/{name:path}/versions/{version:path}"),
    ("PATCH", "/mlflow/mcp-servers/{name:path}/versions/{version:path}"),
    ("DELETE", "/mlflow/mcp-servers/{name:path}/versions/{version:path}"),
    ("POST", "/mlflow/mcp-servers/{name:path}/versions"),
    ("GET", "/mlflow/mcp-servers/{name:path}/versions"),
    ("POST", "/mlflow/mcp-servers/{name:path}/endpoints"),
    ("GET", "/mlflow/mcp-servers/{name:path}/endpoints/{endpoint_id}"),
    ("PATCH", "/mlflow/mcp-servers/{name:path}/endpoints/{endpoint_id}"),
    ("DELETE", "/mlflow/mcp-servers/{name:path}/endpoints/{endpoint_id}"),
    ("GET", "/mlflow/mcp-servers/{name:path}/endpoints"),
    ("POST", "/mlflow/mcp-servers/{name:path}/tags"),
    ("DELETE", "/mlflow/mcp-servers/{name:path}/tags/{key:path}"),
    ("POST", "/mlflow/mcp-servers/{name:path}/aliases"),
    ("GET", "/mlflow/mcp-servers/{name:path}/aliases/{alias:path}"),
    ("DELETE", "/mlflow/mcp-servers/{name:path}/aliases/{alias:path}"),
    ("GET", "/mlflow/mcp-servers/{name:path}"),
    ("PATCH", "/mlflow/mcp-servers/{name:path}"),
    ("DELETE", "/mlflow/mcp-servers/{name:path}"),
]


@pytest.mark.parametrize(("method", "path"), MCP_ROUTES_318)
def test_mcp_server_registry_route_is_served(method: str, path: str) -> None:
    served = {(rpc.method, rpc.path, rpc.since, rpc.prefixes) for rpc in RPCS}
    assert (method, path, 3, ("/api", "/ajax-api")) in served, f"{method} /api/3.0{path} has no handler"


def test_mcp_server_routes_keep_mlflows_order() -> None:
    """`/mcp-servers/endpoints` is the workspace's endpoints, and `<name>/versions` a server's versions: the routes
    that a later, wider one could also match are tried first."""
    served = [(rpc.method, rpc.path) for rpc in RPCS if rpc.path.startswith("/mlflow/mcp-servers")]
    assert served == MCP_ROUTES_318


def test_an_organizations_skill_routes_come_first() -> None:
    """`/skills/@acme/versions` is the skill `versions` of `acme`, not the versions of a skill named `@acme`."""
    paths = [rpc.path for rpc in RPCS if rpc.path.startswith("/mlflow/skills/")]
    assert paths.index("/mlflow/skills/@{organization}/{name}") < paths.index("/mlflow/skills/{name}/versions")
