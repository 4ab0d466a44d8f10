"""Stopping a server does not wait on requests that would otherwise stay open: a worker's long-poll claim comes
back empty and a browser's live log tail ends, so the server exits within its grace period instead of being killed
with them (the fixture kills a server that has not stopped after 10 s)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.jobspec.projects import pack_directory
from server.jobspec.schemas import ClaimRequest, JobSpec
from server.worker.client import JobClient
from tests.support.processes import runyard_server


def test_stopping_the_server_ends_long_polls_and_log_tails_cleanly(
    project: Callable[[str], Path], tmp_path: Path
) -> None:
    archive = tmp_path / "p.tar.gz"
    pack_directory(project("basic"), archive)
    outcomes: dict[str, Any] = {}

    def record(name: str, call: Callable[[], Any]) -> threading.Thread:
        def run() -> None:
            try:
                outcomes[name] = call()
            except Exception as exc:  # what a killed server leaves the caller with
                outcomes[name] = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    with runyard_server(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "art") as url:
        with JobClient(url) as client:
            job_id = client.submit_archive(JobSpec(entry_point="quick"), archive).job_id  # no worker: stays queued
        poller, tail_client = JobClient(url), JobClient(url)
        waiting = ClaimRequest(worker_id="idle", backends=["azureml"], wait_seconds=60)  # nothing it can take
        threads = [
            record("claim", lambda: poller.claim(waiting)),
            record("tail", lambda: list(tail_client.follow(job_id))),
        ]
        time.sleep(2)  # both requests are now waiting inside the server
        assert not outcomes
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes["claim"] == []
    assert outcomes["tail"] == []  # ended without an `end` event: the job did not finish, the server went away
    poller.close()
    tail_client.close()
