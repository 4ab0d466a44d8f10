"""SearchRuns / SearchExperiments semantics a user relies on, on both databases."""

from __future__ import annotations

import httpx
import pytest

API = "/api/2.0/mlflow"


@pytest.fixture
def experiment(http: httpx.Client, unique_name: str) -> str:
    """Runs a..e: acc 0.9 / 0.5 / NaN / (none) / 0.7, lr alternating, created in that order."""
    experiment_id = http.post(f"{API}/experiments/create", json={"name": unique_name}).json()["experiment_id"]
    for i, (name, acc) in enumerate([("a", 0.9), ("b", 0.5), ("c", "NaN"), ("d", None), ("e", 0.7)]):
        body = {"experiment_id": experiment_id, "run_name": name, "start_time": 1000 + i}
        run_id = http.post(f"{API}/runs/create", json=body).json()["run"]["info"]["run_id"]
        metrics = [] if acc is None else [{"key": "acc", "value": acc, "timestamp": 1, "step": 0}]
        params = [{"key": "lr", "value": "0.1" if i % 2 else "0.01"}]
        http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics, "params": params})
    return experiment_id


def names(http: httpx.Client, experiment_id: str, **body: object) -> list[str]:
    response = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment_id], **body})
    assert response.status_code == 200, response.text
    return [run["info"]["run_name"] for run in response.json().get("runs", [])]


def test_order_by_metric_puts_nan_then_missing_last(http: httpx.Client, experiment: str) -> None:
    assert names(http, experiment, order_by=["metrics.acc DESC"]) == ["a", "e", "b", "c", "d"]
    assert names(http, experiment, order_by=["metrics.acc ASC"]) == ["b", "e", "a", "c", "d"]


def test_filtered_and_ordered_by_the_same_metric(http: httpx.Client, experiment: str) -> None:
    assert names(http, experiment, filter="metrics.acc > 0.6", order_by=["metrics.acc ASC"]) == ["e", "a"]
    both = names(http, experiment, filter="metrics.acc >= 0.5 AND params.lr = '0.01'", order_by=["metrics.acc DESC"])
    assert both == ["a", "e"]


def test_several_conditions_on_one_table_each_keep_their_own_key(http: httpx.Client, experiment: str) -> None:
    """Two params, two metric bounds and an order by param then metric, in one statement: each condition reads
    its own key, however many joins of the same table the statement holds, and a search repeated with the
    conditions reordered answers the same."""
    response = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment]})
    for run in response.json()["runs"]:
        name = run["info"]["run_name"]
        params = [{"key": "model", "value": "cnn" if name in "abe" else "mlp"}]
        metrics = [{"key": "loss", "value": {"a": 0.3, "b": 0.1, "c": 0.2, "d": 0.4, "e": 0.9}[name], "timestamp": 1}]
        body = {"run_id": run["info"]["run_id"], "params": params, "metrics": metrics}
        assert http.post(f"{API}/runs/log-batch", json=body).status_code == 200
    filters = [
        "params.lr = '0.01' AND params.model = 'cnn' AND metrics.acc > 0.6 AND metrics.loss < 0.5",
        "metrics.loss < 0.5 AND metrics.acc > 0.6 AND params.model = 'cnn' AND params.lr = '0.01'",
    ]
    for filter_string in filters:
        assert names(http, experiment, filter=filter_string, order_by=["params.model", "metrics.loss DESC"]) == ["a"]
    wide = "params.model = 'cnn' AND metrics.loss < 0.95"
    assert names(http, experiment, filter=wide, order_by=["params.lr DESC", "metrics.loss ASC"]) == ["b", "a", "e"]
    assert names(http, experiment, filter=wide, order_by=["metrics.loss DESC"]) == ["e", "a", "b"]


def test_default_order_is_newest_first(http: httpx.Client, experiment: str) -> None:
    assert names(http, experiment) == ["e", "d", "c", "b", "a"]


