"""Bad input gets MLflow's error body and status, never a 500, and leaves stored data untouched."""

from __future__ import annotations

import json

import httpx
import pytest

API = "/api/2.0/mlflow"


@pytest.fixture
def run_id(http: httpx.Client, unique_name: str) -> str:
    experiment_id = http.post(f"{API}/experiments/create", json={"name": unique_name}).json()["experiment_id"]
    return http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]["run_id"]


def expect_error(response: httpx.Response, status: int, code: str, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    assert fragment in body["message"]


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "code", "fragment"),
    [
        ("GET", "/runs/get", {}, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'"),
        ("GET", "/runs/get", {"run_id": "0" * 32}, 404, "RESOURCE_DOES_NOT_EXIST", "not found"),
        ("GET", "/experiments/get", {"experiment_id": "999999"}, 404, "RESOURCE_DOES_NOT_EXIST", "No Experiment"),
        ("GET", "/experiments/get", {"experiment_id": "abc"}, 400, "INVALID_PARAMETER_VALUE", "valid integer"),
        # Past 64 bits: PostgreSQL refuses the value, SQLite's driver refuses to bind it; both are the same 400.
        ("GET", "/experiments/get", {"experiment_id": "9" * 20}, 400, "INVALID_PARAMETER_VALUE", "out of range"),
        ("POST", "/experiments/delete", {"experiment_id": "9" * 20}, 400, "INVALID_PARAMETER_VALUE", "out of range"),
        ("GET", "/experiments/get-by-name", {"experiment_name": "nope-x"}, 404, "RESOURCE_DOES_NOT_EXIST", "nope-x"),
        ("POST", "/experiments/create", {}, 400, "INVALID_PARAMETER_VALUE", "parameter 'name'"),
        ("POST", "/experiments/create", {"name": "x" * 501}, 400, "INVALID_PARAMETER_VALUE", "maximum length of 500"),
        ("POST", "/experiments/create", {"name": 12}, 400, "INVALID_PARAMETER_VALUE", "'name'"),
        ("POST", "/experiments/search", {}, 400, "INVALID_PARAMETER_VALUE", "max_results"),
        ("POST", "/experiments/search", {"max_results": 5, "filter": "name =="}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("POST", "/runs/search", {"experiment_ids": ["0"], "max_results": 50001}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("POST", "/runs/search", {"experiment_ids": ["0"], "page_token": "%%%"}, 400, "INVALID_PARAMETER_VALUE", ""),
        (
            "POST",
            "/runs/search",
            {"experiment_ids": ["0"], "filter": "metrics.a = 'x'"},
            400,
            "INVALID_PARAMETER_VALUE",
            "",
        ),
        ("POST", "/runs/search", {"experiment_ids": ["0"], "order_by": ["a", "a"]}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("GET", "/logged-models/m-nope", {}, 404, "RESOURCE_DOES_NOT_EXIST", "m-nope"),
        ("GET", "/metrics/get-history-bulk-interval", {"metric_key": "m"}, 400, "INVALID_PARAMETER_VALUE", ""),
        ("GET", "/no/such/route", {}, 404, "ENDPOINT_NOT_FOUND", ""),
    ],
)
def test_error_paths(
    http: httpx.Client, method: str, path: str, payload: dict, status: int, code: str, fragment: str
) -> None:
    if method == "GET":
        response = http.get(API + path, params=payload)
    else:
        response = http.post(API + path, json=payload)
    expect_error(response, status, code, fragment)


def test_existing_experiment_name_is_a_400(http: httpx.Client, unique_name: str) -> None:
    assert http.post(f"{API}/experiments/create", json={"name": unique_name}).status_code == 200
    expect_error(
        http.post(f"{API}/experiments/create", json={"name": unique_name}),
        400,
        "RESOURCE_ALREADY_EXISTS",
        "already exists",
    )


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"metrics": [{"key": "m", "value": "abc", "timestamp": 1}]}, "'metrics[0].value'"),
        ({"metrics": [{"key": "m", "value": 1.0}]}, "'metrics[0].timestamp'"),
        ({"metrics": [{"key": "m", "value": True, "timestamp": 1}]}, "'metrics[0].value'"),
        (
            {"metrics": [{"key": "m", "value": 1.0, "timestamp": 1}, {"key": "m", "value": 1.0, "timestamp": False}]},
            "Invalid value false for parameter 'timestamp'",
        ),
        ({"metrics": [{"key": "m", "value": 1.0, "timestamp": 2**63}]}, "Invalid value 9223372036854775808 for"),
        ({"metrics": [{"key": "m", "value": 1.0, "timestamp": -1}]}, "nonnegative"),
        ({"metrics": [{"key": "bad key!", "value": 1.0, "timestamp": 1}]}, "Names may only contain"),
        ({"metrics": [{"key": "a//b", "value": 1.0, "timestamp": 1}]}, "would resolve to 'a/b'"),
        ({"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]}, "at most 100 params"),
        ({"metrics": [{"key": "m", "value": 1, "timestamp": i} for i in range(1001)]}, "at most 1000 metrics"),
        ({"params": [{"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}]}, "Duplicate parameter keys"),
        ({"metrics": "not-a-list"}, "'metrics'"),
        ({"tags": [{"value": "no key"}]}, "tags[0].key"),
    ],
)
def test_log_batch_rejects_bad_input_and_writes_nothing(
    http: httpx.Client, run_id: str, payload: dict, fragment: str
) -> None:
    good = {"key": "kept", "value": 1.0, "timestamp": 1}
    body = {"run_id": run_id, **payload}
    body["metrics"] = [*body.get("metrics", []), good] if isinstance(body.get("metrics", []), list) else body["metrics"]
    expect_error(http.post(f"{API}/runs/log-batch", json=body), 400, "INVALID_PARAMETER_VALUE", fragment)
    assert "metrics" not in http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]


def test_log_batch_stores_every_form_protobuf_json_accepts(http: httpx.Client, run_id: str) -> None:
    """The stock client sends numbers; protobuf's JSON parser also takes 64-bit integers and doubles as strings,
    whole floats as integers, and NaN and the infinities by name."""
    metrics = [
        {"key": "plain", "value": 0.5, "timestamp": 7, "step": 2},
        {"key": "texts", "value": "0.25", "timestamp": "8", "step": "3"},
        {"key": "whole", "value": 1, "timestamp": 9.0},
        {"key": "nan", "value": "NaN", "timestamp": 10},
        {"key": "inf", "value": "Infinity", "timestamp": 11},
    ]
    assert http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics}).status_code == 200
    stored = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]["metrics"]
    assert sorted(stored, key=lambda m: m["timestamp"]) == [
        {"key": "plain", "value": 0.5, "timestamp": 7, "step": 2},
        {"key": "texts", "value": 0.25, "timestamp": 8, "step": 3},
        {"key": "whole", "value": 1.0, "timestamp": 9, "step": 0},
        {"key": "nan", "value": "NaN", "timestamp": 10, "step": 0},
        {"key": "inf", "value": 1.7976931348623157e308, "timestamp": 11, "step": 0},
    ]


def test_changed_param_in_batch_rolls_back_the_whole_batch(http: httpx.Client, run_id: str) -> None:
    http.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "1"})
    response = http.post(
        f"{API}/runs/log-batch",
        json={
            "run_id": run_id,
            "params": [{"key": "p", "value": "2"}],
            "metrics": [{"key": "m", "value": 1, "timestamp": 1}],
            "tags": [{"key": "t", "value": "v"}],
        },
    )
    expect_error(response, 400, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed")
    data = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]
    assert data["params"] == [{"key": "p", "value": "1"}]
    assert "metrics" not in data
    assert "t" not in {t["key"] for t in data["tags"]}


