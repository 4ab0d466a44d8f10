"""A Runyard started with `--enable-workspaces` per module, on each database, and the stock client pointed at it;
each test makes workspaces of its own (names never repeat), so tests share the server without clashing."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from tests.support.processes import runyard_server
from tests.support.stores import kind_of, new_store_uri

_numbers = itertools.count()


def next_number() -> int:
    return next(_numbers)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspaces") / "mlartifacts"


@pytest.fixture(scope="module")
def server(backend_store_uri: str, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    store_uri = new_store_uri(kind_of(backend_store_uri), artifacts.parent, "workspaces", request)
    with runyard_server(store_uri, artifacts, "--enable-workspaces") as url:
        yield url


@pytest.fixture
def client(server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server)
    yield MlflowClient(server)
    mlflow.set_workspace(None)


@pytest.fixture
def two_teams(client: MlflowClient) -> tuple[str, str]:
    number = next_number()
    names = (f"team-a-{number}", f"team-b-{number}")
    for name in names:
        mlflow.create_workspace(name, description=f"{name} models")
    return names
