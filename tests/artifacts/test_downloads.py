"""Runs on a server whose default artifact root is spelled as its own proxy URL
(`http://<server>/api/2.0/mlflow-artifacts/artifacts`, as MLflow documents for remote clients): listings and
downloads through the tracking API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from tests.support.processes import free_port, runyard_server
from tests.support.stores import kind_of, new_store_uri

PROXY = "/api/2.0/mlflow-artifacts/artifacts"

FILES = ["a.txt"]


@dataclass(frozen=True)
class Logged:
    run_id: str
    experiment_id: str
    artifact_uri: str


@pytest.fixture(scope="module")
def server(
    backend_store_uri: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("downloads")
    store = new_store_uri(kind_of(backend_store_uri), folder, "downloads", request)
    port = free_port()
    root = f"http://127.0.0.1:{port}{PROXY}"
    with runyard_server(store, folder / "mlartifacts", "--default-artifact-root", root, port=port) as url:
        yield url


@pytest.fixture(scope="module")
def logged(server: str, tmp_path_factory: pytest.TempPathFactory) -> Logged:
    """One run that logged every file of `FILES` (and `images/`) through the stock client."""
    folder = tmp_path_factory.mktemp("files")
    for name in FILES:
        (folder / name).write_text(f"contents of {name}")
    (folder / "images").mkdir()
    (folder / "images" / "dog.png").write_bytes(b"\x89PNG not really")
    mlflow.set_tracking_uri(server)
    mlflow.set_experiment("downloads")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder))
    mlflow.set_tracking_uri(None)
    return Logged(run.info.run_id, run.info.experiment_id, run.info.artifact_uri)


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def test_runs_under_the_proxy_url_are_listed_and_served(server: str, logged: Logged, http: httpx.Client) -> None:
    assert logged.artifact_uri == f"{server}{PROXY}/{logged.experiment_id}/{logged.run_id}/artifacts"
    listing = http.get("/api/2.0/mlflow/artifacts/list", params={"run_id": logged.run_id})
    assert listing.status_code == 200, listing.text
    assert listing.json()["root_uri"] == logged.artifact_uri
    assert {"path": "a.txt", "is_dir": False, "file_size": len("contents of a.txt")} in listing.json()["files"]
    assert {"path": "images", "is_dir": True} in listing.json()["files"]
    nested = http.get("/ajax-api/2.0/mlflow/artifacts/list", params={"run_id": logged.run_id, "path": "images"})
    assert nested.json()["files"] == [{"path": "images/dog.png", "is_dir": False, "file_size": 15}]

    client = MlflowClient(server)
    assert sorted(f.path for f in client.list_artifacts(logged.run_id, "images")) == ["images/dog.png"]
    downloaded = Path(
        mlflow.artifacts.download_artifacts(run_id=logged.run_id, artifact_path="a.txt", tracking_uri=server)
    )
    assert downloaded.read_text() == "contents of a.txt"
    image = http.get("/get-artifact", params={"run_id": logged.run_id, "path": "images/dog.png"})
    assert (image.status_code, image.content) == (200, b"\x89PNG not really")


def test_paths_leaving_the_run_are_refused_with_mlflows_message(logged: Logged, http: httpx.Client) -> None:
    for route in ("/api/2.0/mlflow/artifacts/list", "/get-artifact"):
        refused = http.get(route, params={"run_id": logged.run_id, "path": "../other"})
        assert refused.status_code == 400
        body = refused.json()
        assert (body["error_code"], body["message"]) == ("INVALID_PARAMETER_VALUE", "Invalid path")
