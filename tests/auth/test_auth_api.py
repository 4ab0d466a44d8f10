"""The user and permission API of MLflow's basic-auth app, driven by the stock `AuthServiceClient` (and, for the
per-resource routes the stock client of this MLflow version no longer calls, by raw HTTP with MLflow's bodies)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient

from server.app import create_app
from server.config import Settings
from tests.auth.conftest import ADMIN, PASSWORD, AuthServer

API = "/api/2.0/mlflow"
Use = Callable[[tuple[str, str]], tuple[AuthServiceClient, MlflowClient]]


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch, auth_server: AuthServer) -> Use:
    """Both stock clients, signed in as `user` through MLFLOW_TRACKING_USERNAME/PASSWORD."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

    def sign_in(user: tuple[str, str]) -> tuple[AuthServiceClient, MlflowClient]:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])
        client = mlflow.server.get_app_client("basic-auth", tracking_uri=auth_server.url)
        assert isinstance(client, AuthServiceClient)
        return client, MlflowClient(auth_server.url)

    return sign_in


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(MlflowException) as caught:
        call()
    return str(caught.value.error_code)


def test_admin_creates_gets_and_promotes_users(use: Use) -> None:
    admin, _ = use(ADMIN)
    created = admin.create_user("api-erin", PASSWORD)
    assert (created.username, created.is_admin) == ("api-erin", False)
    assert created.id == admin.get_user("api-erin").id
    assert _code(lambda: admin.create_user("api-erin", PASSWORD)) == "RESOURCE_ALREADY_EXISTS"
    assert _code(lambda: admin.get_user("api-nobody")) == "RESOURCE_DOES_NOT_EXIST"
    assert _code(lambda: admin.create_user("api-short", "short")) == "INVALID_PARAMETER_VALUE"

    erin, _ = use(("api-erin", PASSWORD))
    assert erin.get_user("api-erin").username == "api-erin"  # one's own account
    assert _code(lambda: erin.get_user(ADMIN[0])) == "PERMISSION_DENIED"
    assert _code(lambda: erin.create_user("api-mallory", PASSWORD)) == "PERMISSION_DENIED"
    assert _code(lambda: erin.update_user_admin("api-erin", True)) == "PERMISSION_DENIED"

    admin, _ = use(ADMIN)
    admin.update_user_admin("api-erin", True)
    assert admin.get_user("api-erin").is_admin
    erin, _ = use(("api-erin", PASSWORD))
    assert erin.get_user(ADMIN[0]).is_admin  # the new flag holds at once, although erin's password is cached
    admin, _ = use(ADMIN)
    admin.update_user_admin("api-erin", False)
    erin, _ = use(("api-erin", PASSWORD))
    assert _code(lambda: erin.get_user(ADMIN[0])) == "PERMISSION_DENIED"


def test_a_changed_password_holds_at_once(use: Use) -> None:
    admin, _ = use(ADMIN)
    admin.create_user("api-frank", PASSWORD)
    _, tracking = use(("api-frank", PASSWORD))
    tracking.search_experiments()  # the verified password is now cached
    admin, _ = use(ADMIN)
    admin.update_user_password("api-frank", "second-password")
    _, old = use(("api-frank", PASSWORD))
    assert _code(old.search_experiments) == "UNAUTHENTICATED"
    frank, tracking = use(("api-frank", "second-password"))
    tracking.search_experiments()

    # Changing one's own password re-states the current one; someone else's is for administrators.
    assert _code(lambda: frank.update_user_password("api-frank", "third-password")) == "INVALID_PARAMETER_VALUE"
    assert (
        _code(lambda: frank.update_user_password("api-frank", "third-password", current_password="wrong-one"))
        == "INVALID_PARAMETER_VALUE"
    )
    frank.update_user_password("api-frank", "third-password", current_password="second-password")
    _, old = use(("api-frank", "second-password"))
    assert _code(old.search_experiments) == "UNAUTHENTICATED"
    frank, tracking = use(("api-frank", "third-password"))
    tracking.search_experiments()
    assert _code(lambda: frank.update_user_password(ADMIN[0], "taken-over!")) == "PERMISSION_DENIED"


def test_a_deleted_user_is_refused_at_once(use: Use) -> None:
    admin, _ = use(ADMIN)
    admin.create_user("api-gina", PASSWORD)
    _, tracking = use(("api-gina", PASSWORD))
    tracking.search_experiments()
    admin, _ = use(ADMIN)
    admin.delete_user("api-gina")
    assert _code(lambda: admin.get_user("api-gina")) == "RESOURCE_DOES_NOT_EXIST"
    assert _code(lambda: admin.delete_user("api-gina")) == "RESOURCE_DOES_NOT_EXIST"
    assert _code(lambda: admin.delete_user(ADMIN[0])) == "BAD_REQUEST"  # not one's own account
    _, gone = use(("api-gina", PASSWORD))
    assert _code(gone.search_experiments) == "UNAUTHENTICATED"