def test_malformed_bodies(http: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    expect_error(
        http.post(f"{API}/experiments/create", content=b"{nope", headers=headers), 400, "INVALID_PARAMETER_VALUE"
    )
    expect_error(
        http.post(f"{API}/experiments/create", content=b"[1, 2]", headers=headers), 400, "INVALID_PARAMETER_VALUE"
    )
    expect_error(
        http.post(f"{API}/experiments/create", content=b'{"name": "x"}'), 400, "INVALID_PARAMETER_VALUE", "Content-Type"
    )


def test_replayed_writes_are_harmless(http: httpx.Client, run_id: str) -> None:
    batch = {
        "run_id": run_id,
        "metrics": [{"key": "m", "value": 1.5, "timestamp": 10, "step": 1}],
        "params": [{"key": "p", "value": "v"}],
        "tags": [{"key": "t", "value": "v"}],
    }
    for _ in range(3):
        assert http.post(f"{API}/runs/log-batch", json=batch).status_code == 200
        assert (
            http.post(f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED", "end_time": 5}).status_code
            == 200
        )
    history = http.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "m"}).json()
    assert history == {"metrics": [{"key": "m", "value": 1.5, "timestamp": 10, "step": 1}]}


def test_unknown_status_is_ignored_like_mlflow(http: httpx.Client, run_id: str) -> None:
    response = http.post(f"{API}/runs/update", json={"run_id": run_id, "status": "BOGUS"})
    assert response.status_code == 200
    assert response.json()["run_info"]["status"] == "RUNNING"


