"""Job-queue fixtures: one server per database kind, and real `runyard worker` processes running the small
projects under `tests/jobs/projects/`. Leases are long, so a live worker on a loaded machine never loses one; a
test that needs a lease to run out ends it itself (`tests.support.leases.expire_lease`)."""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import mlflow
import pytest

from server.jobspec.schemas import TERMINAL, JobView
from server.worker.client import JobClient
from tests.support.processes import runyard_server, runyard_worker
from tests.support.stores import kind_of, new_store_uri

PROJECTS = Path(__file__).parent / "projects"
JOB_ENV = {
    "RUNYARD_JOB_LEASE_SECONDS": "60",
    "RUNYARD_JOB_RETRY_BACKOFF_SECONDS": "0.2",
    "RUNYARD_JOB_REAP_INTERVAL_SECONDS": "0.5",
    "RUNYARD_JOB_ALLOW_LOCAL_GIT": "true",
    # The operator's opt-in that lets the GenAI job tests run a `@scorer` function on a worker.
    "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS": "true",
    # An OpenAI key the server holds, so issue detection is queued; the API base is a closed local port, so the
    # job's call to the provider fails at once (no provider is reachable from the tests).
    "OPENAI_API_KEY": "sk-runyard-tests",
    "OPENAI_API_BASE": "http://127.0.0.1:9/v1",
}
_names = itertools.count()


@pytest.fixture(scope="session")
def jobs_store_uri(
    backend_store_uri: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A database of its own for the job tests, of the kind the session is parametrised with."""
    return new_store_uri(kind_of(backend_store_uri), tmp_path_factory.mktemp("jobs"), "jobs", request)


@pytest.fixture(scope="session")
def jobs_server(jobs_store_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("jobs-server")
    with runyard_server(jobs_store_uri, workdir / "mlartifacts", env=JOB_ENV) as url:
        yield url


@pytest.fixture(scope="module")
def worker(jobs_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One worker for the module's tests, with a short cancel grace. Per module, so the fault tests can run
    with only the workers they start themselves."""
    with runyard_worker(jobs_server, tmp_path_factory.mktemp("worker"), "--cancel-grace", "3") as pid:
        yield pid


@pytest.fixture
def tracking(jobs_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The stock client pointed at the job server, as a user in a project folder would have it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", jobs_server)
    mlflow.set_tracking_uri(jobs_server)
    yield jobs_server
    mlflow.set_tracking_uri(None)


@pytest.fixture
def jobs(jobs_server: str) -> Iterator[JobClient]:
    with JobClient(jobs_server) as client:
        yield client


@pytest.fixture
def http(jobs_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=jobs_server + "/runyard/api", timeout=30) as client:
        yield client


@pytest.fixture
def project(tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of a test project (tests may add files to it)."""

    def copy(name: str = "basic") -> Path:
        target = tmp_path / f"{name}-{next(_names)}"
        shutil.copytree(PROJECTS / name, target)
        return target

    return copy


def wait_for(
    client: JobClient, job_id: str, *, until: Callable[[JobView], bool] | None = None, timeout: float = 180
) -> JobView:
    """Poll until the job ends (or `until` holds)."""
    check = until or (lambda job: job.status in TERMINAL)
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(job_id)
        if check(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job.status} after {timeout}s")
        time.sleep(0.1)
