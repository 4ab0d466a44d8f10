"""`--artifacts-presigned-only` (MLflow 3.18): no artifact byte passes through the server. A 3.18 client moves
every file, an empty one included, straight to and from Azure Blob Storage through SAS URLs; every route that would
proxy bytes refuses with MLflow's PERMISSION_DENIED and its `artifacts_presigned_only` field."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import requests
from azure.storage.blob import BlobServiceClient
from mlflow import MlflowClient

from server.api.presigned_only import DOWNLOAD_MESSAGE, UPLOAD_MESSAGE
from tests.support import venvs
from tests.support.processes import azurite, free_port, runyard_server

DESTINATION = "wasbs://presigned@devstoreaccount1.blob.core.windows.net/team"
SCRIPT = Path(__file__).parent / "scripts" / "presigned_client.py"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with azurite(tmp_path_factory.mktemp("azurite")) as connection_string:
        BlobServiceClient.from_connection_string(connection_string).create_container("presigned")
        yield connection_string


@pytest.fixture(scope="module")
def server(azure: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = f"sqlite:///{tmp_path_factory.mktemp('presigned') / 'db.sqlite'}"
    env = {"AZURE_STORAGE_CONNECTION_STRING": azure}
    with runyard_server(store, DESTINATION, "--artifacts-presigned-only", env=env) as url:
        yield url


def _refusal(message: str) -> dict[str, object]:
    return {
        "error_code": "PERMISSION_DENIED",
        "message": message,
        "sqlstate": "KAM00",
        "error_class": "PERMISSION_DENIED",
        "artifacts_presigned_only": True,
    }


def _access_log(server: str) -> list[dict[str, object]]:
    """The server's access-log lines (runyard_server keeps a Blob-backed server's output in the temp folder)."""
    port = urlparse(server).port
    lines = (Path(tempfile.gettempdir()) / f"runyard-server-{port}.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith('{"request_id"')]


def test_the_mlflow_318_client_moves_every_byte_through_storage(server: str, azure: str, tmp_path: Path) -> None:
    report = venvs.client_report(venvs.mlflow_client("3.18.0"), SCRIPT, server, tmp_path, cwd=tmp_path, timeout=600)
    assert report["back"] == report["sent"]
    assert set(report["sent"]) == {"empty.txt", "notes.txt", "weights/big.bin"}
    assert report["prediction"] == [2, 3]

    folder = report["artifact_uri"].removeprefix("mlflow-artifacts:/")
    container = BlobServiceClient.from_connection_string(azure).get_container_client("presigned")
    assert container.get_blob_client(f"team/{folder}/empty.txt").download_blob().readall() == b""
    assert container.get_blob_client(f"team/{folder}/notes.txt").download_blob().readall() == b"presigned only\n"
    # Not one byte went through the proxy: its file routes (the client had no other way to send bytes here) were
    # never even asked, and every transfer was a multipart upload or a presigned download.
    requests = _access_log(server)
    assert not [r for r in requests if str(r["path"]).startswith(ARTIFACTS + "/")]
    routes = {str(r["route"]) for r in requests}
    assert "/api/2.0/mlflow-artifacts/mpu/create/{artifact_path:path}" in routes
    assert "/api/2.0/mlflow-artifacts/presigned/{artifact_path:path}" in routes


def test_proxied_transfers_are_refused_as_mlflow_refuses_them(server: str, azure: str, tmp_path: Path) -> None:
    client = MlflowClient(server)
    run = client.create_run(client.create_experiment("refused"))
    folder = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    BlobServiceClient.from_connection_string(azure).get_blob_client("presigned", f"team/{folder}/a.txt").upload_blob(
        b"alpha"
    )
    client.create_registered_model("refused-model")
    client.create_model_version("refused-model", f"runs:/{run.info.run_id}", run.info.run_id)
    with httpx.Client(base_url=server, timeout=30) as http:
        info = http.get("/api/3.0/mlflow/server-info").json()
        uploads = [
            http.put(f"{ARTIFACTS}/{folder}/b.txt", content=b"bravo"),
            http.post(
                "/ajax-api/2.0/mlflow/upload-artifact",
                params={"run_uuid": run.info.run_id, "path": "c.txt"},
                content=b"charlie",
            ),
            http.put("/api/2.0/mlflow-artifacts/mpu/part/" + "0" * 32 + "/1", params={"path": f"{folder}/d.txt"}),
        ]
        downloads = [
            http.get(f"{ARTIFACTS}/{folder}/a.txt"),
            http.get("/get-artifact", params={"run_id": run.info.run_id, "path": "a.txt"}),
            http.get("/model-versions/get-artifact", params={"name": "refused-model", "version": "1", "path": "a.txt"}),
        ]
        presigned = http.get(
            "/model-versions/get-artifact",
            params={"name": "refused-model", "version": "1", "path": "a.txt", "presigned": "true"},
        )
        listing = http.get(ARTIFACTS, params={"path": folder})
    assert info["artifacts_presigned_only"] is True
    assert info["multipart_downloads_enabled"] is True  # direct access comes with the mode
    for answer in uploads:
        assert (answer.status_code, answer.json()) == (403, _refusal(UPLOAD_MESSAGE)), answer.request.url
    for answer in downloads:
        assert (answer.status_code, answer.json()) == (403, _refusal(DOWNLOAD_MESSAGE)), answer.request.url
    assert httpx.get(presigned.json()["url"]).content == b"alpha"  # the model file, from storage
    assert [f["path"] for f in listing.json()["files"]] == ["a.txt"]  # listings carry no bytes and stay open

    # A client that predates the mode (3.17) is told, in MLflow's words, to upgrade; nothing is stored.
    (tmp_path / "old.txt").write_text("old client")
    with pytest.raises(requests.HTTPError) as refused:
        client.log_artifact(run.info.run_id, str(tmp_path / "old.txt"))
    assert refused.value.response.json() == _refusal(UPLOAD_MESSAGE)
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["a.txt"]


def test_a_destination_that_cannot_sign_urls_is_refused_at_start(tmp_path: Path) -> None:
    started = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "server",
            "--port",
            str(free_port()),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'db.sqlite'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
            "--artifacts-presigned-only",
            "--no-embedded-worker",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 1
    assert started.stderr.splitlines()[-1] == (
        "Error: --artifacts-presigned-only needs an artifacts destination that signs URLs (Azure Blob Storage, "
        f"wasbs://...); {str(tmp_path / 'artifacts')!r} cannot."
    )
    assert "Traceback" not in started.stderr


SKILL_SCRIPT = """
import json, sys
from pathlib import Path
import mlflow

