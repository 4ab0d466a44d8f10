"""The model registry, prompts and webhooks of several teams on one Runyard started with `--enable-workspaces`,
through the stock client: each workspace has its own `ranker` with its own versions and aliases, `models:/` URIs
resolve within the caller's workspace, searches show only the caller's, and another team's model, prompt or webhook
is answered exactly as one that does not exist. A webhook hears only the registry events of its own workspace.
Deleting a workspace counts its registered models and webhooks, and moves them to `default` with SET_DEFAULT."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from tests.webhooks.conftest import WEBHOOK_ENV, Receiver
from tests.workspaces.conftest import error_of


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Webhooks may call the test's receiver on 127.0.0.1 over plain http."""
    return WEBHOOK_ENV


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _register_run_model(team: str, tmp_path: Path, name: str) -> str:
    """A run of the current workspace with a model folder (an MLmodel file and a weights file naming the team),
    registered as a new version of `name`; returns the version."""
    folder = tmp_path / team / "model"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "weights.txt").write_text(f"weights of {team}")
    mlflow.set_experiment("ranking")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), artifact_path="model")
    return mlflow.register_model(f"runs:/{run.info.run_id}/model", name).version


def test_the_same_model_name_in_two_workspaces_has_its_own_versions_and_aliases(
    client: MlflowClient, two_teams: tuple[str, str], tmp_path: Path
) -> None:
    mine, theirs = two_teams
    champions = {mine: "2", theirs: "1"}
    for team in two_teams:
        mlflow.set_workspace(team)
        client.create_registered_model("ranker", description=f"{team}'s ranker")
        versions = [_register_run_model(team, tmp_path, "ranker") for _ in range(int(champions[team]))]
        assert versions == [str(n) for n in range(1, int(champions[team]) + 1)]  # numbered per workspace
        client.set_registered_model_alias("ranker", "champion", champions[team])
    mlflow.set_workspace(theirs)
    client.create_registered_model("only-theirs")

    for team in two_teams:
        mlflow.set_workspace(team)
        assert client.get_registered_model("ranker").description == f"{team}'s ranker"
        assert client.get_model_version_by_alias("ranker", "champion").version == champions[team]
        downloaded = mlflow.artifacts.download_artifacts("models:/ranker@champion", dst_path=str(tmp_path / team))
        assert (Path(downloaded) / "weights.txt").read_text() == f"weights of {team}"

    mlflow.set_workspace(mine)
    assert [m.name for m in client.search_registered_models()] == ["ranker"]
    assert [(v.name, v.version) for v in client.search_model_versions()] == [("ranker", "2"), ("ranker", "1")]
    assert [v.version for v in client.search_model_versions("name = 'ranker'")] == ["2", "1"]
    # Another team's model reads as one that does not exist, whatever the call.
    assert error_of(lambda: client.get_registered_model("only-theirs")) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Registered Model with name=only-theirs not found",
    )
    assert error_of(lambda: client.delete_registered_model("only-theirs")) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Registered Model with name=only-theirs not found",
    )
    assert error_of(lambda: client.create_model_version("only-theirs", "s3://bucket/model")) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Registered Model with name=only-theirs not found",
    )

    mlflow.set_workspace(theirs)
    assert [m.name for m in client.search_registered_models()] == ["only-theirs", "ranker"]
    assert [(v.name, v.version) for v in client.search_model_versions()] == [("ranker", "1")]
    assert error_of(lambda: client.get_model_version("ranker", "2")) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Model Version (name=ranker, version=2) not found",
    )
    client.delete_registered_model("ranker")  # theirs only
    mlflow.set_workspace(mine)
    assert client.get_model_version_by_alias("ranker", "champion").version == "2"


def test_prompts_of_the_same_name_in_two_workspaces_are_independent(
    client: MlflowClient, two_teams: tuple[str, str]
) -> None:
    mine, theirs = two_teams
    for team in two_teams:
        mlflow.set_workspace(team)
        mlflow.genai.register_prompt(name="greeting", template=f"Hello from {team}, {{{{name}}}}!")
    mlflow.genai.register_prompt(name="greeting", template="Goodbye, {{name}}!")  # a second version, theirs
    mlflow.genai.set_prompt_alias("greeting", alias="production", version=2)
    mlflow.genai.register_prompt(name="farewell", template="Bye!")

    mlflow.set_workspace(mine)
    assert mlflow.genai.load_prompt("prompts:/greeting/1").template == f"Hello from {mine}, {{{{name}}}}!"
    assert [p.name for p in mlflow.genai.search_prompts()] == ["greeting"]
    assert error_of(lambda: mlflow.genai.load_prompt("prompts:/greeting/2")) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Prompt (name=greeting, version=2) not found",
    )
    assert mlflow.genai.load_prompt("prompts:/farewell/1", allow_missing=True) is None

    mlflow.set_workspace(theirs)
    assert mlflow.genai.load_prompt("prompts:/greeting@production").template == "Goodbye, {{name}}!"
    assert mlflow.genai.load_prompt("prompts:/greeting/1").template == f"Hello from {theirs}, {{{{name}}}}!"
    assert sorted(p.name for p in mlflow.genai.search_prompts()) == ["farewell", "greeting"]


