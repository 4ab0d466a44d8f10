"""The web UI's Traces tab on real traces in a real browser: the list with each trace's request and response, and a
trace opened to its span tree and a span's inputs and outputs."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource
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
    page.get_by_role("button", name="Got it").click()  # a new browser is first shown where "Detect issues" is
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


def test_an_assessment_is_shown_and_another_added_from_the_trace_page(
    page: Page, server: str, traced_experiment: str
) -> None:
    mlflow.set_tracking_uri(server)  # reset after every test
    client = MlflowClient(server)
    [trace] = client.search_traces(locations=[traced_experiment], filter_string="trace.name = 'answer'", max_results=1)
    trace_id = trace.info.trace_id
    source = AssessmentSource(source_type="HUMAN", source_id="ada")
    mlflow.log_feedback(trace_id=trace_id, name="relevance", value=True, source=source, rationale="on topic")

    page.goto(f"{server}/#/experiments/{traced_experiment}/traces")
    page.get_by_role("button", name="Got it").click()  # the tip would open under the trace's drawer
    page.goto(f"{server}/#/experiments/{traced_experiment}/traces?selectedEvaluationId={trace_id}")
    drawer = page.get_by_role("dialog")
    drawer.get_by_role("button", name="Assess").first.click()
    expect(drawer.get_by_text("Feedback (1)")).to_be_visible()
    expect(drawer.get_by_text("relevance", exact=True)).to_be_visible()

    drawer.get_by_role("button", name="Add feedback").click()
    page.get_by_role("menuitem", name="Human feedback").click()
    drawer.get_by_role("textbox", name="Enter a feedback name").fill("clarity")
    drawer.get_by_role("radiogroup").get_by_text("False", exact=True).click()  # the label: the input is drawn hidden
    with page.expect_response(lambda response: "/assessments" in response.url and response.request.method == "POST"):
        drawer.get_by_role("button", name="Create").click()
    expect(drawer.get_by_text("Feedback (2)")).to_be_visible()

    stored = {a.name: a for a in client.get_trace(trace_id).info.assessments}
    assert stored["clarity"].value is False
    assert stored["clarity"].source.source_type == "HUMAN"
    assert stored["relevance"].rationale == "on topic"