def test_grants_through_the_stock_client(use: Use) -> None:
    admin, _ = use(ADMIN)
    for name in ("api-owner", "api-reader"):
        admin.create_user(name, PASSWORD)
    owner, owner_tracking = use(("api-owner", PASSWORD))
    experiment_id = owner_tracking.create_experiment("api-owned")  # its creator holds MANAGE on it
    owner_tracking.create_registered_model("api-owned-model")
    foreign = use(ADMIN)[1].create_experiment("api-admins-own")

    reader, reader_tracking = use(("api-reader", PASSWORD))
    assert _code(lambda: reader_tracking.get_experiment(experiment_id)) == "PERMISSION_DENIED"
    assert reader.get_user_permission("api-reader", "experiment", experiment_id).permission == "NO_PERMISSIONS"

    owner, _ = use(("api-owner", PASSWORD))
    owner.grant_user_permission("api-reader", "experiment", experiment_id, "READ")
    owner.grant_user_permission("api-reader", "registered_model", "api-owned-model", "EDIT")
    assert _code(lambda: owner.grant_user_permission("api-reader", "experiment", experiment_id, "READ")) == (
        "RESOURCE_ALREADY_EXISTS"
    )
    assert _code(lambda: owner.grant_user_permission("api-reader", "experiment", foreign, "READ")) == (
        "PERMISSION_DENIED"
    )
    assert _code(lambda: owner.get_user_permission("api-reader", "experiment", experiment_id)) == "PERMISSION_DENIED"

    reader, reader_tracking = use(("api-reader", PASSWORD))
    assert reader_tracking.get_experiment(experiment_id).name == "api-owned"
    assert _code(lambda: reader_tracking.rename_experiment(experiment_id, "x")) == "PERMISSION_DENIED"
    reader_tracking.update_registered_model("api-owned-model", description="edited")
    result = reader.get_user_permission("api-reader", "experiment", experiment_id)
    assert (result.permission, result.allowed) == ("READ", False)
    assert use(ADMIN)[0].get_user_permission("api-reader", "registered_model", "api-owned-model").allowed

    owner, _ = use(("api-owner", PASSWORD))
    owner.revoke_user_permission("api-reader", "experiment", experiment_id)
    assert _code(lambda: owner.revoke_user_permission("api-reader", "experiment", experiment_id)) == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    assert _code(lambda: owner.grant_user_permission("api-reader", "experiment", experiment_id, "ALL")) == (
        "INVALID_PARAMETER_VALUE"
    )
    _, reader_tracking = use(("api-reader", PASSWORD))
    assert _code(lambda: reader_tracking.get_experiment(experiment_id)) == "PERMISSION_DENIED"

    admin, _ = use(ADMIN)
    user = admin.get_user("api-reader")
    assert user.username == "api-reader"


