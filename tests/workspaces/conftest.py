"""Workspace fixtures: one server per test module and database kind, started with `--enable-workspaces`, the stock
client pointed at it, and two fresh workspaces per test (so tests of a module never see each other's names)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.support.processes import runyard_server
from tests.support.stores import kind_of, new_store_uri

_numbers = itertools.count()


def next_number() -> int:
    """A number no other test of the session gets: for names that must not repeat on a shared server."""
    return next(_numbers)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspaces") / "mlartifacts"


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """The server's environment beyond the flag; a module overrides it to start its server differently."""
    return {}


@pytest.fixture(scope="module")
def server(
    backend_store_uri: str, artifacts: Path, server_env: dict[str, str], request: pytest.FixtureRequest
) -> Iterator[str]:
    store_uri = new_store_uri(kind_of(backend_store_uri), artifacts.parent, "workspaces", request)
    with runyard_server(store_uri, artifacts, "--enable-workspaces", env=server_env) as url:
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
    number = next(_numbers)
    names = (f"team-a-{number}", f"team-b-{number}")
    for name in names:
        mlflow.create_workspace(name, description=f"{name} models")
    return names


def error_of(call: Callable[[], object]) -> tuple[str, str]:
    """The error code and the server's message (the client shows it after "<code>: ")."""
    with pytest.raises(MlflowException) as raised:
        call()
    code = raised.value.error_code
    return code, raised.value.message.removeprefix(f"{code}: ")
