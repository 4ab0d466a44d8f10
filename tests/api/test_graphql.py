"""`/graphql` answers the queries MLflow's web UI sends the way MLflow's Graphene schema does: lowerCamel names,
int64 as strings, empty lists rather than nulls, NaN as null, errors per root field, and MLflow's size limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient

API = "/api/2.0/mlflow"

# The UI's GetRun query (static/js of the MLflow 3.17.2 build), trimmed to the fields asserted on.
GET_RUN = """
query GetRun($data: MlflowGetRunInput!) @component(name: "MLflow.ExperimentRunTracking") {
  mlflowGetRun(input: $data) {
    apiError { helpUrl code message }
    run {
      info { runName status runUuid experimentId startTime endTime lifecycleStage }
      experiment { experimentId name tags { key value } lastUpdateTime }
      modelVersions { status version name source }
      data { metrics { key value step timestamp } params { key value } tags { key value } }
      inputs { datasetInputs { dataset { name digest } } modelInputs { modelId } }
      outputs { modelOutputs { modelId step } }
    }
  }
}
"""


def graphql(http: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = http.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def run(http: httpx.Client, unique_name: str) -> tuple[str, str]:
    experiment_id = http.post(f"{API}/experiments/create", json={"name": unique_name}).json()["experiment_id"]
    run_id = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id, "run_name": "gq"}).json()["run"][
        "info"
    ]["run_id"]
    batch = {
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 0.5, "timestamp": 1_700_000_000_123, "step": 3},
            {"key": "bad", "value": "NaN", "timestamp": 1_700_000_000_123, "step": 0},
        ],
        "params": [{"key": "lr", "value": "0.1"}],
    }
    assert http.post(f"{API}/runs/log-batch", json=batch).status_code == 200
    return experiment_id, run_id


def test_get_run_answers_in_the_shape_the_ui_reads(http: httpx.Client, run: tuple[str, str]) -> None:
    experiment_id, run_id = run
    body = graphql(http, GET_RUN, {"data": {"runId": run_id}})
    assert body["errors"] is None
    answer = body["data"]["mlflowGetRun"]
    assert answer["apiError"] is None
    found = answer["run"]
    assert found["info"]["runUuid"] == run_id
    assert found["info"]["runName"] == "gq"
    assert found["info"]["status"] == "RUNNING"
    assert isinstance(found["info"]["startTime"], str)  # int64 travels as text, so JavaScript keeps every digit
    assert found["experiment"]["experimentId"] == experiment_id
    assert found["experiment"]["tags"] == []  # empty lists are lists, as the UI's `tags.find(...)` needs
    assert found["modelVersions"] == []
    metrics = {m["key"]: m for m in found["data"]["metrics"]}
    assert metrics["loss"] == {"key": "loss", "value": 0.5, "step": "3", "timestamp": "1700000000123"}
    assert metrics["bad"]["value"] is None  # GraphQL floats have no NaN; MLflow answers null
    assert found["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    assert found["inputs"] == {"datasetInputs": [], "modelInputs": []}
    assert found["outputs"] == {"modelOutputs": []}


def test_an_unknown_run_is_an_api_error_of_that_field(http: httpx.Client) -> None:
    body = graphql(http, GET_RUN, {"data": {"runId": "0" * 32}})
    answer = body["data"]["mlflowGetRun"]
    assert answer["run"] is None
    assert answer["apiError"]["code"] == "RESOURCE_DOES_NOT_EXIST"


def test_experiment_search_runs_and_sampled_history(http: httpx.Client, run: tuple[str, str]) -> None:
    experiment_id, run_id = run
    query = """
    query Q($exp: String, $run: String) {
      mlflowGetExperiment(input: {experimentId: $exp}) { experiment { experimentId name lifecycleStage } }
      mlflowSearchRuns(input: {experimentIds: [$exp]}) { runs { info { runId } } }
      mlflowGetMetricHistoryBulkInterval(input: {runIds: [$run], metricKey: "loss", maxResults: 10}) {
        __typename metrics { runId key value step }
      }
    }"""
    data = graphql(http, query, {"exp": experiment_id, "run": run_id})["data"]
    assert data["mlflowGetExperiment"]["experiment"]["experimentId"] == experiment_id
    assert data["mlflowGetExperiment"]["experiment"]["lifecycleStage"] == "active"
    assert [r["info"]["runId"] for r in data["mlflowSearchRuns"]["runs"]] == [run_id]
    history = data["mlflowGetMetricHistoryBulkInterval"]
    assert history["__typename"] == "MlflowGetMetricHistoryBulkIntervalResponse"
    assert history["metrics"] == [{"runId": run_id, "key": "loss", "value": 0.5, "step": "3"}]


def test_artifact_listings_give_folders_a_size_of_zero(
    http: httpx.Client, client: MlflowClient, run: tuple[str, str], tmp_path: Path
) -> None:
    """The run page lists artifacts through GraphQL; MLflow's Graphene answer gives a folder the proto's unset size."""
    _, run_id = run
    (tmp_path / "test.txt").write_text("hello world")
    client.log_artifact(run_id, str(tmp_path / "test.txt"))
    client.log_artifact(run_id, str(tmp_path / "test.txt"), "testDir")
    query = """
    query Q($run: String, $path: String) {
      mlflowListArtifacts(input: {runId: $run, path: $path}) { files { path isDir fileSize } }
    }"""
    top = graphql(http, query, {"run": run_id})["data"]["mlflowListArtifacts"]["files"]
    assert top == [
        {"path": "test.txt", "isDir": False, "fileSize": "11"},
        {"path": "testDir", "isDir": True, "fileSize": "0"},
    ]
    inside = graphql(http, query, {"run": run_id, "path": "testDir"})["data"]["mlflowListArtifacts"]["files"]
    assert inside == [{"path": "testDir/test.txt", "isDir": False, "fileSize": "11"}]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Must provide query string."),
        ("query {", "Syntax Error"),
        ("query { nope }", "Cannot query field 'nope'"),
        ("query { " + " ".join(f'a{i}: test(inputString: "x") {{ output }}' for i in range(11)) + " }", "root fields"),
        ("query " + "{ a " * 12 + "}" * 12, "maximum depth"),
    ],
)
def test_bad_or_oversized_queries_are_refused_with_200_and_errors(http: httpx.Client, query: str, message: str) -> None:
    body = graphql(http, query)
    assert body["data"] is None
    assert any(message in error for error in body["errors"]), body


def test_get_requests_work_too(http: httpx.Client) -> None:
    response = http.get("/graphql", params={"query": 'query { test(inputString: "hi") { output } }'})
    assert response.status_code == 200
    assert response.json() == {"data": {"test": {"output": "hi"}}, "errors": None}
