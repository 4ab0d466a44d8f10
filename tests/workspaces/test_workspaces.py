"""Several teams on one Runyard started with `--enable-workspaces`, through the stock client as each team uses it
(`mlflow.set_workspace`, which sends the X-MLFLOW-WORKSPACE header): two workspaces hold experiments and runs of the
same names without clashing, neither sees nor reaches the other's, and the workspace API lists, creates, updates and
deletes workspaces with MLflow's answers. A server started without the flag refuses a request that names a
workspace instead of mixing it into the shared space."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from tests.support.processes import runyard_server
from tests.workspaces.conftest import error_of, next_number


def test_two_teams_use_the_same_names_and_see_only_their_own(client: MlflowClient, two_teams: tuple[str, str]) -> None:
    runs: dict[str, str] = {}
    experiments: dict[str, str] = {}
    for team in two_teams:
        mlflow.set_workspace(team)
        experiments[team] = mlflow.set_experiment("churn").experiment_id
        with mlflow.start_run(run_name="baseline") as run:
            mlflow.log_metric("auc", 0.7 if team == two_teams[0] else 0.9)
        runs[team] = run.info.run_id
    assert experiments[two_teams[0]] != experiments[two_teams[1]]  # ids stay unique across the server

    mine, theirs = two_teams
    mlflow.set_workspace(mine)
    assert client.get_experiment_by_name("churn").experiment_id == experiments[mine]
    assert [e.name for e in client.search_experiments()] == ["churn"]
    found = client.search_runs([experiments[mine], experiments[theirs]])
    assert [(r.info.run_id, r.data.metrics["auc"]) for r in found] == [(runs[mine], 0.7)]

    # What belongs to the other team is not found, exactly as if it did not exist.
    assert error_of(lambda: client.get_run(runs[theirs])) == (
        "RESOURCE_DOES_NOT_EXIST",
        f"Run with id={runs[theirs]} not found",
    )
    assert error_of(lambda: client.get_experiment(experiments[theirs]))[0] == "RESOURCE_DOES_NOT_EXIST"
    assert error_of(lambda: client.log_metric(runs[theirs], "auc", 1.0))[0] == "RESOURCE_DOES_NOT_EXIST"
    assert error_of(lambda: client.create_run(experiments[theirs]))[0] == "RESOURCE_DOES_NOT_EXIST"

    mlflow.set_workspace(theirs)
    assert client.get_run(runs[theirs]).data.metrics == {"auc": 0.9}  # untouched by the attempt above
    assert error_of(lambda: client.get_run(runs[mine]))[0] == "RESOURCE_DOES_NOT_EXIST"


def test_a_workspace_keeps_its_artifacts_under_its_own_folder(
    client: MlflowClient, server: str, two_teams: tuple[str, str], artifacts: Path, tmp_path: Path
) -> None:
    team = two_teams[0]
    mlflow.set_workspace(team)
    mlflow.set_experiment("artifacts")
    report = tmp_path / "report.txt"
    report.write_text("auc 0.7")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(report))

    assert run.info.artifact_uri.startswith(f"mlflow-artifacts:/workspaces/{team}/")
    stored = list((artifacts / "workspaces" / team).rglob("report.txt"))
    assert [path.read_text() for path in stored] == ["auc 0.7"]
    downloaded = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "out"))
    assert (Path(downloaded) / "report.txt").read_text() == "auc 0.7"

    # The other team cannot reach the file through the proxy, by its full path or by one relative to its own folder.
    relative = run.info.artifact_uri.removeprefix(f"mlflow-artifacts:/workspaces/{team}/") + "/report.txt"
    with httpx.Client(base_url=server, timeout=30, headers={"X-MLFLOW-WORKSPACE": two_teams[1]}) as http:
        full = http.get(f"/api/2.0/mlflow-artifacts/artifacts/workspaces/{team}/{relative}")
        inside_own = http.get(f"/api/2.0/mlflow-artifacts/artifacts/{relative}")
    assert (full.status_code, full.json()["message"]) == (
        400,
        f"Artifact path targets workspace '{team}' but the workspace specified in the request is '{two_teams[1]}'.",
    )
    assert inside_own.status_code == 404


def test_the_workspace_api_lists_creates_updates_and_deletes(client: MlflowClient) -> None:
    name = f"research-{next_number()}"

    created = mlflow.create_workspace(name, description="Research team")
    updated = mlflow.update_workspace(name, description="Research and forecasting")

    assert (created.name, created.description) == (name, "Research team")
    assert updated.description == "Research and forecasting"
    assert mlflow.get_workspace(name).description == "Research and forecasting"
    listed = [workspace.name for workspace in mlflow.list_workspaces()]
    assert {"default", name} <= set(listed)
    assert listed == sorted(listed)

    mlflow.set_workspace(name)
    experiment_id = mlflow.create_experiment("forecast")
    mlflow.set_workspace(None)
    assert error_of(lambda: mlflow.delete_workspace(name)) == (
        "INVALID_STATE",
        f"Cannot delete workspace '{name}': table 'experiments' still contains 1 resource(s). "
        "Remove or reassign them before deleting the workspace.",
    )
    mlflow.delete_workspace(name, mode="SET_DEFAULT")  # the experiment moves to `default`

    assert name not in [workspace.name for workspace in mlflow.list_workspaces()]
    assert client.get_experiment(experiment_id).name == "forecast"
    assert error_of(lambda: mlflow.get_workspace(name)) == ("RESOURCE_DOES_NOT_EXIST", f"Workspace '{name}' not found")


def test_an_empty_workspace_is_deleted_and_a_clash_with_default_is_refused(client: MlflowClient) -> None:
    empty, clashing = f"empty-{next_number()}", f"clash-{next_number()}"
    mlflow.create_workspace(empty)
    mlflow.create_workspace(clashing)
    mlflow.set_workspace(clashing)
    mlflow.create_experiment("Default")  # the default workspace has one of that name
    mlflow.set_workspace(None)

    mlflow.delete_workspace(empty)
    refused = error_of(lambda: mlflow.delete_workspace(clashing, mode="SET_DEFAULT"))

    assert empty not in [workspace.name for workspace in mlflow.list_workspaces()]
    assert refused == (
        "INVALID_STATE",
        f"Cannot reassign resources from workspace '{clashing}' to 'default': the following names already exist "
        "in the default workspace and would cause conflicts:\n  - experiments: 'Default'\n"
        "Rename or remove the conflicting resources before retrying.",
    )


def test_bad_workspace_names_and_reserved_operations_are_refused(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        unknown = http.get("/api/2.0/mlflow/experiments/search", headers={"X-MLFLOW-WORKSPACE": "nowhere"})
        malformed = http.post("/api/3.0/mlflow/workspaces", json={"name": "Team_A"})
        default_created = http.post("/api/3.0/mlflow/workspaces", json={"name": "default"})
        default_deleted = http.delete("/api/3.0/mlflow/workspaces/default")
        cascade = http.post("/api/3.0/mlflow/workspaces", json={"name": f"gone-{next_number()}"})
        cascaded = http.delete(f"/api/3.0/mlflow/workspaces/{cascade.json()['workspace']['name']}?mode=CASCADE")
        unknown_mode = http.delete("/api/3.0/mlflow/workspaces/anything?mode=PURGE")
        update_nothing = http.patch("/api/3.0/mlflow/workspaces/default", json={})
        server_info = http.get("/api/3.0/mlflow/server-info", headers={"X-MLFLOW-WORKSPACE": "nowhere"})

    def answer(response: httpx.Response) -> tuple[int, str, str]:
        return response.status_code, response.json()["error_code"], response.json()["message"]

    assert answer(unknown) == (404, "RESOURCE_DOES_NOT_EXIST", "Workspace 'nowhere' not found")
    assert answer(malformed) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Workspace name 'Team_A' must match the pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ "
        "(lowercase alphanumeric with optional internal hyphens).",
    )
    assert answer(default_created) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "The 'default' workspace is reserved and cannot be created",
    )
    assert answer(default_deleted) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "The 'default' workspace is reserved and cannot be deleted",
    )
    assert cascade.status_code == 201
    assert answer(cascaded) == (
        400,
        "FEATURE_DISABLED",
        "Workspace deletion mode CASCADE is not supported by this server: delete the workspace's experiments, "
        "registered models, evaluation datasets and webhooks, or move them to the default workspace with mode "
        "SET_DEFAULT.",
    )
    assert answer(unknown_mode) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid deletion mode 'PURGE'. Must be one of: SET_DEFAULT, CASCADE, RESTRICT",
    )
    assert answer(update_nothing) == (400, "INVALID_PARAMETER_VALUE", "Workspace update must have at least one key")
    assert server_info.json()["workspaces_enabled"] is True


def test_a_server_without_workspaces_refuses_a_request_that_names_one(server_url: str) -> None:
    with httpx.Client(base_url=server_url, timeout=30) as http:
        info = http.get("/api/3.0/mlflow/server-info").json()
        listed = http.get("/api/3.0/mlflow/workspaces")
        named = http.get("/api/2.0/mlflow/experiments/search", headers={"X-MLFLOW-WORKSPACE": "team-a"})
    mlflow.set_workspace("team-a")
    try:
        client_refusal = error_of(lambda: MlflowClient(server_url).search_experiments())
    finally:
        mlflow.set_workspace(None)

    assert info["workspaces_enabled"] is False
    disabled = "Workspace APIs are not available: workspaces are not enabled on this server"
    assert (listed.status_code, listed.json()) == (400, {"error_code": "FEATURE_DISABLED", "message": disabled})
    assert (named.status_code, named.json()) == (400, {"error_code": "FEATURE_DISABLED", "message": disabled})
    # The stock client reads server-info first and refuses by itself, before anything lands in the shared space.
    assert "the remote server does not support workspaces" in client_refusal[1]


def test_a_store_holding_other_workspaces_refuses_to_start_without_them(
    fresh_store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restarted without `--enable-workspaces`, the server would show every team's experiments as one team's: it
    stops at start with one line instead, as `mlflow server` does, and starts again once workspaces are back on."""
    artifacts = tmp_path / "mlartifacts"
    with runyard_server(fresh_store_uri, artifacts, "--enable-workspaces") as url:
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        mlflow.set_tracking_uri(url)
        mlflow.create_workspace("team-restart")
        mlflow.set_workspace("team-restart")
        MlflowClient(url).create_experiment("churn")
        mlflow.set_workspace(None)
        mlflow.set_tracking_uri(None)
    command = [sys.executable, "-m", "server", "server", "--backend-store-uri", fresh_store_uri]
    started = subprocess.run(
        [*command, "--artifacts-destination", str(artifacts), "--port", "9"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert started.returncode == 1
    assert started.stderr.strip().splitlines()[-1] == (
        "Error: Cannot disable workspaces because experiments exist outside the default workspace (for example, "
        "experiment 'churn' in workspace 'team-restart'). Start the server with --enable-workspaces "
        "(MLFLOW_ENABLE_WORKSPACES=true), or move them to 'default' first (delete their workspace with mode "
        "SET_DEFAULT)."
    )
    with runyard_server(fresh_store_uri, artifacts, "--enable-workspaces") as url:
        assert httpx.get(f"{url}/api/3.0/mlflow/workspaces/team-restart").status_code == 200
