"""A real server seeded through the stock client, and a real headless Chromium (the Debian package, driven by
Playwright) that may reach nothing but loopback. One of each per module keeps the suite fast."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from playwright.sync_api import Browser, HttpCredentials, Page, Playwright, Response, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.support.processes import runyard_server

CHROMIUM_ENV = "RUNYARD_TEST_CHROMIUM"
TIMEOUT_MS = 15_000
# Assertions wait as long as actions do: the suite runs two files at once, and MLflow's bundle is heavy to load.
expect.set_options(timeout=TIMEOUT_MS)


def chromium_path() -> str:
    """The system Chromium; browsers cannot be downloaded here, so `playwright install` is never used."""
    found = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError(
            f"Chromium is not installed: the UI tests need the Debian package 'chromium' (or set {CHROMIUM_ENV}). "
            "`make test` installs it."
        )
    return found


@dataclass
class Seeded:
    """What the tests put in the server, to assert on what the browser shows."""

    url: str
    experiments: dict[str, str] = field(default_factory=dict)  # name -> id
    runs: dict[str, str] = field(default_factory=dict)  # name -> run id


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_path(),
        # Root in a container has no user namespaces for the sandbox; every name but loopback fails to resolve.
        args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"],
    )
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("ui-server")
    with runyard_server(f"sqlite:///{base / 'runyard.db'}", base / "mlartifacts") as url:
        yield url


def seed_run(client: MlflowClient, experiment_id: str, name: str, *, lr: float, losses: list[float]) -> str:
    run = client.create_run(experiment_id, run_name=name)
    run_id = run.info.run_id
    metrics = [Metric("loss", value, 1_700_000_000_000 + step, step) for step, value in enumerate(losses)]
    params = [Param("lr", str(lr)), Param("optimizer", "adam")]
    client.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag("team", "vision")])
    client.log_text(run_id, f"notes for {name}\n", "notes/readme.txt")
    client.set_terminated(run_id)
    return run_id


@pytest.fixture(scope="module")
def seeded(server: str, monkeypatch_module: pytest.MonkeyPatch) -> Seeded:
    monkeypatch_module.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = MlflowClient(server)
    seeded = Seeded(server)
    for name in ("ui-mnist", "ui-cifar"):
        experiment_id = client.create_experiment(name)
        seeded.experiments[name] = experiment_id
        for i, lr in enumerate((0.1, 0.01)):
            run_name = f"{name}-run-{i}"
            seeded.runs[run_name] = seed_run(client, experiment_id, run_name, lr=lr, losses=[1.0, 0.5, 0.25 / (i + 1)])
    return seeded


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="session")
def screenshots(request: pytest.FixtureRequest) -> Path:
    """`test-output/ui/` in the checkout: kept after the run, for a person or CI to look at."""
    folder = request.config.rootpath / "test-output" / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def signed_in(browser: Browser, user: tuple[str, str]) -> Page:
    """A page whose browser answers the server's sign-in prompt with `user`'s name and password (HTTP Basic)."""
    credentials: HttpCredentials = {"username": user[0], "password": user[1]}
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, http_credentials=credentials)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


@pytest.fixture
def page(browser: Browser, screenshots: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context per test; a screenshot at the end, and no server error along the way."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    server_errors: list[str] = []

    def on_response(response: Response) -> None:
        if response.status >= 500:
            server_errors.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", on_response)
    yield page
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    page.screenshot(path=str(screenshots / f"{request.module.__name__.rsplit('.', 1)[-1]}-{name}.png"))
    context.close()
    assert not server_errors, f"the server failed requests: {server_errors}"


# The sidebar's links and buttons that the Runyard box overlaps, by their text or label.
_COVERED_SIDEBAR_ITEMS = """() => {
  const box = document.getElementById("runyard-nav").getBoundingClientRect();
  return [...document.querySelectorAll("aside a, aside button")]
    .filter((item) => {
      const r = item.getBoundingClientRect();
      return r.height > 0 && r.left < box.right && box.left < r.right && r.top < box.bottom && box.top < r.bottom;
    })
    .map((item) => item.innerText || item.getAttribute("aria-label"));
}"""


def covered_sidebar_items(page: Page) -> list[str]:
    """What of MLflow's sidebar the Jobs box covers, once it has placed itself (a moment after the sidebar renders:
    waited for, not slept); [] when it covers nothing."""
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(f"() => ({_COVERED_SIDEBAR_ITEMS})().length === 0", timeout=TIMEOUT_MS)
    covered: list[str] = page.evaluate(_COVERED_SIDEBAR_ITEMS)
    return covered
