"""Jobs with auth on: submitting needs EDIT on the experiment, workers sign in as an administrator, and the
project process gets a token that acts on its own run only and dies with the job."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import orjson
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import ExecutionException, MlflowException
from mlflow.genai.scorers import scorer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from server.jobspec.projects import pack_directory
from server.jobspec.schemas import ClaimRequest, FinishRequest, Heartbeat, JobSpec
from server.worker.client import JobClient
from tests.auth.conftest import ADMIN, PASSWORD, AuthServer
from tests.jobs.conftest import wait_for
from tests.support.leases import expire_lease
from tests.support.processes import runyard_server

API = "/api/2.0/mlflow"
# No worker runs in the lease tests: the test claims jobs itself, and ends a lease itself (`expire_lease`).
SHORT_LEASES = {
    "RUNYARD_ADMIN_USERNAME": ADMIN[0],
    "RUNYARD_ADMIN_PASSWORD": ADMIN[1],
    "RUNYARD_JOB_LEASE_SECONDS": "60",
    "RUNYARD_JOB_RETRY_BACKOFF_SECONDS": "0.1",
    "RUNYARD_JOB_REAP_INTERVAL_SECONDS": "0.3",
}
PROJECT = Path(__file__).parents[1] / "jobs" / "projects" / "basic"
PROBE = """import os
import sys
import urllib.error
import urllib.request

import mlflow
from mlflow import MlflowClient

with mlflow.start_run() as run:
    mlflow.log_metric("score", 1.0)
try:
    MlflowClient().get_run(sys.argv[1])
    print("OTHER RUN: readable")
except Exception as exc:
    print("OTHER RUN:", getattr(exc, "error_code", type(exc).__name__))
