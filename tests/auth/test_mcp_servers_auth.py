"""The MCP Server Registry with `--auth` (default permission NO_PERMISSIONS), as MLflow 3.18's auth guards it: role
grants of type `mcp_server` on `*` or a server's name, and `mcp_server_version` on `*` for every server's versions;
a server's creator manages it; READ shows a server, EDIT changes it, MANAGE deletes it or anything under it; the
version tier decides what may be done with versions and a DENY there withholds the version an endpoint serves; a
search shows only readable servers, each with its `allowed_actions`; deleting a server drops the grants naming it."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.auth.conftest import ADMIN, AuthServer

API = "/api/3.0/mlflow/mcp-servers"
ROLES = "/api/3.0/mlflow/roles"
ALL_ACTIONS = ["USE", "UPDATE", "DELETE", "MANAGE"]
PASSENGERS = ("resolved_version", "tools", "server_version", "server_alias")
_numbers = itertools.count()


def _unique(prefix: str) -> str:
    return f"io.auth/{prefix}-{next(_numbers)}"


def _path(name: str) -> str:
    return f"{API}/{name.replace('/', '%2F')}"


def _role(admin: httpx.Client, user: str, *grants: tuple[str, str, str]) -> int:
    """A role granting (resource_type, pattern, permission), assigned to `user`; returns its id."""
    created = admin.post(f"{ROLES}/create", json={"workspace": "default", "name": f"mcp-{next(_numbers)}"})
    assert created.status_code == 200, created.text
    role_id = int(created.json()["role"]["id"])
    for resource_type, pattern, permission in grants:
        body = {"role_id": role_id, "resource_type": resource_type, "resource_pattern": pattern}
        added = admin.post(f"{ROLES}/permissions/add", json={**body, "permission": permission})
        assert added.status_code == 200, added.text
    assert admin.post(f"{ROLES}/assign", json={"username": user, "role_id": role_id}).status_code == 200
    return role_id


def _denied(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["error_code"] == "PERMISSION_DENIED"


def _listed(http: httpx.Client) -> dict[str, list[str]]:
    """The servers a search shows the caller, with their allowed actions."""
    response = http.get(API, params={"max_results": 1000})
    assert response.status_code == 200, response.text
    return {s["name"]: s["allowed_actions"] for s in response.json()["mcp_servers"]}


def _document(name: str, version: str = "1.0.0") -> dict[str, Any]:
    return {"server_json": {"name": name, "version": version}, "tools": [{"name": "forecast"}]}


def _server_with_endpoint(admin: httpx.Client, name: str) -> str:
    """A server with a version 1.0.0 (aliased `prod`) and an endpoint pinned to it; returns the endpoint's id."""
    assert admin.post(f"{_path(name)}/versions", json=_document(name)).status_code == 200
    assert admin.post(f"{_path(name)}/aliases", json={"alias": "prod", "version": "1.0.0"}).status_code == 200
    endpoint = admin.post(f"{_path(name)}/endpoints", json={"url": "https://x.example.com", "server_version": "1.0.0"})
    assert endpoint.status_code == 200, endpoint.text
    return str(endpoint.json()["id"])


def test_administrators_run_the_registry_and_are_recorded(auth_server: AuthServer) -> None:
    name = _unique("admins")
    with auth_server.http(ADMIN) as admin:
        created = admin.post(API, json={"name": name})
        assert created.status_code == 200, created.text
        assert (created.json()["created_by"], created.json()["last_updated_by"]) == (ADMIN[0], ADMIN[0])
        assert created.json()["allowed_actions"] == ALL_ACTIONS
        version = admin.post(f"{_path(name)}/versions", json={**_document(name), "status": "active"}).json()
        assert version["created_by"] == ADMIN[0]
        endpoint = admin.post(
            f"{_path(name)}/endpoints", json={"url": "https://x.example.com", "server_alias": "latest"}
        )
        assert endpoint.json()["created_by"] == ADMIN[0]
        assert endpoint.json()["resolved_version"]["version"] == "1.0.0"
        deprecated = admin.patch(f"{_path(name)}/versions/1.0.0", json={"status": "deprecated"}).json()
        assert deprecated["last_updated_by"] == ADMIN[0]
        assert _listed(admin)[name] == ALL_ACTIONS
    with auth_server.http() as anonymous:
        assert anonymous.get(API).status_code == 401


