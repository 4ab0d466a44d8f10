"""MLflow 3.18's MCP Server Registry on SQLite and PostgreSQL: the 3.18 client (`mlflow.genai.register_mcp_server` and
the `MlflowClient` MCP methods) run in a venv of its own, and raw HTTP for the exact JSON MLflow's server answers, its
errors, the resolution of `latest` and of access endpoints, and searches; with workspaces, a team's servers are its
own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support import venvs
from tests.support.processes import runyard_server
from tests.support.stores import kind_of, new_store_uri

API = "/api/3.0/mlflow/mcp-servers"
ICON = "https://example.com/weather.png"
SERVER_KEYS = {
    "name",
    "display_name",
    "description",
    "icons",
    "workspace",
    "status",
    "access_endpoints",
    "latest_version",
    "aliases",
    "tags",
    "created_by",
    "last_updated_by",
    "creation_timestamp",
    "last_updated_timestamp",
    "allowed_actions",
}

CLIENT_SCRIPT = """
import json, sys
import mlflow
from mlflow import MlflowClient
from mlflow.entities.mcp_server import MCPTool
from mlflow.exceptions import MlflowException

url, name = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(url)
client = MlflowClient(url)
server = client.create_mcp_server(name=name, description="Forecasts")
v1 = mlflow.genai.register_mcp_server(
    server_json={"name": name, "version": "1.0.0", "description": "Weather v1",
                 "remotes": [{"type": "streamable-http", "url": "https://mcp.example.com/weather"}]},
    source="https://github.com/acme/weather",
    status="active",
    tools=[MCPTool(name="forecast", description="Forecast for a city", input_schema={"type": "object"})],
    create_access_endpoints_from_remotes=True,
)
v2 = client.create_mcp_server_version(server_json={"name": name, "version": "1.1.0-rc.1"}, tools=None)
client.set_mcp_server_alias(name=name, alias="stable", version="1.0.0")
client.set_mcp_server_tag(name=name, key="team", value="platform")
client.set_mcp_server_version_tag(name=name, version="1.0.0", key="reviewed", value="yes")
stable = client.get_mcp_server_version_by_alias(name=name, alias="stable")
latest = client.get_latest_mcp_server_version(name=name)
pinned = client.create_mcp_access_endpoint(server_name=name, url="https://mcp.acme.internal/weather",
                                           transport_type="sse", server_alias="stable")
got = client.get_mcp_server(name=name)
updated = client.update_mcp_server(name=name, display_name="Weather")
client.update_mcp_server_version(name=name, version="1.1.0-rc.1", status="active")
after = client.get_latest_mcp_server_version(name=name)
found = client.search_mcp_servers(filter_string=f"name = '{name}' AND tags.team = 'platform'")
versions = client.search_mcp_server_versions(name=name, order_by=["version DESC"])
endpoints = client.search_mcp_access_endpoints(server_name=name)
moved = client.update_mcp_access_endpoint(server_name=name, endpoint_id=pinned.id, server_version="1.1.0-rc.1")
fetched = client.get_mcp_access_endpoint(server_name=name, endpoint_id=pinned.id)
client.delete_mcp_access_endpoint(server_name=name, endpoint_id=pinned.id)
client.delete_mcp_server_alias(name=name, alias="stable")
client.delete_mcp_server_tag(name=name, key="team")
client.delete_mcp_server_version_tag(name=name, version="1.0.0", key="reviewed")
try:
    client.delete_mcp_server(name=name)
    refused = None
except MlflowException as e:
    refused = e.error_code
for version in ("1.0.0", "1.1.0-rc.1"):
    client.update_mcp_server_version(name=name, version=version, status="deprecated")
    client.delete_mcp_server_version(name=name, version=version)
left = client.search_mcp_access_endpoints(server_name=name)
client.delete_mcp_server(name=name)
try:
    client.get_mcp_server(name=name)
    missing = None