mlflow.set_tracking_uri(sys.argv[1])
source, target = Path(sys.argv[2]), Path(sys.argv[3])
(source / "scripts").mkdir(parents=True)
(source / "SKILL.md").write_text("---\\nname: blob-reviewer\\ndescription: Reviews\\n---\\nLook closely.\\n")
(source / "scripts" / "run.py").write_text("print('ok')\\n")
version = mlflow.genai.register_skill(source=str(source))
pulled = Path(mlflow.genai.pull(f"skills:/blob-reviewer/{version.version}", destination=str(target)))
print(json.dumps({
    "digest": version.digest,
    "files": {p.relative_to(pulled).as_posix(): p.read_text() for p in sorted(pulled.rglob("*")) if p.is_file()},
}))
"""


def test_a_skill_uploaded_to_blob_storage_is_pulled_back_from_it_and_deleted_with_its_skill(
    server: str, azure: str, tmp_path: Path
) -> None:
    """The server stores an uploaded skill in the destination itself; the 3.18 client, which moves no byte through
    the proxy here, pulls it back through presigned URLs. Deleting the skill deletes its blobs."""
    report = venvs.client_report(
        venvs.mlflow_client("3.18.0"), "-c", SKILL_SCRIPT, server, tmp_path / "skill", tmp_path / "pulled", cwd=tmp_path
    )
    assert report["files"] == {
        "SKILL.md": "---\nname: blob-reviewer\ndescription: Reviews\n---\nLook closely.\n",
        "scripts/run.py": "print('ok')\n",
    }
    container = BlobServiceClient.from_connection_string(azure).get_container_client("presigned")
    stored = sorted(b.name for b in container.list_blobs(name_starts_with="team/skills/blob-reviewer/"))
    assert [name.split("/", 4)[4] for name in stored] == ["SKILL.md", "scripts/run.py"]
    assert httpx.delete(f"{server}/api/3.0/mlflow/skills/blob-reviewer").status_code == 200
    assert not list(container.list_blobs(name_starts_with="team/skills/blob-reviewer/"))