def test_a_user_without_grants_sees_nothing_and_the_creator_manages_what_they_create(
    auth_server: AuthServer,
) -> None:
    made, registered, theirs = _unique("made"), _unique("registered"), _unique("theirs")
    creator, stranger = auth_server.add_user(f"mcp-creator-{next(_numbers)}"), auth_server.add_user("mcp-stranger")
    with auth_server.http(ADMIN) as admin:
        _server_with_endpoint(admin, theirs)
    with auth_server.http(creator) as mine:
        assert theirs not in _listed(mine)  # no grant and a default of NO_PERMISSIONS: invisible
        assert mine.get(f"{API}/endpoints").json()["mcp_access_endpoints"] == []
        assert _denied(mine.get(_path(theirs)))
        assert _denied(mine.post(f"{_path(theirs)}/versions", json=_document(theirs, "2.0.0")))
        # Creating a server, or registering the first version of one nobody made, makes its creator its manager.
        created = mine.post(API, json={"name": made})
        assert (created.status_code, created.json()["allowed_actions"]) == (200, ALL_ACTIONS)
        assert mine.post(f"{_path(registered)}/versions", json=_document(registered)).status_code == 200
        assert _listed(mine) == {made: ALL_ACTIONS, registered: ALL_ACTIONS}
        endpoint = mine.post(
            f"{_path(registered)}/endpoints", json={"url": "https://m.example.com", "server_alias": "latest"}
        )
        assert endpoint.status_code == 200, endpoint.text
        assert [e["server_name"] for e in mine.get(f"{API}/endpoints").json()["mcp_access_endpoints"]] == [registered]
        assert mine.post(f"{_path(made)}/tags", json={"key": "k", "value": "v"}).status_code == 200
    with auth_server.http(stranger) as other:
        assert _listed(other) == {}
        for response in (
            other.get(_path(made)),
            other.get(f"{_path(registered)}/versions"),
            other.get(f"{_path(registered)}/versions/1.0.0"),
            other.get(f"{_path(registered)}/endpoints"),
            other.post(f"{_path(registered)}/versions", json=_document(registered, "2.0.0")),
            other.post(f"{_path(made)}/tags", json={"key": "k", "value": "stolen"}),
            other.patch(_path(made), json={"display_name": "stolen"}),
            other.delete(_path(made)),
        ):
            assert _denied(response), response.text
    with auth_server.http(creator) as mine:
        assert mine.delete(_path(made)).status_code == 200
    # The creator's grant went with the server: the same name made again by someone else is not theirs.
    with auth_server.http(ADMIN) as admin:
        assert admin.post(API, json={"name": made}).status_code == 200
    with auth_server.http(creator) as mine:
        assert _denied(mine.get(_path(made)))
        assert made not in _listed(mine)


