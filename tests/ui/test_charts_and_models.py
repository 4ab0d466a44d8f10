"""Metric charts over a 100,000-point metric, and the model registry pages, in a real browser."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric
from playwright.sync_api import Page, expect

POINTS = 100_000
SAMPLED = 320  # what the UI's chart asks the sampled history route for


@dataclass(frozen=True)
class Registry:
    url: str
    experiment_id: str
    run_id: str


@pytest.fixture(scope="module")
def registry(server: str) -> Registry:
    """A run with a 100,000-step metric, registered as version 1 of `ui-model` with the alias `champion`."""
    client = MlflowClient(server)
    experiment_id = client.create_experiment("ui-charts")
    run_id = client.create_run(experiment_id, run_name="long-run").info.run_id
    curve = [Metric("curve", math.sin(step / 5000), 1_700_000_000_000 + step, step) for step in range(POINTS)]
    client.log_batch(run_id, metrics=curve)  # the client sends it in batches of 1,000
    client.set_terminated(run_id)
    client.create_registered_model("ui-model", description="the model the UI tests look at")
    client.create_model_version("ui-model", f"runs:/{run_id}/model", run_id)
    client.set_registered_model_alias("ui-model", "champion", "1")
    return Registry(server, experiment_id, run_id)


def test_the_chart_of_a_100000_point_metric_renders_from_a_sample(page: Page, registry: Registry) -> None:
    with page.expect_response(lambda r: "metrics/get-history-bulk-interval" in r.url) as sampled:
        page.goto(f"{registry.url}/#/experiments/{registry.experiment_id}/runs/{registry.run_id}/model-metrics")
    response = sampled.value
    assert response.status == 200
    steps = [int(point["step"]) for point in response.json()["metrics"]]
    assert len(steps) <= SAMPLED
    assert (min(steps), max(steps)) == (0, POINTS - 1)  # the sample keeps both ends of the series
    chart = page.locator(".js-plotly-plot").first
    expect(chart.locator("path.js-line").first).to_be_visible()
    expect(chart.get_by_text("100k", exact=True)).to_be_visible()  # the step axis spans the whole run
    expect(page.get_by_text("long-run (curve)")).to_be_visible()


def test_the_registered_models_page_lists_the_model_with_its_alias(page: Page, registry: Registry) -> None:
    page.goto(f"{registry.url}/#/models")
    expect(page.get_by_role("link", name="ui-model", exact=True)).to_be_visible()
    expect(page.get_by_text("@ champion").first).to_be_visible()
    page.get_by_role("dialog").get_by_role("button", name="Close").click()  # the "new model registry UI" teaser
    page.get_by_role("link", name="ui-model", exact=True).click()
    expect(page.get_by_text("the model the UI tests look at")).to_be_visible()
    expect(page.get_by_role("link", name="Version 1", exact=True)).to_be_visible()
