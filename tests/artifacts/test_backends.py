"""The same artifact behaviour on every backend: a local folder and Azure Blob Storage (a real Azurite)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from azure.storage.blob import BlobServiceClient
from mlflow import MlflowClient

from tests.support.processes import azurite, free_port, runyard_server

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module", params=["local", "azure"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp(request.param)
    store = f"sqlite:///{base / 'db.sqlite'}"
    if request.param == "local":
        with runyard_server(store, base / "mlartifacts") as url:
            yield url
        return
    with azurite(base / "azurite") as connection_string:
        BlobServiceClient.from_connection_string(connection_string).create_container("artifacts")
        destination = "wasbs://artifacts@devstoreaccount1.blob.core.windows.net/team/prefix"
        env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string}
        with runyard_server(store, destination, env=env) as url:
            yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=120) as client:
        yield client


def test_upload_download_list_delete(http: httpx.Client) -> None:
    big = os.urandom(9 * 1024 * 1024 + 5)  # several staged blocks on Azure
    assert http.put(f"{ARTIFACTS}/1/r/artifacts/data/big.bin", content=big).status_code == 200
    assert http.put(f"{ARTIFACTS}/1/r/artifacts/data/sub/a.txt", content=b"a").status_code == 200
    assert http.put(f"{ARTIFACTS}/1/r/artifacts/top.txt", content=b"top").status_code == 200

    assert http.get(f"{ARTIFACTS}/1/r/artifacts/data/big.bin").content == big
    assert http.get(ARTIFACTS, params={"path": "1/r/artifacts"}).json() == {
        "files": [{"path": "data", "is_dir": True}, {"path": "top.txt", "is_dir": False, "file_size": 3}]
    }
    assert http.get(ARTIFACTS, params={"path": "1/r/artifacts/data"}).json()["files"] == [
        {"path": "big.bin", "is_dir": False, "file_size": len(big)},
        {"path": "sub", "is_dir": True},
    ]
    assert http.get(ARTIFACTS, params={"path": "1/r"}).json() == {"files": [{"path": "artifacts", "is_dir": True}]}
    assert http.get(ARTIFACTS, params={"path": "1/r/artifact"}).json() == {}  # a prefix, not a folder

    assert http.get(f"{ARTIFACTS}/1/r/artifacts/data").status_code == 400
    missing = http.get(f"{ARTIFACTS}/1/r/artifacts/nope.txt")
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")

    assert http.delete(f"{ARTIFACTS}/1/r/artifacts/top.txt").status_code == 200
    assert http.delete(f"{ARTIFACTS}/1/r/artifacts/data").status_code == 200
    assert http.get(ARTIFACTS, params={"path": "1/r/artifacts"}).json() == {}


def test_an_empty_file_round_trips(http: httpx.Client) -> None:
    assert http.put(f"{ARTIFACTS}/2/r/artifacts/empty.txt", content=b"").status_code == 200
    assert http.get(f"{ARTIFACTS}/2/r/artifacts/empty.txt").content == b""


def test_stock_client_round_trip(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    mlflow.set_tracking_uri(server)
    try:
        (tmp_path / "out" / "nested").mkdir(parents=True)
        (tmp_path / "out" / "a.txt").write_text("alpha")
        (tmp_path / "out" / "nested" / "b.json").write_text('{"b": 2}')
        mlflow.set_experiment("backends")
        with mlflow.start_run() as run:
            mlflow.log_artifacts(str(tmp_path / "out"), artifact_path="bundle")
            mlflow.log_text("hello", "notes/hello.txt")
        client = MlflowClient(server)
        assert sorted(f.path for f in client.list_artifacts(run.info.run_id)) == ["bundle", "notes"]
        local = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "dl")))
        assert (local / "bundle" / "nested" / "b.json").read_text() == '{"b": 2}'
        assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt") == "hello"
    finally:
        mlflow.set_tracking_uri(None)


def test_range_requests(http: httpx.Client) -> None:
    data = bytes(range(256)) * 40_000  # 10 MB: ranges that cross staged blocks and read chunks
    http.put(f"{ARTIFACTS}/3/r/artifacts/ranged.bin", content=data)
    url = f"{ARTIFACTS}/3/r/artifacts/ranged.bin"

    def fetch(value: str) -> httpx.Response:
        return http.get(url, headers={"Range": value})

    head = fetch("bytes=0-9")
    assert (head.status_code, head.content, head.headers["content-range"]) == (206, data[:10], f"bytes 0-9/{len(data)}")
    middle = fetch("bytes=4194300-4194310")
    assert middle.content == data[4194300:4194311]
    assert fetch("bytes=10000000-").content == data[10_000_000:]
    assert fetch("bytes=-5").content == data[-5:]
    assert fetch("bytes=5-99999999999").content == data[5:]
    unsatisfiable = fetch(f"bytes={len(data)}-")
    assert (unsatisfiable.status_code, unsatisfiable.headers["content-range"]) == (416, f"bytes */{len(data)}")
    whole = fetch("bytes=0-1,5-6")  # several ranges: served whole
    assert (whole.status_code, whole.content) == (200, data)
    assert whole.headers["accept-ranges"] == "bytes"


def test_storage_outage_mid_upload_is_retryable_and_leaves_nothing(tmp_path: Path) -> None:
    """Azurite stops while a file is being uploaded: the client gets a retryable 503, no partial blob appears,
    and the same upload succeeds once storage is back."""
    port = free_port()
    destination = "wasbs://artifacts@devstoreaccount1.blob.core.windows.net/outage"
    data = os.urandom(12 * 1024 * 1024)
    storage = contextlib.ExitStack()
    connection_string = storage.enter_context(azurite(tmp_path / "azurite", port))
    BlobServiceClient.from_connection_string(connection_string).create_container("artifacts")
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string}
    with runyard_server(f"sqlite:///{tmp_path / 'db.sqlite'}", destination, env=env) as url:

        def body_with_outage() -> Iterator[bytes]:
            yield data[: 6 * 1024 * 1024]  # a first block gets staged
            storage.close()  # then storage goes away
            yield data[6 * 1024 * 1024 :]

        with httpx.Client(base_url=url, timeout=120) as http:
            failed = http.put(f"{ARTIFACTS}/9/r/artifacts/big.bin", content=body_with_outage())
            assert failed.status_code == 503
            assert failed.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
            with azurite(tmp_path / "azurite", port):
                assert http.get(ARTIFACTS, params={"path": "9/r/artifacts"}).json() == {}
                assert http.put(f"{ARTIFACTS}/9/r/artifacts/big.bin", content=data).status_code == 200
                assert http.get(f"{ARTIFACTS}/9/r/artifacts/big.bin").content == data


def test_stock_client_multipart_upload_with_over_100_parts(
    server: str, http: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's proxied multipart upload: 7 MB in 64 KiB parts is 107 parts, assembled in order (on Azure,
    107 staged blocks with ids of one length, where `mlflow server` fails past the ninth)."""
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(64 * 1024))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    data = os.urandom(7_000_000)
    (tmp_path / "weights.bin").write_bytes(data)
    mlflow.set_tracking_uri(server)
    try:
        mlflow.set_experiment("multipart")
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(tmp_path / "weights.bin"), artifact_path="model")
        local = MlflowClient(server).download_artifacts(run.info.run_id, "model/weights.bin", str(tmp_path / "dl"))
        assert Path(local).read_bytes() == data
    finally:
        mlflow.set_tracking_uri(None)
    run_root = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    assert http.get(ARTIFACTS, params={"path": f"{run_root}/model"}).json()["files"] == [
        {"path": "weights.bin", "is_dir": False, "file_size": len(data)}
    ]
    root = http.get(ARTIFACTS, params={"path": ""}).json().get("files", [])
    assert ".runyard-mpu" not in {f["path"] for f in root}  # parts in flight are never listed
    assert http.get(f"{ARTIFACTS}/.runyard-mpu/anything").status_code == 400


