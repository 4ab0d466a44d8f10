"""Opt-in: `runyard import azureml://…` from a real Azure ML workspace (`pytest -m azureml_live`). Deselected by
default; skipped, saying so, unless AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZUREML_WORKSPACE and
AZUREML_COMPUTE are set, as for the Azure ML job test (credentials come from DefaultAzureCredential: `az login`, a
service principal, or a managed identity).

A run with a metric history is logged to the workspace with the stock client, signed as the import signs; the
import then reads it by the workspace's own azureml:// tracking URI (asked of Azure) into a fresh store, which a
Runyard server serves back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from server.services import import_azureml
from tests.support.processes import runyard_server

REQUIRED = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE", "AZUREML_COMPUTE")
EXPERIMENT = "runyard-import-live-test"
HISTORY = 20
pytestmark = pytest.mark.azureml_live


def test_import_from_an_azure_ml_workspace(tmp_path: Path) -> None:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        pytest.skip(f"Azure ML not exercised: {', '.join(missing)} not set")
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    workspace = os.environ["AZUREML_WORKSPACE"]
    azure = MLClient(
        DefaultAzureCredential(),
        subscription_id=os.environ["AZURE_SUBSCRIPTION_ID"],
        resource_group_name=os.environ["AZURE_RESOURCE_GROUP"],
        workspace_name=workspace,
    )
    tracking_uri = azure.workspaces.get(workspace).mlflow_tracking_uri
    assert tracking_uri.startswith("azureml://"), tracking_uri
    https = import_azureml.https_uri(tracking_uri)
    import_azureml.sign_requests_with(import_azureml.AzureBearer(import_azureml.default_credential(), https))
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    try:
        client = MlflowClient(https)
        found = client.get_experiment_by_name(EXPERIMENT)
        experiment_id = found.experiment_id if found else client.create_experiment(EXPERIMENT)
        run_id = client.create_run(experiment_id, run_name=f"live-{int(time.time())}").info.run_id
        start = client.get_run(run_id).info.start_time
        client.log_batch(run_id, metrics=[Metric("loss", 1 / (s + 1), start + s, s) for s in range(HISTORY)])
        client.log_param(run_id, "lr", "0.01")
        client.set_terminated(run_id)
    finally:
        os.environ.pop("MLFLOW_TRACKING_AUTH", None)  # the import is a process of its own

    store = f"sqlite:///{tmp_path / 'r.db'}"
    command = [sys.executable, "-m", "server", "import", tracking_uri, "--backend-store-uri", store]
    selection = ["--experiments", EXPERIMENT, "--since", since.strftime("%Y-%m-%dT%H:%M:%S")]
    imported = subprocess.run(
        [*command, "--artifacts-destination", str(tmp_path / "a"), *selection],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert f"Imported 1 run ({HISTORY} metric points" in imported.stdout, imported.stdout
    with runyard_server(store, tmp_path / "a") as url:
        copy = MlflowClient(url)
        assert copy.get_run(run_id).data.params == {"lr": "0.01"}
        assert [m.step for m in copy.get_metric_history(run_id, "loss")] == list(range(HISTORY))
