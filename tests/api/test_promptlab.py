"""The web UI's prompt engineering page records each try as a run (`runs/create-promptlab-run`, MLflow's prompt
lab): the stock client must read it back as `mlflow server` writes it, the prompt as a pyfunc model included."""

from __future__ import annotations

import json
from typing import Any

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

PATH = "/ajax-api/2.0/mlflow/runs/create-promptlab-run"


def _body(experiment_id: str) -> dict[str, Any]:
    """What the UI sends once the model answered."""
    return {
        "experiment_id": experiment_id,
        "run_name": "tried-a-prompt",
        "prompt_template": "Translate {{ text }} into French.",
        "prompt_parameters": [{"key": "text", "value": "good morning"}],
        "model_route": "chat-gpt",
        "model_parameters": [{"key": "temperature", "value": 0.1}, {"key": "max_tokens", "value": "64"}],
        "model_input": "Translate good morning into French.",
        "model_output": "Bonjour",
        "model_output_parameters": [{"key": "latency", "value": "100"}],
        "mlflow_version": mlflow.__version__,
        "user_id": "ada",
        "start_time": 456,
    }


def test_a_prompt_lab_run_is_a_finished_run_with_its_table_and_model(
    client: MlflowClient, http: httpx.Client, unique_name: str
) -> None:
    experiment_id = client.create_experiment(unique_name)
    answer = http.post(PATH, json=_body(experiment_id))
    assert answer.status_code == 200, answer.text
    info = answer.json()["run"]["info"]
    assert (info["run_name"], info["user_id"], info["status"], info["start_time"]) == (
        "tried-a-prompt",
        "ada",
        "FINISHED",
        456,
    )

    run = client.get_run(info["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params == {
        "temperature": "0.1",
        "max_tokens": "64",
        "model_route": "chat-gpt",
        "prompt_template": "Translate {{ text }} into French.",
    }
    assert run.data.tags["mlflow.loggedArtifacts"] == '[{"path": "eval_results_table.json", "type": "table"}]'
    assert run.data.tags["mlflow.runSourceType"] == "PROMPT_ENGINEERING"
    assert [entry["artifact_path"] for entry in json.loads(run.data.tags["mlflow.log-model.history"])] == ["model"]

    table = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/eval_results_table.json")
    assert table == {
        "columns": ["text", "prompt", "output", "latency"],
        "data": [["good morning", "Translate good morning into French.", "Bonjour", "100"]],
    }
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert model.metadata.get_input_schema().input_names() == ["text"]
    assert model.metadata.flavors["python_function"]["loader_module"] == "mlflow.prompt.promptlab_model"


@pytest.mark.parametrize(
    ("dropped", "message"),
    [
        ("experiment_id", "CreatePromptlabRun request must specify experiment_id."),
        ("prompt_template", "CreatePromptlabRun request must specify prompt_template."),
        ("prompt_parameters", "CreatePromptlabRun request must specify prompt_parameters."),
        ("model_route", "CreatePromptlabRun request must specify model_route."),
        ("model_input", "CreatePromptlabRun request must specify model_input."),
        ("mlflow_version", "CreatePromptlabRun request must specify mlflow_version."),
    ],
)
def test_a_missing_field_is_refused_in_mlflows_words_and_nothing_is_created(
    client: MlflowClient, http: httpx.Client, unique_name: str, dropped: str, message: str
) -> None:
    experiment_id = client.create_experiment(unique_name)
    body = _body(experiment_id)
    body[dropped] = [] if dropped == "prompt_parameters" else ""
    answer = http.post(PATH, json=body)
    refusal = answer.json()
    assert (answer.status_code, refusal["error_code"], refusal["message"]) == (400, "INVALID_PARAMETER_VALUE", message)
    assert client.search_runs([experiment_id]) == []


def test_an_unknown_experiment_is_a_404(http: httpx.Client) -> None:
    answer = http.post(PATH, json=_body("987654321"))
    assert answer.status_code == 404
    assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