except MlflowException as e:
    missing = e.error_code
print(json.dumps({
    "created": [server.name, server.description, server.latest_version, server.status],
    "v1": [v1.version, str(v1.status), v1.source, [t.name for t in v1.tools], v1.tools[0].input_schema],
    "v2": [v2.version, str(v2.status), v2.tools],
    "stable": [stable.version, stable.aliases, stable.tags],
    "latest": [latest.version, after.version],
    "got": [str(got.status), got.latest_version, got.description, got.aliases, got.tags,
            sorted([e.server_alias or e.server_version, str(e.transport_type), e.resolved_version.version]
                   for e in got.access_endpoints)],
    "updated": [updated.display_name, updated.description],
    "found": [s.name for s in found],
    "versions": [v.version for v in versions],
    "endpoints": sorted(e.url for e in endpoints),
    "moved": [moved.server_version, moved.server_alias, fetched.resolved_version.version, str(fetched.transport_type)],
    "refused": refused,
    "left": [e.url for e in left],
    "missing": missing,
}))
"""


@pytest.fixture
def name() -> str:
    return f"io.github.acme/weather-{uuid.uuid4().hex[:10]}"


def _path(name: str, *rest: str) -> str:
    """A server's URL as the client builds it: the name percent-encoded, slash included."""
    return "/".join([API, quote(name, safe=""), *rest])


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def _register(http: httpx.Client, name: str, version: str, **body: Any) -> dict[str, Any]:
    document = {"name": name, "version": version, **body.pop("server_json", {})}
    return _ok(http.post(_path(name, "versions"), json={"server_json": document, **body}))


