"""The web UI's Traces tab on real traces in a real browser: the list with each trace's request and response, and a
trace opened to its span tree and a span's inputs and outputs."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import mlflow
import pytest
from playwright.sync_api import Page, Response, expect

# Without --auth nobody is signed in, which the UI asks once (MLflow's server answers the same).
EXPECTED_FAILURES = {"404 GET /ajax-api/2.0/mlflow/users/current"}


@pytest.fixture(scope="module")
def traced_experiment(server: str) -> Iterator[str]:
    mlflow.set_tracking_uri(server)
    experiment_id = mlflow.set_experiment("ui-traces").experiment_id

    @mlflow.trace(span_type="RETRIEVER")
    def retrieve(query: str) -> list[str]:
        return [f"doc about {query}"]

    @mlflow.trace(name="answer", span_type="CHAIN")
    def answer(query: str) -> str:
        return f"{query}: {retrieve(query)[0]}"

    for query in ("tides", "moons"):
        answer(query)
    mlflow.flush_trace_async_logging(terminate=False)
    yield experiment_id
    mlflow.set_tracking_uri(None)


def test_the_traces_tab_lists_traces_and_opens_one_to_its_spans(
    page: Page, server: str, traced_experiment: str
) -> None:
    failed: set[str] = set()

    def record(response: Response) -> None:
        if response.status >= 400:
            failed.add(f"{response.status} {response.request.method} {urlsplit(response.url).path}")

    page.on("response", record)
    page.goto(f"{server}/#/experiments/{traced_experiment}/traces")
    expect(page.get_by_text('"tides: doc about tides"')).to_be_visible()
    expect(page.get_by_text('"moons: doc about moons"')).to_be_visible()
    expect(page.get_by_text("2 of 2")).to_be_visible()

    page.get_by_text('{"query": "tides"}').click()
    drawer = page.get_by_role("dialog")
    expect(drawer.get_by_text("Spans", exact=True)).to_be_visible()
    expect(drawer.get_by_text("answer", exact=True).first).to_be_visible()
    expect(drawer.get_by_text("retrieve", exact=True).first).to_be_visible()
    expect(drawer.get_by_text("Success", exact=True)).to_be_visible()
    expect(drawer.get_by_text("tides: doc about tides", exact=True)).to_be_visible()  # the root span's output

    drawer.get_by_text("retrieve", exact=True).first.click()
    expect(drawer.get_by_text("doc about tides", exact=True)).to_be_visible()  # the retriever's document
    assert failed <= EXPECTED_FAILURES, f"the UI got errors: {sorted(failed - EXPECTED_FAILURES)}"
