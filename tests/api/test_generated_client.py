"""A REST client generated from the server's `/openapi.json` works: openapi-python-client (the `test` extra) turns the
document the server serves into a typed Python package, and that package, unchanged, creates an experiment and a
run, logs a batch, searches runs and reads MLflow's error body, against a running Runyard.

The generator runs with `--fail-on-warning`, so a part of the document it cannot read (and would silently leave out
of the client) fails here, not in a user's build.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.support.processes import runyard_server
from tests.support.stores import new_store_uri

PACKAGE = "runyard_client"


def generator() -> str:
    """The generator the `test` extra installs beside the suite's Python, else one on PATH."""
    beside = Path(sys.executable).parent / "openapi-python-client"
    found = str(beside) if beside.is_file() else shutil.which("openapi-python-client")
    if not found:
        raise RuntimeError("openapi-python-client is not installed: `make install` puts it in the test venv")
    return found


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """The document does not depend on the database, so one Runyard on SQLite."""
    folder = tmp_path_factory.mktemp("generated-client")
    with runyard_server(new_store_uri("sqlite", folder, "generated", request), folder / "mlartifacts") as url:
        yield url


@pytest.fixture(scope="module")
def generated(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    """The generated package, imported: its client module, models and the four operations the test drives."""
    folder = tmp_path_factory.mktemp("client")
    document = folder / "openapi.json"
    document.write_bytes(httpx.get(f"{server_url}/openapi.json", timeout=60).content)
    config = folder / "config.json"
    # No post hooks: the generator would otherwise run ruff over the ~1,000 files it writes, which only restyles them.
    config.write_text(
        json.dumps({"project_name_override": "runyard-client", "package_name_override": PACKAGE, "post_hooks": []})
    )
    options = ["--config", config, "--meta", "none", "--fail-on-warning", "--output-path", folder / PACKAGE]
    result = subprocess.run(
        [generator(), "generate", "--path", document, *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=folder,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Warning" not in result.stdout, result.stdout[-4000:]

    sys.path.insert(0, str(folder))
    try:
        names = {
            "client": PACKAGE,
            "models": f"{PACKAGE}.models",
            "create_experiment": f"{PACKAGE}.api.experiments.post_api_2_0_mlflow_experiments_create",
            "create_run": f"{PACKAGE}.api.runs.post_api_2_0_mlflow_runs_create",
            "log_batch": f"{PACKAGE}.api.runs.post_api_2_0_mlflow_runs_log_batch",
            "search_runs": f"{PACKAGE}.api.runs.post_api_2_0_mlflow_runs_search",
        }
        yield {key: importlib.import_module(name) for key, name in names.items()}
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_a_generated_client_logs_and_searches_a_run(server_url: str, generated: dict[str, Any]) -> None:
    models, api = generated["models"], generated
    client = generated["client"].Client(base_url=server_url, raise_on_unexpected_status=True)
    name = f"generated-{uuid.uuid4().hex[:8]}"

    created = api["create_experiment"].sync_detailed(client=client, body=models.MlflowCreateExperiment(name=name))
    assert created.status_code == 200, created.content
    experiment_id = created.parsed.experiment_id

    body = models.MlflowCreateRun(experiment_id=experiment_id, run_name="from-openapi", start_time=1_700_000_000_000)
    run = api["create_run"].sync_detailed(client=client, body=body).parsed.run
    assert (run.info.run_name, run.info.experiment_id, run.info.status.value) == (
        "from-openapi",
        experiment_id,
        "RUNNING",
    )

    batch = models.MlflowLogBatch(
        run_id=run.info.run_id,
        metrics=[
            models.MlflowMetric(key="loss", value=0.25, timestamp=1_700_000_000_001, step=step) for step in (0, 1)
        ],
        params=[models.MlflowParam(key="lr", value="0.1")],
        tags=[models.MlflowRunTag(key="source", value="generated client")],
    )
    logged = api["log_batch"].sync_detailed(client=client, body=batch)
    assert logged.status_code == 200, logged.content

    query = models.MlflowSearchRuns(experiment_ids=[experiment_id], filter_="params.lr = '0.1' and metrics.loss < 1")
    found = api["search_runs"].sync_detailed(client=client, body=query).parsed
    (hit,) = found.runs
    assert hit.info.run_id == run.info.run_id
    assert [m.to_dict() for m in hit.data.metrics] == [
        {"key": "loss", "value": 0.25, "timestamp": 1_700_000_000_001, "step": 1}
    ]
    assert [p.to_dict() for p in hit.data.params] == [{"key": "lr", "value": "0.1"}]
    assert {"key": "source", "value": "generated client"} in [t.to_dict() for t in hit.data.tags]

    again = api["create_experiment"].sync_detailed(client=client, body=models.MlflowCreateExperiment(name=name))
    assert again.status_code == 400
    assert again.parsed.error_code == "RESOURCE_ALREADY_EXISTS"
    assert again.parsed.message == f"Experiment(name={name}) already exists."
