"""The MCP Server Registry with `--auth`: administrators run it and are recorded as who registered and changed what;
other users are refused, since there are no per-server grants yet."""

from __future__ import annotations

from tests.auth.conftest import ADMIN, AuthServer

API = "/api/3.0/mlflow/mcp-servers"
SERVER = f"{API}/io.acme%2Fauth-weather"


def test_administrators_run_the_registry_and_are_recorded(auth_server: AuthServer) -> None:
    with auth_server.http(ADMIN) as admin:
        created = admin.post(API, json={"name": "io.acme/auth-weather"})
        assert created.status_code == 200, created.text
        assert (created.json()["created_by"], created.json()["last_updated_by"]) == (ADMIN[0], ADMIN[0])
        assert created.json()["allowed_actions"] == ["USE", "UPDATE", "DELETE", "MANAGE"]
        document = {"name": "io.acme/auth-weather", "version": "1.0.0"}
        version = admin.post(f"{SERVER}/versions", json={"server_json": document, "status": "active"}).json()
        assert version["created_by"] == ADMIN[0]
        endpoint = admin.post(f"{SERVER}/endpoints", json={"url": "https://x.example.com", "server_alias": "latest"})
        assert endpoint.json()["created_by"] == ADMIN[0]
        deprecated = admin.patch(f"{SERVER}/versions/1.0.0", json={"status": "deprecated"}).json()
        assert deprecated["last_updated_by"] == ADMIN[0]


def test_other_users_are_refused(auth_server: AuthServer) -> None:
    user = auth_server.add_user("mcp-user")
    with auth_server.http(user) as http:
        for response in (
            http.get(API),
            http.get(f"{API}/endpoints"),
            http.get(SERVER),
            http.post(API, json={"name": "io.acme/mine"}),
            http.post(
                f"{API}/io.acme%2Fmine/versions", json={"server_json": {"name": "io.acme/mine", "version": "1.0.0"}}
            ),
        ):
            assert response.status_code == 403, response.text
            assert response.json()["error_code"] == "PERMISSION_DENIED"
    with auth_server.http() as anonymous:
        assert anonymous.get(API).status_code == 401
