"""`runyard import azureml://…`: an Azure ML workspace's MLflow tracking URI read through the same REST path as any
tracking server, signed with a token from the Azure credential.

Two things of Azure cannot be reached here and are stood in for, nothing else: the credential (a tiny object
handing out tokens with their expiry) and the workspace's address (RUNYARD_AZUREML_BASE_URL points the converted
host at a small real reverse proxy, which accepts only the workspace's path prefix and the tokens it was told are
valid, records what each request carried, and forwards the rest to a real Runyard server). The import runs in
this process, through click's runner, so that the credential can be the stand-in."""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from click.testing import CliRunner, Result
from mlflow import MlflowClient
from mlflow.entities import Metric

from server.cli.importing import import_command
from server.services import import_azureml
from server.services.import_source import Source
from tests.support.processes import runyard_server

WORKSPACE = (
    "/mlflow/v1.0/subscriptions/0000-sub/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/"
    "workspaces/ws-one"
)
AZUREML_URI = f"azureml://westeurope.api.azureml.ms{WORKSPACE}"
HISTORY = 50


class Credential:
    """DefaultAzureCredential as the import sees it: `get_token(scope)` with the token's expiry (epoch seconds).
    Hands out token-1, token-2, … each valid for `lifetime_s` from `now`."""

    def __init__(self, now: float, lifetime_s: float = 3600, prefix: str = "token") -> None:
        self.now, self.lifetime_s, self.prefix = now, lifetime_s, prefix
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"{self.prefix}-{len(self.scopes)}", int(self.now + self.lifetime_s))


@dataclass
class Proxy:
    """The workspace's MLflow endpoint as Azure answers it: 401 without a valid bearer token, 404 off the
    workspace's path; everything else forwarded to the tracking server behind it."""

    url: str
    valid: set[str] = field(default_factory=set)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization header) per request


