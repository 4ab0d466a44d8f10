"""Authentication and permissions with `--auth`, through the stock client and raw HTTP, on both databases."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.genai.scorers import Safety, delete_scorer, get_scorer, list_scorers

from tests.auth.conftest import ADMIN, AuthServer

API = "/api/2.0/mlflow"


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch, auth_server: AuthServer) -> Iterator[object]:
    """Switches the stock client's credentials, as a user would with MLFLOW_TRACKING_USERNAME/PASSWORD."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(auth_server.url)

    def use(user: tuple[str, str] | None = None, token: str | None = None) -> MlflowClient:
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        if user:
            monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
            monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])
        if token:
            monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
        return MlflowClient(auth_server.url)

    yield use
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _code(call: object) -> str:
    with pytest.raises(MlflowException) as caught:
        call()  # type: ignore[operator]
    return str(caught.value.error_code)


def test_anonymous_callers_get_401_and_probes_stay_open(auth_server: AuthServer) -> None:
    with auth_server.http() as anonymous:
        refused = anonymous.get(f"{API}/experiments/get", params={"experiment_id": "0"})
        assert refused.status_code == 401
        assert refused.json()["error_code"] == "UNAUTHENTICATED"
        assert refused.headers["www-authenticate"].startswith("Basic")
        for probe in ("/health", "/ready", "/version", "/api/3.0/mlflow/server-info"):
            assert anonymous.get(probe).status_code == 200, probe
    with auth_server.http(("root", "wrong-password")) as wrong:
        assert wrong.get(f"{API}/experiments/get", params={"experiment_id": "0"}).status_code == 401