def test_the_318_client_manages_mcp_servers(server_url: str, name: str, tmp_path: Path) -> None:
    seen = venvs.client_report(
        venvs.mlflow_client("3.18.0"),
        "-c",
        CLIENT_SCRIPT,
        server_url,
        name,
        cwd=tmp_path,
        MLFLOW_ENABLE_MCP_TOOL_DISCOVERY="false",
    )
    assert seen["created"] == [name, "Forecasts", None, None]
    assert seen["v1"] == ["1.0.0", "active", "https://github.com/acme/weather", ["forecast"], {"type": "object"}]
    assert seen["v2"] == ["1.1.0-rc.1", "draft", []]
    assert seen["stable"] == ["1.0.0", ["stable"], {"reviewed": "yes"}]
    # The latest is the newest active version: 1.0.0 ahead of a newer draft, then 1.1.0-rc.1 once it is active.
    assert seen["latest"] == ["1.0.0", "1.1.0-rc.1"]
    assert seen["got"] == [
        "active",
        "1.0.0",
        "Forecasts",
        {"stable": "1.0.0"},
        {"team": "platform"},
        [["1.0.0", "streamable-http", "1.0.0"], ["stable", "sse", "1.0.0"]],
    ]
    assert seen["updated"] == ["Weather", "Forecasts"]
    assert seen["found"] == [name]
    assert seen["versions"] == ["1.1.0-rc.1", "1.0.0"]
    assert seen["endpoints"] == ["https://mcp.acme.internal/weather", "https://mcp.example.com/weather"]
    assert seen["moved"] == ["1.1.0-rc.1", None, "1.1.0-rc.1", "sse"]
    assert seen["refused"] == "INVALID_PARAMETER_VALUE"  # a server with an active version is not deleted
    assert seen["left"] == []  # deleting a version takes its endpoints with it
    assert seen["missing"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_server_its_version_and_endpoint_as_mlflow_answers_them(http: httpx.Client, name: str) -> None:
    icons = [{"src": ICON, "mimeType": "IMAGE/PNG", "sizes": ["48x48"], "theme": "light"}]
    created = _ok(http.post(API, json={"name": name, "owner": "ignored like any field MLflow does not declare"}))
    assert set(created) == SERVER_KEYS
    assert created == {
        "name": name,
        "display_name": None,
        "description": None,
        "icons": None,
        "workspace": "default",
        "status": None,
        "access_endpoints": [],
        "latest_version": None,
        "aliases": [],
        "tags": {},
        "created_by": None,
        "last_updated_by": None,
        "creation_timestamp": created["creation_timestamp"],
        "last_updated_timestamp": created["creation_timestamp"],
        "allowed_actions": ["USE", "UPDATE", "DELETE", "MANAGE"],
    }
    server_json = {
        "name": name,
        "version": "1.0.0",
        "description": "Forecasts from the version",
        "icons": icons,
        "packages": [{"registryType": "npm", "identifier": "@acme/weather", "transport": {"type": "stdio"}}],
        "_meta": {"io.acme/extra": {"kept": True}},
    }
    tool = {"name": "forecast", "inputSchema": {"type": "object"}, "unknown": "dropped"}
    version = _ok(
        http.post(
            _path(name, "versions"),
            json={"server_json": server_json, "tools": [tool], "connect_options": {"api_key": {"hidden": True}}},
        )
    )
    assert version == {
        "name": name,
        "version": "1.0.0",
        "server_json": {**server_json, "icons": [{**icons[0], "mimeType": "image/png"}]},
        "workspace": "default",
        "status": "draft",
        "tools": [
            {
                "name": "forecast",
                "title": None,
                "description": None,
                "inputSchema": {"type": "object"},
                "outputSchema": None,
                "annotations": None,
                "icons": None,
                "execution": None,
            }
        ],
        "aliases": [],
        "tags": {},
        "connect_options": {"api_key": {"hidden": True}},
        "source": None,
        "created_by": None,
        "last_updated_by": None,
        "creation_timestamp": version["creation_timestamp"],
        "last_updated_timestamp": version["creation_timestamp"],
    }
    # The server shows its latest version's description and icons while it has none of its own.
    shown = _ok(http.get(_path(name)))
    assert (shown["status"], shown["latest_version"], shown["description"]) == (
        "draft",
        "1.0.0",
        "Forecasts from the version",
    )
    assert shown["icons"] == [{**icons[0], "mimeType": "image/png", "source": "version"}]

    endpoint = _ok(
        http.post(_path(name, "endpoints"), json={"url": "https://mcp.acme.io/w", "server_version": "1.0.0"})
    )
    assert endpoint["id"].startswith("ae-")
    assert len(endpoint["id"]) == 35
    assert endpoint == {
        "id": endpoint["id"],
        "server_name": name,
        "url": "https://mcp.acme.io/w",
        "transport_type": "streamable-http",
        "workspace": "default",
        "tools": version["tools"],
        "server_version": "1.0.0",
        "server_alias": None,
        "resolved_version": version,
        "created_by": None,
        "last_updated_by": None,
        "creation_timestamp": endpoint["creation_timestamp"],
        "last_updated_timestamp": endpoint["creation_timestamp"],
    }
    summary = {key: value for key, value in endpoint.items() if key != "tools"}
    assert _ok(http.get(_path(name)))["access_endpoints"] == [summary]
    # The ajax twin, and a name sent with its slash as it is.
    assert _ok(http.get(f"/ajax-api/3.0/mlflow/mcp-servers/{name}/versions/1.0.0")) == version


def test_refused_servers_and_versions(http: httpx.Client, name: str) -> None:
    _ok(http.post(API, json={"name": name}))
    assert _error(http.post(API, json={"name": name})) == (
        400,
        "RESOURCE_ALREADY_EXISTS",
        f"MCP server with name '{name}' already exists",
    )
    bad_name = (
        "Invalid MCP server name. Expected '<reverse-dns namespace>/<server slug>' such as 'com.example/server-name'."
    )
    for refused in ("weather", "io.acme/versions", "-io.acme/x", "io.acme/a/b"):
        assert _error(http.post(API, json={"name": refused})) == (400, "INVALID_PARAMETER_VALUE", bad_name)
    assert _error(http.post(API, json={"description": 3, "icons": "x"})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid request: name: Field required; description: Input should be a valid string; icons: Input should be "
        "a valid list",
    )
    assert _error(http.post(API, json={"name": name, "icons": [{"src": "http://example.com/i.png"}]}))[2] == (
        "Invalid Icon URL scheme: 'http'. Allowed schemes are: 'https'."
    )
    assert _error(http.post(API, json={"name": name, "icons": [{"src": ICON, "mimeType": "text/html"}]}))[2] == (
        "Invalid icon mimeType 'text/html'. Allowed values must use the 'image/*' media type."
    )
    assert _error(http.patch(_path(name), json={"icons": [{"src": ICON, "source": "version"}]}))[2].startswith(
        "Invalid icons[0].source: 'version' is response-only and cannot be written."
    )
    assert _error(http.patch(_path(name), json={"latest_version": "1.0.0"}))[2] == (
        "Invalid request: Value error, latest_version is read-only; it is resolved automatically from "
        "semantic-version ordering"
    )

    versions = _path(name, "versions")
    assert _error(http.post(versions, json={})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid request: server_json: Field required",
    )
    assert _error(http.post(versions, json={"server_json": {"name": name}}))[2] == (
        "Invalid request: server_json.version: Field required"
    )
    other = http.post(versions, json={"server_json": {"name": "io.acme/other", "version": "1.0.0"}})
    assert _error(other)[2] == f"server_json.name 'io.acme/other' does not match path parameter '{name}'"
    assert _error(http.post(versions, json={"server_json": {"name": name, "version": "1.0"}}))[2] == (
        "Invalid semantic version for server_json.version: '1.0'"
    )
    refused = http.post(versions, json={"server_json": {"name": name, "version": "1.0.0"}, "status": "deprecated"})
    assert _error(refused)[2] == "Initial MCP server registration status must be 'draft' or 'active'."
    refused = http.post(versions, json={"server_json": {"name": name, "version": "1.0.0"}, "status": "live"})
    assert _error(refused)[2] == "Invalid status: 'live'"
    assert http.get(_path(name, "versions", "1.0.0")).status_code == 404  # nothing was registered
    _register(http, name, "1.0.0")
    assert _error(http.post(versions, json={"server_json": {"name": name, "version": "1.0.0"}})) == (
        400,
        "RESOURCE_ALREADY_EXISTS",
        f"MCP server version '{name}' version '1.0.0' already exists",
    )
    # A registry response envelope is accepted as the server.json it wraps.
    wrapped = http.post(versions, json={"server_json": {"server": {"name": name, "version": "2.0.0"}}})
    assert _ok(wrapped)["server_json"] == {"name": name, "version": "2.0.0"}
    assert _error(http.get(_path("io.acme/none"))) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "MCP server 'io.acme/none' not found",
    )


