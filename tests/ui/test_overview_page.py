"""The web UI's experiment Overview on real traces in a real browser: the Usage tab's trace, latency, error and token
charts and the Tool calls tab's summary are drawn from QueryTraceMetrics, and no request fails on the way."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import mlflow
import pytest
from playwright.sync_api import Page, Response, expect

# Without --auth nobody is signed in, which the UI asks once (MLflow's server answers the same).
EXPECTED_FAILURES = {"404 GET /ajax-api/2.0/mlflow/users/current"}
CITIES = ("Oslo", "Lima", "Pune", "nowhere")  # the last one's tool call fails, and with it its trace
INPUT_TOKENS, OUTPUT_TOKENS = 12, 3  # each call's planning step


@pytest.fixture(scope="module")
def traced_experiment(server: str) -> Iterator[str]:
    mlflow.set_tracking_uri(server)
    experiment_id = mlflow.set_experiment("ui-overview").experiment_id

    @mlflow.trace(span_type="TOOL")
    def weather(city: str) -> str:
        if city == "nowhere":
            raise ValueError("no such city")
        return f"sunny in {city}"

    @mlflow.trace(span_type="LLM")
    def plan(city: str) -> str:
        usage = {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS}
        span = mlflow.get_current_active_span()
        assert span is not None
        span.set_attribute("mlflow.chat.tokenUsage", {**usage, "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS})
        return f"look up {city}"

    @mlflow.trace(name="agent", span_type="AGENT")
    def agent(city: str) -> str:
        plan(city)
        return weather(city)

    for city in CITIES:
        try:
            agent(city)
        except ValueError:
            pass
    mlflow.flush_trace_async_logging(terminate=False)
    yield experiment_id
    mlflow.set_tracking_uri(None)


def test_the_overview_draws_its_charts_from_the_traces(page: Page, server: str, traced_experiment: str) -> None:
    failed: set[str] = set()
    answered: list[dict[str, object]] = []

    def record(response: Response) -> None:
        if response.status >= 400:
            failed.add(f"{response.status} {response.request.method} {urlsplit(response.url).path}")
        elif urlsplit(response.url).path.endswith("/traces/metrics"):
            answered.append(response.json())

    page.on("response", record)
    overview = f"{server}/#/experiments/{traced_experiment}/overview"
    page.goto(f"{overview}/usage")
    expect(page.get_by_text("(Overall error rate: 25.0%)")).to_be_visible()  # 1 of the 4 traces failed
    expect(page.locator(".recharts-bar-rectangle path").first).to_be_visible()  # traces per day, errors per day
    expect(page.locator(".recharts-line").first).to_be_visible()  # latency percentiles, error rate
    calls = len(CITIES)
    usage = f"{calls * (INPUT_TOKENS + OUTPUT_TOKENS)} ({calls * INPUT_TOKENS} input, {calls * OUTPUT_TOKENS} output)"
    expect(page.get_by_text("Token Usage").locator("..").locator("..")).to_contain_text(usage)
    assert any("data_points" in answer for answer in answered)

    page.goto(f"{overview}/tool-calls")
    expect(page.get_by_text("Total Tool Calls").locator("..")).to_contain_text(str(len(CITIES)))
    expect(page.get_by_text("Failed Calls").locator("..")).to_contain_text("1")
    expect(page.get_by_text("75.00%").first).to_be_visible()  # the success rate
    expect(page.get_by_text("weather", exact=True).first).to_be_visible()  # the tool's row in the summary
    expect(page.locator(".recharts-bar-rectangle path").first).to_be_visible()  # tool calls per day
    assert failed <= EXPECTED_FAILURES, f"the UI got errors: {sorted(failed - EXPECTED_FAILURES)}"
