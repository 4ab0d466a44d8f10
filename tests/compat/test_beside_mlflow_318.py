"""Runyard installed into a venv that already has MLflow 3.18, as a user adds it to an existing environment: once
beside `mlflow-skinny` 3.18, once beside the full `mlflow` 3.18 wheel with Runyard's `ui` extra (how a user adds
the web UI).

The install must keep that MLflow (it used to pull mlflow-skinny back to 3.17.2), `import mlflow` must stay quiet,
and the installed `runyard server` must answer the 3.18 client of the same venv; beside the full wheel it must
also serve that wheel's 3.18 web UI. Runyard is installed from this checkout as a wheel (not editable), as
`pip install .` does. The skinny venv is new each run; the full one is kept (`venvs.runyard_beside_mlflow`) and
built again when the checkout's code changes. uv's package cache makes the downloads a first run's cost only.
No skip: without PyPI the install fails and the test says why.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.ui.static import with_nav
from tests.support import venvs
from tests.support.processes import installed_runyard_server

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
    with installed_runyard_server(beside, tmp_path_factory.mktemp("beside-318-server")) as url:
        yield url


def test_the_installed_server_serves_the_318_client(beside: Path, installed_server: str) -> None:
    result = _probe(beside, ROUND_TRIP, installed_server, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"{MLFLOW} FINISHED"


# Beside the full `mlflow` wheel, with the `ui` extra.


@pytest.fixture(scope="module")
def beside_full() -> Path:
    return venvs.runyard_beside_mlflow(MLFLOW)


def test_the_ui_install_keeps_full_mlflow_318(beside_full: Path) -> None:
    code = "import importlib.metadata as m; print(*map(m.version, ('mlflow', 'mlflow-skinny', 'runyard')))"
    probed = _probe(beside_full, code)
    assert probed.returncode == 0, probed.stderr
    assert probed.stdout.split() == [MLFLOW, MLFLOW, "0.1.0"]


def test_import_full_mlflow_is_quiet(beside_full: Path) -> None:
    probed = _probe(beside_full, "import mlflow; print(mlflow.__version__)")
    assert (probed.returncode, probed.stdout, probed.stderr) == (0, f"{MLFLOW}\n", "")


@pytest.fixture(scope="module")
def full_server(beside_full: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with installed_runyard_server(beside_full, tmp_path_factory.mktemp("beside-full-318-server")) as url:
        yield url


def test_the_server_beside_full_mlflow_serves_its_318_ui(beside_full: Path, full_server: str) -> None:
    probed = _probe(beside_full, "import importlib.util as u; print(*u.find_spec('mlflow').submodule_search_locations)")
    assert probed.returncode == 0, probed.stderr
    build = Path(probed.stdout.strip()) / "server" / "js" / "build"
    response = httpx.get(f"{full_server}/")
    assert response.status_code == 200
    # The page is 3.18's own build (its hashed bundles), with only our navigation script added.
    assert response.content == with_nav((build / "index.html").read_bytes())
    [main_bundle] = re.findall(r'src="(?:\./|/)?(static-files/static/js/main\.[0-9a-f]+\.js)"', response.text)
    bundle = httpx.get(f"{full_server}/{main_bundle}")
    assert bundle.status_code == 200
    assert bundle.content == (build / main_bundle.removeprefix("static-files/")).read_bytes()


def test_the_server_beside_full_mlflow_serves_the_318_client(beside_full: Path, full_server: str) -> None:
    result = _probe(beside_full, ROUND_TRIP, full_server, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"{MLFLOW} FINISHED"