def test_per_resource_permission_routes(auth_server: AuthServer, use: Use) -> None:
    """MLflow's experiments/permissions and registered-models/permissions routes, with the bodies and answers of
    the basic-auth client that calls them."""
    admin, _ = use(ADMIN)
    admin.create_user("api-hal", PASSWORD)
    admin.create_user("api-ivy", PASSWORD)
    _, hal_tracking = use(("api-hal", PASSWORD))
    experiment_id = hal_tracking.create_experiment("api-hal-exp")
    hal_tracking.create_registered_model("api-hal-model")
    exp = {"experiment_id": experiment_id, "username": "api-ivy"}
    model = {"name": "api-hal-model", "username": "api-ivy"}
    with auth_server.http(("api-hal", PASSWORD)) as hal, auth_server.http(("api-ivy", PASSWORD)) as ivy:
        created = hal.post(f"{API}/experiments/permissions/create", json={**exp, "permission": "READ"})
        assert created.status_code == 200, created.text
        ivy_id = created.json()["experiment_permission"]["user_id"]
        assert created.json() == {
            "experiment_permission": {"experiment_id": experiment_id, "user_id": ivy_id, "permission": "READ"}
        }
        assert ivy.get(f"{API}/experiments/get", params={"experiment_id": experiment_id}).status_code == 200
        again = hal.post(f"{API}/experiments/permissions/create", json={**exp, "permission": "READ"})
        assert (again.status_code, again.json()["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
        bad = hal.patch(f"{API}/experiments/permissions/update", json={**exp, "permission": "OWNER"})
        assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert (
            hal.patch(f"{API}/experiments/permissions/update", json={**exp, "permission": "NO_PERMISSIONS"}).json()
            == {}
        )
        got = hal.get(f"{API}/experiments/permissions/get", params=exp).json()
        assert got["experiment_permission"]["permission"] == "NO_PERMISSIONS"
        assert ivy.get(f"{API}/experiments/get", params={"experiment_id": experiment_id}).status_code == 403
        refused = ivy.post(
            f"{API}/experiments/permissions/create", json={**exp, "username": "api-ivy", "permission": "MANAGE"}
        )
        assert refused.status_code == 403
        assert hal.request("DELETE", f"{API}/experiments/permissions/delete", json=exp).json() == {}
        missing = hal.get(f"{API}/experiments/permissions/get", params=exp)
        assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
        nobody = hal.post(
            f"{API}/experiments/permissions/create", json={**exp, "username": "api-nobody", "permission": "READ"}
        )
        assert (nobody.status_code, nobody.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")

        made = hal.post(f"{API}/registered-models/permissions/create", json={**model, "permission": "READ"})
        assert made.json() == {
            "registered_model_permission": {"name": "api-hal-model", "user_id": ivy_id, "permission": "READ"}
        }
        assert ivy.get(f"{API}/registered-models/get", params={"name": "api-hal-model"}).status_code == 200
        hal.patch(f"{API}/registered-models/permissions/update", json={**model, "permission": "NO_PERMISSIONS"})
        assert ivy.get(f"{API}/registered-models/get", params={"name": "api-hal-model"}).status_code == 403
        assert (
            hal.get(f"{API}/registered-models/permissions/get", params=model).json()["registered_model_permission"][
                "permission"
            ]
            == "NO_PERMISSIONS"
        )
        assert hal.request("DELETE", f"{API}/registered-models/permissions/delete", json=model).status_code == 200
        gone = hal.request("DELETE", f"{API}/registered-models/permissions/delete", json=model)
        assert (gone.status_code, gone.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")

    # users/get lists the grants as MLflow's user entity did.
    admin, _ = use(ADMIN)
    use(("api-hal", PASSWORD))[0].grant_user_permission("api-ivy", "experiment", experiment_id, "EDIT")
    with auth_server.http(ADMIN) as http:
        user = http.get(f"{API}/users/get", params={"username": "api-ivy"}).json()["user"]
    assert user == {
        "id": ivy_id,
        "username": "api-ivy",
        "is_admin": False,
        "experiment_permissions": [{"experiment_id": experiment_id, "user_id": ivy_id, "permission": "EDIT"}],
        "registered_model_permissions": [],
    }


def test_the_user_roster_and_roles_as_the_admin_pages_read_them(auth_server: AuthServer) -> None:
    """MLflow lists users to every signed-in user (to pick reviewers), each with their roles (none here: roles have
    their own tests), and only administrators may list roles across the server or read another user's."""
    jan = auth_server.add_user("api-jan")
    with auth_server.http(jan) as http:
        listed = http.get(f"{API}/users/list").json()["users"]
        assert {"username": "api-jan", "is_admin": False, "roles": []}.items() <= next(
            u for u in listed if u["username"] == "api-jan"
        ).items()
        assert any(u["username"] == ADMIN[0] and u["is_admin"] for u in listed)
        assert "password" not in str(listed)
        assert http.get("/api/3.0/mlflow/users/roles/list", params={"username": "api-jan"}).json() == {"roles": []}
        assert http.get("/api/3.0/mlflow/users/roles/list", params={"username": ADMIN[0]}).status_code == 403
        assert http.get("/api/3.0/mlflow/roles/list").status_code == 403
    with auth_server.http(ADMIN) as http:
        assert http.get("/api/3.0/mlflow/roles/list").json() == {"roles": []}
        missing = http.get("/api/3.0/mlflow/users/roles/list", params={"username": "api-nobody"})
        assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_without_auth_the_routes_do_not_exist(tmp_path: Path) -> None:
    settings = Settings(backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifacts_destination=str(tmp_path))
    app = create_app(settings)
    try:
        http = TestClient(app)
        for method, path, body in [
            ("POST", f"{API}/users/create", {"username": "u", "password": PASSWORD}),
            ("GET", f"{API}/users/get?username=u", None),
            ("PATCH", f"{API}/users/update-password", {"username": "u", "password": PASSWORD}),
            ("PATCH", f"{API}/users/update-admin", {"username": "u", "is_admin": True}),
            ("DELETE", f"{API}/users/delete", {"username": "u"}),
            (
                "POST",
                f"{API}/experiments/permissions/create",
                {"experiment_id": "0", "username": "u", "permission": "READ"},
            ),
            ("GET", f"{API}/registered-models/permissions/get?name=m&username=u", None),
            ("GET", "/api/3.0/mlflow/users/permissions/get?username=u&resource_type=experiment&resource_id=0", None),
            ("POST", "/ajax-api/2.0/mlflow/users/create", {"username": "u", "password": PASSWORD}),
            ("GET", "/ajax-api/2.0/mlflow/users/list", None),
            ("GET", "/ajax-api/3.0/mlflow/roles/list", None),
        ]:
            response = http.request(method, path, json=body)
            assert (response.status_code, response.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND"), path
    finally:
        app.state.context.db.dispose()


def test_the_stock_client_reaches_the_ajax_twins_too(auth_server: AuthServer) -> None:
    with auth_server.http(ADMIN) as http:
        response = http.get("/ajax-api/2.0/mlflow/users/get", params={"username": ADMIN[0]})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["is_admin"] is True