def test_error_bodies_carry_mlflow_classification(http: httpx.Client) -> None:
    body = http.get(f"{API}/runs/get", params={"run_id": "f" * 32}).json()
    assert body == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": f"Run with id={'f' * 32} not found",
        "sqlstate": "KAM00",
        "error_class": "RESOURCE_NOT_FOUND",
    }


def test_bulk_history_of_unknown_runs_is_empty_not_an_error(http: httpx.Client) -> None:
    bulk = http.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk", params={"run_id": "nope", "metric_key": "m"})
    assert (bulk.status_code, bulk.json()) == (200, {"metrics": []})
    interval = http.get(f"{API}/metrics/get-history-bulk-interval", params={"run_ids": "nope", "metric_key": "m"})
    assert (interval.status_code, interval.json()) == (200, {})


def test_limits_truncate_or_refuse_as_mlflow_does(http: httpx.Client, run_id: str, unique_name: str) -> None:
    http.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "long", "value": "t" * 9000})
    tags = {
        t["key"]: t["value"]
        for t in http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]["tags"]
    }
    assert tags["long"] == "t" * 8000

    experiment_id = http.post(f"{API}/experiments/create", json={"name": unique_name + "-tags"}).json()["experiment_id"]
    too_long = {"experiment_id": experiment_id, "key": "k", "value": "v" * 20001}
    expect_error(
        http.post(f"{API}/experiments/set-experiment-tag", json=too_long), 400, "INVALID_PARAMETER_VALUE", "20000"
    )
    expect_error(
        http.post(f"{API}/logged-models", json={"experiment_id": experiment_id, "name": "bad/name"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid model name",
    )


def test_get_requests_accept_the_clients_spelling_of_booleans(http: httpx.Client, unique_name: str) -> None:
    experiment_id = http.post(f"{API}/experiments/create", json={"name": unique_name}).json()["experiment_id"]
    model_id = http.post(f"{API}/logged-models", json={"experiment_id": experiment_id}).json()["model"]["info"][
        "model_id"
    ]
    http.delete(f"{API}/logged-models/{model_id}")
    assert http.get(f"{API}/logged-models/{model_id}").status_code == 404
    assert http.get(f"{API}/logged-models/{model_id}", params={"allow_deleted": "True"}).status_code == 200
    expect_error(
        http.get(f"{API}/logged-models/{model_id}", params={"allow_deleted": "maybe"}), 400, "INVALID_PARAMETER_VALUE"
    )


def test_legacy_log_model_appends_to_the_history_tag(http: httpx.Client, run_id: str) -> None:
    model = {"artifact_path": "model", "flavors": {"sklearn": {"v": 1, "config": {"x": 1}}}, "utc_time_created": "t"}
    for _ in range(2):
        body = {"run_id": run_id, "model_json": json.dumps({**model, "run_id": run_id})}
        assert http.post(f"{API}/runs/log-model", json=body).status_code == 200
    tags = {
        t["key"]: t["value"]
        for t in http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]["tags"]
    }
    history = json.loads(tags["mlflow.log-model.history"])
    assert (
        history
        == [{"run_id": run_id, "utc_time_created": "t", "artifact_path": "model", "flavors": {"sklearn": {"v": 1}}}] * 2
    )
    bad = http.post(f"{API}/runs/log-model", json={"run_id": run_id, "model_json": json.dumps({"flavors": {}})})
    expect_error(bad, 400, "INVALID_PARAMETER_VALUE", "missing mandatory fields")


def test_cross_site_simple_posts_are_refused(http: httpx.Client, unique_name: str) -> None:
    """A browser can send text/plain or form posts to any origin without a preflight; none may act."""
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = http.post(
            f"{API}/experiments/create",
            content=json.dumps({"name": unique_name}),
            headers={"Content-Type": content_type},
        )
        expect_error(response, 400, "INVALID_PARAMETER_VALUE", "Content-Type must be one of ['application/json']")
    assert http.get(f"{API}/experiments/get-by-name", params={"experiment_name": unique_name}).status_code == 404
    charset = {"Content-Type": "application/json; charset=utf-8"}
    assert (
        http.post(f"{API}/experiments/create", content=json.dumps({"name": unique_name}), headers=charset).status_code
        == 200
    )


def test_long_incompressible_values_are_stored_on_every_database(http: httpx.Client, run_id: str) -> None:
    """6,000 random characters exceed PostgreSQL's b-tree row limit; no index may cover such a column."""
    import secrets

    value = secrets.token_hex(3000)
    assert (
        http.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "big", "value": value}).status_code == 200
    )
    tag = secrets.token_hex(4000)
    assert http.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "bigtag", "value": tag}).status_code == 200
    data = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]
    assert {p["key"]: p["value"] for p in data["params"]}["big"] == value
    assert {t["key"]: t["value"] for t in data["tags"]}["bigtag"] == tag