def test_a_version_registered_for_a_new_name_makes_the_server(http: httpx.Client, name: str) -> None:
    _register(http, name, "0.1.0", status="active")
    server = _ok(http.get(_path(name)))
    assert (server["name"], server["latest_version"], server["status"]) == (name, "0.1.0", "active")


def test_latest_follows_status_then_semver_precedence(http: httpx.Client, name: str) -> None:
    for version in ("1.0.0", "1.0.0-alpha.10", "1.0.0-alpha.9", "0.9.0", "1.0.0-beta"):
        _register(http, name, version)
    latest = _path(name, "aliases", "latest")
    assert _ok(http.get(latest))["version"] == "1.0.0"  # a release is above its prereleases
    http.patch(_path(name, "versions", "1.0.0"), json={"status": "active"})
    http.patch(_path(name, "versions", "1.0.0"), json={"status": "deprecated"})
    http.patch(_path(name, "versions", "0.9.0"), json={"status": "active"})
    assert _ok(http.get(latest))["version"] == "0.9.0"  # an active version wins over higher ones
    searched = http.get(_path(name, "versions"), params={"order_by": ["version DESC"]})
    assert [v["version"] for v in _ok(searched)["mcp_server_versions"]] == [
        "1.0.0",
        "1.0.0-beta",
        "1.0.0-alpha.10",
        "1.0.0-alpha.9",
        "0.9.0",
    ]
    found = http.get(_path(name, "versions"), params={"filter_string": "version >= '1.0.0-alpha.10'"})
    assert [v["version"] for v in _ok(found)["mcp_server_versions"]] == ["1.0.0", "1.0.0-alpha.10", "1.0.0-beta"]
    found = http.get(_path(name, "versions"), params={"filter_string": "status IN ('active', 'deprecated')"})
    assert [v["version"] for v in _ok(found)["mcp_server_versions"]] == ["1.0.0", "0.9.0"]
    assert _error(http.get(_path(name, "versions"), params={"filter_string": "version LIKE '1%'"}))[2] == (
        "version only supports semantic comparators '=', '!=', '<', '<=', '>', and '>='"
    )


