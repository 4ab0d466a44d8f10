"""Runyard installed into a venv that already has MLflow 3.18, as a user adds it to an existing environment.

The install must keep that MLflow (it used to pull mlflow-skinny back to 3.17.2), `import mlflow` must stay quiet,
and the installed `runyard server` must answer the 3.18 client of the same venv. The venv is new each run and
Runyard is installed from this checkout as a wheel (not editable), as `pip install .` does; uv's package cache makes
the downloads a first run's cost only. No skip: without PyPI the install fails and the test says why.

The full `mlflow` 3.18.0 wheel is not used: it requires `mlflow-tracing==3.18.0`, which the index does not carry.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import venvs
from tests.support.processes import free_port, wait_until_up

REPO_ROOT = Path(__file__).resolve().parents[2]
MLFLOW = "3.18.0"

ROUND_TRIP = """
import sys
import mlflow
from mlflow import MlflowClient

client = MlflowClient(sys.argv[1])
experiment_id = client.create_experiment("beside-3.18")
run = client.create_run(experiment_id)
client.log_param(run.info.run_id, "alpha", "0.5")
client.log_metric(run.info.run_id, "loss", 0.25, step=3)
client.set_terminated(run.info.run_id)
[found] = client.search_runs([experiment_id], filter_string="params.alpha = '0.5'", order_by=["metrics.loss"])
assert found.info.run_id == run.info.run_id and found.data.metrics == {"loss": 0.25}, found
print(mlflow.__version__, found.info.status)
"""


@pytest.fixture(scope="module")
def beside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with mlflow-skinny 3.18 first, then Runyard from this checkout; returns its python."""
    python = venvs.create(tmp_path_factory.mktemp("beside-318") / "venv")
    venvs.install(python, f"mlflow-skinny=={MLFLOW}")
    venvs.install(python, REPO_ROOT)
    return python


def _probe(python: Path, code: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -c code` run from the venv's folder: from this checkout, `-c` would import its `server` first."""
    return subprocess.run(
        [python, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=python.parents[1],
        env=venvs.clean_env(**env),
    )


def test_the_install_keeps_mlflow_318(beside: Path) -> None:
    code = "import importlib.metadata as m; print(m.version('mlflow-skinny'), m.version('runyard'))"
    probed = _probe(beside, code)
    assert probed.returncode == 0, probed.stderr
    assert probed.stdout.split() == [MLFLOW, "0.1.0"]


def test_runyard_comes_from_the_venv_not_this_checkout(beside: Path) -> None:
    probed = _probe(beside, "import server; print(server.__file__)")
    assert probed.returncode == 0, probed.stderr
    assert Path(probed.stdout.strip()).is_relative_to(beside.parents[1])


def test_import_mlflow_is_quiet(beside: Path) -> None:
    probed = _probe(beside, "import mlflow; print(mlflow.__version__)")
    assert (probed.returncode, probed.stdout, probed.stderr) == (0, f"{MLFLOW}\n", "")


@pytest.fixture(scope="module")
def installed_server(beside: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The venv's `runyard server` on SQLite, as a user starts it."""
    folder = tmp_path_factory.mktemp("beside-318-server")
    port = free_port()
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [
                beside.parent / "runyard",
                "server",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{folder / 'mlflow.db'}",
                "--artifacts-destination",
                str(folder / "artifacts"),
                "--no-embedded-worker",
            ],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=venvs.clean_env(),
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/health", process, timeout=300)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=60)


def test_the_installed_server_serves_the_318_client(beside: Path, installed_server: str) -> None:
    result = _probe(beside, ROUND_TRIP, installed_server, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"{MLFLOW} FINISHED"
