"""MLflow's prompt registry, which the client builds on registered models: `mlflow.genai` end to end."""

from __future__ import annotations

import re

import httpx
import mlflow
import mlflow.genai
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


@pytest.fixture
def name(unique_name: str) -> str:
    """Prompt names allow only letters, digits, `_`, `-` and `.`; the client checks before sending."""
    return re.sub(r"[^\w.-]", "-", unique_name)


def test_register_alias_load_and_search(client: MlflowClient, name: str) -> None:
    first = mlflow.genai.register_prompt(name, template="Hello {{name}}", commit_message="v1")
    second = mlflow.genai.register_prompt(name, template=[{"role": "user", "content": "Hi {{name}}!"}])
    assert (first.version, second.version) == (1, 2)

    mlflow.genai.set_prompt_alias(name, "production", 1)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@production").format(name="Ada") == "Hello Ada"
    assert mlflow.genai.load_prompt(f"prompts:/{name}/2").format(name="Ada") == [{"role": "user", "content": "Hi Ada!"}]
    mlflow.genai.set_prompt_alias(name, "production", 2)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@production").version == 2
    mlflow.genai.delete_prompt_alias(name, "production")
    with pytest.raises(MlflowException):
        mlflow.genai.load_prompt(f"prompts:/{name}@production")

    assert name in [p.name for p in mlflow.genai.search_prompts(f"name = '{name}'")]
    # Prompts stay out of model searches unless the filter asks for them.
    assert client.search_registered_models(f"name = '{name}'") == []
    assert client.search_model_versions(f"name = '{name}'") == []
    asked = client.search_registered_models(f"name = '{name}' AND tags.`mlflow.prompt.is_prompt` = 'true'")
    assert [m.name for m in asked] == [name]


def test_prompt_and_model_names_do_not_mix(client: MlflowClient, name: str) -> None:
    mlflow.genai.register_prompt(name, template="Hello {{name}}")
    with pytest.raises(MlflowException, match="already taken by a prompt") as caught:
        client.create_registered_model(name)
    assert caught.value.error_code == "RESOURCE_ALREADY_EXISTS"

    model_name = f"{name}-model"
    client.create_registered_model(model_name)
    with pytest.raises(MlflowException, match="same name as an existing model"):
        mlflow.genai.register_prompt(model_name, template="Hi")


def test_prompt_versions_need_a_placeholder_source(client: MlflowClient, http: httpx.Client, name: str) -> None:
    """The client refuses this itself, so it goes over raw HTTP: a prompt version cannot point at real files."""
    mlflow.genai.register_prompt(name, template="Hello {{name}}")
    tags = [{"key": "mlflow.prompt.is_prompt", "value": "true"}, {"key": "mlflow.prompt.text", "value": "x"}]
    body = {"name": name, "source": "s3://bucket/elsewhere", "tags": tags}
    response = http.post("/api/2.0/mlflow/model-versions/create", json=body)
    assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "Invalid prompt source" in response.json()["message"]
