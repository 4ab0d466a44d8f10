"""The model registry as users drive it: the stock client's `register_model`, aliases, `load_model("models:/…")`,
tags, stages, search, rename, copy and delete, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n: int) -> None:
        self.n = n

    def predict(self, context, model_input, params=None):
        return model_input + self.n


@dataclass(frozen=True)
class Logged:
    """One pyfunc model logged by a run, shared by the module: logging is the slow part of these tests."""

    run_id: str
    model_id: str
    artifact_uri: str


@pytest.fixture(scope="module")
def logged(server_url: str) -> Logged:
    mlflow.set_tracking_uri(server_url)
    mlflow.set_experiment(f"registry-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=AddN(2), pip_requirements=["mlflow"])
    model = MlflowClient(server_url).get_logged_model(info.model_id)
    mlflow.set_tracking_uri(None)
    return Logged(run.info.run_id, info.model_id, model.artifact_location)


def predict(uri: str) -> list[int]:
    return mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"x": [1, 5]}))["x"].tolist()


def error_code(call: Callable[..., object], *args: object, **kwargs: object) -> str:
    with pytest.raises(MlflowException) as caught:
        call(*args, **kwargs)
    return caught.value.error_code


def test_register_alias_and_load(client: MlflowClient, logged: Logged, unique_name: str) -> None:
    first = mlflow.register_model(f"runs:/{logged.run_id}/model", unique_name)
    assert (first.version, first.status, first.run_id) == ("1", "READY", logged.run_id)
    assert first.source == f"models:/{logged.model_id}"
    second = mlflow.register_model(f"models:/{logged.model_id}", unique_name)
    assert second.version == "2"

    client.set_registered_model_alias(unique_name, "champion", "1")
    assert predict(f"models:/{unique_name}@champion") == [3, 7]
    for uri in (f"models:/{unique_name}/2", f"models:/{unique_name}/latest", f"models:/{unique_name}@latest"):
        assert predict(uri) == [3, 7]
    assert client.get_model_version_download_uri(unique_name, "1") == logged.artifact_uri

    by_alias = client.get_model_version_by_alias(unique_name, "champion")
    assert (by_alias.version, by_alias.aliases) == ("1", ["champion"])
    model = client.get_registered_model(unique_name)
    assert model.aliases == {"champion": "1"}
    assert [v.version for v in model.latest_versions] == ["2"]
    client.set_registered_model_alias(unique_name, "champion", "2")  # an existing alias moves
    assert client.get_model_version_by_alias(unique_name, "champion").version == "2"
    client.delete_registered_model_alias(unique_name, "champion")
    assert error_code(client.get_model_version_by_alias, unique_name, "champion") == "INVALID_PARAMETER_VALUE"

    registrations = client.get_logged_model(logged.model_id).tags["mlflow.modelVersions"]
    assert f'"name": "{unique_name}"' in registrations


@pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning")
def test_tags_stages_descriptions_and_rename(client: MlflowClient, logged: Logged, unique_name: str) -> None:
    client.create_registered_model(unique_name, tags={"team": "vision"}, description="first")
    for _ in range(3):
        client.create_model_version(unique_name, f"models:/{logged.model_id}", model_id=logged.model_id)
    client.set_registered_model_tag(unique_name, "owner", "ana")
    client.delete_registered_model_tag(unique_name, "team")
    client.set_model_version_tag(unique_name, "1", "validated", "yes")
    client.set_model_version_tag(unique_name, "2", "drop-me", "x")
    client.delete_model_version_tag(unique_name, "2", "drop-me")
    client.update_registered_model(unique_name, description="second")
    client.update_model_version(unique_name, "1", description="the baseline")

    client.transition_model_version_stage(unique_name, "1", "production")
    client.transition_model_version_stage(unique_name, "2", "Staging")
    moved = client.transition_model_version_stage(unique_name, "3", "Production", archive_existing_versions=True)
    assert moved.current_stage == "Production"
    assert client.get_model_version(unique_name, "1").current_stage == "Archived"
    latest = {v.current_stage: v.version for v in client.get_latest_versions(unique_name)}
    assert latest == {"Archived": "1", "Staging": "2", "Production": "3"}
    assert [v.version for v in client.get_latest_versions(unique_name, stages=["Staging"])] == ["2"]
    assert predict(f"models:/{unique_name}/Production") == [3, 7]

    model = client.get_registered_model(unique_name)
    assert (model.tags, model.description) == ({"owner": "ana"}, "second")
    version = client.get_model_version(unique_name, "1")
    assert (version.tags, version.description) == ({"validated": "yes"}, "the baseline")
    assert client.get_model_version(unique_name, "2").tags == {}

    client.set_registered_model_alias(unique_name, "best", "3")
    client.rename_registered_model(unique_name, f"{unique_name}-renamed")
    assert client.get_model_version(f"{unique_name}-renamed", "3").current_stage == "Production"
    assert client.get_model_version_by_alias(f"{unique_name}-renamed", "best").name == f"{unique_name}-renamed"
    assert error_code(client.get_registered_model, unique_name) == "RESOURCE_DOES_NOT_EXIST"


def test_delete_keeps_numbers_and_artifacts(client: MlflowClient, logged: Logged, unique_name: str) -> None:
    """Deleting versions or a whole model removes registry rows only: the logged model, its run and any other
    registered model built on the same files still load."""
    other = f"{unique_name}-other"
    for name in (unique_name, other):
        mlflow.register_model(f"models:/{logged.model_id}", name)
    mlflow.register_model(f"models:/{logged.model_id}", unique_name)
    client.set_registered_model_alias(unique_name, "gone", "2")
    client.delete_model_version(unique_name, "2")
    assert error_code(client.get_model_version, unique_name, "2") == "RESOURCE_DOES_NOT_EXIST"
    assert error_code(client.get_model_version_by_alias, unique_name, "gone") == "INVALID_PARAMETER_VALUE"
    assert mlflow.register_model(f"models:/{logged.model_id}", unique_name).version == "3"  # 2 is never reused

    client.delete_registered_model(unique_name)
    assert error_code(client.get_registered_model, unique_name) == "RESOURCE_DOES_NOT_EXIST"
    assert error_code(client.get_model_version, unique_name, "1") == "RESOURCE_DOES_NOT_EXIST"
    assert predict(f"models:/{other}/1") == [3, 7]
    assert predict(f"models:/{logged.model_id}") == [3, 7]
    assert predict(f"runs:/{logged.run_id}/model") == [3, 7]


def test_search(client: MlflowClient, logged: Logged, unique_name: str) -> None:
    names = [f"{unique_name}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        client.create_registered_model(name, tags={"parity": "odd" if i % 2 else "even"})
        client.create_model_version(name, f"models:/{logged.model_id}", model_id=logged.model_id, tags={"i": str(i)})
    client.create_model_version(names[0], f"models:/{logged.model_id}", model_id=logged.model_id)

    found = client.search_registered_models(f"name LIKE '{unique_name}-%' AND tags.parity = 'odd'")
    assert [m.name for m in found] == [names[1], names[3]]
    assert found[0].latest_versions[0].version == "1"
    newest_first = client.search_registered_models(f"name LIKE '{unique_name}-%'", order_by=["name DESC"])
    assert [m.name for m in newest_first] == names[::-1]
    page = client.search_registered_models(f"name ILIKE '{unique_name.upper()}-%'", max_results=2)
    assert [m.name for m in page] == names[:2]
    rest = client.search_registered_models(
        f"name ILIKE '{unique_name.upper()}-%'", max_results=2, page_token=page.token
    )
    assert [m.name for m in rest] == names[2:4]
    in_list = client.search_registered_models(f"name IN ('{names[4]}', '{names[2]}')")
    assert [m.name for m in in_list] == [names[2], names[4]]

    versions = client.search_model_versions(f"name = '{names[0]}'")
    assert [v.version for v in versions] == ["2", "1"]
    tagged = client.search_model_versions(f"name LIKE '{unique_name}-%' AND tags.i = '3'")
    assert [(v.name, v.version) for v in tagged] == [(names[3], "1")]
    numbered = client.search_model_versions(f"name = '{names[0]}' AND version_number > 1")
    assert [v.version for v in numbered] == ["2"]
    ordered = client.search_model_versions(
        f"run_id = '{logged.run_id}' AND name LIKE '{unique_name}-%'", order_by=["name ASC", "version_number ASC"]
    )
    assert [(v.name, v.version) for v in ordered][:3] == [(names[0], "1"), (names[0], "2"), (names[1], "1")]
    assert error_code(client.search_registered_models, "name = 'a' OR name = 'b'") == "INVALID_PARAMETER_VALUE"
    assert error_code(client.search_model_versions, "metrics.acc > 1") == "INVALID_PARAMETER_VALUE"


def test_copy_and_run_artifact_sources(client: MlflowClient, logged: Logged, unique_name: str, tmp_path: Path) -> None:
    mlflow.register_model(f"models:/{logged.model_id}", unique_name)
    copy = client.copy_model_version(f"models:/{unique_name}/1", f"{unique_name}-prod")
    assert (copy.version, copy.source, copy.run_id) == ("1", f"models:/{unique_name}/1", logged.run_id)
    assert client.get_model_version_download_uri(f"{unique_name}-prod", "1") == logged.artifact_uri
    assert predict(f"models:/{unique_name}-prod/1") == [3, 7]

    mlflow.pyfunc.save_model(tmp_path / "legacy", python_model=AddN(10), pip_requirements=["mlflow"])
    with mlflow.start_run() as run:  # a model stored as plain run artifacts, the MLflow 2 layout
        mlflow.log_artifacts(str(tmp_path / "legacy"), artifact_path="legacy")
    legacy = mlflow.register_model(f"runs:/{run.info.run_id}/legacy", f"{unique_name}-legacy")
    assert legacy.source == f"{run.info.artifact_uri}/legacy"
    assert predict(f"models:/{unique_name}-legacy/1") == [11, 15]
    direct = client.create_model_version(f"{unique_name}-legacy", f"runs:/{run.info.run_id}/legacy", run.info.run_id)
    assert predict(f"models:/{unique_name}-legacy/{direct.version}") == [11, 15]

    elsewhere = f"{client.get_run(logged.run_id).info.artifact_uri}/model"
    for source, run_id in ((elsewhere, run.info.run_id), ("/etc", run.info.run_id), (f"runs:/{logged.run_id}/x", None)):
        assert error_code(client.create_model_version, unique_name, source, run_id) == "INVALID_PARAMETER_VALUE"


def test_error_codes(client: MlflowClient, logged: Logged, unique_name: str) -> None:
    client.create_registered_model(unique_name)
    assert error_code(client.create_registered_model, unique_name) == "RESOURCE_ALREADY_EXISTS"
    assert error_code(client.get_registered_model, f"{unique_name}-nope") == "RESOURCE_DOES_NOT_EXIST"
    assert error_code(client.get_model_version, unique_name, "7") == "RESOURCE_DOES_NOT_EXIST"
    assert error_code(client.get_model_version_by_alias, unique_name, "nope") == "INVALID_PARAMETER_VALUE"
    assert error_code(client.create_registered_model, "a/b") == "INVALID_PARAMETER_VALUE"
    created = client.create_model_version(unique_name, f"models:/{logged.model_id}", model_id=logged.model_id)
    assert isinstance(created, ModelVersion)
    for alias in ("latest", "V1", "bad alias"):
        assert error_code(client.set_registered_model_alias, unique_name, alias, "1") == "INVALID_PARAMETER_VALUE"
    assert error_code(client.transition_model_version_stage, unique_name, "1", "bogus") == "INVALID_PARAMETER_VALUE"
    assert error_code(client.rename_registered_model, unique_name, unique_name + "/x") == "INVALID_PARAMETER_VALUE"
    other = f"{unique_name}-2"
    client.create_registered_model(other)
    assert error_code(client.rename_registered_model, unique_name, other) == "RESOURCE_ALREADY_EXISTS"
    missing_model = client.create_model_version
    assert error_code(missing_model, f"{unique_name}-x", f"models:/{logged.model_id}", model_id=logged.model_id) == (
        "RESOURCE_DOES_NOT_EXIST"
    )
