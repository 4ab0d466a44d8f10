"""Registry error paths over raw HTTP: MLflow's codes and statuses for every kind of bad request, and no 500s."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.test_errors import expect_error

API = "/api/2.0/mlflow"


@pytest.fixture
def model(http: httpx.Client) -> str:
    """A registered model with version 1, registered from a run's artifacts (the source must be inside the run)."""
    unique_name = f"errors-{uuid.uuid4().hex}"
    experiment_id = http.post(f"{API}/experiments/create", json={"name": unique_name}).json()["experiment_id"]
    run = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]
    assert http.post(f"{API}/registered-models/create", json={"name": unique_name}).status_code == 200
    body = {"name": unique_name, "source": f"{run['artifact_uri']}/model", "run_id": run["run_id"]}
    created = http.post(f"{API}/model-versions/create", json=body)
    assert created.json()["model_version"]["status"] == "READY", created.text
    return unique_name


def call(http: httpx.Client, method: str, path: str, payload: dict) -> httpx.Response:
    if method == "GET":
        return http.get(API + path, params=payload)
    return http.request(method, API + path, json=payload)


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "code", "fragment"),
    [
        ("GET", "/registered-models/get", {}, 400, "INVALID_PARAMETER_VALUE", "parameter 'name'"),
        ("GET", "/registered-models/get", {"name": "nope-rm"}, 404, "RESOURCE_DOES_NOT_EXIST", "name=nope-rm"),
        ("GET", "/registered-models/get", {"name": "a:b"}, 400, "INVALID_PARAMETER_VALUE", "cannot contain"),
        ("POST", "/registered-models/create", {"name": "x" * 257}, 400, "INVALID_PARAMETER_VALUE", "256"),
        ("POST", "/registered-models/create", {"name": ".."}, 400, "INVALID_PARAMETER_VALUE", "resolve to"),
        ("POST", "/registered-models/create", {"name": 3}, 400, "INVALID_PARAMETER_VALUE", "'name'"),
        ("POST", "/registered-models/create", {"name": "t", "tags": "x"}, 400, "INVALID_PARAMETER_VALUE", "tags"),
        (
            "POST",
            "/registered-models/create",
            {"name": "t", "tags": [{"value": "v"}]},
            400,
            "INVALID_PARAMETER_VALUE",
            "",
        ),
        ("DELETE", "/registered-models/delete", {"name": "nope-rm"}, 404, "RESOURCE_DOES_NOT_EXIST", ""),
        ("POST", "/registered-models/rename", {"name": "nope-rm"}, 400, "INVALID_PARAMETER_VALUE", "new_name"),
        ("GET", "/registered-models/search", {"max_results": 1001}, 400, "INVALID_PARAMETER_VALUE", "1000"),
        ("GET", "/registered-models/search", {"max_results": 0}, 400, "INVALID_PARAMETER_VALUE", "positive"),
        ("GET", "/registered-models/search", {"filter": "nm = 'x'"}, 400, "INVALID_PARAMETER_VALUE", "attribute key"),
        ("GET", "/registered-models/search", {"filter": "name = 3"}, 400, "INVALID_PARAMETER_VALUE", "quoted"),
        ("GET", "/registered-models/search", {"filter": "name >"}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("GET", "/registered-models/search", {"filter": "tags.t IS NULL"}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("GET", "/registered-models/search", {"order_by": "version_number"}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("GET", "/registered-models/search", {"order_by": ["name", "name DESC"]}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("GET", "/registered-models/search", {"page_token": "%%%"}, 400, "INVALID_PARAMETER_VALUE", "page token"),
        ("GET", "/model-versions/search", {"filter": "version_number = 1.5"}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("GET", "/model-versions/search", {"filter": "run_id > 'a'"}, 400, "INVALID_PARAMETER_VALUE", "comparator"),
        ("GET", "/model-versions/search", {"filter": "source_path IN ('a')"}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("GET", "/model-versions/search", {"order_by": "run_id"}, 400, "INVALID_PARAMETER_VALUE", "order by key"),
        ("GET", "/model-versions/search", {"max_results": 200001}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("GET", "/registered-models/search", {"max_results": "9" * 30}, 400, "INVALID_PARAMETER_VALUE", "9" * 30),
        (
            "GET",
            "/model-versions/search",
            {"filter": f"version_number = {'9' * 12}"},
            400,
            "INVALID_PARAMETER_VALUE",
            "",
        ),
        (
            "GET",
            "/model-versions/search",
            {"filter": f"creation_timestamp > {'9' * 30}"},
            400,
            "INVALID_PARAMETER_VALUE",
            "",
        ),
        (
            "POST",
            "/model-versions/create",
            {"name": "n", "source": f"models:/n/{'9' * 30}"},
            400,
            "INVALID_PARAMETER_VALUE",
            "",
        ),
        ("GET", "/model-versions/get", {"name": "nope-rm", "version": "1"}, 404, "RESOURCE_DOES_NOT_EXIST", ""),
        ("GET", "/model-versions/get-download-uri", {"name": "nope-rm"}, 400, "INVALID_PARAMETER_VALUE", "integer"),
        ("POST", "/model-versions/create", {"name": "nope-rm"}, 400, "INVALID_PARAMETER_VALUE", "'source'"),
        (
            "POST",
            "/model-versions/create",
            {"name": "n", "source": "s3://b/m", "run_id": "r" * 33},
            400,
            "INVALID_PARAMETER_VALUE",
            "",
        ),
    ],
)
def test_error_paths(
    http: httpx.Client, method: str, path: str, payload: dict, status: int, code: str, fragment: str
) -> None:
    expect_error(call(http, method, path, payload), status, code, fragment)


@pytest.mark.parametrize(
    ("method", "path", "extra", "status", "code", "fragment"),
    [
        ("GET", "/model-versions/get", {"version": "99"}, 404, "RESOURCE_DOES_NOT_EXIST", "version=99) not found"),
        ("GET", "/model-versions/get", {"version": "x"}, 400, "INVALID_PARAMETER_VALUE", "must be an integer, got 'x'"),
        ("GET", "/model-versions/get", {"version": "9" * 20}, 400, "INVALID_PARAMETER_VALUE", "must be an integer"),
        ("GET", "/registered-models/alias", {"alias": "nope"}, 400, "INVALID_PARAMETER_VALUE", "alias nope not found"),
        ("GET", "/registered-models/alias", {"alias": "a b"}, 400, "INVALID_PARAMETER_VALUE", "Invalid alias name"),
        (
            "POST",
            "/registered-models/alias",
            {"alias": "Latest", "version": "1"},
            400,
            "INVALID_PARAMETER_VALUE",
            "reserved",
        ),
        (
            "POST",
            "/registered-models/alias",
            {"alias": "v1", "version": "1"},
            400,
            "INVALID_PARAMETER_VALUE",
            "reserved",
        ),
        ("POST", "/registered-models/alias", {"alias": "a", "version": "9"}, 404, "RESOURCE_DOES_NOT_EXIST", ""),
        (
            "POST",
            "/registered-models/alias",
            {"alias": "a" * 256, "version": "1"},
            400,
            "INVALID_PARAMETER_VALUE",
            "255",
        ),
        ("POST", "/registered-models/set-tag", {"key": "bad key!", "value": "v"}, 400, "INVALID_PARAMETER_VALUE", ""),
        (
            "POST",
            "/registered-models/set-tag",
            {"key": "k", "value": "v" * 100_001},
            400,
            "INVALID_PARAMETER_VALUE",
            "",
        ),
        ("POST", "/model-versions/set-tag", {"version": "1"}, 400, "INVALID_PARAMETER_VALUE", "parameter 'key'"),
        (
            "POST",
            "/model-versions/transition-stage",
            {"version": "1", "stage": "bogus"},
            400,
            "INVALID_PARAMETER_VALUE",
            "None, Staging",
        ),
        (
            "POST",
            "/model-versions/transition-stage",
            {"version": "1", "stage": "Archived", "archive_existing_versions": True},
            400,
            "INVALID_PARAMETER_VALUE",
            "not an Active stage",
        ),
        ("POST", "/registered-models/create", {}, 400, "RESOURCE_ALREADY_EXISTS", "already exists"),
        ("POST", "/model-versions/create", {"source": "/etc/passwd"}, 400, "INVALID_PARAMETER_VALUE", "local path"),
        ("POST", "/model-versions/create", {"source": "runs:/abc/model"}, 400, "INVALID_PARAMETER_VALUE", "run_id"),
        ("POST", "/model-versions/create", {"source": "mlflow-artifacts:/0/../x"}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("POST", "/model-versions/create", {"source": "http://evil/x"}, 400, "INVALID_PARAMETER_VALUE", "'http'"),
        (
            "POST",
            "/model-versions/create",
            {"source": "models:/m-nope", "model_id": "m-nope"},
            400,
            "INVALID_PARAMETER_VALUE",
            "",
        ),
        ("POST", "/model-versions/create", {"source": "models:/nope-rm/1"}, 404, "RESOURCE_DOES_NOT_EXIST", ""),
        ("POST", "/model-versions/create", {"source": "dummy-source"}, 400, "INVALID_PARAMETER_VALUE", "local path"),
    ],
)
def test_error_paths_on_a_model(
    http: httpx.Client, model: str, method: str, path: str, extra: dict, status: int, code: str, fragment: str
) -> None:
    expect_error(call(http, method, path, {"name": model, **extra}), status, code, fragment)


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("POST", "/registered-models/create", {"name": ["x"]}),
        ("POST", "/registered-models/create", {"name": "n", "tags": [1, 2]}),
        ("POST", "/registered-models/create", {"name": "n", "tags": [{"key": "k", "value": 5}]}),
        ("PATCH", "/registered-models/update", {"name": {"a": 1}, "description": "d"}),
        ("POST", "/registered-models/get-latest-versions", {"name": "n", "stages": [3]}),
        ("POST", "/model-versions/create", {"name": "n", "source": 5}),
        ("POST", "/model-versions/create", {"name": "n", "source": "s3://b/k", "model_id": 7}),
        ("POST", "/model-versions/create", {"name": "n", "source": "models:/", "model_id": "m"}),
        ("POST", "/model-versions/create", {"name": "n", "source": "models://host/m", "model_id": "m"}),
        ("POST", "/model-versions/create", {"name": "n", "source": "models:/a/b/c"}),
        ("POST", "/model-versions/create", {"name": "n", "source": "file:///%2e%2e/etc"}),
        ("POST", "/model-versions/transition-stage", {"name": "n", "version": "1", "stage": 4}),
        ("PATCH", "/model-versions/update", {"name": "n", "version": [], "description": False}),
        ("DELETE", "/model-versions/delete", {"name": "n", "version": "99999999999999999999"}),
    ],
)
def test_malformed_bodies_are_4xx(http: httpx.Client, method: str, path: str, payload: dict) -> None:
    response = call(http, method, path, payload)
    assert 400 <= response.status_code < 500, response.text


def test_ui_model_version_artifact(http: httpx.Client, model: str) -> None:
    version = http.get(f"{API}/model-versions/get", params={"name": model, "version": "1"}).json()["model_version"]
    run = http.get(f"{API}/runs/get", params={"run_id": version["run_id"]}).json()["run"]["info"]
    path = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert (
        http.put(f"/api/2.0/mlflow-artifacts/artifacts/{path}/model/MLmodel", content=b"flavors: {}\n").status_code
        == 200
    )

    ok = http.get("/model-versions/get-artifact", params={"name": model, "version": "1", "path": "MLmodel"})
    assert (ok.status_code, ok.content) == (200, b"flavors: {}\n")
    by_run = {"name": model, "source": f"runs:/{run['run_id']}/model", "run_id": run["run_id"]}
    assert http.post(f"{API}/model-versions/create", json=by_run).json()["model_version"]["version"] == "2"
    ok = http.get("/model-versions/get-artifact", params={"name": model, "version": "2", "path": "MLmodel"})
    assert (ok.status_code, ok.content) == (200, b"flavors: {}\n")
    expect_error(
        http.get("/model-versions/get-artifact", params={"name": model, "version": "1", "path": "../x"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid path",
    )
    expect_error(
        http.get("/model-versions/get-artifact", params={"name": model, "version": "9", "path": "MLmodel"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    missing = http.get("/model-versions/get-artifact", params={"name": model, "version": "1", "path": "nope.txt"})
    assert missing.status_code == 404


def test_ajax_twins_and_both_latest_versions_methods(http: httpx.Client, model: str) -> None:
    for prefix in ("/api", "/ajax-api"):
        got = http.get(f"{prefix}/2.0/mlflow/registered-models/get", params={"name": model})
        assert got.json()["registered_model"]["latest_versions"][0]["version"] == "1"
    posted = http.post(f"{API}/registered-models/get-latest-versions", json={"name": model, "stages": ["None"]})
    fetched = http.get(f"{API}/registered-models/get-latest-versions", params={"name": model, "stages": "none"})
    assert posted.json() == fetched.json()
    assert [v["version"] for v in posted.json()["model_versions"]] == ["1"]
    staged = http.post(f"{API}/registered-models/get-latest-versions", json={"name": model, "stages": ["Production"]})
    assert staged.json() == {}


def test_deletes_of_missing_tags_and_aliases_are_quiet(http: httpx.Client, model: str) -> None:
    """As in MLflow: deleting what is not there succeeds once the model (or version) exists."""
    for path, body in (
        ("/registered-models/delete-tag", {"key": "nope"}),
        ("/model-versions/delete-tag", {"version": "1", "key": "nope"}),
        ("/registered-models/alias", {"alias": "nope"}),
    ):
        assert http.request("DELETE", API + path, json={"name": model, **body}).status_code == 200
    expect_error(
        http.request("DELETE", f"{API}/model-versions/delete-tag", json={"name": model, "version": "5", "key": "k"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