def test_stock_client_with_basic_auth_and_tokens(
    auth_server: AuthServer, as_user: object, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    admin = as_user(ADMIN)  # type: ignore[operator]
    experiment_id = admin.create_experiment(f"admin-{request.node.name}")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metric("loss", 0.5)
        mlflow.log_text("hello", "notes/hello.txt")
    assert admin.get_run(run.info.run_id).data.metrics == {"loss": 0.5}
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt") == "hello"

    carol = auth_server.add_user(f"carol-{request.node.name}")
    token = auth_server.runyard("tokens", "create", carol[0], "--name", "laptop")
    assert token.startswith("ryd_")
    by_token = as_user(token=token)  # type: ignore[operator]
    own = by_token.create_experiment(f"carol-{request.node.name}")
    assert by_token.get_experiment(own).name == f"carol-{request.node.name}"
    assert _code(lambda: by_token.get_experiment(experiment_id)) == "PERMISSION_DENIED"


def test_permissions_follow_experiments_and_searches_hide_the_rest(
    auth_server: AuthServer, as_user: object, request: pytest.FixtureRequest
) -> None:
    suffix = request.node.name
    alice, bob = auth_server.add_user(f"alice-{suffix}"), auth_server.add_user(f"bob-{suffix}")
    as_alice = as_user(alice)  # type: ignore[operator]
    experiment_id = as_alice.create_experiment(f"private-{suffix}")  # the creator manages it
    run_id = as_alice.create_run(experiment_id).info.run_id
    as_alice.log_metric(run_id, "acc", 0.9)
    as_alice.log_text(run_id, "secret", "notes.txt")

    as_bob = as_user(bob)  # type: ignore[operator]
    assert _code(lambda: as_bob.get_experiment(experiment_id)) == "PERMISSION_DENIED"
    assert _code(lambda: as_bob.get_run(run_id)) == "PERMISSION_DENIED"
    assert _code(lambda: as_bob.log_metric(run_id, "acc", 0.1)) == "PERMISSION_DENIED"
    assert _code(lambda: as_bob.download_artifacts(run_id, "notes.txt")) == "PERMISSION_DENIED"
    assert experiment_id not in {e.experiment_id for e in as_bob.search_experiments()}
    assert _code(lambda: as_bob.search_runs([experiment_id])) == "PERMISSION_DENIED"

    auth_server.runyard("users", "grant", bob[0], "READ", "--experiment-id", experiment_id)
    assert as_bob.get_run(run_id).data.metrics == {"acc": 0.9}
    assert experiment_id in {e.experiment_id for e in as_bob.search_experiments()}
    assert [r.info.run_id for r in as_bob.search_runs([experiment_id])] == [run_id]
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes.txt") == "secret"
    assert _code(lambda: as_bob.log_metric(run_id, "acc", 0.1)) == "PERMISSION_DENIED"
    with pytest.raises(requests.HTTPError, match="403"):  # artifact uploads fail as HTTP errors in the client
        as_bob.log_text(run_id, "overwritten", "notes.txt")

    auth_server.runyard("users", "grant", bob[0], "EDIT", "--experiment-id", experiment_id)
    as_bob.log_metric(run_id, "acc", 0.95)
    assert _code(lambda: as_bob.delete_run(run_id)) == "PERMISSION_DENIED"
    assert _code(lambda: as_bob.delete_experiment(experiment_id)) == "PERMISSION_DENIED"

    as_alice = as_user(alice)  # type: ignore[operator]
    as_alice.delete_run(run_id)  # MANAGE, as its creator
    admin = as_user(ADMIN)  # type: ignore[operator]
    admin.delete_experiment(experiment_id)  # admins may do anything


def test_a_version_may_name_only_a_run_its_creator_can_read(
    auth_server: AuthServer, as_user: object, request: pytest.FixtureRequest
) -> None:
    """Without --auth, a `runs:/` source naming a run that does not exist is accepted, as by `mlflow server`; with it,
    as with MLflow's auth, only an administrator may name a run that no one can read."""
    suffix = request.node.name
    erin, frank = auth_server.add_user(f"erin-{suffix}"), auth_server.add_user(f"frank-{suffix}")
    as_erin = as_user(erin)  # type: ignore[operator]
    private_run = as_erin.create_run(as_erin.create_experiment(f"erin-{suffix}")).info.run_id

    as_frank = as_user(frank)  # type: ignore[operator]
    model = f"frank-model-{suffix}"
    as_frank.create_registered_model(model)
    ghost = "0" * 32

    def register(run_id: str) -> object:
        return as_frank.create_model_version(model, f"runs:/{run_id}/model", run_id)

    assert _code(partial(register, private_run)) == "PERMISSION_DENIED"
    assert _code(partial(register, ghost)) == "PERMISSION_DENIED"
    own_run = as_frank.create_run(as_frank.create_experiment(f"frank-{suffix}")).info.run_id
    assert as_frank.create_model_version(model, f"runs:/{own_run}/model", own_run).version == "1"

    admin = as_user(ADMIN)  # type: ignore[operator]
    assert admin.create_model_version(model, f"runs:/{ghost}/model", ghost).version == "2"


def test_revoked_and_expired_tokens_are_refused(auth_server: AuthServer, request: pytest.FixtureRequest) -> None:
    user = auth_server.add_user(f"dave-{request.node.name}")
    revoked = auth_server.runyard("tokens", "create", user[0])
    token_id = auth_server.runyard("tokens", "list", user[0]).split("\t")[0]
    auth_server.runyard("tokens", "revoke", token_id)
    expiring = auth_server.runyard("tokens", "create", user[0], "--expires-in-days", "0.00002")  # 1.7 s
    live = auth_server.runyard("tokens", "create", user[0])

    def status(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.get(
            f"{auth_server.url}{API}/experiments/search", params={"max_results": 1}, headers=headers
        ).status_code

    assert status(live) == 200
    assert status(revoked) == 401
    time.sleep(2)
    assert status(expiring) == 401
    assert status("ryd_not-a-token") == 401


def test_multipart_transfers_work_with_auth_on(
    auth_server: AuthServer, as_user: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client sends multipart parts and fetches parallel ranges without its credentials, as it would to
    cloud storage: the URLs the server hands out are signed for one method and path."""
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(1024 * 1024))
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(1024 * 1024))
    admin = as_user(ADMIN)  # type: ignore[operator]
    data = os.urandom(3 * 1024 * 1024 + 5)
    (tmp_path / "w.bin").write_bytes(data)
    run_id = admin.create_run(admin.create_experiment(f"mpu-{tmp_path.name}")).info.run_id
    admin.log_artifact(run_id, str(tmp_path / "w.bin"))
    assert Path(admin.download_artifacts(run_id, "w.bin", str(tmp_path / "dl"))).read_bytes() == data

    folder = admin.get_run(run_id).info.artifact_uri.removeprefix("mlflow-artifacts:/")
    with auth_server.http(ADMIN) as http:
        url = http.get(f"/api/2.0/mlflow-artifacts/presigned/{folder}/w.bin").json()["url"]
    assert httpx.get(url, headers={"Range": "bytes=0-9"}).content == data[:10]
    assert httpx.get(url.replace("runyard_signature=", "runyard_signature=0")).status_code == 401
    assert httpx.get(url.replace("/w.bin", "/other.bin")).status_code == 401  # signed for one path only
    assert httpx.put(url, content=b"x").status_code == 401  # and one method


def test_assessments_follow_their_traces_experiment(
    auth_server: AuthServer, as_user: object, request: pytest.FixtureRequest
) -> None:
    """READ on a trace's experiment to see its assessments, EDIT to log, override or delete them; naming another
    trace in the body, or another trace's assessment through one's own trace, reaches nothing."""
    suffix = request.node.name
    alice, bob = auth_server.add_user(f"alice-{suffix}"), auth_server.add_user(f"bob-{suffix}")

    def trace_in(experiment_id: str) -> str:
        mlflow.set_experiment(experiment_id=experiment_id)
        with mlflow.start_span("answer") as span:
            pass
        mlflow.flush_trace_async_logging(terminate=False)
        return span.trace_id

    as_alice = as_user(alice)  # type: ignore[operator]
    alices_experiment = as_alice.create_experiment(f"judged-{suffix}")
    alices_trace = trace_in(alices_experiment)
    judged = mlflow.log_feedback(trace_id=alices_trace, name="relevance", value=0.4)

    as_bob = as_user(bob)  # type: ignore[operator]
    bobs_trace = trace_in(as_bob.create_experiment(f"bobs-{suffix}"))
    assert _code(lambda: mlflow.get_assessment(alices_trace, judged.assessment_id)) == "PERMISSION_DENIED"
    assert _code(lambda: mlflow.log_feedback(trace_id=alices_trace, name="x", value=1)) == "PERMISSION_DENIED"
    with auth_server.http(bob) as http:
        mine = f"/api/3.0/mlflow/traces/{bobs_trace}/assessments"
        through_mine = http.get(f"{mine}/{judged.assessment_id}")
        assert through_mine.status_code == 404
        assert through_mine.json()["message"] == (
            f"Assessment with ID '{judged.assessment_id}' not found for trace '{bobs_trace}'"
        )
        in_body = {"trace_id": alices_trace, "assessment_name": "x", "feedback": {"value": 1}}
        assert http.post(mine, json={"assessment": in_body}).status_code == 400
        overriding = {"overrides": judged.assessment_id, "feedback": {"value": 1}}
        assert http.post(mine, json={"assessment": overriding}).status_code == 404

    auth_server.runyard("users", "grant", bob[0], "READ", "--experiment-id", alices_experiment)
    assert mlflow.get_assessment(alices_trace, judged.assessment_id).valid is True
    assert mlflow.get_trace(alices_trace).info.assessments[0].value == 0.4
    refused = _code(
        lambda: mlflow.override_feedback(trace_id=alices_trace, assessment_id=judged.assessment_id, value=1)
    )
    assert refused == "PERMISSION_DENIED"
    assert _code(lambda: mlflow.delete_assessment(alices_trace, judged.assessment_id)) == "PERMISSION_DENIED"

    auth_server.runyard("users", "grant", bob[0], "EDIT", "--experiment-id", alices_experiment)
    corrected = mlflow.override_feedback(trace_id=alices_trace, assessment_id=judged.assessment_id, value=0.9)
    assert mlflow.get_assessment(alices_trace, judged.assessment_id).valid is False
    mlflow.delete_assessment(alices_trace, corrected.assessment_id)
    assert mlflow.get_assessment(alices_trace, judged.assessment_id).valid is True


def test_scorers_and_issues_follow_their_experiment(
    auth_server: AuthServer, as_user: object, request: pytest.FixtureRequest
) -> None:
    """READ on the experiment to see its scorers, their online configs and its issues; EDIT to register, delete or
    schedule scorers and to create or change issues. Listings that name no experiment show only readable ones."""
    suffix = request.node.name
    alice, bob = auth_server.add_user(f"alice-{suffix}"), auth_server.add_user(f"bob-{suffix}")
    as_alice = as_user(alice)  # type: ignore[operator]
    experiment_id = as_alice.create_experiment(f"judged-{suffix}")
    Safety().register(name="safety", experiment_id=experiment_id)
    alices_store = as_alice._tracking_client.store
    scorer_id = alices_store.get_scorer(experiment_id, "safety").scorer_id
    issue = alices_store.create_issue(experiment_id, "Hallucination", "Made-up facts")

    as_bob = as_user(bob)  # type: ignore[operator]
    store = as_bob._tracking_client.store
    denied = [
        lambda: get_scorer(name="safety", experiment_id=experiment_id),
        lambda: list_scorers(experiment_id=experiment_id),
        lambda: store.get_online_scoring_configs([scorer_id]),
        lambda: store.get_issue(issue.issue_id),
        lambda: store.search_issues(experiment_id=experiment_id),
        lambda: Safety().register(name="safety", experiment_id=experiment_id),
        lambda: store.create_issue(experiment_id, "n", "d"),
    ]
    assert [_code(call) for call in denied] == ["PERMISSION_DENIED"] * len(denied)
    with auth_server.http(bob) as http:
        everyone = http.get("/api/3.0/mlflow/scorers/list").json().get("scorers", [])
        assert scorer_id not in {s["scorer_id"] for s in everyone}
        issues = http.post("/api/3.0/mlflow/issues/search", json={}).json().get("issues", [])
        assert issue.issue_id not in {i["issue_id"] for i in issues}

    auth_server.runyard("users", "grant", bob[0], "READ", "--experiment-id", experiment_id)
    assert get_scorer(name="safety", experiment_id=experiment_id).scorer_version == 1
    assert [s.name for s in list_scorers(experiment_id=experiment_id)] == ["safety"]
    assert [i.issue_id for i in store.search_issues()] == [issue.issue_id]
    assert store.get_issue(issue.issue_id).name == "Hallucination"
    read_only = [
        lambda: Safety().register(name="safety", experiment_id=experiment_id),
        lambda: delete_scorer(name="safety", experiment_id=experiment_id, version=1),
        lambda: store.upsert_online_scoring_config(experiment_id, "safety", 0.0),
        lambda: store.update_issue(issue.issue_id, name="renamed"),
    ]
    assert [_code(call) for call in read_only] == ["PERMISSION_DENIED"] * len(read_only)

    auth_server.runyard("users", "grant", bob[0], "EDIT", "--experiment-id", experiment_id)
    assert Safety().register(name="safety", experiment_id=experiment_id).scorer_version == 2
    assert store.upsert_online_scoring_config(experiment_id, "safety", 0.0).scorer_id == scorer_id
    delete_scorer(name="safety", experiment_id=experiment_id, version=1)
    assert store.update_issue(issue.issue_id, name="renamed").name == "renamed"
