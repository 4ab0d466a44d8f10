"""The Skill Registry with `--auth`: administrators run it and are recorded as who registered and changed what;
other users are refused, since there are no per-skill grants yet."""

from __future__ import annotations

from tests.auth.conftest import ADMIN, AuthServer

API = "/api/3.0/mlflow/skills"


def test_administrators_run_the_registry_and_are_recorded(auth_server: AuthServer) -> None:
    with auth_server.http(ADMIN) as admin:
        created = admin.post(API, json={"name": "auth-reviewer"})
        assert created.status_code == 200, created.text
        assert (created.json()["created_by"], created.json()["last_updated_by"]) == (ADMIN[0], ADMIN[0])
        version = admin.post(f"{API}/auth-reviewer/versions", json={"source": "https://github.com/a/s.git"}).json()
        assert version["created_by"] == ADMIN[0]
        deprecated = admin.patch(f"{API}/auth-reviewer/versions/1", json={"status": "deprecated"}).json()
        assert deprecated["last_updated_by"] == ADMIN[0]


def test_other_users_are_refused(auth_server: AuthServer) -> None:
    user = auth_server.add_user("skills-user")
    with auth_server.http(user) as http:
        for response in (
            http.get(API),
            http.get(f"{API}/auth-reviewer"),
            http.post(API, json={"name": "mine"}),
            http.post(f"{API}/mine/versions", json={"source": "https://github.com/a/s.git"}),
        ):
            assert response.status_code == 403, response.text
            assert response.json()["error_code"] == "PERMISSION_DENIED"
    with auth_server.http() as anonymous:
        assert anonymous.get(API).status_code == 401
