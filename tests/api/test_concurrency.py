"""Many clients writing at once lose nothing and see no "database is locked" (SQLite) or deadlock (PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

API = "/api/2.0/mlflow"
CLIENTS = 16
BATCHES_PER_CLIENT = 10
POINTS_PER_BATCH = 100


def _log_batches(server_url: str, run_ids: list[str], client_index: int) -> list[int]:
    statuses = []
    with httpx.Client(base_url=server_url, timeout=120) as http:
        for batch in range(BATCHES_PER_CLIENT):
            run_id = run_ids[client_index % len(run_ids)]
            metrics = [
                {"key": f"c{client_index}", "value": float(i), "timestamp": batch, "step": batch * POINTS_PER_BATCH + i}
                for i in range(POINTS_PER_BATCH)
            ]
            response = http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
            statuses.append(response.status_code)
    return statuses


def _history_length(http: httpx.Client, run_id: str, key: str) -> int:
    response = http.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": key})
    return len(response.json().get("metrics", []))


def _run_concurrently(server_url: str, run_ids: list[str]) -> None:
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda i: _log_batches(server_url, run_ids, i), range(CLIENTS)))
    assert all(status == 200 for statuses in results for status in statuses), results


def _new_runs(http: httpx.Client, name: str, count: int) -> list[str]:
    experiment_id = http.post(f"{API}/experiments/create", json={"name": name}).json()["experiment_id"]
    return [
        http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]["run_id"]
        for _ in range(count)
    ]


def test_sixteen_clients_one_run(server_url: str, unique_name: str) -> None:
    with httpx.Client(base_url=server_url, timeout=60) as http:
        (run_id,) = _new_runs(http, unique_name, 1)
        _run_concurrently(server_url, [run_id])
        for client_index in range(CLIENTS):
            assert _history_length(http, run_id, f"c{client_index}") == BATCHES_PER_CLIENT * POINTS_PER_BATCH
        latest = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]["metrics"]
        assert len(latest) == CLIENTS
        assert {m["step"] for m in latest} == {BATCHES_PER_CLIENT * POINTS_PER_BATCH - 1}


def test_sixteen_clients_many_runs(server_url: str, unique_name: str) -> None:
    with httpx.Client(base_url=server_url, timeout=60) as http:
        run_ids = _new_runs(http, unique_name, CLIENTS)
        _run_concurrently(server_url, run_ids)
        for client_index, run_id in enumerate(run_ids):
            assert _history_length(http, run_id, f"c{client_index}") == BATCHES_PER_CLIENT * POINTS_PER_BATCH


def test_concurrent_run_creation_and_param_races(server_url: str, unique_name: str) -> None:
    """Racing writers of the same param with the same value all succeed; with different values exactly one wins."""
    with httpx.Client(base_url=server_url, timeout=60) as http:
        (run_id,) = _new_runs(http, unique_name, 1)

    def log(value: str) -> int:
        with httpx.Client(base_url=server_url, timeout=60) as client:
            body = {"run_id": run_id, "key": "shared", "value": value}
            return client.post(f"{API}/runs/log-parameter", json=body).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        same = list(pool.map(log, ["v"] * CLIENTS))
        different = list(pool.map(log, [f"x{i}" for i in range(CLIENTS)]))
    assert same == [200] * CLIENTS
    assert different == [400] * CLIENTS  # "v" was already logged, so every other value is refused
