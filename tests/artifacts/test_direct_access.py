"""Direct access to Azure Blob Storage: with `--artifacts-direct-access` the stock client moves big files
straight between itself and storage through short-lived SAS URLs, each good for one blob and one purpose."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import mlflow
import pytest
from azure.storage.blob import BlobServiceClient
from mlflow import MlflowClient

from server.artifacts.azure_blob import AzureBlobArtifactStore
from server.artifacts.base import StorageCredentials
from tests.support.processes import azurite, runyard_server

DESTINATION = "wasbs://direct@devstoreaccount1.blob.core.windows.net/team"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with azurite(tmp_path_factory.mktemp("azurite")) as connection_string:
        BlobServiceClient.from_connection_string(connection_string).create_container("direct")
        yield connection_string


@pytest.fixture(scope="module")
def server(azure: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = f"sqlite:///{tmp_path_factory.mktemp('direct') / 'db.sqlite'}"
    env = {"AZURE_STORAGE_CONNECTION_STRING": azure}
    with runyard_server(store, DESTINATION, "--artifacts-direct-access", env=env) as url:
        yield url


def test_big_files_go_straight_to_storage_and_back(
    server: str, azure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(1024 * 1024))
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(1024 * 1024))
    data = os.urandom(12 * 1024 * 1024 + 11)  # 13 parts each way
    (tmp_path / "weights.bin").write_bytes(data)
    mlflow.set_tracking_uri(server)
    try:
        mlflow.set_experiment("direct")
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(tmp_path / "weights.bin"), artifact_path="model")
        local = MlflowClient(server).download_artifacts(run.info.run_id, "model/weights.bin", str(tmp_path / "dl"))
        assert Path(local).read_bytes() == data
    finally:
        mlflow.set_tracking_uri(None)

    with httpx.Client(base_url=server, timeout=30) as http:
        assert http.get("/api/3.0/mlflow/server-info").json()["multipart_downloads_enabled"] is True
        folder = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
        presigned = http.get(f"/api/2.0/mlflow-artifacts/presigned/{folder}/model/weights.bin").json()
        created = http.post(
            f"/api/2.0/mlflow-artifacts/mpu/create/{folder}/model", json={"path": "other.bin", "num_parts": 2}
        ).json()
    azurite_host = urlparse(azure.split("BlobEndpoint=")[1]).netloc
    assert urlparse(presigned["url"]).netloc == azurite_host  # the client fetched from storage, not from us
    assert presigned["file_size"] == len(data)
    assert all(urlparse(c["url"]).netloc == azurite_host for c in created["credentials"])
    blob = BlobServiceClient.from_connection_string(azure).get_blob_client("direct", f"team/{folder}/model/weights.bin")
    assert blob.download_blob().readall() == data


def test_signed_urls_are_scoped_to_one_blob_one_purpose_and_expire(server: str, azure: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        assert http.put(f"{ARTIFACTS}/1/r/artifacts/a.txt", content=b"alpha").status_code == 200
        assert http.put(f"{ARTIFACTS}/1/r/artifacts/b.txt", content=b"bravo").status_code == 200
        read_url = http.get("/api/2.0/mlflow-artifacts/presigned/1/r/artifacts/a.txt").json()["url"]
    assert httpx.get(read_url).content == b"alpha"
    assert httpx.get(read_url.replace("/a.txt?", "/b.txt?")).status_code == 403  # another blob
    assert httpx.put(read_url, content=b"x", headers={"x-ms-blob-type": "BlockBlob"}).status_code == 403  # no write
    assert httpx.delete(read_url).status_code == 403

    # Expiry is checked on the URL's own clock, not by waiting: a loaded machine cannot make it pass early or late.
    store = AzureBlobArtifactStore(DESTINATION, StorageCredentials(azure_connection_string=azure))
    before = datetime.now(UTC).replace(microsecond=0)
    short = store.signed_urls().download_url("1/r/artifacts/a.txt", ttl_s=4)
    after = datetime.now(UTC)
    expiry = datetime.fromisoformat(parse_qs(urlparse(short).query)["se"][0].replace("Z", "+00:00"))
    assert before + timedelta(seconds=4) <= expiry <= after + timedelta(seconds=6)  # at least 4 s, rounded up
    assert httpx.get(short).status_code == 200
    lapsed = store.signed_urls().download_url("1/r/artifacts/a.txt", ttl_s=-60)  # expired a minute ago
    assert httpx.get(lapsed).status_code == 403


def test_model_files_are_handed_out_as_urls_to_storage(server: str, azure: str, tmp_path: Path) -> None:
    """MLflow 3.18's UI asks `?presigned=true` of a model version's and a logged model's file where server-info
    says it may, and then fetches the file from storage itself."""
    (tmp_path / "weights.bin").write_bytes(b"\x00weights")
    client = MlflowClient(server)
    experiment_id = client.create_experiment("presigned-models")
    run = client.create_run(experiment_id)
    client.log_artifact(run.info.run_id, str(tmp_path / "weights.bin"), artifact_path="model")
    client.create_registered_model("presigned-model")
    client.create_model_version("presigned-model", f"runs:/{run.info.run_id}/model", run.info.run_id)
    logged = client.create_logged_model(experiment_id=experiment_id, name="presigned-logged")
    client.log_model_artifact(logged.model_id, str(tmp_path / "weights.bin"))
    azurite_host = urlparse(azure.split("BlobEndpoint=")[1]).netloc
    with httpx.Client(base_url=server, timeout=30) as http:
        assert http.get("/api/3.0/mlflow/server-info").json()["model_artifact_presigned_downloads_supported"] is True
        version = {"name": "presigned-model", "version": "1", "path": "weights.bin", "presigned": "true"}
        model = {"artifact_file_path": "weights.bin", "presigned": "true"}
        answers = [
            http.get("/model-versions/get-artifact", params=version),
            http.get(f"/ajax-api/2.0/mlflow/logged-models/{logged.model_id}/artifacts/files", params=model),
        ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["headers"], body["file_size"]) == ({}, 8)
        assert urlparse(body["url"]).netloc == azurite_host
        assert httpx.get(body["url"]).content == b"\x00weights"
