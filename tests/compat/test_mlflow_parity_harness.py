"""`make mlflow-parity`'s two parts, on a small stand-in for MLflow's source tree laid out as MLflow lays out its
server tests: the plugin must start `runyard server` in place of each launcher MLflow's fixtures call, with the store
and artifact root they name, and the comparison must fail on any test that passes on MLflow's server only, unless
the README gives its reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.venvs import clean_env

PARITY = Path(__file__).resolve().parents[1] / "mlflow_parity"

# The launchers' shapes as MLflow's tests define them; the bodies would start MLflow's server, and here fail loudly
# if the plugin left them in place.
_LAUNCHERS = """
import contextlib

def _init_server(backend_uri, root_artifact_uri, extra_env=None, app="mlflow.server:app", server_type="flask"):
    raise AssertionError("MLflow's own launcher ran")

class ServerThread:
    def __init__(self, app, port):
        raise AssertionError("MLflow's own launcher ran")
"""

_TESTS = """
import pytest, requests
from mlflow import MlflowClient
from mlflow.server.handlers import initialize_backend_stores
from tests.tracking.integration_test_utils import ServerThread, _init_server


@pytest.fixture(params=["file", "sqlalchemy"])
def mlflow_client(request, tmp_path):
    if request.param == "file":
        backend_uri = tmp_path.joinpath("file").as_uri()
    else:
        backend_uri = "sqlite:///" + str(tmp_path / "sqlalchemy.db")
    with _init_server(backend_uri, root_artifact_uri=tmp_path.as_uri()) as url:
        yield MlflowClient(url)


def test_a_run_round_trips(mlflow_client, tmp_path):
    assert requests.get(mlflow_client.tracking_uri + "/health").text == "OK"
    experiment_id = mlflow_client.create_experiment("parity")
    run = mlflow_client.create_run(experiment_id)
    mlflow_client.log_metric(run.info.run_id, "loss", 0.5)
    assert mlflow_client.get_run(run.info.run_id).data.metrics == {"loss": 0.5}
    assert run.info.artifact_uri.startswith(tmp_path.as_uri())


def test_registry_on_the_store_initialize_backend_stores_opened(tmp_path):
    backend_uri = "sqlite:///" + str(tmp_path / "registry.db")
    initialize_backend_stores(backend_uri, default_artifact_root=tmp_path.joinpath("artifacts").as_uri())
    with ServerThread(None, {port}) as url:
        assert MlflowClient(url).create_registered_model("m").name == "m"
    assert (tmp_path / "runyard-registry.db").exists()


def test_fails_on_runyard_only(mlflow_client):
    assert requests.get(mlflow_client.tracking_uri + "/runyard/api/jobs").status_code == 404
"""


def _fake_mlflow_source(root: Path, port: int) -> Path:
    tracking = root / "tests" / "tracking"
    tracking.mkdir(parents=True)
    for package in (root / "tests", tracking):
        (package / "__init__.py").write_text("")
    (tracking / "integration_test_utils.py").write_text(_LAUNCHERS)
    (tracking / "test_rest_tracking.py").write_text(_TESTS.replace("{port}", str(port)))
    return root


def _pytest_in(source: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "runyard_parity", *args],
        cwd=source,
        env=clean_env(PYTHONPATH=str(PARITY)),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_plugin_starts_runyard_in_place_of_each_launcher(tmp_path: Path) -> None:
    from tests.support.processes import free_port

    source = _fake_mlflow_source(tmp_path / "mlflow", free_port())
    report = tmp_path / "runyard.xml"
    ran = _pytest_in(source, "tests/tracking/test_rest_tracking.py", f"--junitxml={report}", "-rA")
    assert "runyard_parity: tests.tracking.integration_test_utils._init_server" in ran.stdout, ran.stdout
    assert "PASSED tests/tracking/test_rest_tracking.py::test_a_run_round_trips[file]" in ran.stdout, ran.stdout
    assert "PASSED tests/tracking/test_rest_tracking.py::test_a_run_round_trips[sqlalchemy]" in ran.stdout
    assert (
        "PASSED tests/tracking/test_rest_tracking.py::test_registry_on_the_store_initialize_backend_stores_opened"
        in (ran.stdout)
    )
    assert "FAILED tests/tracking/test_rest_tracking.py::test_fails_on_runyard_only[file]" in ran.stdout
    assert ran.returncode == 1


def _junit(path: Path, outcomes: dict[str, str]) -> Path:
    cases = "".join(
        f'<testcase classname="tests.tracking.test_rest_tracking" name="{name}">'
        + ("<failure message='x'/>" if outcome == "failed" else "")
        + "</testcase>"
        for name, outcome in outcomes.items()
    )
    path.write_text(f"<testsuites><testsuite>{cases}</testsuite></testsuites>")
    return path


@pytest.mark.parametrize(
    ("documented", "exit_code", "line"),
    [
        ("", 1, "  UNEXPLAINED test_rest_tracking.py::test_b[file] (failed)"),
        (
            "| `test_rest_tracking.py::test_b[*]` | Runyard has no file store |\n",
            0,
            "  documented  test_rest_tracking.py::test_b[file] (failed): Runyard has no file store",
        ),
    ],
)
def test_the_comparison_fails_on_an_unexplained_difference_only(
    tmp_path: Path, documented: str, exit_code: int, line: str
) -> None:
    mlflow = _junit(tmp_path / "mlflow.xml", {"test_a": "passed", "test_b[file]": "passed", "test_c": "failed"})
    runyard = _junit(tmp_path / "runyard.xml", {"test_a": "passed", "test_b[file]": "failed", "test_c": "passed"})
    readme = tmp_path / "README.md"
    readme.write_text(
        "<!-- mlflow-parity-differences:start -->\n| test | reason |\n| --- | --- |\n"
        f"{documented}<!-- mlflow-parity-differences:end -->\n"
    )
    compared = subprocess.run(
        [sys.executable, str(PARITY / "compare.py"), str(mlflow), str(runyard), str(readme)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert compared.returncode == exit_code, compared.stdout + compared.stderr
    assert compared.stdout.splitlines() == [
        f"2 pass on mlflow server; on runyard server 1 of them pass, {1 - exit_code} differ as documented, "
        f"{exit_code} differ without a reason",
        "1 pass on runyard server only",
        line,
    ]
