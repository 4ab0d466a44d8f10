"""The tracking pages of the web UI in a real browser: experiment list, runs table, run page, artifact viewer."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.ui.conftest import Seeded

EXPERIMENT = "ui-mnist"


def test_the_experiment_list_shows_every_experiment(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/experiments")
    for name in seeded.experiments:
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Default", exact=True)).to_be_visible()


def test_the_runs_table_shows_the_runs_and_a_metric_column(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/experiments/{seeded.experiments[EXPERIMENT]}/runs")
    for i in range(2):
        expect(page.get_by_role("link", name=f"{EXPERIMENT}-run-{i}", exact=True)).to_be_visible()
    expect(page.get_by_text("ui-cifar-run-0")).to_have_count(0)
    page.get_by_role("button", name="Columns").click()  # metrics are listed but not shown until chosen
    page.get_by_role("dialog").get_by_text("loss", exact=True).click()
    page.keyboard.press("Escape")
    header = page.get_by_role("columnheader", name="loss").first
    header.scroll_into_view_if_needed()
    expect(header).to_be_in_viewport()
    grid = page.get_by_role("grid").first
    expect(grid.get_by_text("0.25", exact=True)).to_be_visible()  # run-0's last loss
    expect(grid.get_by_text("0.125", exact=True)).to_be_visible()  # run-1's last loss


def test_a_run_opened_from_the_table_shows_its_params_and_metrics(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/experiments/{seeded.experiments[EXPERIMENT]}/runs")
    page.get_by_role("link", name=f"{EXPERIMENT}-run-1", exact=True).click()
    expect(page).to_have_url(
        f"{seeded.url}/#/experiments/{seeded.experiments[EXPERIMENT]}/runs/{seeded.runs[f'{EXPERIMENT}-run-1']}"
    )
    expect(page.get_by_text("Parameters (2)")).to_be_visible()
    expect(page.get_by_role("cell", name="optimizer", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="adam", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="0.01", exact=True)).to_be_visible()
    expect(page.get_by_text("Metrics (1)")).to_be_visible()
    expect(page.get_by_role("cell", name="0.125", exact=True)).to_be_visible()
    expect(page.get_by_text(seeded.runs[f"{EXPERIMENT}-run-1"]).first).to_be_visible()


def test_an_artifact_opened_from_the_run_page_shows_its_text(page: Page, seeded: Seeded) -> None:
    run_id = seeded.runs[f"{EXPERIMENT}-run-0"]
    page.goto(f"{seeded.url}/#/experiments/{seeded.experiments[EXPERIMENT]}/runs/{run_id}")
    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_text("notes", exact=True).first.click()
    page.get_by_text("readme.txt", exact=True).first.click()
    expect(page.get_by_text(f"notes for {EXPERIMENT}-run-0")).to_be_visible()
