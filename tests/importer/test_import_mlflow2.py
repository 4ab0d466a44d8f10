"""`runyard import` from a real MLflow 2 `mlflow server`, as teams still run it: the whole `mlflow` package of that
version in its own venv (`tests/support/venvs.py`, installed by uv on the first run and kept), on SQLite with
proxied artifacts, filled by that version's own client.

MLflow 2 has no logged models: the import says so in one warning line and brings the rest. What the Runyard server
then serves, read by the suite's stock client, must be what MLflow 2's client read from its own server: every
experiment and run under the same ids, every metric point, the artifacts byte for byte, the registered model's
versions, stages and alias, and the files `models:/churn@champion` downloads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import venvs
from tests.support.processes import mlflow_server, runyard_import, runyard_server

VERSION = "2.22.1"
SCRIPT = Path(__file__).parent / "scripts" / "stock_client.py"
# The phases' progress labels, which stderr shows beside warnings (without a terminal: the label alone).
PROGRESS = ("Reading experiments", "Reading traces", "Checking the destination", "Importing ", "Verifying")


@dataclass(frozen=True)
class Source:
    url: str
    run_ids: list[str]  # every run, the deleted ones included
    snapshot: dict[str, Any]  # what MLflow 2's client reads of it


def _client(python: Path | str, *args: str | Path, env: dict[str, str]) -> dict[str, Any]:
    """`stock_client.py` run by `python`; what it wrote."""
    out = Path(args[-1])
    done = subprocess.run(
        [str(python), str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=600, check=False, env=env
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


@pytest.fixture(scope="module")
def mlflow2_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    python = venvs.mlflow_full(VERSION)
    workdir = tmp_path_factory.mktemp("mlflow2-source")
    env = venvs.clean_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    with mlflow_server(workdir, python) as url:
        filled = _client(python, "fill", url, workdir, workdir / "filled.json", env=env)
        yield Source(url, filled["run_ids"], filled["snapshot"])


def _snapshot(url: str, out: Path) -> dict[str, Any]:
    """What the suite's own stock client reads of `url`."""
    return _client(sys.executable, "snapshot", url, out, env=venvs.clean_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0"))


def test_import_from_mlflow2_server(mlflow2_source: Source, tmp_path: Path) -> None:
    store, artifacts = f"sqlite:///{tmp_path / 'runyard.db'}", tmp_path / "mlartifacts"
    source = mlflow2_source.snapshot
    assert sorted(source["runs"]) == sorted(mlflow2_source.run_ids)
    churn = source["registered_models"]["churn"]
    assert churn["aliases"] == {"champion": "1"}
    # The client writes `registered_model_meta` beside the files it downloads for a `models:/` URI.
    assert sorted(churn["downloads"]["models:/churn@champion"]) == ["MLmodel", "registered_model_meta", "weights.bin"]
    assert {v["source"] for v in churn["versions"].values()} == {"<the run's artifact folder>/model"}

    imported = runyard_import(mlflow2_source.url, store, artifacts)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    warnings = [line for line in imported.stderr.splitlines() if not line.startswith(PROGRESS)]
    assert warnings == [f"Warning: {mlflow2_source.url} has no logged models (MLflow 2.x): none imported."]
    lines = imported.stdout.splitlines()
    assert "DIFFERENT" not in imported.stdout
    assert not [line for line in lines if line.startswith("logged models")]  # no table for what MLflow 2 lacks
    assert ["churn", "model", "2", "1", "identical"] in [line.split() for line in lines]
    assert (
        "Imported 0 logged models and 1 registered model (2 versions); "
        "0 logged models and 0 registered models already there."
    ) in lines
    assert lines[-1].startswith(
        "Imported 5 runs (3,004 metric points, 3,146,905 artifact bytes) and 0 traces from 4 experiments"
    )

    with runyard_server(store, artifacts) as url:
        assert _snapshot(url, tmp_path / "copy.json") == source

    again = runyard_import(mlflow2_source.url, store, artifacts)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (
        "Imported 0 logged models and 0 registered models (0 versions); "
        "0 logged models and 1 registered model already there."
    ) in again.stdout.splitlines()
    assert again.stdout.splitlines()[-1].startswith("Imported 0 runs (0 metric points, 0 artifact bytes)")
    assert again.stdout.splitlines()[-1].endswith("; 5 runs and 0 traces already there.")