def test_order_by_an_attribute_puts_runs_without_it_last(http: httpx.Client, experiment: str) -> None:
    """Runs still going have no end time: they come after the finished ones in either direction, as in MLflow."""
    response = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment]})
    ids = {run["info"]["run_name"]: run["info"]["run_id"] for run in response.json()["runs"]}
    for name, end_time in (("b", 5000), ("d", 3000), ("e", 4000)):
        finished = {"run_id": ids[name], "status": "FINISHED", "end_time": end_time}
        assert http.post(f"{API}/runs/update", json=finished).status_code == 200
    assert names(http, experiment, order_by=["attributes.end_time DESC"]) == ["b", "e", "d", "c", "a"]
    assert names(http, experiment, order_by=["attributes.end_time ASC"]) == ["d", "e", "b", "c", "a"]
    assert names(http, experiment, order_by=["attributes.start_time ASC"]) == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("attributes.run_name = 'c'", ["c"]),
        ("run_name IN ('a', 'b')", None),  # IN is for run_id only, as in MLflow
        ("params.lr != '0.01'", ["d", "b"]),
        ("params.missing IS NULL", ["e", "d", "c", "b", "a"]),
        ("tags.`mlflow.runName` LIKE 'a%'", ["a"]),
        ("tags.mlflow.runName ILIKE 'E'", ["e"]),
        ("attributes.start_time >= 1003", ["e", "d"]),
    ],
)
def test_filters(http: httpx.Client, experiment: str, filter_string: str, expected: list[str] | None) -> None:
    response = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment], "filter": filter_string})
    if expected is None:
        assert response.status_code == 400
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    else:
        assert [run["info"]["run_name"] for run in response.json().get("runs", [])] == expected


def test_like_is_case_sensitive_and_ilike_is_not(http: httpx.Client, experiment: str) -> None:
    assert names(http, experiment, filter="attributes.run_name LIKE 'A'") == []
    assert names(http, experiment, filter="attributes.run_name ILIKE 'A'") == ["a"]


def test_paging_visits_every_run_once(http: httpx.Client, experiment: str) -> None:
    seen: list[str] = []
    token = None
    while True:
        body = {"experiment_ids": [experiment], "max_results": 2, "order_by": ["metrics.acc DESC"]}
        page = http.post(f"{API}/runs/search", json={**body, **({"page_token": token} if token else {})}).json()
        seen += [run["info"]["run_name"] for run in page.get("runs", [])]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == ["a", "e", "b", "c", "d"]


def test_search_experiments(http: httpx.Client, unique_name: str) -> None:
    ids = [
        http.post(
            f"{API}/experiments/create", json={"name": f"{unique_name}-{i}", "tags": [{"key": "k", "value": str(i)}]}
        ).json()["experiment_id"]
        for i in range(3)
    ]
    http.post(f"{API}/experiments/delete", json={"experiment_id": ids[1]})
    body = {"max_results": 10, "filter": f"name LIKE '{unique_name}-%'", "order_by": ["name DESC"]}
    active = http.post(f"{API}/experiments/search", json=body).json()["experiments"]
    assert [e["experiment_id"] for e in active] == [ids[2], ids[0]]
    everything = http.post(f"{API}/experiments/search", json={**body, "view_type": "ALL"}).json()["experiments"]
    assert len(everything) == 3
    tagged = http.get(f"{API}/experiments/search", params={"max_results": 10, "filter": "tags.k = '2'"}).json()
    assert [e["experiment_id"] for e in tagged["experiments"]] == [ids[2]]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("attributes.start_time > 99999999999999999999", []),
        ("attributes.start_time > -99999999999999999999", ["e", "d", "c", "b", "a"]),
        ("attributes.start_time < 9223372036854775808", ["e", "d", "c", "b", "a"]),
        ("attributes.end_time <= -9223372036854775809", []),
    ],
)
def test_timestamps_beyond_64_bits_compare_instead_of_failing(
    http: httpx.Client, experiment: str, filter_string: str, expected: list[str]
) -> None:
    """The SQLite driver cannot bind such an integer; the server compares it as a number on both databases."""
    assert names(http, experiment, filter=filter_string) == expected


def test_experiment_times_beyond_64_bits_compare_instead_of_failing(http: httpx.Client, unique_name: str) -> None:
    http.post(f"{API}/experiments/create", json={"name": unique_name})
    for filter_string, found in [("creation_time > 99999999999999999999", False), ("creation_time > -1e30", True)]:
        response = http.post(f"{API}/experiments/search", json={"max_results": 1000, "filter": filter_string})
        assert response.status_code == 200, response.text
        listed = [e["name"] for e in response.json().get("experiments", [])]
        assert (unique_name in listed) is found