def test_multipart_requires_every_part(http: httpx.Client) -> None:
    created = http.post("/api/2.0/mlflow-artifacts/mpu/create/5/r/artifacts", json={"path": "f.bin", "num_parts": 2})
    upload = created.json()
    first = upload["credentials"][0]["url"]
    assert httpx.put(first, content=b"part one").status_code == 200
    parts = [{"part_number": 1, "etag": "x"}, {"part_number": 2, "etag": "y"}]
    response = http.post(
        "/api/2.0/mlflow-artifacts/mpu/complete/5/r/artifacts",
        json={"path": "f.bin", "upload_id": upload["upload_id"], "parts": parts},
    )
    assert response.status_code == 400
    assert http.get(f"{ARTIFACTS}/5/r/artifacts/f.bin").status_code == 404
    bad = http.post("/api/2.0/mlflow-artifacts/mpu/abort/5/r/artifacts", json={"path": "f", "upload_id": "../x"})
    assert bad.status_code == 400


def test_multipart_parts_larger_than_a_block_arrive_in_order(http: httpx.Client) -> None:
    """Parts bigger than one staged block (4 MiB on Azure) stream through in several blocks; parts sent out of
    order are still assembled by part number."""
    first, second = os.urandom(5 * 1024 * 1024), os.urandom(9 * 1024 * 1024 + 7)
    created = http.post("/api/2.0/mlflow-artifacts/mpu/create/6/r/artifacts", json={"path": "w.bin", "num_parts": 2})
    upload = created.json()
    urls = [credential["url"] for credential in upload["credentials"]]
    assert httpx.put(urls[1], content=second, timeout=60).status_code == 200
    assert httpx.put(urls[0], content=first, timeout=60).status_code == 200
    parts = [{"part_number": 1, "etag": "a"}, {"part_number": 2, "etag": "b"}]
    completed = http.post(
        "/api/2.0/mlflow-artifacts/mpu/complete/6/r/artifacts",
        json={"path": "w.bin", "upload_id": upload["upload_id"], "parts": parts},
    )
    assert completed.status_code == 200
    assert http.get(f"{ARTIFACTS}/6/r/artifacts/w.bin").content == first + second


def test_parallel_ranged_download_through_the_proxy(
    server: str, http: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With direct access off, the presigned endpoint points back at the proxy, so a client asking for multipart
    downloads fetches ranges of the file in parallel through the server."""
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(1024 * 1024))
    data = os.urandom(5 * 1024 * 1024 + 3)
    assert http.put(f"{ARTIFACTS}/7/r/artifacts/big.bin", content=data).status_code == 200
    presigned = http.get("/api/2.0/mlflow-artifacts/presigned/7/r/artifacts/big.bin").json()
    assert presigned == {"url": f"{server}{ARTIFACTS}/7/r/artifacts/big.bin", "headers": {}, "file_size": len(data)}
    local = mlflow.artifacts.download_artifacts(
        artifact_uri="mlflow-artifacts:/7/r/artifacts/big.bin", tracking_uri=server, dst_path=str(tmp_path)
    )
    assert Path(local).read_bytes() == data
    missing = http.get("/api/2.0/mlflow-artifacts/presigned/7/r/artifacts/nope.bin")
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert http.get("/api/2.0/mlflow-artifacts/presigned/7/r/%2e%2e/%2e%2e/%2e%2e/etc/passwd").status_code == 400
