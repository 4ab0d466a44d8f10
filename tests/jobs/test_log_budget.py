"""A job that prints more than RUNYARD_JOB_MAX_LOG_MB: the server stores the budget's worth, ending with a line
saying the log was cut, and drops the rest; the job itself runs to its end and succeeds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from server.jobs.log_budget import truncation_marker, within_budget
from server.jobspec.projects import pack_directory
from server.jobspec.schemas import ClaimRequest, FinishRequest, Heartbeat, JobSpec, JobStatus, LogChunk
from server.worker.client import JobClient
from tests.jobs.conftest import JOB_ENV, PROJECTS, wait_for
from tests.support.processes import runyard_server, runyard_worker

BUDGET_MB = 0.0625  # 64 KiB


def chunk(seq: int, size: int) -> LogChunk:
    return LogChunk(seq=seq, stream="stdout", text="x" * size)


def test_chunks_are_kept_until_the_budget_then_what_fits_and_a_marker_then_nothing() -> None:
    kept, used = within_budget([chunk(0, 40), chunk(1, 50)], 0, 100)
    assert ([c.seq for c in kept], used) == ([0, 1], 90)
    crossing = LogChunk(seq=3, stream="stdout", text="line one\nline two is too long\n")
    kept, used = within_budget([chunk(2, 1), crossing, chunk(4, 1)], used, 100)
    assert [c.seq for c in kept] == [2, 3]
    assert kept[1].text == "line one\n" + truncation_marker(100)  # cut at a line break within the 9 bytes left
    assert used > 100
    assert within_budget([chunk(5, 1)], used, 100) == ([], used)


def test_multibyte_text_counts_in_bytes_and_is_never_cut_mid_character() -> None:
    kept, used = within_budget([LogChunk(seq=0, stream="stdout", text="é" * 60)], 0, 101)
    assert used == 102  # 120 bytes: over the budget
    assert kept[0].text == "é" * 50 + truncation_marker(101)


@pytest.fixture(scope="module")
def small_budget_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("log-budget")
    env = {**JOB_ENV, "RUNYARD_JOB_MAX_LOG_MB": str(BUDGET_MB)}
    with (
        runyard_server(f"sqlite:///{base / 'db.sqlite'}", base / "mlartifacts", env=env) as url,
        runyard_worker(url, base),
    ):
        yield url


def test_a_flooding_job_stores_its_budget_and_runs_to_the_end(small_budget_server: str, tmp_path: Path) -> None:
    archive = tmp_path / "flood.tar.gz"
    pack_directory(PROJECTS / "flood", archive)
    with JobClient(small_budget_server) as jobs:
        job = jobs.submit_archive(JobSpec(parameters={"kib": 512}), archive)
        finished = wait_for(jobs, job.job_id)
        stored = jobs.logs(job.job_id)
    assert finished.status == JobStatus.SUCCEEDED
    limit = int(BUDGET_MB * 2**20)
    assert truncation_marker(limit) in stored
    assert len(stored.encode()) <= limit + len(truncation_marker(limit))
    assert "flood done" not in stored
    assert len(stored.encode()) > limit * 0.9  # what fit was kept, up to the last whole line
    assert "000000 xxx" in stored
    client = MlflowClient(small_budget_server)
    artifact = client.download_artifacts(job.run_id, "runyard/logs/stdout.log", str(tmp_path))
    assert Path(artifact).read_text() in stored  # the run's copy holds the same stdout


def test_a_heartbeat_the_worker_resends_counts_once(small_budget_server: str, tmp_path: Path) -> None:
    """A worker that gets no answer to a heartbeat sends the same chunks again. They are stored once, and the
    budget must count them once too, or a job on a flaky network has its log cut early."""
    archive = tmp_path / "flood.tar.gz"
    pack_directory(PROJECTS / "flood", archive)
    kib = 1024
    with JobClient(small_budget_server) as jobs:  # an azureml job: no worker here serves it, the test holds it
        job_id = jobs.submit_archive(JobSpec(backend="azureml"), archive).job_id
        (held,) = jobs.claim(ClaimRequest(worker_id="flaky", backends=["azureml"], wait_seconds=5))
        first = Heartbeat(lease_token=held.lease_token, chunks=[LogChunk(seq=0, stream="stdout", text="a" * 40 * kib)])
        jobs.heartbeat(job_id, first)
        jobs.heartbeat(job_id, first)  # its answer was lost; 40 KiB more would cross the 64 KiB budget
        second = [LogChunk(seq=1, stream="stdout", text="b" * 20 * kib)]
        jobs.heartbeat(job_id, Heartbeat(lease_token=held.lease_token, chunks=second))
        stored = jobs.logs(job_id)
        jobs.finish(job_id, FinishRequest(lease_token=held.lease_token, outcome="canceled"))
    assert stored == "a" * 40 * kib + "b" * 20 * kib  # whole, with no truncation marker
