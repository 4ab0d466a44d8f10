"""A pytest plugin that runs MLflow's own server tests against `runyard server` instead of MLflow's server.

MLflow's tests of its REST server start that server through a few launchers: `_init_server` in
`tests/tracking/integration_test_utils.py` (every `mlflow_client` and registry `client` fixture) and `_launch_server`
in `tests/tracking/test_mlflow_artifacts.py`. Loaded with `-p runyard_parity` into a run from an MLflow source
checkout, this plugin swaps those launchers, and nothing else, for one that starts `runyard server` on the same store
and artifact root and hands back what MLflow's launcher hands back. The tests, their fixtures and their assertions
stay MLflow's, so a failure is a difference between the two servers (or one of the deliberate differences that
README.md lists).

Two translations are unavoidable, and both keep what a test observes through the API:
- Runyard keeps metadata only in SQL, so an MLflow file-store URI becomes a SQLite database in a fresh folder.
- A SQLite file that MLflow's own store already created (some fixtures initialise one before starting the server)
  holds MLflow's schema, not Runyard's; Runyard gets a fresh file beside it.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

# MLflow's server reads these (set by its launchers) instead of flags: `mlflow/server/__init__.py`.
_BACKEND_ENV = "_MLFLOW_SERVER_FILE_STORE"
_ARTIFACT_ROOT_ENV = "_MLFLOW_SERVER_ARTIFACT_ROOT"
_SERVE_ARTIFACTS_ENV = "_MLFLOW_SERVER_SERVE_ARTIFACTS"
_ARTIFACTS_DESTINATION_ENV = "_MLFLOW_SERVER_ARTIFACT_DESTINATION"

_STARTUP_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _local_path(uri_or_path: str) -> Path:
    parsed = urlparse(uri_or_path)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri_or_path)


def runyard_store_uri(backend_uri: str) -> str:
    """The store Runyard serves in place of `backend_uri` (see the module docstring for the two translations)."""
    if backend_uri.startswith(("postgresql:", "postgres:", "postgresql+")):
        return backend_uri
    if backend_uri.startswith("sqlite:"):
        path = Path(backend_uri.split(":///", 1)[-1])
        if not path.exists():
            return backend_uri
        return f"sqlite:///{path.with_name(f'runyard-{path.name}')}"
    folder = _local_path(backend_uri)
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'runyard.db'}"


def _runyard_command() -> list[str]:
    beside = Path(sys.executable).with_name("runyard")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "server"]


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"runyard server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"runyard server did not answer {url}/health within {_STARTUP_TIMEOUT_S:.0f} s")


@contextlib.contextmanager
def start_runyard(
    *,
    port: int,
    backend_uri: str,
    default_artifact_root: str | None,
    serve_artifacts: bool,
    artifacts_destination: str | None,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`runyard server` on 127.0.0.1:`port` as MLflow's launcher would have started its own server."""
    command = [
        *_runyard_command(),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        runyard_store_uri(backend_uri),
        "--no-embedded-worker",
        "--serve-artifacts" if serve_artifacts else "--no-serve-artifacts",
    ]
    if default_artifact_root:
        command += ["--default-artifact-root", default_artifact_root]
    if artifacts_destination:
        command += ["--artifacts-destination", artifacts_destination]
    passed = {key: value for key, value in (env or {}).items() if not key.startswith("_MLFLOW_SERVER_")}
    with subprocess.Popen(command, env={**os.environ, **passed}) as process:
        try:
            _wait_until_up(f"http://127.0.0.1:{port}", process)
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextlib.contextmanager
def init_server(arguments: Mapping[str, Any]) -> Iterator[str]:
    """In place of `integration_test_utils._init_server(backend_uri, root_artifact_uri, extra_env=None, ...)`:
    a fresh artifact folder under the root, artifacts not proxied unless the extra environment asks, the URL
    yielded."""
    import mlflow

    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # as MLflow's launcher does: back to the default
    extra_env: dict[str, str] = dict(arguments.get("extra_env") or arguments.get("additional_env_variables") or {})
    artifact_root = Path(tempfile.mkdtemp(dir=_local_path(arguments["root_artifact_uri"])))
    serve = extra_env.get(_SERVE_ARTIFACTS_ENV, "").lower() in ("true", "1")
    port = _free_port()
    with start_runyard(
        port=port,
        backend_uri=extra_env.get(_BACKEND_ENV, arguments["backend_uri"]),
        default_artifact_root=extra_env.get(_ARTIFACT_ROOT_ENV, artifact_root.as_uri()),
        serve_artifacts=serve,
        artifacts_destination=extra_env.get(_ARTIFACTS_DESTINATION_ENV),
        env=extra_env,
    ):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def launch_server(arguments: Mapping[str, Any]) -> Iterator[subprocess.Popen[bytes]]:
    """In place of `test_mlflow_artifacts._launch_server(host, port, backend_store_uri, default_artifact_root,
    artifacts_destination)`: `mlflow server` with those flags, artifacts proxied (its default)."""
    with start_runyard(
        port=int(arguments["port"]),
        backend_uri=arguments["backend_store_uri"],
        default_artifact_root=arguments["default_artifact_root"],
        serve_artifacts=True,
        artifacts_destination=str(_local_path(arguments["artifacts_destination"])),
    ) as process:
        yield process


