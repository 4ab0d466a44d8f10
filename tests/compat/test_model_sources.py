"""Which local sources a new model version may name, decided as `mlflow server` 3.17.2 decides, on a server whose
runs keep their artifacts in a local folder (`--default-artifact-root file://...`), on SQLite and PostgreSQL: a
path is resolved first, so `.` and `..` are fine while it stays inside the run's (or logged model's) folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient

from tests.support.processes import runyard_server
from tests.support.stores import kind_of, new_store_uri

LOCAL_PATH_REFUSED = (
    "To use a local path as a model version source, the run_id request parameter has to be specified and the local "
    "path has to be contained within the artifact directory of the run specified by the run_id."
)
RELATIVE_REFUSED = "If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts uri"


@pytest.fixture(scope="module")
def server(
    backend_store_uri: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("sources")
    store = new_store_uri(kind_of(backend_store_uri), folder, "sources", request)
    root = (folder / "runs").as_uri()
    with runyard_server(store, folder / "mlartifacts", "--default-artifact-root", root) as url:
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def create(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/api/2.0/mlflow/model-versions/create", json=body)


def refusal(answer: httpx.Response) -> str:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    return str(answer.json()["message"])


def test_local_sources_inside_the_run_are_resolved_then_accepted(server: str, http: httpx.Client) -> None:
    client = MlflowClient(server)
    client.create_registered_model("local-sources")
    run = client.create_run(client.create_experiment("local-sources"))
    run_id, root = run.info.run_id, run.info.artifact_uri
    assert root.startswith("file://")
    client.log_text(run_id, "flavors: {}", "model/MLmodel")

    sources = [root, f"{root}/model", f"{root}/.", f"{root}/model/..", f"{root.removeprefix('file://')}/model/./"]
    for number, source in enumerate(sources, start=1):
        answer = create(http, name="local-sources", source=source, run_id=run_id)
        assert answer.status_code == 200, (source, answer.text)
        assert (answer.json()["model_version"]["source"], answer.json()["model_version"]["version"]) == (
            source,
            str(number),
        )
    served = http.get(
        "/model-versions/get-artifact", params={"name": "local-sources", "version": "4", "path": "model/MLmodel"}
    )
    assert (served.status_code, served.text) == (200, "flavors: {}")

    for source, owner in ((f"{root}/model/../..", run_id), (f"{root}/../../{run_id}", run_id), (root, None)):
        assert LOCAL_PATH_REFUSED in refusal(create(http, name="local-sources", source=source, run_id=owner))
    assert LOCAL_PATH_REFUSED in refusal(create(http, name="local-sources", source="file:///tmp"))


def test_other_hosts_and_relative_remote_sources_are_refused(server: str, http: httpx.Client) -> None:
    client = MlflowClient(server)
    client.create_registered_model("remote-sources")
    experiment_id = client.create_experiment("remote-sources")
    run_id = client.create_run(experiment_id).info.run_id

    elsewhere = "file://123.456.789.123/path/to/source"
    assert refusal(create(http, name="remote-sources", source=elsewhere, run_id=run_id)) == (
        f"{elsewhere} is not a valid remote uri. For remote access on windows, please consider using a different "
        "scheme such as SMB (e.g. smb://<hostname>/<path>)."
    )
    for source in (
        "s3a://my_bucket/api/2.0/mlflow-artifacts/artifacts/../../../",
        "mlflow-artifacts:/models/..%2f..%2fartifacts",
        "mlflow-artifacts:/models/artifact%00",
        f"dbfs:/{run_id}/artifacts/a%3f/../../../../",
    ):
        assert RELATIVE_REFUSED in refusal(create(http, name="remote-sources", source=source, run_id=run_id)), source

    model = client.create_logged_model(experiment_id=experiment_id)
    assert create(http, name="remote-sources", source=model.artifact_location, model_id=model.model_id).is_success
    outside = refusal(create(http, name="remote-sources", source="file:///path/to/model", model_id=model.model_id))
    assert "the model_id request parameter has to be specified and the local path has to be contained" in outside
