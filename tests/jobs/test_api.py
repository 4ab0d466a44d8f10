"""The job API over raw HTTP: bad submissions are 400s that queue nothing, plus listing, idempotency, retry,
logs (whole and live), and git sources."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from server.jobspec.projects import pack_directory
from server.worker.client import JobClient
from tests.jobs.conftest import wait_for


def _archive(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data) if data is not None else 0
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


MLPROJECT = b"name: t\nentry_points:\n  main:\n    parameters:\n      alpha: float\n    command: python -c pass\n"


def _submit(http: httpx.Client, archive: bytes, **spec: object) -> httpx.Response:
    return http.post(
        "/jobs/archive",
        data={"spec": json.dumps(spec)},
        files={"archive": ("p.tar.gz", archive, "application/gzip")},
    )


def _packed(folder: Path) -> bytes:
    target = folder.parent / f"{folder.name}.tar.gz"
    pack_directory(folder, target)
    return target.read_bytes()


def _count(http: httpx.Client) -> int:
    return len(http.get("/jobs", params={"max_results": 1000}).json()["jobs"])


BAD_ARCHIVES = {
    "no MLproject": _archive([_file("train.py")]),
    "dot-dot": _archive([_file("MLproject", MLPROJECT), _file("../evil.py")]),
    "absolute": _archive([_file("MLproject", MLPROJECT), _file("/tmp/evil.py")]),
    "symlink out": _archive([_file("MLproject", MLPROJECT), _link("data", "../../etc")]),
    "absolute symlink": _archive([_file("MLproject", MLPROJECT), _link("data", "/etc/passwd")]),
    "hardlink out": _archive([_file("MLproject", MLPROJECT), _link("h", "../outside", tarfile.LNKTYPE)]),
    "corrupt": b"\x1f\x8b\x08\x00 this is not gzip",
    "truncated": _archive([_file("MLproject", MLPROJECT), _file("big.bin", b"y" * 50_000)])[:200],
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_bad_archives_are_refused_and_queue_nothing(http: httpx.Client, case: str) -> None:
    before = _count(http)
    response = _submit(http, BAD_ARCHIVES[case], parameters={"alpha": 1})
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert _count(http) == before


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"entry_point": "nope", "parameters": {"alpha": 1}}, "Could not find nope among entry points"),
        ({"parameters": {"alpha": "not-a-number"}}, "must be of type float"),
        ({}, "No value given for missing parameters: 'alpha'"),
        ({"parameters": {"alpha": 1}, "experiment_id": "424242"}, "No Experiment with id=424242"),
        ({"parameters": {"alpha": 1}, "experiment_name": "no such experiment"}, "No experiment named"),
        ({"parameters": {"alpha": 1}, "env_manager": "pip"}, "spec.env_manager"),
    ],
)
def test_bad_specs_are_refused(http: httpx.Client, spec: dict[str, object], message: str) -> None:
    response = _submit(http, _archive([_file("MLproject", MLPROJECT)]), **spec)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]


def test_malformed_requests_are_400s(http: httpx.Client, jobs_server: str) -> None:
    assert http.post("/jobs/archive", data={"spec": "{not json"}, files={"archive": b""}).status_code == 400
    assert http.post("/jobs", json={"source": {"uri": "/etc"}}).status_code == 400
    assert http.post("/jobs", json={"source": {"uri": "-uupload-pack=touch /tmp/x"}}).status_code == 400
    assert http.get("/jobs/0123").status_code == 404
    assert http.get("/jobs", params={"page_token": "???"}).status_code == 400
    body = b'{"worker_id": "w", "backends": ["\\udf69"]}'  # JSON may spell a lone surrogate; no database stores it
    lone_surrogate = http.post("/workers/claim", content=body, headers={"content-type": "application/json"})
    refusal = (lone_surrogate.status_code, lone_surrogate.json()["message"])
    assert refusal == (400, "A value in the request is not valid text.")
    for cursor in (
        {"params": {"after": "9" * 20}},
        {"headers": {"Last-Event-ID": "9" * 30}},
    ):  # refused before streaming
        bad_cursor = http.get("/jobs/0123/logs/stream", **cursor)  # type: ignore[arg-type]
        assert (bad_cursor.status_code, bad_cursor.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    past_64_bits = http.get("/jobs", params={"experiment_id": "9" * 20})
    assert (past_64_bits.status_code, past_64_bits.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "/runyard/api/jobs/{job_id}/cancel" in httpx.get(f"{jobs_server}/openapi.json").json()["paths"]


@pytest.mark.usefixtures("worker")
def test_idempotency_key_returns_the_first_job(http: httpx.Client, project: Callable[[str], Path]) -> None:
    archive = _packed(project("basic"))
    first = _submit(http, archive, idempotency_key="k-1", entry_point="quick")
    again = _submit(http, archive, idempotency_key="k-1", entry_point="quick")
    assert first.status_code == again.status_code == 200
    assert first.json()["job_id"] == again.json()["job_id"]
    different = _submit(http, archive, idempotency_key="k-1", entry_point="quick", parameters={"exit_code": 1})
    assert different.status_code == 400
    assert "already used" in different.json()["message"]


@pytest.mark.usefixtures("worker")
def test_list_filters_logs_and_retry(
    http: httpx.Client, jobs: JobClient, project: Callable[[str], Path], jobs_server: str
) -> None:
    archive = _packed(project("basic"))
    created = httpx.post(f"{jobs_server}/api/2.0/mlflow/experiments/create", json={"name": "listing"})
    experiment = created.json()["experiment_id"]
    failing = _submit(http, archive, experiment_id=experiment, entry_point="quick", parameters={"exit_code": 2}).json()
    assert failing["status"] == "QUEUED"
    assert failing["run_status"] == "SCHEDULED"
    events = list(jobs.follow(failing["job_id"]))  # the live tail, from the start until the job ends
    assert events[-1] == ("end", {"status": "FAILED"})
    streamed = "".join(data["text"] for kind, data in events if kind == "log")
    assert "crashing on purpose with 2" in streamed
    assert jobs.logs(failing["job_id"]).count("crashing on purpose") == 1

    listed = http.get("/jobs", params={"experiment_id": experiment, "status": "FAILED"}).json()["jobs"]
    assert [job["job_id"] for job in listed] == [failing["job_id"]]
    assert http.get("/jobs", params={"experiment_id": experiment, "status": "RUNNING"}).json()["jobs"] == []
    page = http.get("/jobs", params={"max_results": 1}).json()
    assert len(page["jobs"]) == 1
    assert page["next_page_token"]

    retried = jobs.retry(failing["job_id"])
    assert retried.status == "QUEUED"
    assert retried.run_status == "SCHEDULED"
    done = wait_for(jobs, failing["job_id"])
    assert done.status == "FAILED"
    assert done.attempt >= 2  # a loaded machine can lose a 5 s lease once, which costs an attempt
    assert "--- attempt 2 ---" in jobs.logs(failing["job_id"])
    assert http.post(f"/jobs/{failing['job_id']}/retry").status_code == 200
    wait_for(jobs, failing["job_id"])
    ok = _submit(http, archive, experiment_id=experiment, entry_point="quick").json()
    assert wait_for(jobs, ok["job_id"]).status == "SUCCEEDED"
    refused = http.post(f"/jobs/{ok['job_id']}/retry")
    assert refused.status_code == 400
    assert "only FAILED or CANCELED" in refused.json()["message"]


def test_cancel_a_queued_job_ends_it_at_once(http: httpx.Client, project: Callable[[str], Path]) -> None:
    queued = _submit(http, _packed(project("basic")), backend="azureml", entry_point="quick").json()
    canceled = http.post(f"/jobs/{queued['job_id']}/cancel").json()  # no azureml dispatcher runs in the tests
    assert canceled["status"] == "CANCELED"
    assert canceled["run_status"] == "KILLED"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.usefixtures("worker")
def test_git_source_with_version_and_subdirectory(
    http: httpx.Client, jobs: JobClient, project: Callable[[str], Path], tmp_path: Path, jobs_server: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    project("basic").rename(repo / "proj")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "empty")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "project")
    _git(repo, "tag", "v1")
    commit = _git(repo, "rev-parse", "HEAD")
    (repo / "proj" / "MLproject").write_text("broken: [")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "break it after v1")

    source = {"uri": f"file://{repo}", "version": "v1", "subdirectory": "proj"}
    response = http.post("/jobs", json={"source": source, "entry_point": "quick"})
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["source"]["commit"] == commit
    assert wait_for(jobs, job["job_id"]).status == "SUCCEEDED"
    run = httpx.get(f"{jobs_server}/api/2.0/mlflow/runs/get", params={"run_id": job["run_id"]}).json()["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["mlflow.source.git.commit"] == commit
    assert run["info"]["status"] == "FINISHED"
    assert "quick job on" in jobs.logs(job["job_id"])

    head = http.post("/jobs", json={"source": {**source, "version": None}, "parameters": {"alpha": 2}})
    assert head.status_code == 400  # HEAD has the broken MLproject
    missing = http.post("/jobs", json={"source": {**source, "version": "no-such-tag"}})
    assert missing.status_code == 400
    assert "no-such-tag" in missing.json()["message"]
    nosub = http.post("/jobs", json={"source": {**source, "subdirectory": "elsewhere"}, "parameters": {"alpha": 1}})
    assert nosub.status_code == 400
