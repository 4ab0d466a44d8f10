"""A server with `--auth` on each database kind, and users made with the `runyard users` / `tokens` commands."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from tests.support.processes import runyard_server
from tests.support.stores import new_store_uri

ADMIN = ("root", "root-password")
PASSWORD = "s3cret-password"


@dataclass(frozen=True)
class AuthServer:
    url: str
    store: str
    workspace: str | None = None  # sent with every request of `http()`, on a server with workspaces

    def runyard(self, *args: str) -> str:
        """A `runyard` admin command against this server's database; its stdout."""
        result = subprocess.run(
            [sys.executable, "-m", "server", *args, "--backend-store-uri", self.store],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def add_user(self, name: str) -> tuple[str, str]:
        self.runyard("users", "create", name, "--password", PASSWORD)
        return name, PASSWORD

    def http(self, user: tuple[str, str] | None = None) -> httpx.Client:
        headers = {"X-MLFLOW-WORKSPACE": self.workspace} if self.workspace else None
        return httpx.Client(base_url=self.url, auth=user, timeout=30, headers=headers)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def auth_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    base = tmp_path_factory.mktemp("auth")
    store = new_store_uri(request.param, base, "auth", request)
    env = {
        "RUNYARD_ADMIN_USERNAME": ADMIN[0],
        "RUNYARD_ADMIN_PASSWORD": ADMIN[1],
        "RUNYARD_AUTH_DEFAULT_PERMISSION": "NO_PERMISSIONS",
    }
    with runyard_server(store, Path(base) / "mlartifacts", "--auth", env=env) as url:
        yield AuthServer(url, store)


User = tuple[str, str]


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch, auth_server: AuthServer) -> Iterator[Callable[[User], MlflowClient]]:
    """Switches the stock client's credentials, as a user would with MLFLOW_TRACKING_USERNAME/PASSWORD."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(auth_server.url)

    def use(user: User) -> MlflowClient:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])
        return MlflowClient(auth_server.url)

    yield use
    mlflow.set_tracking_uri(None)
