"""Opt-in: a tiny job on a real Azure ML workspace (`pytest -m azureml_live`). Deselected by default; skipped, saying
so, unless AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZUREML_WORKSPACE and AZUREML_COMPUTE are set (credentials
come from DefaultAzureCredential: `az login`, a service principal, or a managed identity).

The compute cannot be expected to reach a Runyard on this machine, so the job only echoes; the Runyard side (the
lease, the run's tags and artifacts) is stood in for, and what is checked is Azure's: submission, the states, the
streamed log, the downloaded logs, and the deterministic name finding the job again."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import pytest

from server.jobspec.projects import pack_directory
from server.worker.dispatchers.azureml import AzureMLDispatcher
from server.worker.dispatchers.azureml_client import AzureML
from server.worker.dispatchers.azureml_project import AzureMLSettings, job_name
from server.worker.dispatchers.run_tracking import RunTracking
from tests.jobs.azureml_fakes import FakeLease, make_job

REQUIRED = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE", "AZUREML_COMPUTE")
pytestmark = pytest.mark.azureml_live


def test_a_tiny_job_completes_on_azure_ml(tmp_path: Path) -> None:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        pytest.skip(f"Azure ML not exercised: {', '.join(missing)} not set")
    project = tmp_path / "tiny"
    project.mkdir()
    (project / "MLproject").write_text(
        "name: tiny\nentry_points:\n  main:\n    parameters:\n      word: {type: string, default: hello}\n"
        "    command: echo runyard-says-{word}\n"
    )
    archive = tmp_path / "tiny.tar.gz"
    pack_directory(project, archive)
    tracking: Any = create_autospec(RunTracking, instance=True)
    tracking.experiment_name.return_value = "runyard-live-test"
    uploaded: list[str] = []

    def upload(run_id: str, folder: Path, artifact_path: str) -> int:
        uploaded.extend(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        return len(uploaded)

    tracking.upload_folder.side_effect = upload
    settings = AzureMLSettings(poll_seconds=10, not_started_timeout_seconds=1800)
    dispatcher = AzureMLDispatcher(server_url="http://127.0.0.1:9", settings=settings, tracking=lambda *_: tracking)
    job = make_job(
        job_id=f"live{int(time.time())}",
        parameters={"word": "hi"},
        backend_config={"COMPUTE": os.environ["AZUREML_COMPUTE"]},
    )
    lease = FakeLease(job, archive)

    outcome = dispatcher.execute(job, lease)  # type: ignore[arg-type]

    assert outcome.outcome == "succeeded", f"{outcome}\n{lease.text('stderr')}"
    assert lease.started == 1
    assert any(path.endswith("std_log.txt") for path in uploaded), uploaded
    found = AzureML.connect(settings.workspace).find(job_name(job.job_id, 1))
    assert found is not None
    assert found.status == "Completed"