def test_status_lifecycle_aliases_and_endpoints(http: httpx.Client, name: str) -> None:
    _register(http, name, "1.0.0", status="active")
    _register(http, name, "2.0.0")
    version = _path(name, "versions", "1.0.0")
    assert _error(http.patch(version, json={"status": "active"}))[2] == (
        "Invalid status transition from 'active' to 'active'. Allowed transitions: ['deprecated', 'draft']"
    )
    assert _error(http.patch(version, json={"status": None}))[2] == (
        "status cannot be null; omit the field to leave it unchanged"
    )
    assert _error(http.delete(version))[2] == (
        "Invalid status transition from 'active' to 'deleted'. Allowed transitions: ['deprecated', 'draft']"
    )
    assert _error(http.delete(_path(name)))[2] == (
        f"Cannot delete MCP server '{name}' while it still has an active version ('1.0.0'). Delete or deactivate "
        "the active version first."
    )

    assert _ok(http.post(_path(name, "aliases"), json={"alias": "prod", "version": "1.0.0"})) == {}
    assert _error(http.post(_path(name, "aliases"), json={"alias": "latest", "version": "1.0.0"}))[2] == (
        "The alias name 'latest' is reserved for automatic resolution"
    )
    assert _error(http.post(_path(name, "aliases"), json={"alias": "x", "version": 1}))[2] == (
        "Invalid request: version: Input should be a valid string"
    )
    assert _ok(http.get(_path(name, "aliases", "prod")))["aliases"] == ["prod"]
    endpoints = _path(name, "endpoints")
    by_alias = _ok(http.post(endpoints, json={"url": "https://a.example.com", "server_alias": "prod"}))
    by_version = _ok(http.post(endpoints, json={"url": "https://b.example.com", "server_version": "1.0.0"}))
    on_latest = _ok(http.post(endpoints, json={"url": "https://c.example.com", "server_alias": "latest"}))
    assert on_latest["resolved_version"]["version"] == "1.0.0"
    assert _error(http.post(endpoints, json={"url": "https://d.example.com"}))[2] == (
        "Exactly one of server_version or server_alias must be provided"
    )
    assert _error(http.post(endpoints, json={"url": " ", "server_version": "1.0.0"}))[2] == (
        "MCP access endpoint url cannot be empty or just whitespace: ' '"
    )
    assert _error(http.post(endpoints, json={"url": "https://e.example.com", "server_alias": "nope"})) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Alias 'nope' not found for MCP server '{name}'",
    )
    assert _error(http.post(endpoints, json={"url": "u", "server_version": "1.0.0", "transport_type": "ws"}))[2] == (
        "Invalid transport_type: 'ws'"
    )
    assert _error(
        http.patch(_path(name, "endpoints", by_alias["id"]), json={"server_version": "2.0.0", "server_alias": "prod"})
    )[2] == ("Cannot set both server_version and server_alias in a single update")
    assert _error(http.get(_path("io.acme/other", "endpoints", by_alias["id"]))) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"MCPAccessEndpoint {by_alias['id']} does not belong to server 'io.acme/other'",
    )
    listed = http.get(endpoints, params={"server_alias": "prod"})
    assert [e["id"] for e in _ok(listed)["mcp_access_endpoints"]] == [by_alias["id"]]

    # Retiring 1.0.0 moves `latest` to 2.0.0; deleting it takes its alias and the endpoints on both with it.
    assert _ok(http.patch(version, json={"status": "deprecated"}))["status"] == "deprecated"
    assert _ok(http.get(_path(name, "endpoints", on_latest["id"])))["resolved_version"]["version"] == "2.0.0"
    assert _ok(http.delete(version)) == {}
    assert _error(http.get(version)) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"MCP server version '{name}' version '1.0.0' not found",
    )
    remaining = _ok(http.get(endpoints))["mcp_access_endpoints"]
    assert [e["id"] for e in remaining] == [on_latest["id"]]
    assert by_version["id"] not in {e["id"] for e in _ok(http.get(_path(name)))["access_endpoints"]}
    assert _ok(http.get(_path(name)))["aliases"] == []
    assert _error(http.post(_path(name, "aliases"), json={"alias": "prod", "version": "1.0.0"}))[2] == (
        f"Cannot set alias 'prod' to deleted MCP server version '{name}' version '1.0.0'"
    )
    assert _error(http.post(_path(name, "versions"), json={"server_json": {"name": name, "version": "1.0.0"}}))[:2] == (
        400,
        "RESOURCE_ALREADY_EXISTS",
    )  # a deleted version's name is never registered again

    # With nothing left for `latest` to resolve to, the endpoints following it go too.
    assert _ok(http.delete(_path(name, "versions", "2.0.0"))) == {}
    assert _ok(http.get(endpoints))["mcp_access_endpoints"] == []
    assert _error(http.get(_path(name, "aliases", "latest")))[2] == (
        f"No resolved latest version found for MCP server '{name}'"
    )
    assert _ok(http.delete(_path(name))) == {}