@contextlib.contextmanager
def server_thread(arguments: Mapping[str, Any]) -> Iterator[str]:
    """In place of `integration_test_utils.ServerThread(app, port)`, which serves MLflow's app in the test's own
    process on the stores `initialize_backend_stores` opened just before: Runyard on those stores, in a process."""
    if _opened_stores is None:
        raise RuntimeError("runyard_parity: ServerThread started before initialize_backend_stores named a store")
    port = int(arguments["port"])
    with start_runyard(
        port=port,
        backend_uri=_opened_stores["backend_store_uri"],
        default_artifact_root=_opened_stores.get("default_artifact_root"),
        serve_artifacts=False,
        artifacts_destination=None,
    ):
        yield f"http://127.0.0.1:{port}"


_opened_stores: dict[str, Any] | None = None


def _remember_stores(original: Callable[..., Any]) -> Callable[..., Any]:
    """`initialize_backend_stores` still opens MLflow's stores (a test may read them); which ones is remembered for
    the `ServerThread` that follows."""
    signature = inspect.signature(original)

    def initialize(*args: Any, **kwargs: Any) -> Any:
        global _opened_stores
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        _opened_stores = dict(bound.arguments)
        return original(*args, **kwargs)

    return initialize


# Launcher name in MLflow's test modules -> what replaces it, called with the original's arguments by name.
_REPLACEMENTS: dict[str, Callable[[Mapping[str, Any]], contextlib.AbstractContextManager[Any]]] = {
    "_init_server": init_server,
    "_launch_server": launch_server,
    "ServerThread": server_thread,
}


def _replacement_for(original: Callable[..., Any]) -> Callable[..., Any]:
    """Called as MLflow calls the original, whatever that version's parameters: bound to its signature by name."""
    signature = inspect.signature(original)
    replacement = _REPLACEMENTS[original.__name__]

    def launch(*args: Any, **kwargs: Any) -> contextlib.AbstractContextManager[Any]:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return replacement(bound.arguments)

    return launch


def swap_launchers() -> list[str]:
    """Replace every MLflow test launcher already imported (in the module defining it and in each test module that
    imported it by name); returns `module.name` of each place swapped."""
    swapped = []
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("tests.") or module is None:
            continue
        for name in _REPLACEMENTS:
            original = getattr(module, name, None)
            if (inspect.isfunction(original) or inspect.isclass(original)) and original.__module__.startswith("tests."):
                setattr(module, name, _replacement_for(original))
                swapped.append(f"{module_name}.{name}")
        opener = getattr(module, "initialize_backend_stores", None)
        if inspect.isfunction(opener) and opener.__module__ == "mlflow.server.handlers":
            module.initialize_backend_stores = _remember_stores(opener)  # type: ignore[attr-defined]
    return swapped


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """After collection every test module is imported, and no fixture has started a server yet."""
    swapped = swap_launchers()
    if session.items and not swapped:
        raise pytest.UsageError("runyard_parity: none of MLflow's server launchers was found to swap")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")  # absent in pytest-xdist's workers
    if reporter is not None:
        reporter.write_line(f"runyard_parity: {', '.join(swapped) or 'nothing'} now start `runyard server`")
