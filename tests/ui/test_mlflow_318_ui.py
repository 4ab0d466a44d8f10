"""MLflow 3.18's web UI in a real browser: `runyard server` from a venv with the full `mlflow` 3.18 wheel and
Runyard's `ui` extra (the venv of tests/compat/test_beside_mlflow_318.py) serves that wheel's UI, seeded by the 3.18
client of the same venv. Every top-level page of the UI, and each page of an experiment, a run, a logged model, a
registered model, a prompt, a trace, a skill and an MCP server, opens without an error on the page and without any
call of it to the tracking API answered 404 or 5xx: the calls a newer UI adds are ones Runyard must answer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from tests.auth.conftest import ADMIN
from tests.support import venvs
from tests.support.processes import installed_runyard_server
from tests.ui.conftest import covered_sidebar_items, signed_in

MLFLOW = "3.18.0"
# Without --auth MLflow has no users/current route either: its 404 is how the UI learns that nobody signs in.
EXPECTED_FAILURES = {"404 GET /ajax-api/2.0/mlflow/users/current"}
# What MLflow's UI shows when a call fails (the tracking server's own 404 text) or a page crashes.
ERROR_TEXTS = ("No such endpoint", "Something went wrong")

EXPERIMENT = "ui-318"
RUN = "ui-318-run"
LOGGED_MODEL = "ui-318-classifier"
REGISTERED_MODEL = "ui-318-model"
PROMPT = "ui-318-prompt"
SKILL = "ui-318-skill"
MCP_SERVER = "io.example.ui318/weather"

SEED = f"""
import json, sys
import mlflow
from mlflow import MlflowClient
from mlflow.entities.skill_source import GitSource


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return model_input


url = sys.argv[1]
mlflow.set_tracking_uri(url)
mlflow.set_registry_uri(url)
client = MlflowClient(url)
experiment_id = client.create_experiment("{EXPERIMENT}")
mlflow.set_experiment(experiment_id=experiment_id)
with mlflow.start_run(run_name="{RUN}") as run:
    mlflow.log_param("lr", "0.1")
    for step, loss in enumerate([1.0, 0.5, 0.25]):
        mlflow.log_metric("loss", loss, step=step)
    mlflow.log_text("notes\\n", "notes/readme.txt")
    # Its requirements are given: inferring them would load the model in a subprocess, slowly.
    model = mlflow.pyfunc.log_model(name="{LOGGED_MODEL}", python_model=Echo(), pip_requirements=["mlflow"])
    with mlflow.start_span("answer") as span:
        span.set_inputs({{"question": "What is the capital of France?"}})
        span.set_outputs({{"answer": "Paris"}})
mlflow.register_model(model.model_uri, "{REGISTERED_MODEL}")
mlflow.genai.register_prompt("{PROMPT}", "Answer {{{{question}}}} in one word.")
client.create_skill(name="{SKILL}", description="Reviews pull requests")
client.create_skill_version(name="{SKILL}", source=GitSource(url="https://github.com/acme/skills.git", ref="v1"))
mlflow.genai.register_mcp_server(
    server_json={{"name": "{MCP_SERVER}", "version": "1.0.0", "description": "Forecasts the weather"}},
    status="active",
    tools=[],
)
print(json.dumps({{"experiment_id": experiment_id, "run_id": run.info.run_id, "model_id": model.model_id,
                  "trace_id": span.trace_id}}))