@contextlib.contextmanager
def reverse_proxy(upstream: str) -> Iterator[Proxy]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    proxy = Proxy(f"http://127.0.0.1:{server.server_address[1]}")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _forward(self) -> None:
            authorization = self.headers.get("Authorization", "")
            proxy.seen.append((self.path, authorization))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.startswith(WORKSPACE + "/"):
                self._answer(404, b'{"error_code": "ENDPOINT_NOT_FOUND", "message": "No such workspace"}')
            elif authorization.removeprefix("Bearer ") not in proxy.valid:
                self._answer(401, b'{"error_code": "UNAUTHENTICATED", "message": "The access token is invalid"}')
            else:
                answer = httpx.request(
                    self.command,
                    upstream + self.path.removeprefix(WORKSPACE),
                    content=body,
                    headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
                    timeout=60,
                )
                self._answer(answer.status_code, answer.content, answer.headers.get("Content-Type"))

        def _answer(self, status: int, body: bytes, content_type: str | None = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type or "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Workspace:
    upstream: str  # the tracking server behind the proxy, read directly to compare
    run_ids: list[str]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """Two runs with a metric history and an artifact each, and one whose artifacts are in the workspace's own
    store, in the tracking server the proxy forwards to."""
    workdir = tmp_path_factory.mktemp("azureml-source")
    with runyard_server(f"sqlite:///{workdir / 'source.db'}", workdir / "artifacts") as url:
        client = MlflowClient(url)
        experiment_id = client.create_experiment("trainer")
        run_ids = []
        for number in range(2):
            run = client.create_run(experiment_id, run_name=f"run-{number}")
            run_id, start = run.info.run_id, run.info.start_time
            client.log_batch(run_id, metrics=[Metric("loss", 1 / (s + 1), start + s, s) for s in range(HISTORY)])
            notes = workdir / f"notes-{number}.txt"
            notes.write_text(f"run {number}\n")
            client.log_artifact(run_id, str(notes), artifact_path="outputs")
            client.set_terminated(run_id)
            run_ids.append(run_id)
        # As runs logged to Azure ML itself are: their artifacts in the workspace's own store.
        in_azure = client.create_experiment(
            "logged-in-azure", artifact_location="azureml://experiments/logged-in-azure"
        )
        run_id = client.create_run(in_azure, run_name="remote").info.run_id
        client.log_metric(run_id, "loss", 0.5)
        run_ids.append(run_id)
        yield Workspace(url, run_ids)


@pytest.fixture
def proxy(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    """The workspace's address, with the converted host pointed at it; the client's auth setting is put back."""
    with reverse_proxy(workspace.upstream) as proxy:
        monkeypatch.setenv(import_azureml.BASE_URL_ENV, proxy.url)
        try:
            yield proxy
        finally:
            os.environ.pop("MLFLOW_TRACKING_AUTH", None)


def _credential(monkeypatch: pytest.MonkeyPatch, lifetime_s: float = 3600, prefix: str = "token") -> Credential:
    credential = Credential(time.time(), lifetime_s, prefix)
    monkeypatch.setattr(import_azureml, "default_credential", lambda: credential)
    return credential


def runyard_import(source: str, tmp_path: Path, *args: str) -> Result:
    store = ["--backend-store-uri", f"sqlite:///{tmp_path / 'r.db'}", "--artifacts-destination", str(tmp_path / "a")]
    return CliRunner().invoke(import_command, [source, *store, *args])


def test_an_azureml_uri_is_the_workspace_https_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(import_azureml.BASE_URL_ENV, raising=False)
    https = f"https://westeurope.api.azureml.ms{WORKSPACE}"
    assert import_azureml.https_uri(AZUREML_URI) == https
    assert import_azureml.https_uri(https + "/") == https
    monkeypatch.setenv(import_azureml.BASE_URL_ENV, "http://127.0.0.1:9")
    assert import_azureml.https_uri(AZUREML_URI) == f"http://127.0.0.1:9{WORKSPACE}"
    assert not import_azureml.is_workspace_uri("https://example.com/mlflow")


def test_import_from_a_workspace(
    workspace: Workspace, proxy: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = _credential(monkeypatch)
    proxy.valid = {"token-1"}

    imported = runyard_import(AZUREML_URI, tmp_path)

    assert imported.exit_code == 0, imported.output
    assert "Imported 3 runs (101 metric points, 12 artifact bytes) and 0 traces from 3 experiments" in imported.stdout
    assert (
        "Not imported: the artifacts of 1 run, kept in the Azure ML workspace's own artifact store (azureml:// "
        "artifact URIs), which runyard import does not read.\n"
    ) in imported.stdout
    assert "DIFFERENT" not in imported.stdout
    assert credential.scopes == [("https://management.azure.com/.default",)]
    assert {authorization for _, authorization in proxy.seen} == {"Bearer token-1"}
    assert any("/api/2.0/mlflow-artifacts/artifacts/" in path for path, _ in proxy.seen)  # through the same base
    with runyard_server(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "a") as url:
        copy, source = MlflowClient(url), MlflowClient(workspace.upstream)
        for number, run_id in enumerate(workspace.run_ids[:2]):
            history = [(m.step, m.value) for m in copy.get_metric_history(run_id, "loss")]
            assert history == [(m.step, m.value) for m in source.get_metric_history(run_id, "loss")]
            folder = Path(copy.download_artifacts(run_id, "outputs", str(tmp_path / run_id)))
            assert (folder / f"notes-{number}.txt").read_text() == f"run {number}\n"


def test_a_token_is_fetched_again_before_it_expires(
    workspace: Workspace, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import outlives its first token: the next request after the clock nears the expiry carries a new one,
    and the expired one is refused by then."""
    credential = _credential(monkeypatch, lifetime_s=3600)
    proxy.valid = {"token-1"}
    source = Source(AZUREML_URI)
    assert source.azure is not None
    now = [credential.now]
    source.azure.clock = lambda: now[0]
    source.check()
    (experiment,) = source.experiments(["trainer"])
    assert {authorization for _, authorization in proxy.seen} == {"Bearer token-1"}

    now[0] = credential.now + 3600 - 60  # a minute before token-1 expires
    credential.now = now[0]
    proxy.valid = {"token-2"}
    proxy.seen.clear()

    assert sorted(source.run_ids(experiment.experiment_id)) == sorted(workspace.run_ids[:2])
    assert source.run(workspace.run_ids[0], 1).points
    assert {authorization for _, authorization in proxy.seen} == {"Bearer token-2"}
    assert len(credential.scopes) == 2


def test_a_refused_token_is_one_line(proxy: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _credential(monkeypatch, prefix="revoked")
    proxy.valid = {"token-1"}

    refused = runyard_import(AZUREML_URI, tmp_path)

    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        f"Error: Cannot read {proxy.url}{WORKSPACE}: UNAUTHENTICATED: The access token is invalid\n"
    )


def test_no_azure_credentials_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Unavailable:
        def get_token(self, *scopes: str) -> AccessToken:
            raise ClientAuthenticationError(
                "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
                "Attempted credentials:\n\tEnvironmentCredential: EnvironmentCredential authentication unavailable."
            )

    monkeypatch.setattr(import_azureml, "default_credential", Unavailable)
    monkeypatch.setenv(import_azureml.BASE_URL_ENV, "http://127.0.0.1:9")
    try:
        refused = runyard_import(AZUREML_URI, tmp_path)
    finally:
        os.environ.pop("MLFLOW_TRACKING_AUTH", None)
    assert refused.exit_code == 1
    assert refused.stderr == (
        "Error: Cannot get an Azure token for the workspace (https://management.azure.com/.default): "
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
    )


def test_the_https_uri_takes_the_azure_credential_unless_mlflow_credentials_are_set(
    proxy: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    https = f"https://westeurope.api.azureml.ms{WORKSPACE}"
    credential = _credential(monkeypatch)
    proxy.valid = {"token-1", "mine"}

    planned = runyard_import(https, tmp_path, "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "Dry run: 3 runs and 0 traces would be imported; nothing was written." in planned.stdout
    assert {authorization for _, authorization in proxy.seen} == {"Bearer token-1"}

    os.environ.pop("MLFLOW_TRACKING_AUTH", None)
    proxy.seen.clear()
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "mine")
    planned = runyard_import(https, tmp_path, "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert {authorization for _, authorization in proxy.seen} == {"Bearer mine"}
    assert len(credential.scopes) == 1  # asked once, by the first import only
