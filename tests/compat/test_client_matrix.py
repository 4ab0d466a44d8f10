"""The stock client at every MLflow version teams are known to run, each from its own venv, against one Runyard.

Each version gets a venv with only `mlflow-skinny==<version>` and what a pyfunc model needs, and runs
`matrix/client_checks.py` with it: runs, params, metrics with steps, tags, artifacts up and down, a pyfunc model
logged and loaded, search with a filter, an order and page tokens, an unknown run's error code, and a registry
round trip. The venvs are kept under a cache folder (`tests/support/venvs.py`), so only the first run installs them.

The server runs on SQLite only: what is checked here is the wire protocol each client speaks, which does not depend
on the database, and the stock-client workflows in this folder run on both kinds.

A check may be skipped only where that client lacks the API; which ones is written down here per version, so a
check that starts skipping fails the test as surely as one that fails.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import venvs
from tests.support.processes import runyard_server
from tests.support.stores import new_store_uri

SCRIPT = Path(__file__).parent / "matrix" / "client_checks.py"
CHECKS = [
    "runs",
    "params",
    "metrics with steps",
    "tags",
    "artifacts",
    "pyfunc model",
    "search, order and paging",
    "error: unknown run",
    "registry round trip",
]
VERSIONS = ["2.9.2", "2.16.2", "2.22.1", "3.0.1", "3.4.0", "3.10.1", "3.17.2", "3.18.0"]
# Checks a client version has no API for. Every version listed has all of them today.
SKIPPED: dict[str, set[str]] = {}


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """One Runyard on SQLite that every client version talks to."""
    folder = tmp_path_factory.mktemp("client-matrix")
    with runyard_server(new_store_uri("sqlite", folder, "matrix", request), folder / "mlartifacts") as url:
        yield url


@pytest.mark.parametrize("version", VERSIONS)
def test_stock_client(version: str, server_url: str, tmp_path: Path) -> None:
    python = venvs.mlflow_client(version)
    result = subprocess.run(
        [python, SCRIPT, server_url, f"matrix-{version}-{uuid.uuid4().hex[:8]}"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
        env=venvs.clean_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_ENABLE_ASYNC_TRACE_LOGGING="false"),
    )
    # Newer clients print links to the runs they end on stdout too; only the checks' own lines are JSON.
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"check": ')]
    outcomes = {report["check"]: report["outcome"] for report in reports}
    failures = "\n".join(f"{r['check']}: {r['detail']}" for r in reports if r["outcome"] == "fail")
    assert list(outcomes) == CHECKS, f"{outcomes}\n{failures}\n{result.stderr[-4000:]}"
    assert not failures, failures
    assert {check for check, outcome in outcomes.items() if outcome == "skip"} == SKIPPED.get(version, set())
    assert result.returncode == 0, result.stderr[-4000:]
