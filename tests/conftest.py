"""Fixtures: every suite runs against real databases (SQLite and PostgreSQL) through a real server process."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from tests.support.processes import POSTGRES_ENV, postgres_cluster, runyard_server
from tests.support.stores import kind_of, new_store_uri

_unique_names = itertools.count()

# The client exports finished traces from a background queue by default; flushing that queue waits out its consumer's
# one-second poll, which a test pays for every trace it reads back. Exporting in the caller's thread sends the same
# requests, once each, and returns when the server has answered.
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")


# Folders whose files run longest (a browser, a fresh venv, servers started per test), scheduled first so that the two
# workers of `make test` end together instead of one finishing a long file alone while the other waits.
_LONGEST_FIRST = ("ui", "deploy", "importer", "compat", "auth", "artifacts", "jobs", "webhooks", "cli")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        folder = item.path.parent.name
        return _LONGEST_FIRST.index(folder) if folder in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file keeps its order, so its module-scoped servers start once


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """CI's PostgreSQL if it gave one, else a cluster of our own; never a silent skip."""
    if url := os.environ.get(POSTGRES_ENV):
        yield url
        return
    with postgres_cluster() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend_store_uri(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return new_store_uri(request.param, tmp_path_factory.mktemp("store"), "runyard", request)


@pytest.fixture
def fresh_store_uri(backend_store_uri: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the same kind as `backend_store_uri`, for tests that reshape the schema."""
    return new_store_uri(kind_of(backend_store_uri), tmp_path, "fresh", request)


@pytest.fixture(scope="session")
def server_dir(backend_store_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Holds the shared server's artifacts (`mlartifacts/`) and its log."""
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="session")
def server_url(backend_store_uri: str, server_dir: Path) -> Iterator[str]:
    with runyard_server(backend_store_uri, server_dir / "mlartifacts") as url:
        yield url


@pytest.fixture
def server_log(server_url: str, server_dir: Path) -> Path:
    return server_dir / f"runyard-server-{server_url.rsplit(':', 1)[1]}.log"


@pytest.fixture(autouse=True)
def no_experiment_carried_over() -> Iterator[None]:
    """`mlflow.set_experiment` and `set_tracking_uri` keep their choice for the rest of the process (the experiment
    also in `MLFLOW_EXPERIMENT_ID`), so a test could log into an experiment of another test's server. Each test
    starts as a new script would; MLflow's own test suite resets the same state."""
    yield
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    mlflow.tracking.fluent._active_experiment_id = None
    mlflow.set_tracking_uri(None)


@pytest.fixture
def client(server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    """The stock client, pointed at the server as a user would point it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server_url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server_url)
    yield MlflowClient(server_url)
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    return f"{request.node.name}-{next(_unique_names)}"


@pytest.fixture
def http(server_url: str) -> Iterator[httpx.Client]:
    """Raw HTTP against the shared server, for what the stock client cannot send."""
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client
