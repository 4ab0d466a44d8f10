"""Artifacts in Azure Blob Storage (a real Azurite) through the stock client, on SQLite and PostgreSQL: models
logged and loaded back, a destination moved from a folder to Azure without losing older runs, and the start-up
errors an operator sees when the container or the credentials are wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression

from tests.support.processes import AZURITE_KEY, azurite, runyard_server

CONTAINER = "team-artifacts"


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite with an empty container; yields its connection string."""
    with azurite(tmp_path_factory.mktemp("azurite")) as connection_string:
        BlobServiceClient.from_connection_string(connection_string).create_container(CONTAINER)
        yield connection_string


def _container(connection_string: str) -> ContainerClient:
    return BlobServiceClient.from_connection_string(connection_string).get_container_client(CONTAINER)


@pytest.fixture
def tracking(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    yield
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _use(url: str, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    mlflow.set_tracking_uri(url)
    return MlflowClient(url)


@pytest.mark.usefixtures("tracking")
def test_models_round_trip_through_azure(
    backend_store_uri: str, azure: str, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = f"wasbs://{CONTAINER}@devstoreaccount1.blob.core.windows.net/models"
    env = {"AZURE_STORAGE_CONNECTION_STRING": azure}
    with runyard_server(backend_store_uri, destination, env=env) as url:
        client = _use(url, monkeypatch)
        features = np.array([[1.0], [2.0], [3.0]])
        model = LinearRegression().fit(features, np.array([2.0, 4.0, 6.0]))
        mlflow.set_experiment(unique_name)
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(model, name="regressor")
            mlflow.log_dict({"alpha": 0.5}, "config/params.json")

        for uri in (f"runs:/{run.info.run_id}/regressor", info.model_uri):
            loaded = mlflow.pyfunc.load_model(uri)
            assert np.allclose(loaded.predict(np.array([[4.0]])), [8.0])
        assert mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/config/params.json") == {"alpha": 0.5}
        downloaded = Path(client.download_artifacts(run.info.run_id, "config", str(tmp_path / "dl")))
        assert (downloaded / "params.json").exists()

    run_folder = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    blobs = {blob.name for blob in _container(azure).list_blobs(name_starts_with="models/")}
    assert f"models/{run_folder}/config/params.json" in blobs  # the bytes really live in Azure
    assert any(name.endswith(f"/{info.model_id}/artifacts/MLmodel") for name in blobs)


@pytest.mark.usefixtures("tracking")
def test_runs_keep_their_destination_when_it_moves_to_azure(
    azure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run logged while artifacts went to a folder stays readable (and writable) there after the server is
    restarted with an Azure destination; runs created afterwards go to Azure."""
    store = f"sqlite:///{tmp_path / 'db.sqlite'}"
    folder = tmp_path / "mlartifacts"
    with runyard_server(store, folder) as url:
        _use(url, monkeypatch)
        mlflow.set_experiment("moving")
        with mlflow.start_run() as before:
            mlflow.log_text("written to the folder", "notes/before.txt")

    destination = f"wasbs://{CONTAINER}@devstoreaccount1.blob.core.windows.net/moved"
    with runyard_server(store, destination, env={"AZURE_STORAGE_CONNECTION_STRING": azure}) as url:
        client = _use(url, monkeypatch)
        # The restarted server has a new port; the client caches each run's resolved artifact URL.
        mlflow.tracking._tracking_service.utils._artifact_repos_cache.clear()
        assert mlflow.artifacts.load_text(f"runs:/{before.info.run_id}/notes/before.txt") == "written to the folder"
        assert [f.path for f in client.list_artifacts(before.info.run_id, "notes")] == ["notes/before.txt"]
        client.log_text(before.info.run_id, "still the folder", "notes/later.txt")
        with mlflow.start_run() as after:
            mlflow.log_text("written to Azure", "notes/after.txt")
        assert mlflow.artifacts.load_text(f"runs:/{after.info.run_id}/notes/after.txt") == "written to Azure"

    before_folder = before.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    after_folder = after.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    assert (folder / before_folder / "notes" / "later.txt").read_text() == "still the folder"
    assert not (folder / after_folder).exists()
    blobs = {blob.name for blob in _container(azure).list_blobs(name_starts_with="moved/")}
    assert blobs == {f"moved/{after_folder}/notes/after.txt"}


def _start_failure(tmp_path: Path, destination: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "server", "server", "--port", "0"]
    command += ["--backend-store-uri", f"sqlite:///{tmp_path / 'db.sqlite'}", "--artifacts-destination", destination]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    return subprocess.run(command, env={**clean_env, **env}, capture_output=True, text=True, timeout=60, check=False)


def test_a_missing_container_stops_the_server_at_start(azure: str, tmp_path: Path) -> None:
    destination = "wasbs://no-such-container@devstoreaccount1.blob.core.windows.net/x"
    result = _start_failure(tmp_path, destination, {"AZURE_STORAGE_CONNECTION_STRING": azure})
    assert result.returncode != 0
    assert "Azure container 'no-such-container' does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_unusable_credentials_stop_the_server_at_start(azure: str, tmp_path: Path) -> None:
    wrong_key = AZURITE_KEY[:-8] + "AAAAAAA="
    destination = f"wasbs://{CONTAINER}@devstoreaccount1.blob.core.windows.net/x"
    result = _start_failure(
        tmp_path, destination, {"AZURE_STORAGE_CONNECTION_STRING": azure.replace(AZURITE_KEY, wrong_key)}
    )
    assert result.returncode != 0
    assert f"Cannot reach Azure container '{CONTAINER}'" in result.stderr
    assert "Traceback" not in result.stderr
