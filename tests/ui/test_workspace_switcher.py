"""MLflow's web UI on a Runyard started with `--enable-workspaces`, in a real browser: the home page lists the
workspaces, and the sidebar's switcher moves between them, each showing only its own experiments; Runyard's Jobs
page follows the switcher and lists only the chosen workspace's jobs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from playwright.sync_api import Page, expect

from server.jobspec.projects import pack_directory
from server.jobspec.schemas import JobSpec
from server.worker.client import JobClient
from tests.support.processes import runyard_server

TEAMS = ("team-a", "team-b")
PROJECT = Path(__file__).parents[1] / "jobs" / "projects" / "basic"


@dataclass(frozen=True)
class Teams:
    url: str
    jobs: dict[str, str]  # team -> the id of its queued job


@pytest.fixture(scope="module")
def teams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Teams]:
    """Two workspaces, each with an experiment named after it and a job queued in it (no worker takes it)."""
    base: Path = tmp_path_factory.mktemp("ui-workspaces")
    archive = base / "project.tar.gz"
    pack_directory(PROJECT, archive)
    jobs: dict[str, str] = {}
    with runyard_server(f"sqlite:///{base / 'runyard.db'}", base / "mlartifacts", "--enable-workspaces") as url:
        mlflow.set_tracking_uri(url)
        try:
            for team in TEAMS:
                mlflow.create_workspace(team, description=f"The {team} models")
                mlflow.set_workspace(team)
                experiment_id = mlflow.create_experiment(f"churn-{team}")
                with JobClient(url, workspace=team) as client:
                    spec = JobSpec.model_validate({"experiment_id": experiment_id, "run_name": f"nightly-{team}"})
                    jobs[team] = client.submit_archive(spec, archive).job_id
        finally:
            mlflow.set_workspace(None)
            mlflow.set_tracking_uri(None)
        yield Teams(url, jobs)


@pytest.fixture(scope="module")
def server(teams: Teams) -> str:
    return teams.url


def test_the_switcher_moves_between_workspaces_and_each_shows_its_own_experiments(page: Page, server: str) -> None:
    page.goto(server)
    expect(page.get_by_role("link", name="team-b", exact=True)).to_be_visible()
    expect(page.get_by_text("The team-a models")).to_be_visible()

    page.get_by_role("link", name="team-a", exact=True).click()
    expect(page.get_by_role("link", name="churn-team-a")).to_be_visible()
    expect(page.get_by_role("link", name="churn-team-b")).to_have_count(0)

    page.get_by_text("team-a", exact=True).first.click()  # the sidebar's switcher
    page.get_by_text("team-b", exact=True).last.click()
    expect(page.get_by_role("link", name="churn-team-b")).to_be_visible()
    expect(page.get_by_role("link", name="churn-team-a")).to_have_count(0)
    assert page.url.endswith("workspace=team-b")


def test_the_jobs_page_lists_the_jobs_of_the_workspace_chosen_in_the_switcher(page: Page, teams: Teams) -> None:
    page.goto(teams.url)
    page.get_by_role("link", name="team-b", exact=True).click()
    expect(page.get_by_role("link", name="churn-team-b")).to_be_visible()

    page.goto(f"{teams.url}/runyard/jobs")

    expect(page.locator(f'tr[data-job-id="{teams.jobs["team-b"]}"]')).to_contain_text("nightly-team-b")
    expect(page.locator("tbody tr")).to_have_count(1)