"""


@dataclass(frozen=True)
class Seeded:
    url: str
    experiment_id: str
    run_id: str
    model_id: str
    trace_id: str


@pytest.fixture(scope="module")
def python() -> Path:
    return venvs.runyard_beside_mlflow(MLFLOW)


@pytest.fixture(scope="module")
def server(python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with installed_runyard_server(python, tmp_path_factory.mktemp("ui-318-server")) as url:
        yield url


@pytest.fixture(scope="module")
def seeded(python: Path, server: str) -> Seeded:
    seeds = venvs.client_report(
        python,
        "-c",
        SEED,
        server,
        cwd=python.parents[1],  # not this checkout, whose `server` package would come first
        MLFLOW_ENABLE_ASYNC_TRACE_LOGGING="false",
    )
    return Seeded(server, **seeds)


# Each page of the UI (its hash route, with the seeded ids filled in) and a text it shows once its data came.
PAGES = {
    "experiments": ("#/experiments", EXPERIMENT),
    "experiment-runs": ("#/experiments/{experiment_id}/runs", RUN),
    "run": ("#/experiments/{experiment_id}/runs/{run_id}", RUN),
    "run-artifacts": ("#/experiments/{experiment_id}/runs/{run_id}/artifacts", "notes"),
    "run-traces": ("#/experiments/{experiment_id}/runs/{run_id}/traces", "answer"),
    "experiment-models": ("#/experiments/{experiment_id}/models", LOGGED_MODEL),
    "logged-model": ("#/experiments/{experiment_id}/models/{model_id}", LOGGED_MODEL),
    "experiment-overview": ("#/experiments/{experiment_id}/overview", EXPERIMENT),
    "experiment-traces": ("#/experiments/{experiment_id}/traces", "answer"),
    "trace": ("#/experiments/{experiment_id}/traces/{trace_id}", "answer"),
    "experiment-dashboard": ("#/experiments/{experiment_id}/dashboard/usage", EXPERIMENT),
    "experiment-chat-sessions": ("#/experiments/{experiment_id}/chat-sessions", EXPERIMENT),
    "experiment-datasets": ("#/experiments/{experiment_id}/datasets", EXPERIMENT),
    "experiment-evaluation-runs": ("#/experiments/{experiment_id}/evaluation-runs", EXPERIMENT),
    "experiment-judges": ("#/experiments/{experiment_id}/judges", EXPERIMENT),
    "experiment-issues": ("#/experiments/{experiment_id}/issues", EXPERIMENT),
    "experiment-prompts": ("#/experiments/{experiment_id}/prompts", EXPERIMENT),
    "experiment-review-queue": ("#/experiments/{experiment_id}/review-queue", EXPERIMENT),
    "experiment-playground": ("#/experiments/{experiment_id}/playground", "Select an endpoint"),
    "models": ("#/models", REGISTERED_MODEL),
    "registered-model": (f"#/models/{REGISTERED_MODEL}", REGISTERED_MODEL),
    "model-version": (f"#/models/{REGISTERED_MODEL}/versions/1", REGISTERED_MODEL),
    "prompts": ("#/prompts", PROMPT),
    "prompt": (f"#/prompts/{PROMPT}", PROMPT),
    "skills": ("#/skills", SKILL),
    "skill": (f"#/skills/{SKILL}", SKILL),
    "mcp-registry": ("#/mcp-registry", MCP_SERVER),
    "mcp-server": (f"#/mcp-registry/{quote(MCP_SERVER, safe='')}", MCP_SERVER),
    "settings": ("#/settings", "Settings"),
    "webhooks": ("#/settings/webhooks", "Webhooks"),
    "gateway": ("#/gateway", "Gateway"),
}


def is_api(url: str) -> bool:
    return urlsplit(url).path.startswith(("/ajax-api/", "/api/"))


def failed_api_calls(page: Page, requests: list[Request]) -> list[str]:
    """The page's calls to the tracking API answered 404 or 5xx, each with what the server said. Waits for every
    call's answer, including the calls that the answers lead the page to make."""
    failed = []
    waited = 0
    while waited < len(requests):  # grows while we wait: the page's events arrive during `response()`
        request = requests[waited]
        waited += 1
        response = request.response()
        if response is None:
            failed.append(f"no answer to {request.method} {urlsplit(request.url).path}: {request.failure}")
        elif response.status == 404 or response.status >= 500:
            call = f"{response.status} {request.method} {urlsplit(request.url).path}"
            if call not in EXPECTED_FAILURES:
                failed.append(f"{call}: {response.text()[:300]}")
    return failed


@pytest.mark.parametrize("name", PAGES)
def test_the_318_page_opens_without_errors(page: Page, seeded: Seeded, name: str) -> None:
    route, shown = PAGES[name]
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request) if is_api(request.url) else None)
    page.goto(f"{seeded.url}/{route.format(**vars(seeded))}")
    expect(page.get_by_text(shown).first).to_be_visible()
    assert failed_api_calls(page, requests) == []
    for text in ERROR_TEXTS:
        expect(page.get_by_text(text)).to_have_count(0)


@pytest.mark.parametrize("height", [600, 900])
def test_the_jobs_link_covers_nothing_of_the_318_sidebar(page: Page, seeded: Seeded, height: int) -> None:
    """On the Skills page the sidebar opens the AI Registry's sub-pages; on a short screen they reach below its
    middle, and the Jobs link must still sit above the bottom links (docs, settings), not over them."""
    page.set_viewport_size({"width": 1280, "height": height})
    page.goto(f"{seeded.url}/#/skills")
    expect(page.get_by_text(SKILL).first).to_be_visible()
    expect(page.get_by_role("navigation", name="Runyard").get_by_role("link", name="Jobs")).to_be_visible()
    assert covered_sidebar_items(page) == []


@pytest.fixture(scope="module")
def server_with_auth(python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"RUNYARD_ADMIN_USERNAME": ADMIN[0], "RUNYARD_ADMIN_PASSWORD": ADMIN[1]}
    with installed_runyard_server(python, tmp_path_factory.mktemp("ui-318-auth"), "--auth", env=env) as url:
        yield url


def test_the_318_admin_page_opens_for_a_signed_in_administrator(
    browser: Browser, server_with_auth: str, screenshots: Path
) -> None:
    """The admin page exists only with --auth (on `mlflow server` as well): its user and role calls must all be
    answered, and the Jobs link must cover nothing of the signed-in sidebar."""
    page = signed_in(browser, ADMIN)
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request) if is_api(request.url) else None)
    page.goto(f"{server_with_auth}/#/admin")
    expect(page.get_by_role("table").get_by_role("link", name=ADMIN[0], exact=True)).to_be_visible()
    assert failed_api_calls(page, requests) == []
    for text in ERROR_TEXTS:
        expect(page.get_by_text(text)).to_have_count(0)
    expect(page.get_by_role("navigation", name="Runyard").get_by_role("link", name="Jobs")).to_be_visible()
    assert covered_sidebar_items(page) == []
    page.screenshot(path=str(screenshots / "test_mlflow_318_ui-admin.png"))
    page.context.close()