def test_role_grants_read_use_edit_and_manage_one_server_and_deny_vetoes(auth_server: AuthServer) -> None:
    readable, used, editable, managed, hidden = (_unique(p) for p in ("read", "use", "edit", "manage", "hidden"))
    user = auth_server.add_user(f"mcp-granted-{next(_numbers)}")
    with auth_server.http(ADMIN) as admin:
        for name in (readable, used, editable, managed, hidden):
            _server_with_endpoint(admin, name)
        grants = [(readable, "READ"), (used, "USE"), (editable, "EDIT"), (managed, "MANAGE")]
        _role(admin, user[0], *(("mcp_server", name, permission) for name, permission in grants))
    with auth_server.http(user) as http:
        assert _listed(http) == {
            readable: [],
            used: ["USE"],
            editable: ["USE", "UPDATE"],
            managed: ALL_ACTIONS,
        }
        assert http.get(_path(readable)).json()["allowed_actions"] == []
        assert http.get(f"{_path(readable)}/versions/1.0.0").status_code == 200
        assert http.get(f"{_path(readable)}/aliases/prod").json()["version"] == "1.0.0"
        assert http.get(f"{_path(readable)}/endpoints").json()["mcp_access_endpoints"][0]["server_version"] == "1.0.0"
        assert _denied(http.post(f"{_path(readable)}/tags", json={"key": "k", "value": "v"}))
        assert _denied(http.post(f"{_path(used)}/versions", json=_document(used, "2.0.0")))
        # EDIT changes a server and registers versions; deleting anything (a tag, an endpoint, a version) is MANAGE.
        assert http.post(f"{_path(editable)}/tags", json={"key": "k", "value": "v"}).status_code == 200
        assert http.patch(_path(editable), json={"display_name": "Edited"}).json()["allowed_actions"] == [
            "USE",
            "UPDATE",
        ]
        assert http.post(f"{_path(editable)}/versions", json=_document(editable, "2.0.0")).status_code == 200
        assert http.patch(f"{_path(editable)}/versions/2.0.0", json={"status": "active"}).status_code == 200
        assert _denied(http.delete(f"{_path(editable)}/tags/k"))
        assert _denied(http.delete(f"{_path(editable)}/versions/2.0.0"))
        # Deleting by status is deleting: MANAGE, as the delete route needs (MLflow lets EDIT do it).
        assert _denied(http.patch(f"{_path(editable)}/versions/2.0.0", json={"status": "deleted"}))
        assert _denied(http.delete(_path(editable)))
        assert http.delete(f"{_path(managed)}/tags/missing").status_code in (200, 404)
        assert http.delete(f"{_path(managed)}/versions/1.0.0").status_code == 200
        assert http.delete(_path(managed)).status_code == 200
        assert _denied(http.get(_path(hidden)))
    with auth_server.http(ADMIN) as admin:
        _role(admin, user[0], ("mcp_server", "*", "EDIT"), ("mcp_server", editable, "DENY"))
    with auth_server.http(user) as http:
        listed = _listed(http)
        assert hidden in listed  # every server, but the denied one
        assert editable not in listed
        assert _denied(http.get(_path(editable)))
        assert editable not in {e["server_name"] for e in http.get(f"{API}/endpoints").json()["mcp_access_endpoints"]}
        assert http.post(f"{_path(hidden)}/tags", json={"key": "k", "value": "v"}).status_code == 200


