"""What a browser or client gets for a downloaded artifact, on a server whose default artifact root is spelled as its
own proxy URL (`http://<server>/api/2.0/mlflow-artifacts/artifacts`, as MLflow documents for remote clients): the
file's own name in `Content-Disposition`, MLflow's media types, and run listings and downloads through the tracking
API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from tests.support.processes import free_port, runyard_server
from tests.support.stores import kind_of, new_store_uri

PROXY = "/api/2.0/mlflow-artifacts/artifacts"

# (file name, media type, Content-Disposition), as `mlflow server` 3.17.2 sends them; HTML and SVG, which MLflow
# sends as themselves, are plain text here so that an uploaded page can never run on the server's origin.
DOWNLOADS = [
    ("a.txt", "text/plain", "attachment; filename=a.txt"),
    ("MLmodel", "text/plain", "attachment; filename=MLmodel"),
    ("mlproject", "text/plain", "attachment; filename=mlproject"),
    ("conda.yaml", "text/plain", "attachment; filename=conda.yaml"),
    ("data.json", "text/plain", "attachment; filename=data.json"),
    ("b.pkl", "application/octet-stream", "attachment; filename=b.pkl"),
    ("c.png", "image/png", "attachment; filename=c.png"),
    ("d.pdf", "application/pdf", "attachment; filename=d.pdf"),
    ("dog+step+20.png", "image/png", "attachment; filename=dog+step+20.png"),
    ("page.html", "text/plain", "attachment; filename=page.html"),
    ("logo.svg", "text/plain", "attachment; filename=logo.svg"),
    ("my report.csv", "text/plain", 'attachment; filename="my report.csv"'),
    ("naïve.txt", "text/plain", "attachment; filename=naive.txt; filename*=UTF-8''na%C3%AFve.txt"),
]


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
    """One run that logged every file of `DOWNLOADS` (and `images/`) through the stock client."""
    folder = tmp_path_factory.mktemp("files")
    for name, _, _ in DOWNLOADS:
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
    assert image.headers["content-disposition"] == "attachment; filename=dog.png"


@pytest.mark.parametrize(("name", "media_type", "disposition"), DOWNLOADS)
def test_downloads_are_saved_under_the_files_name(
    logged: Logged, http: httpx.Client, name: str, media_type: str, disposition: str
) -> None:
    proxied = http.get(f"{PROXY}/{logged.experiment_id}/{logged.run_id}/artifacts/{quote(name)}")
    through_run = http.get("/get-artifact", params={"run_id": logged.run_id, "path": name})
    for answer in (proxied, through_run):
        assert answer.status_code == 200, answer.text
        assert answer.text == f"contents of {name}"
        assert answer.headers["content-disposition"] == disposition
        assert answer.headers["content-type"] == media_type
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_model_versions_and_a_logged_models_files_carry_their_names(
    server: str, logged: Logged, http: httpx.Client, tmp_path: Path
) -> None:
    client = MlflowClient(server)
    client.create_registered_model("named-downloads")
    client.create_model_version("named-downloads", f"runs:/{logged.run_id}", logged.run_id)
    version_file = http.get(
        "/model-versions/get-artifact", params={"name": "named-downloads", "version": "1", "path": "MLmodel"}
    )
    assert (version_file.status_code, version_file.text) == (200, "contents of MLmodel")
    assert version_file.headers["content-disposition"] == "attachment; filename=MLmodel"
    assert version_file.headers["content-type"] == "text/plain"

    model = client.create_logged_model(experiment_id=logged.experiment_id, name="named-model")
    (tmp_path / "weights file.bin").write_bytes(b"\x00\x01")
    client.log_model_artifact(model.model_id, str(tmp_path / "weights file.bin"))
    model_file = http.get(
        f"/ajax-api/2.0/mlflow/logged-models/{model.model_id}/artifacts/files",
        params={"artifact_file_path": "weights file.bin"},
    )
    assert (model_file.status_code, model_file.content) == (200, b"\x00\x01")
    assert model_file.headers["content-disposition"] == 'attachment; filename="weights file.bin"'
    assert model_file.headers["content-type"] == "application/octet-stream"


def test_paths_leaving_the_run_are_refused_with_mlflows_message(logged: Logged, http: httpx.Client) -> None:
    for route in ("/api/2.0/mlflow/artifacts/list", "/get-artifact"):
        refused = http.get(route, params={"run_id": logged.run_id, "path": "../other"})
        assert refused.status_code == 400
        body = refused.json()
        assert (body["error_code"], body["message"]) == ("INVALID_PARAMETER_VALUE", "Invalid path")


def test_versions_register_files_under_the_proxy_url_of_their_own_run(
    server: str, logged: Logged, http: httpx.Client
) -> None:
    """A run's folder registered by its artifact URI, here a URL of this server (what the client sends for a model
    stored as plain run artifacts): accepted, as by `mlflow server`, when it lies inside the run the request names;
    another host, or another run's folder, is refused."""
    client = MlflowClient(server)
    client.create_registered_model("from-proxy-url")
    folder = f"{logged.artifact_uri}/images"
    version = client.create_model_version("from-proxy-url", folder, logged.run_id)
    assert (version.version, version.source) == ("1", folder)
    params = {"name": "from-proxy-url", "version": "1", "path": "dog.png"}
    served = http.get("/model-versions/get-artifact", params=params)
    assert (served.status_code, served.content) == (200, b"\x89PNG not really")

    other_run = client.create_run(logged.experiment_id).info.run_id
    elsewhere = folder.replace("127.0.0.1", "elsewhere.example")
    for source, message in (
        (
            elsewhere,
            "'source' cannot use the 'http' scheme: the 'http' scheme addresses a host other than the tracking "
            "server's configured artifact storage, so the server would connect to the host named in the URI.",
        ),
        (
            folder,
            f"Invalid model version source: '{folder}'. The run_id request parameter must identify the resource that "
            "contains the source.",
        ),
    ):
        body = {"name": "from-proxy-url", "source": source, "run_id": other_run}
        refused = http.post("/api/2.0/mlflow/model-versions/create", json=body)
        assert refused.status_code == 400
        assert (refused.json()["error_code"], refused.json()["message"]) == ("INVALID_PARAMETER_VALUE", message)


def test_presigned_model_downloads_are_refused_without_direct_access(logged: Logged, http: httpx.Client) -> None:
    """Files on this server's own storage have no URL but the server's: MLflow answers a repository that cannot
    sign one with NOT_IMPLEMENTED, and server-info does not offer it."""
    client = MlflowClient(str(http.base_url).rstrip("/"))
    client.create_registered_model("presigned-refused")
    client.create_model_version("presigned-refused", f"runs:/{logged.run_id}", logged.run_id)
    params = {"name": "presigned-refused", "version": "1", "path": "MLmodel", "presigned": "true"}
    refused = http.get("/model-versions/get-artifact", params=params)
    assert (refused.status_code, refused.json()["error_code"], refused.json()["message"]) == (
        501,
        "NOT_IMPLEMENTED",
        "Presigned download is not supported for the current artifact repository",
    )
    assert http.get("/api/3.0/mlflow/server-info").json()["model_artifact_presigned_downloads_supported"] is False
    assert http.get("/model-versions/get-artifact", params={**params, "presigned": "false"}).status_code == 200