def test_tags_of_servers_and_versions(http: httpx.Client, name: str) -> None:
    _register(http, name, "1.0.0")
    assert _ok(http.post(_path(name, "tags"), json={"key": "team/owner", "value": "ml"})) == {}
    assert _ok(http.post(_path(name, "versions", "1.0.0", "tags"), json={"key": "ci", "value": "green"})) == {}
    assert _ok(http.get(_path(name)))["tags"] == {"team/owner": "ml"}
    assert _ok(http.get(_path(name, "versions", "1.0.0")))["tags"] == {"ci": "green"}
    assert _ok(http.delete(_path(name, "tags", "team/owner"))) == {}
    assert _error(http.delete(_path(name, "tags", "team/owner"))) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Tag 'team/owner' not found on MCP server '{name}'",
    )
    assert _ok(http.delete(_path(name, "versions", "1.0.0", "tags", "ci"))) == {}
    assert _error(http.delete(_path(name, "versions", "1.0.0", "tags", "ci")))[2] == (
        f"Tag 'ci' not found on MCP server version '{name}' version '1.0.0'"
    )
    assert _error(http.post(_path("io.acme/none", "tags"), json={"key": "k", "value": "v"})) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "MCPServer not found (name='io.acme/none')",
    )
    assert _error(http.post(_path(name, "tags"), json={"key": "k"}))[2] == "Invalid request: value: Field required"