def test_the_version_tier_overrides_the_server_grant_for_versions(auth_server: AuthServer) -> None:
    name, other = _unique("tiered"), _unique("tiered-other")
    denied, widened = auth_server.add_user(f"mcp-tier-denied-{next(_numbers)}"), auth_server.add_user("mcp-widened")
    with auth_server.http(ADMIN) as admin:
        endpoint_id = _server_with_endpoint(admin, name)
        _server_with_endpoint(admin, other)
        _role(admin, denied[0], ("mcp_server", "*", "MANAGE"), ("mcp_server_version", "*", "DENY"))
        _role(admin, widened[0], ("mcp_server", name, "READ"), ("mcp_server_version", "*", "MANAGE"))
    with auth_server.http(denied) as http:
        # The server is theirs to manage, but not its versions: those are neither shown nor changed.
        server = http.get(_path(name)).json()
        assert server["allowed_actions"] == ALL_ACTIONS
        assert all(server["access_endpoints"][0][field] is None for field in ("resolved_version", "server_version"))
        endpoint = http.get(f"{_path(name)}/endpoints/{endpoint_id}").json()
        assert [endpoint[field] for field in PASSENGERS] == [None] * 4
        assert endpoint["url"] == "https://x.example.com"
        for found in http.get(f"{API}/endpoints").json()["mcp_access_endpoints"]:
            assert [found[field] for field in PASSENGERS] == [None] * 4
        for response in (
            http.get(f"{_path(name)}/versions"),
            http.get(f"{_path(name)}/versions/1.0.0"),
            http.get(f"{_path(name)}/aliases/prod"),
            http.post(f"{_path(name)}/versions", json=_document(name, "2.0.0")),
            http.post(f"{_path(_unique('new'))}/versions", json=_document("io.auth/never")),
            http.get(f"{_path(name)}/endpoints", params={"server_version": "1.0.0"}),
            http.get(f"{API}/endpoints", params={"server_alias": "prod"}),
            http.get(f"{API}/endpoints", params={"filter_string": "status = 'draft'"}),
            http.post(f"{_path(name)}/endpoints", json={"url": "https://y.example.com", "server_version": "1.0.0"}),
            http.post(f"{_path(name)}/endpoints", json={"url": "https://y.example.com", "server_alias": "latest"}),
            http.delete(f"{_path(name)}/endpoints/{endpoint_id}"),  # deleting anything of a server needs the tier
            http.delete(_path(name)),
        ):
            assert _denied(response), response.text
        # What names no version stays theirs: changing the server or an endpoint's address, making a new server.
        assert http.post(f"{_path(name)}/tags", json={"key": "k", "value": "v"}).status_code == 200
        moved = http.patch(f"{_path(name)}/endpoints/{endpoint_id}", json={"url": "https://z.example.com"})
        assert (moved.status_code, moved.json()["url"], moved.json()["server_version"]) == (
            200,
            "https://z.example.com",
            None,
        )
        assert http.post(API, json={"name": _unique("empty")}).status_code == 200
    with auth_server.http(widened) as http:
        # The tier's MANAGE widens READ on the server for its versions, and only on servers they may read.
        assert _denied(http.post(f"{_path(name)}/tags", json={"key": "k", "value": "v"}))
        for status in ("active", "deprecated"):
            assert http.patch(f"{_path(name)}/versions/1.0.0", json={"status": status}).status_code == 200
        assert http.post(f"{_path(name)}/versions/1.0.0/tags", json={"key": "k", "value": "v"}).status_code == 200
        assert _denied(http.get(f"{_path(other)}/versions/1.0.0"))
        assert http.delete(f"{_path(name)}/versions/1.0.0").status_code == 200


def test_creating_needs_a_seat_and_no_deny(auth_server: AuthServer) -> None:
    blocked, allowed = _unique("blocked"), _unique("allowed")
    vetoed, everywhere = auth_server.add_user(f"mcp-vetoed-{next(_numbers)}"), auth_server.add_user("mcp-all-denied")
    with auth_server.http(ADMIN) as admin:
        _role(admin, vetoed[0], ("mcp_server", blocked, "DENY"))
        _role(admin, everywhere[0], ("mcp_server", "*", "DENY"))
    with auth_server.http(vetoed) as http:
        assert _denied(http.post(API, json={"name": blocked}))
        assert _denied(http.post(f"{_path(blocked)}/versions", json=_document(blocked)))
        assert http.post(API, json={"name": allowed}).status_code == 200
    with auth_server.http(everywhere) as http:
        assert _denied(http.post(API, json={"name": _unique("any")}))
        assert _denied(http.post(API, json={}))  # a body with no name is held to the `*` veto
        name = _unique("any")
        assert _denied(http.post(f"{_path(name)}/versions", json=_document(name)))


def test_grants_on_mcp_servers_are_checked_as_mlflow_checks_them(auth_server: AuthServer) -> None:
    with auth_server.http(ADMIN) as admin:
        role_id = _role(admin, ADMIN[0])
        add = {"role_id": role_id, "permission": "READ"}
        refused = admin.post(
            f"{ROLES}/permissions/add",
            json={**add, "resource_type": "mcp_server_version", "resource_pattern": "io.auth/one"},
        )
        assert refused.json()["message"] == (
            "Invalid resource_pattern 'io.auth/one' for resource_type='mcp_server_version'. This resource type "
            "supports only wildcard ('*') grants."
        )
        for resource_type, pattern, permission in (
            ("mcp_server", "io.auth/one", "USE"),
            ("mcp_server", "*", "DENY"),
            ("mcp_server_version", "*", "EDIT"),
        ):
            body = {"role_id": role_id, "resource_type": resource_type, "resource_pattern": pattern}
            added = admin.post(f"{ROLES}/permissions/add", json={**body, "permission": permission})
            assert added.status_code == 200, added.text
