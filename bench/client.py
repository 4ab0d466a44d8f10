"""A thin keep-alive HTTP client for the MLflow REST calls the workloads make, with the stock client's bodies."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

_API = "/api/2.0/mlflow"
_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


class ApiError(RuntimeError):
    """A call answered something other than 200."""


def now_ms() -> int:
    return int(time.time() * 1000)


def metric(key: str, value: float, step: int, timestamp: int | None = None) -> dict[str, Any]:
    return {"key": key, "value": value, "timestamp": timestamp or now_ms(), "step": step}


class Api:
    """One keep-alive connection (use one per client thread)."""

    def __init__(self, base_url: str, timeout_s: float = 120.0, workspace: str | None = None) -> None:
        headers = {"X-MLFLOW-WORKSPACE": workspace} if workspace else None  # what `mlflow.set_workspace` sends
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s, trust_env=False, headers=headers)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @staticmethod
    def _check(response: httpx.Response) -> httpx.Response:
        if response.status_code != 200:
            request = response.request
            raise ApiError(f"{request.method} {request.url.path} -> {response.status_code}: {response.text[:300]}")
        return response

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self._check(self._client.post(f"{_API}/{endpoint}", json=body)).json()
        return data

    def get(self, path: str, params: Mapping[str, str | list[str]] | None = None) -> dict[str, Any]:
        """GET a JSON answer from any path (e.g. `/api/3.0/mlflow/traces/get`)."""
        data: dict[str, Any] = self._check(self._client.get(path, params=params)).json()
        return data

    def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON body to any path (e.g. `/api/3.0/mlflow/traces/search`)."""
        data: dict[str, Any] = self._check(self._client.post(path, json=body)).json()
        return data

    def post_bytes(self, path: str, content: bytes, headers: dict[str, str]) -> None:
        """POST a raw body (e.g. an OTLP protobuf export to `/v1/traces`); the answer's body is not read further."""
        self._check(self._client.post(path, content=content, headers=headers))

    def create_experiment(self, name: str) -> str:
        return str(self.post("experiments/create", {"name": name})["experiment_id"])

    def create_run(self, experiment_id: str) -> str:
        body = {"experiment_id": experiment_id, "start_time": now_ms(), "user_id": "bench", "tags": []}
        return str(self.post("runs/create", body)["run"]["info"]["run_id"])

    def log_batch(self, run_id: str, metrics: list[dict[str, Any]], params: list[dict[str, str]] | None = None) -> None:
        body: dict[str, Any] = {"run_id": run_id, "metrics": metrics}
        if params:
            body["params"] = params
        self.post("runs/log-batch", body)

    def log_metric(self, run_id: str, key: str, value: float, step: int) -> None:
        body = {"run_id": run_id, "run_uuid": run_id, "key": key, "value": value, "timestamp": now_ms(), "step": step}
        self.post("runs/log-metric", body)

    def search_runs(self, experiment_id: str, filter_string: str, order_by: list[str], max_results: int) -> list[Any]:
        body = {
            "experiment_ids": [experiment_id],
            "filter": filter_string,
            "order_by": order_by,
            "max_results": max_results,
        }
        return list(self.post("runs/search", body).get("runs", []))

    def search_page(
        self, experiment_id: str, filter_string: str, order_by: list[str], max_results: int, page_token: str | None
    ) -> tuple[list[Any], str | None]:
        """One page of a run search as the UI and the client ask for it (active runs only), and the next token."""
        body: dict[str, Any] = {
            "experiment_ids": [experiment_id],
            "filter": filter_string,
            "order_by": order_by,
            "max_results": max_results,
            "run_view_type": "ACTIVE_ONLY",
        }
        if page_token:
            body["page_token"] = page_token
        data = self.post("runs/search", body)
        return list(data.get("runs", [])), data.get("next_page_token") or None

    def metric_history_page(
        self, run_id: str, key: str, max_results: int, page_token: str | None
    ) -> tuple[list[Any], str | None]:
        params = {"run_uuid": run_id, "run_id": run_id, "metric_key": key, "max_results": str(max_results)}
        if page_token:
            params["page_token"] = page_token
        data = self._check(self._client.get(f"{_API}/metrics/get-history", params=params)).json()
        return list(data.get("metrics", [])), data.get("next_page_token") or None

    def put_artifact(self, path: str, chunks: Iterator[bytes]) -> None:
        self._check(self._client.put(f"{_ARTIFACTS}/{path}", content=chunks))

    def get_artifact(self, path: str, chunk_size: int) -> int:
        """Streams the file and throws the bytes away; returns how many arrived."""
        received = 0
        with self._client.stream("GET", f"{_ARTIFACTS}/{path}") as response:
            if response.status_code != 200:
                response.read()
                self._check(response)
            for chunk in response.iter_bytes(chunk_size):
                received += len(chunk)
        return received