def test_long_free_text_fields_never_become_a_500(http: httpx.Client, unique_name: str) -> None:
    experiment_id = http.post(f"{API}/experiments/create", json={"name": unique_name}).json()["experiment_id"]
    body = {"experiment_id": experiment_id, "run_name": "r" * 300, "user_id": "u" * 1000}
    run = http.post(f"{API}/runs/create", json=body)
    assert run.status_code == 200
    assert run.json()["run"]["info"]["run_name"] == "r" * 300
    long_name = {"experiment_id": experiment_id, "name": "m" * 501}
    expect_error(http.post(f"{API}/logged-models", json=long_name), 400, "INVALID_PARAMETER_VALUE", "500")
    run_id = run.json()["run"]["info"]["run_id"]
    metric = {"key": "m", "value": 1, "timestamp": 1, "dataset_name": "d" * 501, "dataset_digest": "x"}
    response = http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [metric]})
    expect_error(response, 400, "INVALID_PARAMETER_VALUE", "dataset_name")


def test_tracking_api_presigned_urls_refuse_proxied_runs_like_mlflow(http: httpx.Client, run_id: str) -> None:
    upload, download = f"{API}/artifacts/presigned-upload-url", f"{API}/artifacts/presigned-download-url"
    expect_error(
        http.post(upload, json={"run_id": run_id, "path": "m.pkl"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Presigned upload is not supported for proxied artifact storage (artifact URI scheme: mlflow-artifacts)",
    )
    expect_error(http.post(upload, json={"path": "m.pkl"}), 400, "INVALID_PARAMETER_VALUE", "Exactly one of")
    expect_error(http.post(upload, json={"run_id": run_id, "path": "../x"}), 400, "INVALID_PARAMETER_VALUE")
    expect_error(
        http.post(download, json={"run_id": run_id, "path": "m.pkl"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Presigned download is not supported for runs with proxied artifact storage",
    )
    expect_error(
        http.post(download, json={"run_id": run_id, "path": "m.pkl", "expiration": 0}),
        400,
        "INVALID_PARAMETER_VALUE",
        "expiration must be between 1 and 604800 seconds",
    )
    expect_error(http.post(download, json={"run_id": "0" * 32, "path": "m"}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_an_echoed_value_is_cut_so_an_error_stays_small(http: httpx.Client) -> None:
    """A message quoting a megabyte of input comes back cut in its middle: MLflow's wording at both ends, and a body
    of a few kilobytes instead of a megabyte."""
    response = http.post("/api/2.0/mlflow/experiments/delete", json={"experiment_id": "x" * 1_000_000})
    assert response.status_code == 400
    assert len(response.content) < 3_000
    message = response.json()["message"]
    assert message.startswith("Invalid experiment ID 'xxxxxxxxxx")
    assert "… (997" in message
    assert " characters cut) …xxxxxxxxxx" in message
