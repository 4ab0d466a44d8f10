"""MLflow's web UI on a Runyard started with `--enable-workspaces`, in a real browser: the home page lists the
workspaces, and the sidebar's switcher moves between them, each showing only its own experiments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from playwright.sync_api import Page, expect

from tests.support.processes import runyard_server

TEAMS = ("team-a", "team-b")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two workspaces, each with an experiment named after it (and a run, so each list has something to open)."""
    base: Path = tmp_path_factory.mktemp("ui-workspaces")
    with runyard_server(f"sqlite:///{base / 'runyard.db'}", base / "mlartifacts", "--enable-workspaces") as url:
        mlflow.set_tracking_uri(url)
        try:
            for team in TEAMS:
                mlflow.create_workspace(team, description=f"The {team} models")
                mlflow.set_workspace(team)
                mlflow.create_experiment(f"churn-{team}")
        finally:
            mlflow.set_workspace(None)
            mlflow.set_tracking_uri(None)
        yield url


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
