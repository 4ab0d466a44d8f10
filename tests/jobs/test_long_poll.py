"""A worker that hangs up on its long-poll claim (killed, timed out, restarted) leases nothing: a job submitted
after it left goes to the next worker that asks, instead of waiting out a lease held by nobody."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from server.jobspec.projects import pack_directory
from server.jobspec.schemas import ClaimRequest, JobSpec, JobStatus
from server.worker.client import JobClient
from tests.support.processes import runyard_server


def test_a_claim_whose_worker_hung_up_leases_nothing(project: Callable[[str], Path], tmp_path: Path) -> None:
    archive = tmp_path / "p.tar.gz"
    pack_directory(project("basic"), archive)
    request = ClaimRequest(worker_id="gone", backends=["azureml"], wait_seconds=30)
    with runyard_server(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "art") as url, JobClient(url) as jobs:
        try:  # the worker gives up after a second; the server's long poll would run on for 30
            httpx.post(f"{url}/runyard/api/workers/claim", json=request.model_dump(), timeout=1)
        except httpx.ReadTimeout:
            pass
        time.sleep(1.5)
        spec = JobSpec(entry_point="quick", backend="azureml", backend_config={"COMPUTE": "cpu-cluster"})
        job_id = jobs.submit_archive(spec, archive).job_id
        time.sleep(1.5)  # long enough for an abandoned poll to wake up and take it
        assert jobs.get(job_id).status == JobStatus.QUEUED
        (claimed,) = jobs.claim(request.model_copy(update={"worker_id": "present", "wait_seconds": 5}))
    assert claimed.job.job_id == job_id