roster = urllib.request.Request(
    os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/users/list",
    headers={"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]},
)
try:
    urllib.request.urlopen(roster)
    print("USER LIST: readable")
except urllib.error.HTTPError as exc:
    print("USER LIST:", exc.code)
"""


@pytest.fixture(scope="module")
def job_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """SQLite is enough here: what is checked is who may do what, and both databases run the rules elsewhere."""
    base = tmp_path_factory.mktemp("auth-jobs")
    store = f"sqlite:///{base / 'db.sqlite'}"
    env = {
        "RUNYARD_ADMIN_USERNAME": ADMIN[0],
        "RUNYARD_ADMIN_PASSWORD": ADMIN[1],
        "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS": "true",  # the GenAI job test runs a `@scorer` function
    }
    with runyard_server(store, base / "mlartifacts", "--auth", env=env, embedded_worker=True) as url:
        yield AuthServer(url, store)


def test_a_project_runs_with_a_token_for_its_own_run(
    job_server: AuthServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    erin = job_server.add_user("erin")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", job_server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", erin[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    mlflow.set_tracking_uri(job_server.url)
    try:
        client = MlflowClient(job_server.url)
        experiment_id = client.create_experiment("erin-projects")
        other_run = client.create_run(experiment_id).info.run_id  # erin's, but not the job's
        project = tmp_path / "project"
        shutil.copytree(PROJECT, project)
        (project / "probe.py").write_text(PROBE)
        (project / "MLproject").write_text(
            (project / "MLproject").read_text()
            + '  probe:\n    parameters:\n      other: {type: string}\n    command: "python probe.py {other}"\n'
        )
        submitted = mlflow.projects.run(
            uri=str(project),
            entry_point="probe",
            parameters={"other": other_run},
            experiment_id=experiment_id,
            backend="runyard",
            backend_config={"USE_CONDA": False},
            synchronous=True,
        )
        run = client.get_run(submitted.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.metrics == {"score": 1.0}
        stdout = client.download_artifacts(submitted.run_id, "runyard/logs/stdout.log", str(tmp_path / "logs"))
        assert "OTHER RUN: PERMISSION_DENIED" in Path(stdout).read_text()
        assert "USER LIST: 403" in Path(stdout).read_text()  # the roster is for people, not for a job's token
    finally:
        mlflow.set_tracking_uri(None)
    tokens = job_server.runyard("tokens", "list")
    job_tokens = [line for line in tokens.splitlines() if "\tjob " in line]
    assert job_tokens
    assert all("revoked" in line for line in job_tokens)  # gone with the job


def test_submitting_needs_edit_on_the_experiment(
    job_server: AuthServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frank = job_server.add_user("frank")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", job_server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
    mlflow.set_tracking_uri(job_server.url)
    try:
        experiment_id = MlflowClient(job_server.url).create_experiment("admins-only")
        job_server.runyard("users", "grant", frank[0], "READ", "--experiment-id", experiment_id)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", frank[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
        with pytest.raises((MlflowException, ExecutionException), match=r"(?i)permission"):
            mlflow.projects.run(
                uri=str(PROJECT),
                entry_point="quick",
                experiment_id=experiment_id,
                backend="runyard",
                backend_config={},
                synchronous=False,
            )
    finally:
        mlflow.set_tracking_uri(None)


def test_the_job_list_pages_through_only_readable_jobs_and_each_page_is_full(
    job_server: AuthServer, tmp_path: Path
) -> None:
    """Jobs in an experiment the caller may not read are left out by the query itself, so no page comes back short
    or empty while more readable jobs follow."""
    gina = job_server.add_user("gina")
    archive = tmp_path / "project.tar.gz"
    pack_directory(PROJECT, archive)
    with job_server.http(ADMIN) as admin:
        hidden, shown = (
            admin.post(f"{API}/experiments/create", json={"name": name}).json()["experiment_id"]
            for name in ("gina-may-not-read", "gina-may-read")
        )
        submitted: dict[str, list[str]] = {hidden: [], shown: []}
        for experiment_id in (shown, hidden, shown, hidden, hidden):  # the newest ones are hidden from her
            spec = {"experiment_id": experiment_id, "entry_point": "quick"}
            response = admin.post(
                "/runyard/api/jobs/archive",
                data={"spec": orjson.dumps(spec).decode()},
                files={"archive": ("p.tar.gz", archive.read_bytes(), "application/gzip")},
            )
            assert response.status_code == 200, response.text
            submitted[experiment_id].append(response.json()["job_id"])
    job_server.runyard("users", "grant", gina[0], "NO_PERMISSIONS", "--experiment-id", hidden)
    pages: list[list[str]] = []
    with job_server.http(gina) as http:
        query: dict[str, str | list[str]] = {"max_results": "1", "experiment_id": [hidden, shown]}
        while True:
            body = http.get("/runyard/api/jobs", params=query).json()
            pages.append([job["job_id"] for job in body["jobs"]])
            if not body.get("next_page_token"):
                break
            query["page_token"] = body["next_page_token"]
    assert [len(page) for page in pages[:2]] == [1, 1]
    assert sorted(job for page in pages for job in page) == sorted(submitted[shown])


def test_a_lost_attempts_token_stops_working_when_its_lease_runs_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that dies leaves its project process behind, holding a token for the run. When the lease runs out
    that token is revoked, whether the job is queued again or given up, so a stray process cannot write into the
    next attempt's run or a finished one; the next attempt gets a token of its own."""
    archive = tmp_path / "project.tar.gz"
    pack_directory(PROJECT, archive)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
    store = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with runyard_server(store, tmp_path / "mlartifacts", "--auth", env=SHORT_LEASES) as url, JobClient(url) as jobs:
        spec = JobSpec(entry_point="quick", backend="azureml", max_attempts=2)  # no worker here serves azureml
        job_id = jobs.submit_archive(spec, archive).job_id
        claim = ClaimRequest(worker_id="doomed", backends=["azureml"], wait_seconds=5)

        def run_status(token: str | None) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            return httpx.get(f"{url}{API}/runs/get", params={"run_id": run_id}, headers=headers).status_code

        (first,) = jobs.claim(claim)
        run_id = first.job.run_id
        assert run_status(first.tracking_token) == 200  # and now remembered by the server's sign-in cache
        expire_lease(store, job_id)
        wait_for(jobs, job_id, until=lambda job: job.status == "QUEUED")
        assert run_status(first.tracking_token) == 401

        (second,) = jobs.claim(claim.model_copy(update={"worker_id": "doomed-too"}))
        assert second.job.attempt == 2
        assert run_status(second.tracking_token) == 200
        expire_lease(store, job_id)
        failed = wait_for(jobs, job_id, until=lambda job: job.status == "FAILED")
        assert "Gave up" in (failed.error or "")
        assert run_status(second.tracking_token) == 401


def test_a_remote_job_queued_to_be_adopted_keeps_its_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An Azure ML job whose worker was lost runs on in Azure, with the token it was submitted with; the next worker
    adopts it, so that token must outlive the requeue (and dies when the job ends)."""
    archive = tmp_path / "project.tar.gz"
    pack_directory(PROJECT, archive)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
    store = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with runyard_server(store, tmp_path / "mlartifacts", "--auth", env=SHORT_LEASES) as url, JobClient(url) as jobs:
        spec = JobSpec(entry_point="quick", backend="azureml", backend_config={"COMPUTE": "cpu-cluster"})
        job_id = jobs.submit_archive(spec, archive).job_id
        claim = ClaimRequest(worker_id="submitter", backends=["azureml"], wait_seconds=5)
        (first,) = jobs.claim(claim)
        jobs.heartbeat(job_id, Heartbeat(lease_token=first.lease_token, external_id="runyard-job-attempt-1"))
        run_id = first.job.run_id
        headers = {"Authorization": f"Bearer {first.tracking_token}"}
        with httpx.Client(base_url=url, headers=headers) as remote:  # what the Azure job logs with
            assert remote.get(f"{API}/runs/get", params={"run_id": run_id}).status_code == 200
            expire_lease(store, job_id)
            wait_for(jobs, job_id, until=lambda job: job.status == "QUEUED")
            assert remote.get(f"{API}/runs/get", params={"run_id": run_id}).status_code == 200
            (adopted,) = jobs.claim(claim.model_copy(update={"worker_id": "adopter"}))
            assert adopted.job.external_id == "runyard-job-attempt-1"
            jobs.finish(job_id, FinishRequest(lease_token=adopted.lease_token, outcome="succeeded"))
            assert remote.get(f"{API}/runs/get", params={"run_id": run_id}).status_code == 401


def _one_span(experiment_id: str, token: str, url: str, trace_hex: str) -> httpx.Response:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes.fromhex(trace_hex), bytes.fromhex("0102030405060708"), "step"
    span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_100_000_000
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/x-protobuf",
        "x-mlflow-experiment-id": experiment_id,
    }
    return httpx.post(f"{url}/v1/traces", content=request.SerializeToString(), headers=headers)


def test_a_jobs_token_traces_into_its_own_runs_experiment_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A project that traces its LLM calls sends spans with its job's token: into its run's experiment they are
    stored; into any other experiment they are refused."""
    archive = tmp_path / "project.tar.gz"
    pack_directory(PROJECT, archive)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
    store = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with runyard_server(store, tmp_path / "mlartifacts", "--auth", env=SHORT_LEASES) as url, JobClient(url) as jobs:
        other = MlflowClient(url).create_experiment("not-the-jobs")
        own = MlflowClient(url).create_experiment("the-jobs")
        spec = JobSpec(entry_point="quick", backend="azureml", experiment_id=own)  # no worker here serves azureml
        jobs.submit_archive(spec, archive)
        (claimed,) = jobs.claim(ClaimRequest(worker_id="tracer", backends=["azureml"], wait_seconds=5))
        token = claimed.tracking_token
        assert token is not None
        assert _one_span(own, token, url, "ab" * 16).status_code == 200
        refused = _one_span(other, token, url, "cd" * 16)
        assert refused.status_code == 403
        assert refused.json()["error_code"] == "PERMISSION_DENIED"
        read = httpx.get(
            f"{url}/api/3.0/mlflow/traces/{'tr-' + 'ab' * 16}", headers={"Authorization": f"Bearer {token}"}
        )
        assert read.status_code == 200, read.text
        assert read.json()["trace"]["trace_info"]["trace_location"]["mlflow_experiment"]["experiment_id"] == own


def test_a_genai_job_acts_for_the_user_who_submitted_it(
    job_server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scorer job writes its feedback with its submitter's permissions (never the worker's), a reader cannot
    start one, and the job's token is revoked when it ends."""
    ivy, hank = job_server.add_user("ivy"), job_server.add_user("hank")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ivy[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    mlflow.set_tracking_uri(job_server.url)
    try:
        experiment_id = mlflow.set_experiment("ivy-judges").experiment_id
        with mlflow.start_span("answer") as span:
            span.set_outputs("Paris")
        job_server.runyard("users", "grant", hank[0], "READ", "--experiment-id", experiment_id)

        @scorer
        def mentions_paris(trace):  # a scorer run on traces gets each trace
            return "Paris" in str(trace.data.response)

        body = {
            "experiment_id": experiment_id,
            "serialized_scorer": orjson.dumps(mentions_paris.model_dump()).decode(),
            "trace_ids": [span.trace_id],
            "log_assessments": True,
        }
        with job_server.http(hank) as reader:
            refused = reader.post("/ajax-api/3.0/mlflow/scorer/invoke", json=body)
            assert (refused.status_code, refused.json()["error_code"]) == (403, "PERMISSION_DENIED")
        with job_server.http(ivy) as http:
            [job] = http.post("/ajax-api/3.0/mlflow/scorer/invoke", json=body).json()["jobs"]
            deadline = time.monotonic() + 240
            while (state := http.get(f"/ajax-api/3.0/jobs/{job['job_id']}").json())["status"] in ("PENDING", "RUNNING"):
                assert time.monotonic() < deadline, state
                time.sleep(0.2)
        assert (state["status"], state["creator"]) == ("SUCCEEDED", "ivy"), state["error_message"]
        trace = mlflow.get_trace(span.trace_id)
        assert trace is not None
        [feedback] = [a for a in trace.info.assessments if a.name == "mentions_paris"]
        assert feedback.value is True
    finally:
        mlflow.set_tracking_uri(None)
    ivys = [line for line in job_server.runyard("tokens", "list", "ivy").splitlines() if job["job_id"] in line]
    assert len(ivys) == 1  # the job's token is Ivy's own, not the worker's administrator's
    assert ivys[0].endswith("\trevoked")
