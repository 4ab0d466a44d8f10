"""A PostgreSQL server that stops answering (its processes stopped with SIGSTOP, as a frozen host or a hung server
would be): requests are answered with the retryable 503 instead of hanging until the client gives up, and once the
server answers again, so does Runyard.

A stopped server cannot enforce its own statement_timeout, so this is the client-side bound alone. The cluster is
the test's own, never the session's shared one, which other tests use meanwhile. Nothing waits on the clock: the
request under test returns by itself, and recovery is polled with a generous cap only a broken server reaches.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.processes import create_database, postgres_cluster, runyard_server

API = "/api/2.0/mlflow"
UNAVAILABLE = {
    "error_code": "TEMPORARILY_UNAVAILABLE",
    "message": "The database is unavailable; retry.",
}
CAP_S = 300  # only a request that hangs gets near this


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (PostgreSQL's backends and helpers under its postmaster)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return found


def _postmaster(admin_url: str) -> int:
    """The parent of a backend, read while the backend lives: once its connection closes it may be gone."""
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        stat = Path(f"/proc/{row[0]}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


@contextlib.contextmanager
def frozen(postmaster: int) -> Iterator[None]:
    """The whole cluster stopped (postmaster first, so it forks nothing new), then continued."""
    stopped = [postmaster]
    os.kill(postmaster, signal.SIGSTOP)
    for child in _children(postmaster):
        os.kill(child, signal.SIGSTOP)
        stopped.append(child)
    try:
        yield
    finally:
        for pid in reversed(stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with postgres_cluster() as admin_url:
        yield admin_url


def test_a_frozen_postgresql_is_a_503_not_a_hang_and_service_resumes(cluster: str, tmp_path: Path) -> None:
    store = create_database(cluster, "frozen")
    env = {
        "RUNYARD_DATABASE_STATEMENT_TIMEOUT_SECONDS": "1",
        "RUNYARD_DATABASE_BUSY_TIMEOUT_SECONDS": "1",
        "RUNYARD_DATABASE_TIMEOUT_SECONDS": "2",  # the reconnect the pool tries after the stale connection
    }
    with (
        runyard_server(store, tmp_path / "mlartifacts", env=env) as url,
        httpx.Client(base_url=url, timeout=CAP_S) as client,
    ):
        experiment = client.post(f"{API}/experiments/create", json={"name": "frozen"})
        assert experiment.status_code == 200, experiment.text
        experiment_id = experiment.json()["experiment_id"]
        with frozen(_postmaster(cluster)):
            refused = client.post(f"{API}/runs/create", json={"experiment_id": experiment_id})
            searched = client.post(f"{API}/runs/search", json={"experiment_ids": [experiment_id]})
        assert refused.status_code == 503, refused.text
        assert {key: refused.json()[key] for key in UNAVAILABLE} == UNAVAILABLE
        assert searched.status_code == 503, searched.text

        deadline = time.monotonic() + CAP_S
        while (created := client.post(f"{API}/runs/create", json={"experiment_id": experiment_id})).status_code != 200:
            assert time.monotonic() < deadline, created.text
        run_id = created.json()["run"]["info"]["run_id"]
        found = client.post(f"{API}/runs/search", json={"experiment_ids": [experiment_id]})
        assert found.status_code == 200, found.text
        assert run_id in {run["info"]["run_id"] for run in found.json()["runs"]}
