"""Faults: racing claimers, a worker killed with SIGKILL mid-job, a zombie worker's stale writes, and a server
restart under a running job. A lost worker's lease is ended by the test (`expire_lease`), not waited out."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from server.jobspec.projects import pack_directory
from server.jobspec.schemas import ClaimRequest, FinishRequest, Heartbeat, JobSpec
from server.worker.client import JobApiError, JobClient
from tests.jobs.conftest import PROJECTS, wait_for
from tests.support.leases import expire_lease
from tests.support.processes import free_port, runyard_server, runyard_worker


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("snapshot") / "basic.tar.gz"
    pack_directory(PROJECTS / "basic", target)
    return target


def _queue_unrun(jobs: JobClient, snapshot: Path, count: int) -> list[str]:
    """Jobs for the `azureml` backend: no worker in these tests serves it, so only the test claims them."""
    spec = JobSpec(entry_point="quick", backend="azureml")
    return [jobs.submit_archive(spec, snapshot).job_id for _ in range(count)]


def test_racing_claimers_never_win_the_same_job(jobs: JobClient, snapshot: Path) -> None:
    submitted = set(_queue_unrun(jobs, snapshot, 12))
    won: list[tuple[str, str]] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        with JobClient(jobs.server_url) as own:
            for _ in range(4):
                claimed = own.claim(ClaimRequest(worker_id=name, backends=["azureml"], max_jobs=2))
                with lock:
                    won.extend((c.job.job_id, c.lease_token) for c in claimed)

    threads = [threading.Thread(target=claimer, args=(f"racer-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [job_id for job_id, _ in won]
    assert len(ids) == len(set(ids)), "a job was leased twice"
    assert submitted <= set(ids)
    for job_id, token in won:
        jobs.finish(job_id, FinishRequest(lease_token=token, outcome="canceled"))


def test_a_stale_lease_can_no_longer_write(jobs: JobClient, snapshot: Path, jobs_store_uri: str) -> None:
    (job_id,) = _queue_unrun(jobs, snapshot, 1)
    request = ClaimRequest(worker_id="zombie", backends=["azureml"], max_jobs=1)
    (first,) = jobs.claim(request)
    assert first.job.job_id == job_id
    # the zombie stops heartbeating: the lease expires and the job is offered again, with a new token
    expire_lease(jobs_store_uri, job_id)
    again = wait_for(jobs, job_id, until=lambda job: job.status == "QUEUED")
    assert "lease expired" in (again.error or "")
    second = jobs.claim(request.model_copy(update={"worker_id": "successor", "wait_seconds": 5}))
    assert [c.job.job_id for c in second] == [job_id]
    assert second[0].job.attempt == 2
    for stale in (
        lambda: jobs.heartbeat(job_id, Heartbeat(lease_token=first.lease_token)),
        lambda: jobs.start(job_id, first.lease_token),
        lambda: jobs.finish(job_id, FinishRequest(lease_token=first.lease_token, outcome="succeeded")),
    ):
        with pytest.raises(JobApiError) as refused:
            stale()
        assert refused.value.status == 409
        assert refused.value.error_code == "ABORTED"
    done = jobs.finish(job_id, FinishRequest(lease_token=second[0].lease_token, outcome="failed", exit_code=2))
    assert (done.status, done.run_status, done.exit_code) == ("FAILED", "FAILED", 2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _started_pids(marker: Path) -> list[int]:
    text = marker.read_text() if marker.exists() else ""
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith("started")]


def test_sigkilled_workers_jobs_are_requeued_then_failed_never_run_twice_at_once(
    jobs: JobClient, snapshot: Path, tmp_path: Path, backend_store_uri: str, jobs_store_uri: str
) -> None:
    if not backend_store_uri.startswith("sqlite"):
        pytest.skip("the lease and reaper SQL run on PostgreSQL in the stale-lease test; this one costs 16 s")
    marker = tmp_path / "marker.txt"
    env = {"RUNYARD_TEST_MARKER": str(marker)}
    spec = JobSpec(entry_point="sleep", parameters={"seconds": 120}, max_attempts=2)
    job_id = jobs.submit_archive(spec, snapshot).job_id
    for attempt in (1, 2):
        with runyard_worker(jobs.server_url, tmp_path, "--worker-id", f"w{attempt}", env=env) as pid:
            running = wait_for(jobs, job_id, until=lambda job, a=attempt: job.status == "RUNNING" and job.attempt == a)
            assert running.lease_owner == f"w{attempt}"
            deadline = time.monotonic() + 180  # its output reaches the server while it runs
            while jobs.logs(job_id).count("sleeping") < attempt and time.monotonic() < deadline:
                time.sleep(0.1)
            assert jobs.logs(job_id).count("sleeping") == attempt
            (*earlier, current) = _started_pids(marker)
            assert not any(_alive(p) for p in earlier), "an earlier attempt is still running"
            os.kill(pid, signal.SIGKILL)
            # the job's own processes stop with their worker, while the job still holds its lease
            deadline = time.monotonic() + 120
            while _alive(current) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(current)
            assert jobs.get(job_id).status == "RUNNING"
            expire_lease(jobs_store_uri, job_id)  # the worker is gone: its lease runs out
    failed = wait_for(jobs, job_id)
    assert failed.status == "FAILED"
    assert failed.attempt == 2
    assert "lease expired" in (failed.error or "")
    assert failed.run_status == "FAILED"
    assert "--- attempt 2 ---" in jobs.logs(job_id)


def test_a_server_restart_keeps_running_jobs(
    backend_store_uri: str, fresh_store_uri: str, project: Callable[[str], Path], tmp_path: Path
) -> None:
    if not backend_store_uri.startswith("sqlite"):
        pytest.skip("restart behaviour does not depend on the database; run once")
    port = free_port()
    env = {"RUNYARD_JOB_LEASE_SECONDS": "30"}
    artifacts, url = tmp_path / "art", f"http://127.0.0.1:{port}"
    archive = tmp_path / "p.tar.gz"
    pack_directory(project("basic"), archive)
    with runyard_worker(url, tmp_path), JobClient(url) as client:
        with runyard_server(fresh_store_uri, artifacts, env=env, port=port):
            job_id = client.submit_archive(JobSpec(entry_point="sleep", parameters={"seconds": 3}), archive).job_id
            wait_for(client, job_id, until=lambda job: job.status == "RUNNING")
        # the server went away under the running job; its worker, still running, reattaches to the new one
        with runyard_server(fresh_store_uri, artifacts, env=env, port=port):
            done = wait_for(client, job_id, timeout=60)
    assert done.status == "SUCCEEDED"
    assert done.attempt == 1


def test_a_worker_stopped_with_sigterm_hands_its_job_back(jobs: JobClient, snapshot: Path, tmp_path: Path) -> None:
    """Graceful shutdown: the job's processes stop and the job is queued again at once, not when the lease runs out."""
    spec = JobSpec(entry_point="sleep", parameters={"seconds": 120}, max_attempts=3)
    job_id = jobs.submit_archive(spec, snapshot).job_id
    with runyard_worker(jobs.server_url, tmp_path, "--worker-id", "polite") as pid:
        wait_for(jobs, job_id, until=lambda job: job.status == "RUNNING")
        os.kill(pid, signal.SIGTERM)
        released = wait_for(jobs, job_id, until=lambda job: job.status == "QUEUED")
    assert "Released by its worker at shutdown" in (released.error or "")
    assert released.run_status == "SCHEDULED"
    jobs.cancel(job_id)