def test_search_filters_orders_and_pages(http: httpx.Client, name: str) -> None:
    names = [f"{name}-{letter}" for letter in "abc"]
    for index, server in enumerate(names):
        _ok(http.post(API, json={"name": server}))
        http.patch(_path(server), json={"display_name": f"Weather {index}"})
        http.post(_path(server, "tags"), json={"key": "batch", "value": name})
    _register(http, names[0], "1.0.0", status="active")
    _register(http, names[1], "1.0.0")
    http.post(_path(names[1], "endpoints"), json={"url": "https://x.example.com", "server_version": "1.0.0"})

    def found(**params: Any) -> list[str]:
        return [server["name"] for server in _ok(http.get(API, params=params))["mcp_servers"]]

    batch = f"tags.batch = '{name}'"
    assert found(filter_string=batch) == names
    assert found(filter_string=f"{batch} AND status = 'active'") == names[:1]
    assert found(filter_string=f"{batch} AND status IN ('draft', 'active')") == names[:2]
    assert found(filter_string=f"{batch} AND has_access_endpoints = 'true'") == names[1:2]
    assert found(filter_string=f"{batch} AND has_access_endpoints = 'false'") == [names[0], names[2]]
    assert found(filter_string=f"{batch} AND display_name LIKE '%2'") == names[2:]
    assert found(filter_string=batch, order_by=["name DESC"]) == names[::-1]

    first = _ok(http.get(API, params={"filter_string": batch, "max_results": 2}))
    assert [s["name"] for s in first["mcp_servers"]] == names[:2]
    rest = _ok(http.get(API, params={"filter_string": batch, "max_results": 2, "page_token": first["next_page_token"]}))
    assert ([s["name"] for s in rest["mcp_servers"]], rest["next_page_token"]) == (names[2:], None)

    everywhere = _ok(http.get(f"{API}/endpoints", params={"filter_string": f"server_name IN ('{names[1]}')"}))
    assert [e["server_name"] for e in everywhere["mcp_access_endpoints"]] == [names[1]]
    drafts = _ok(
        http.get(f"{API}/endpoints", params={"filter_string": f"status = 'draft' AND server_name = '{names[1]}'"})
    )
    assert len(drafts["mcp_access_endpoints"]) == 1

    assert _error(http.get(API, params={"filter_string": "owner = 'me'"}))[:2] == (400, "INVALID_PARAMETER_VALUE")
    assert _error(http.get(API, params={"filter_string": "has_access_endpoints != 'true'"}))[2] == (
        "has_access_endpoints only supports '= true' or '= false'"
    )
    assert _error(http.get(API, params={"order_by": ["owner"]}))[2] == (
        "Invalid order_by key 'owner'. Valid keys: ['created_at', 'last_updated_at', 'name']"
    )
    assert _error(http.get(API, params={"max_results": 1001}))[2] == (
        "Invalid value for max_results. It must be at most 1000, but got 1001"
    )
    assert _error(http.get(API, params={"max_results": "many"}))[2] == (
        "Invalid request: query.max_results: Input should be a valid integer, unable to parse string as an integer"
    )
    assert _ok(http.get(_path("io.acme/none", "versions"))) == {"mcp_server_versions": [], "next_page_token": None}


# --- workspaces ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace_server(
    backend_store_uri: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mcp-workspaces")
    store_uri = new_store_uri(kind_of(backend_store_uri), folder, "mcp", request)
    with runyard_server(store_uri, folder / "mlartifacts", "--enable-workspaces") as url:
        yield url


