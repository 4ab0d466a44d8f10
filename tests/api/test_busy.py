"""A database another connection keeps locked: writes are refused with a 429 that MLflow clients resend, nothing of a
refused write is stored, and once the lock goes the client's own retry goes through.

The lock is real: a second SQLite connection in `BEGIN IMMEDIATE` (as another process writing to the same file
would hold it), or a PostgreSQL session holding `LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`. The server's busy
timeout is one second so the refusals come quickly, but nothing waits on the clock: each test waits for the server
to count its first 429 (on `/metrics`), and every wait has only a generous cap, reached only if something is wrong.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from mlflow import MlflowClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support import venvs
from tests.support.processes import runyard_server
from tests.support.stores import new_store_uri

API = "/api/2.0/mlflow"
REFUSED = {
    "error_code": "REQUEST_LIMIT_EXCEEDED",
    "message": "The database is busy and nothing was written; retry after the Retry-After seconds.",
    "sqlstate": "KAMC3",
    "error_class": "CP_REQUEST_RATE_LIMITED",
}
CAP_S = 240  # only a broken server gets near this; a loaded machine stays far below


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store_uri(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return new_store_uri(request.param, tmp_path_factory.mktemp("busy"), "busy", request)


@pytest.fixture(scope="module")
def server_url(store_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("busy-server")
    env = {"RUNYARD_DATABASE_BUSY_TIMEOUT_SECONDS": "1"}
    with runyard_server(store_uri, folder / "mlartifacts", env=env) as url:
        yield url


@contextlib.contextmanager
def write_lock(store_uri: str) -> Iterator[None]:
    """Another connection holds the lock a write needs until the block ends, then rolls back."""
    if store_uri.startswith("sqlite"):
        conn = sqlite3.connect(store_uri.removeprefix("sqlite:///"), isolation_level=None, timeout=CAP_S)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    with psycopg.connect(store_uri) as pg:
        pg.execute("LOCK TABLE runs, experiments IN ACCESS EXCLUSIVE MODE")
        yield
        pg.rollback()


def refusals(server_url: str) -> float:
    """How many requests the server has answered with 429 so far."""
    text = httpx.get(f"{server_url}/metrics", timeout=60).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "runyard_http_requests_total" and sample.labels.get("status") == "429"
    )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CAP_S
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {CAP_S}s"
        time.sleep(0.05)


def new_experiment(server_url: str) -> str:
    name = f"busy-{uuid.uuid4().hex[:8]}"
    response = httpx.post(f"{server_url}{API}/experiments/create", json={"name": name}, timeout=60)
    return str(response.json()["experiment_id"])


def run_ids(server_url: str, experiment_id: str) -> list[str]:
    body = {"experiment_ids": [experiment_id], "max_results": 100}
    runs = httpx.post(f"{server_url}{API}/runs/search", json=body, timeout=60).json().get("runs", [])
    return [run["info"]["run_id"] for run in runs]


def test_a_refused_write_is_a_429_to_retry_and_stores_nothing(server_url: str, store_uri: str) -> None:
    experiment_id = new_experiment(server_url)
    name = f"refused-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server_url + API, timeout=CAP_S) as http, write_lock(store_uri):
        run = http.post("/runs/create", json={"experiment_id": experiment_id})
        experiment = http.post("/experiments/create", json={"name": name})
    for response in (run, experiment):
        assert response.status_code == 429, response.text
        assert response.json() == REFUSED
        assert int(response.headers["Retry-After"]) >= 1

    assert run_ids(server_url, experiment_id) == []
    missing = httpx.get(f"{server_url}{API}/experiments/get-by-name", params={"experiment_name": name}, timeout=60)
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    created = httpx.post(f"{server_url}{API}/runs/create", json={"experiment_id": experiment_id}, timeout=60)
    assert created.status_code == 200, created.text
    assert run_ids(server_url, experiment_id) == [created.json()["run"]["info"]["run_id"]]


def test_the_stock_client_resends_a_refused_create_run(
    server_url: str, store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow 3.17.2, the suite's own client, in this process."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
    experiment_id = new_experiment(server_url)
    outcome: list[object] = []

    def create_run() -> None:
        try:
            outcome.append(MlflowClient(server_url).create_run(experiment_id).info.run_id)
        except Exception as exc:
            outcome.append(exc)

    before = refusals(server_url)
    with write_lock(store_uri):
        creator = threading.Thread(target=create_run)
        creator.start()
        wait_until(lambda: refusals(server_url) > before, "the server's first refusal")
    creator.join(CAP_S)

    assert not creator.is_alive()
    (run_id,) = outcome
    assert isinstance(run_id, str), run_id
    assert run_ids(server_url, experiment_id) == [run_id]


def test_the_mlflow_318_client_resends_a_refused_create_run(server_url: str, store_uri: str, tmp_path: Path) -> None:
    """MLflow 3.18 resends a non-idempotent POST only on 408 and 429; it gave up on the 503 this used to be."""
    python = venvs.mlflow_client("3.18.0")
    experiment_id = new_experiment(server_url)
    script = (
        "import sys\n"
        "from mlflow import MlflowClient\n"
        "print(MlflowClient(sys.argv[1]).create_run(sys.argv[2]).info.run_id)\n"
    )
    before = refusals(server_url)
    with write_lock(store_uri):
        client = subprocess.Popen(
            [python, "-c", script, server_url, experiment_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=venvs.clean_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="7"),
        )
        try:
            wait_until(lambda: refusals(server_url) > before or client.poll() is not None, "the first refusal")
        except BaseException:
            client.kill()
            raise
    stdout, stderr = client.communicate(timeout=CAP_S)

    assert client.returncode == 0, stderr[-4000:]
    run_id = stdout.strip().splitlines()[-1]
    assert run_ids(server_url, experiment_id) == [run_id]