def test_a_webhook_belongs_to_its_workspace_and_hears_only_its_events(
    client: MlflowClient, two_teams: tuple[str, str], receiver: Receiver
) -> None:
    mine, theirs = two_teams
    hooks = {}
    for team in two_teams:
        mlflow.set_workspace(team)
        hooks[team] = client.create_webhook(
            name="versions", url=f"{receiver.base_url}/{team}", events=["model_version.created"]
        ).webhook_id
        client.create_registered_model("ranker")

    mlflow.set_workspace(theirs)
    assert [hook.webhook_id for hook in client.list_webhooks()] == [hooks[theirs]]
    missing = ("RESOURCE_DOES_NOT_EXIST", f"Webhook with ID {hooks[mine]} not found.")
    assert error_of(lambda: client.get_webhook(hooks[mine])) == missing
    assert error_of(lambda: client.update_webhook(hooks[mine], description="taken over")) == missing
    assert error_of(lambda: client.test_webhook(hooks[mine])) == missing
    assert error_of(lambda: client.delete_webhook(hooks[mine])) == missing
    # Their version first: had it reached my webhook, it would arrive before mine, since a webhook's deliveries
    # go out in commit order.
    client.create_model_version("ranker", f"s3://bucket/{theirs}")
    mlflow.set_workspace(mine)
    client.create_model_version("ranker", f"s3://bucket/{mine}")

    mine_got = receiver.wait_for(f"/{mine}", lambda found: len(found) >= 1)
    theirs_got = receiver.wait_for(f"/{theirs}", lambda found: len(found) >= 1)
    for team, got in ((mine, mine_got), (theirs, theirs_got)):
        assert [(b["data"]["source"], b["workspace"]) for b in map(json.loads, (r.body for r in got))] == [
            (f"s3://bucket/{team}", team)
        ]
    assert client.get_webhook(hooks[mine]).description is None  # untouched by the other team's update


def test_deleting_a_workspace_counts_and_moves_its_registry(client: MlflowClient, two_teams: tuple[str, str]) -> None:
    team, clashing = two_teams
    mlflow.set_workspace(team)
    client.create_registered_model("scorer")
    hook = client.create_webhook(name="hook", url="https://hooks.example.com/team", events=["prompt.created"])
    mlflow.set_workspace(None)

    assert error_of(lambda: mlflow.delete_workspace(team)) == (
        "INVALID_STATE",
        f"Cannot delete workspace '{team}': table 'registered_models' still contains 1 resource(s). "
        "Remove or reassign them before deleting the workspace.",
    )
    mlflow.set_workspace(team)
    client.delete_registered_model("scorer")
    mlflow.set_workspace(None)
    assert error_of(lambda: mlflow.delete_workspace(team)) == (
        "INVALID_STATE",
        f"Cannot delete workspace '{team}': table 'webhooks' still contains 1 resource(s). "
        "Remove or reassign them before deleting the workspace.",
    )
    mlflow.set_workspace(team)
    client.delete_webhook(hook.webhook_id)
    mlflow.set_workspace(None)
    mlflow.delete_workspace(team)  # a deleted webhook does not hold it back

    client.create_registered_model(f"shared-{clashing}")  # in `default`
    mlflow.set_workspace(clashing)
    client.create_registered_model(f"shared-{clashing}")
    client.create_model_version(f"shared-{clashing}", "s3://bucket/shared")
    client.create_registered_model(f"own-{clashing}")
    client.create_model_version(f"own-{clashing}", "s3://bucket/own")
    mlflow.create_experiment("Default")  # the default workspace has one of that name
    mlflow.set_workspace(None)
    assert error_of(lambda: mlflow.delete_workspace(clashing, mode="SET_DEFAULT")) == (
        "INVALID_STATE",
        f"Cannot reassign resources from workspace '{clashing}' to 'default': the following names already exist "
        f"in the default workspace and would cause conflicts:\n  - registered_models: 'shared-{clashing}'\n"
        "  - experiments: 'Default'\nRename or remove the conflicting resources before retrying.",
    )
    client.delete_registered_model(f"shared-{clashing}")  # the default workspace's
    mlflow.set_workspace(clashing)
    client.rename_experiment(client.get_experiment_by_name("Default").experiment_id, f"renamed-{clashing}")
    mlflow.set_workspace(None)
    mlflow.delete_workspace(clashing, mode="SET_DEFAULT")

    moved = [client.get_model_version(f"{prefix}-{clashing}", "1").source for prefix in ("shared", "own")]
    assert moved == ["s3://bucket/shared", "s3://bucket/own"]