def test_a_teams_mcp_servers_are_its_own(workspace_server: str, name: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    teams = (f"team-a-{suffix}", f"team-b-{suffix}")
    with httpx.Client(base_url=workspace_server, timeout=30) as http:
        for team in teams:
            assert http.post("/api/3.0/mlflow/workspaces", json={"name": team}).status_code == 201
        mine, theirs = ({"X-MLFLOW-WORKSPACE": team} for team in teams)
        created = http.post(API, json={"name": name}, headers=mine)
        assert created.json()["workspace"] == teams[0]
        version = {"server_json": {"name": name, "version": "1.0.0"}}
        assert http.post(_path(name, "versions"), json=version, headers=mine).status_code == 200
        endpoint = {"url": "https://x.example.com", "server_version": "1.0.0"}
        assert http.post(_path(name, "endpoints"), json=endpoint, headers=mine).status_code == 200
        assert http.get(_path(name), headers=theirs).status_code == 404
        assert http.get(_path(name, "versions", "1.0.0"), headers=theirs).status_code == 404
        assert http.get(API, headers=theirs).json()["mcp_servers"] == []
        assert http.get(f"{API}/endpoints", headers=theirs).json()["mcp_access_endpoints"] == []
        assert http.post(API, json={"name": name}, headers=theirs).status_code == 200  # the name is free there
        assert [s["workspace"] for s in http.get(API, headers=mine).json()["mcp_servers"]] == [teams[0]]
        refused = http.delete(f"/api/3.0/mlflow/workspaces/{teams[0]}")
        assert "table 'mcp_servers' still contains 1 resource(s)" in refused.json()["message"]


def test_bad_input_is_refused_in_mlflows_shape(http: httpx.Client, name: str) -> None:
    """Whatever a request carries, the answer is a 4xx with MLflow's error body, never a server error."""
    _register(http, name, "1.0.0")
    long = "x" * 6000
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", _path(name, "versions"), {"json": {"server_json": []}}),
        ("POST", _path(name, "versions"), {"json": {"server_json": {"name": name, "version": "1.0.1"}, "tools": {}}}),
        ("POST", _path(name, "versions"), {"json": {"server_json": {"name": name, "version": "1.0.1"}, "tools": [1]}}),
        (
            "POST",
            _path(name, "versions"),
            {"json": {"server_json": {"name": name, "version": "1.0.1"}, "connect_options": {"k": 5}}},
        ),
        ("POST", _path(name, "versions"), {"json": {"server_json": {"name": name, "version": "99999999999.0.0"}}}),
        ("POST", _path(name, "versions"), {"json": {"server_json": {"name": name, "version": "1.0.0-" + "a." * 70}}}),
        ("POST", API, {"json": {"name": f"io.acme/{'a' * 300}"}}),
        ("POST", _path(name, "tags"), {"json": {"key": "k", "value": long}}),
        ("POST", _path(name, "tags"), {"json": {"key": long, "value": "v"}}),
        ("POST", _path(name, "aliases"), {"json": {"alias": long, "version": "1.0.0"}}),
        ("POST", _path(name, "endpoints"), {"json": {"url": f"https://{long}", "server_version": "1.0.0"}}),
        ("PATCH", _path(name), {"json": {"display_name": long}}),
        ("PATCH", _path(name, "endpoints", "ae-missing"), {"json": {"url": "https://x.example.com"}}),
        ("GET", API, {"params": {"filter_string": "created_at LIKE 5"}}),
        ("GET", API, {"params": {"filter_string": "name > 5"}}),
        ("GET", API, {"params": {"filter_string": "tags.k IS NULL"}}),
        ("GET", API, {"params": {"filter_string": "metrics.m > 1"}}),
        ("GET", API, {"params": {"page_token": "not-a-token"}}),
        ("GET", API, {"params": {"max_results": 0}}),
        ("GET", f"{API}/endpoints", {"params": {"filter_string": "tags.k = 'v'"}}),
        ("GET", f"{API}/endpoints", {"params": {"order_by": ["url"]}}),
        ("GET", _path(name, "versions"), {"params": {"filter_string": "version > '1.0'"}}),
        ("GET", _path(name, "versions"), {"params": {"order_by": ["version DESC", "version"]}}),
        ("GET", _path(name, "versions", long), {}),
    ]
    for method, path, kwargs in requests:
        response = http.request(method, path, **kwargs)
        assert 400 <= response.status_code < 500, f"{method} {path[:80]} {kwargs}: {response.text[:300]}"
        assert set(response.json()) >= {"error_code", "message"}, response.text
