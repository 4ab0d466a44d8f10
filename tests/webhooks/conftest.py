"""Webhook fixtures: one server per database kind for the module (two processes; private addresses and plain http
allowed, a Fernet key, short retry delays) and a real HTTP receiver on 127.0.0.1 that records what it gets.

Tests wait on the receiver's condition (generous timeouts, no fixed sleeps), so they pass on a loaded machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow
import pytest
from cryptography.fernet import Fernet
from mlflow import MlflowClient

from tests.support.processes import runyard_server
from tests.support.stores import kind_of, new_store_uri

WAIT_SECONDS = 180.0  # only a failing test waits this long; a loaded machine may need minutes
FERNET_KEY = Fernet.generate_key().decode()
WEBHOOK_ENV = {
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": FERNET_KEY,
    "RUNYARD_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "RUNYARD_WEBHOOK_POLL_SECONDS": "0.5",
}


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    """Answers 200 "ok", except with `fail(path, n)`'s status to the next n requests on that path."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._failing: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                # Recorded on arrival, before the answer: once a sender has its answer, the next request it makes
                # may be handled by another thread, and must not be recorded ahead of this one.
                with receiver._changed:
                    queued = receiver._failing.get(self.path, [])
                    status, extra = queued.pop(0) if queued else (200, {})
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body, status))
                    receiver._changed.notify_all()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                answer = b"ok" if status == 200 else b"try later"
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def fail(self, path: str, times: int, status: int = 503, headers: dict[str, str] | None = None) -> None:
        with self._changed:
            self._failing.setdefault(path, []).extend([(status, headers or {})] * times)

    def recover(self, path: str) -> None:
        """Answer 200 again on `path`, whatever failures were still queued for it."""
        with self._changed:
            self._failing.pop(path, None)

    def on(self, path: str) -> list[Received]:
        with self._changed:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, done: Callable[[list[Received]], bool]) -> list[Received]:
        """The requests to `path` once `done` holds for them; fails after a generous timeout."""
        deadline = time.monotonic() + WAIT_SECONDS
        with self._changed:
            while not done(found := [r for r in self.requests if r.path == path]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting on {path}; got {found}")
                self._changed.wait(left)
            return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def webhook_server(
    backend_store_uri: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("webhooks")
    store_uri = new_store_uri(kind_of(backend_store_uri), folder, "webhooks", request)
    # Two server processes: each runs a deliverer, so every test also checks that an event goes out once.
    with runyard_server(store_uri, folder / "mlartifacts", "--workers", "2", env=WEBHOOK_ENV) as url:
        yield url


@pytest.fixture
def wh_client(webhook_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", webhook_server)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(webhook_server)
    yield MlflowClient(webhook_server)
    mlflow.set_tracking_uri(None)


@pytest.fixture
def hook_path(request: pytest.FixtureRequest) -> str:
    """A receiver path of the test's own, so tests never see each other's deliveries."""
    return f"/hook/{request.node.name.replace('[', '-').replace(']', '')}"


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    return f"wh-{request.node.name.split('[')[0].replace('_', '-')[5:40]}-{time.monotonic_ns()}"
