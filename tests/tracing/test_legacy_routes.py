"""MLflow 2's trace routes, as clients before 3.0 call them (start, end, info, search), and run links, which the 3.x
client makes through the v2 route."""

from __future__ import annotations

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

API2 = "/api/2.0/mlflow"


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return client.create_experiment(unique_name)


def test_a_v2_trace_is_started_ended_read_and_searched(server_url: str, experiment_id: str) -> None:
    with httpx.Client(base_url=server_url) as http:
        started = http.post(
            f"{API2}/traces",
            json={
                "experiment_id": experiment_id,
                "timestamp_ms": 1_700_000_000_000,
                "request_metadata": [{"key": "mlflow.traceInputs", "value": '{"q": 1}'}],
                "tags": [{"key": "mlflow.traceName", "value": "predict"}, {"key": "team", "value": "search"}],
            },
        )
        assert started.status_code == 200, started.text
        info = started.json()["trace_info"]
        request_id = info["request_id"]
        assert info["status"] == "IN_PROGRESS"
        assert info["timestamp_ms"] == 1_700_000_000_000
        tags = {tag["key"]: tag["value"] for tag in info["tags"]}
        assert tags["mlflow.traceName"] == "predict"
        assert tags["mlflow.artifactLocation"].endswith(f"/traces/{request_id}/artifacts")

        ended = http.patch(
            f"{API2}/traces/{request_id}",
            json={"timestamp_ms": 1_700_000_000_750, "status": "OK", "tags": [{"key": "done", "value": "yes"}]},
        )
        assert ended.status_code == 200, ended.text
        assert ended.json()["trace_info"]["execution_time_ms"] == 750
        assert ended.json()["trace_info"]["status"] == "OK"

        read = http.get(f"{API2}/traces/{request_id}/info").json()["trace_info"]
        assert {tag["key"]: tag["value"] for tag in read["tags"]}["done"] == "yes"
        assert {m["key"]: m["value"] for m in read["request_metadata"]}["mlflow.traceInputs"] == '{"q": 1}'

        found = http.get(
            f"{API2}/traces", params={"experiment_ids": [experiment_id], "filter": "tags.team = 'search'"}
        ).json()
        assert [trace["request_id"] for trace in found["traces"]] == [request_id]
        missing = http.get(f"{API2}/traces/tr-{'f' * 32}/info")
        assert missing.status_code == 404
        assert missing.json()["message"] == f"Trace with ID 'tr-{'f' * 32}' not found."


def test_linked_traces_are_found_by_their_run(client: MlflowClient, experiment_id: str) -> None:
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_span("evaluated") as span:
        pass
    mlflow.flush_trace_async_logging(terminate=False)
    run = client.create_run(experiment_id)
    client.link_traces_to_run([span.trace_id], run.info.run_id)
    found = mlflow.search_traces(locations=[experiment_id], run_id=run.info.run_id, return_type="list")
    assert [t.info.trace_id for t in found] == [span.trace_id]
    too_many = httpx.post(
        f"{client.tracking_uri}{API2}/traces/link-to-run",
        json={"trace_ids": [f"tr-{i:032x}" for i in range(101)], "run_id": run.info.run_id},
    )
    assert too_many.status_code == 400
    assert too_many.json()["message"] == (
        "Cannot link more than 100 traces to a run in a single request. Provided 101 traces."
    )
    with pytest.raises(MlflowException) as no_run:
        client.link_traces_to_run([span.trace_id], "0" * 32)
    assert no_run.value.error_code == "RESOURCE_DOES_NOT_EXIST"
