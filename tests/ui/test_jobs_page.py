"""Runyard's Jobs pages in a real browser: the queue with each job's backend and status, filtering, a job's live
log, the cancel button, and the links between a job and its MLflow run. One `runyard worker` with a single slot
runs the jobs, so a long job keeps the next one queued while the test looks at both."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest
from mlflow import MlflowClient
from playwright.sync_api import Browser, Locator, Page, expect

from server.jobspec.projects import pack_directory
from server.jobspec.schemas import JobSpec, JobStatus, JobView
from server.worker.client import JobClient
from tests.auth.conftest import ADMIN, AuthServer
from tests.jobs.conftest import wait_for
from tests.support.processes import runyard_server, runyard_worker
from tests.ui.conftest import signed_in

TICKER = Path(__file__).parent / "projects" / "ticker"
SUBMITTER = "grace"
JOB_ENV = {"RUNYARD_JOB_LEASE_SECONDS": "60", "RUNYARD_JOB_REAP_INTERVAL_SECONDS": "0.5"}  # workers stay alive


def whole_line(text: str) -> re.Pattern[str]:
    """A log line that is exactly `text`: "tick 5" must not be satisfied by "tick 50"."""
    return re.compile(rf"^{re.escape(text)}$", re.MULTILINE)


@dataclass(frozen=True)
class Queue:
    url: str
    experiment_id: str
    succeeded: JobView
    failed: JobView
    running: JobView
    queued: JobView
    azure: JobView
    genai_job_id: str  # one of MLflow's GenAI jobs, queued behind the running ticker


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Queue]:
    """A finished, a failed, a running, a queued local job, and an Azure ML job no worker takes."""
    base = tmp_path_factory.mktemp("ui-jobs")
    archive = base / "ticker.tar.gz"
    pack_directory(TICKER, archive)
    with (
        runyard_server(f"sqlite:///{base / 'db.sqlite'}", base / "mlartifacts", env=JOB_ENV) as url,
        runyard_worker(url, base, "--concurrency", "1", "--cancel-grace", "3"),
        JobClient(url) as client,
    ):
        experiment_id = MlflowClient(url).create_experiment("ui-jobs")

        def submit(run_name: str, ticks: int, exit_code: int = 0, **extra: object) -> JobView:
            spec = JobSpec.model_validate(
                {
                    "experiment_id": experiment_id,
                    "run_name": run_name,
                    "tags": {"mlflow.user": SUBMITTER},
                    "parameters": {"ticks": ticks, "exit_code": exit_code},
                    **extra,
                }
            )
            return client.submit_archive(spec, archive)

        succeeded = wait_for(client, submit("short-ticker", 3).job_id)
        failed = wait_for(client, submit("failing-ticker", 1, exit_code=3).job_id)
        long_ticker = submit("long-ticker", 3000).job_id
        running = wait_for(client, long_ticker, until=lambda job: job.status == JobStatus.RUNNING)
        queued = submit("waiting-ticker", 2)
        azure = submit("azure-ticker", 2, backend="azureml", backend_config={"COMPUTE": "cpu-cluster"})
        scorer_job = {"experiment_id": experiment_id, "serialized_scorer": "{}", "trace_ids": ["tr-1"]}
        genai = httpx.post(f"{url}/ajax-api/3.0/jobs/", json={"job_name": "invoke_scorer", "params": scorer_job})
        assert genai.status_code == 200, genai.text
        assert (succeeded.status, failed.status) == (JobStatus.SUCCEEDED, JobStatus.FAILED)
        yield Queue(url, experiment_id, succeeded, failed, running, queued, azure, genai.json()["job_id"])


def row(page: Page, job: JobView) -> Locator:
    return page.locator(f'tr[data-job-id="{job.job_id}"]')


def test_the_jobs_page_lists_each_job_with_its_backend_and_status(page: Page, queue: Queue) -> None:
    page.goto(f"{queue.url}/runyard/jobs")
    expected = [
        (queue.succeeded, "Succeeded", "Local"),
        (queue.failed, "Failed", "Local"),
        (queue.running, "Running", "Local"),
        (queue.queued, "Queued", "Local"),
        (queue.azure, "Queued", "Azure ML · cpu-cluster"),
    ]
    for job, status, backend in expected:
        line = row(page, job)
        expect(line.locator(".status")).to_have_text(status)
        expect(line).to_contain_text(backend)
        expect(line).to_contain_text("ui-jobs")
        expect(line).to_contain_text(SUBMITTER)
        run = line.get_by_role("link", name=job.run_name or "", exact=True)
        expect(run).to_have_attribute("href", f"/#/experiments/{queue.experiment_id}/runs/{job.run_id}")
    expect(row(page, queue.running).get_by_role("button", name="Cancel")).to_be_visible()
    expect(row(page, queue.succeeded).get_by_role("button", name="Cancel")).to_be_hidden()


def test_a_genai_job_is_listed_beside_the_projects_and_shows_its_arguments(page: Page, queue: Queue) -> None:
    page.goto(f"{queue.url}/runyard/jobs")
    line = page.locator(f'tr[data-job-id="{queue.genai_job_id}"]')
    expect(line.locator(".status")).to_have_text("Queued")
    expect(line).to_contain_text("GenAI job")
    expect(line).to_contain_text("invoke_scorer")
    expect(line).to_contain_text("ui-jobs")
    line.get_by_role("link", name=queue.genai_job_id[:8]).click()
    facts = page.locator("#facts")
    expect(facts.locator("dt", has_text="Job function").locator("+ dd")).to_have_text("invoke_scorer")
    expect(facts.locator("dt", has_text="Run").locator("+ dd")).to_have_text("GenAI job")
    expect(page.locator("#params")).to_contain_text('["tr-1"]')


def test_filtering_by_status_and_backend_narrows_the_list(page: Page, queue: Queue) -> None:
    page.goto(f"{queue.url}/runyard/jobs")
    expect(row(page, queue.succeeded)).to_be_visible()
    page.get_by_label("Status").select_option("FAILED")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(row(page, queue.failed)).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?status=FAILED$"))
    page.get_by_label("Status").select_option("")
    page.get_by_label("Backend").select_option("azureml")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(row(page, queue.azure)).to_be_visible()
    page.reload()  # the filter lives in the address
    expect(page.get_by_label("Backend")).to_have_value("azureml")
    expect(page.locator("tbody tr")).to_have_count(1)


def test_a_failed_job_shows_its_error_exit_code_and_log(page: Page, queue: Queue) -> None:
    page.goto(f"{queue.url}/runyard/jobs")
    row(page, queue.failed).get_by_role("link", name=queue.failed.job_id[:8]).click()
    expect(page).to_have_url(f"{queue.url}/runyard/jobs/{queue.failed.job_id}")
    expect(page.locator("#status")).to_have_text("Failed")
    facts = page.locator("#facts")
    expect(facts.locator("dt", has_text="Exit code").locator("+ dd")).to_have_text("1")
    expect(facts).to_contain_text("The entry point exited with code 1.")
    expect(facts.locator("dt", has_text="Submitted by").locator("+ dd")).to_have_text(SUBMITTER)
    log = page.get_by_label("Log")
    expect(log).to_contain_text(whole_line("tick 1"))
    expect(log.locator(".stderr").filter(has_text=whole_line("ticker failing on purpose with 3"))).to_be_visible()
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel job")).to_be_hidden()


def test_a_running_job_tails_its_log_live_and_links_to_and_from_its_run(
    page: Page, queue: Queue, screenshots: Path
) -> None:
    page.goto(f"{queue.url}/runyard/jobs/{queue.running.job_id}")
    expect(page.locator("#status")).to_have_text("Running")
    log = page.get_by_label("Log")
    expect(log).to_contain_text(whole_line("tick 2"))
    already = int(re.findall(r"^tick (\d+)$", log.inner_text(), re.MULTILINE)[-1])
    expect(log).to_contain_text(whole_line(f"tick {already + 10}"))  # new lines arrive while the page is open
    expect(log.locator(".stderr").filter(has_text=whole_line("warning at tick 5"))).to_be_visible()
    expect(page.get_by_role("table", name="Parameters")).to_contain_text("3000")

    page.locator("#facts").get_by_role("link", name="long-ticker").click()
    expect(page).to_have_url(f"{queue.url}/#/experiments/{queue.experiment_id}/runs/{queue.running.run_id}")
    back = page.get_by_role("navigation", name="Runyard").get_by_role("link", name="Job · Running")
    expect(back).to_be_visible()
    expect(page.get_by_text("long-ticker").first).to_be_visible()
    page.screenshot(path=str(screenshots / "test_jobs_page-run-page-links-to-its-job.png"))

    page.get_by_role("button", name="Toggle sidebar").click()  # collapsed, the sidebar is a strip of icons
    nav, sidebar = page.get_by_role("navigation", name="Runyard"), page.locator("aside")
    expect(nav).to_have_attribute("data-compact", "true")
    expect(back).to_be_visible()
    nav_box, sidebar_box = nav.bounding_box(), sidebar.bounding_box()
    assert nav_box is not None
    assert sidebar_box is not None
    assert nav_box["x"] + nav_box["width"] <= sidebar_box["x"] + sidebar_box["width"]  # nothing over the page
    page.screenshot(path=str(screenshots / "test_jobs_page-run-page-sidebar-collapsed.png"))
    back.click()
    expect(page).to_have_url(f"{queue.url}/runyard/jobs/{queue.running.job_id}")


@contextmanager
def local_site(html: str) -> Iterator[str]:
    """A page served from another port of this machine: Chromium already keeps public sites off loopback, so the
    pages that can try to reach a local server are local ones (another port, or a DNS-rebound name)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()


def test_another_site_can_neither_cancel_a_job_nor_frame_the_page(page: Page, queue: Queue) -> None:
    """Another site's page posts a form to the cancel route (a signed-in browser would send its credentials) and
    frames the Jobs page; the server refuses the first and forbids the second."""
    cancel = f"{queue.url}/runyard/api/jobs/{queue.azure.job_id}/cancel"
    attacker = f"""<html><body>
        <iframe id="framed" src="{queue.url}/runyard/jobs"></iframe>
        <form id="csrf" method="post" action="{cancel}" target="sink"></form><iframe name="sink"></iframe>
        <script>document.getElementById("csrf").submit();</script></body></html>"""
    with (
        local_site(attacker) as site,
        page.expect_response(lambda r: r.url == cancel) as posted,
    ):
        page.goto(site)
    assert posted.value.status == 403
    with JobClient(queue.url) as client:
        refused = client.get(queue.azure.job_id)
    assert refused.status == JobStatus.QUEUED
    assert not refused.cancel_requested
    framed = page.frame_locator("#framed")
    expect(framed.locator("body")).to_be_attached()
    expect(framed.get_by_role("heading", name="Jobs")).to_have_count(0)


def test_the_cancel_button_stops_a_running_job_and_kills_its_run(page: Page, queue: Queue) -> None:
    page.goto(f"{queue.url}/runyard/jobs/{queue.running.job_id}")
    expect(page.locator("#status")).to_have_text("Running")
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#status")).to_have_text("Canceled", timeout=30_000)
    expect(page.get_by_role("button", name="Cancel job")).to_be_hidden()
    assert MlflowClient(queue.url).get_run(queue.running.run_id).info.status == "KILLED"
    page.goto(f"{queue.url}/runyard/jobs")  # the freed slot takes the job that was waiting
    expect(row(page, queue.queued).locator(".status")).to_have_text("Succeeded", timeout=30_000)


def test_retry_runs_a_failed_job_again_and_the_log_shows_both_attempts(page: Page, queue: Queue) -> None:
    page.goto(f"{queue.url}/runyard/jobs/{queue.failed.job_id}")
    expect(page.locator("#status")).to_have_text("Failed")
    page.get_by_role("button", name="Retry").click()
    expect(page.locator("#facts")).to_contain_text("2 of")  # a second attempt (it fails again, on purpose)
    expect(page.locator("#status")).to_have_text("Failed", timeout=30_000)
    log = page.get_by_label("Log")
    expect(log.locator(".attempt")).to_have_text(re.compile(r"attempt 2"))
    expect(log.locator(".stderr").filter(has_text=whole_line("ticker failing on purpose with 3"))).to_have_count(2)


@dataclass(frozen=True)
class PrivateJob:
    url: str
    alice: tuple[str, str]
    bob: tuple[str, str]
    job_id: str


@pytest.fixture(scope="module")
def private_job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateJob]:
    """With `--auth` and nobody reading what is not theirs: Alice's finished job, run by a worker signed in as admin."""
    base = tmp_path_factory.mktemp("ui-jobs-auth")
    store = f"sqlite:///{base / 'db.sqlite'}"
    archive = base / "ticker.tar.gz"
    pack_directory(TICKER, archive)
    env = {
        **JOB_ENV,
        "RUNYARD_ADMIN_USERNAME": ADMIN[0],
        "RUNYARD_ADMIN_PASSWORD": ADMIN[1],
        "RUNYARD_AUTH_DEFAULT_PERMISSION": "NO_PERMISSIONS",
    }
    worker_env = {"MLFLOW_TRACKING_USERNAME": ADMIN[0], "MLFLOW_TRACKING_PASSWORD": ADMIN[1]}
    with (
        runyard_server(store, base / "mlartifacts", "--auth", env=env) as url,
        runyard_worker(url, base, env=worker_env),
    ):
        server = AuthServer(url, store)
        alice, bob = server.add_user("alice-jobs"), server.add_user("bob-jobs")
        with server.http(alice) as http:
            experiment = http.post("/api/2.0/mlflow/experiments/create", json={"name": "alice-jobs-private"})
            spec = {"experiment_id": experiment.json()["experiment_id"], "parameters": {"ticks": 3}}
            submitted = http.post(
                "/runyard/api/jobs/archive",
                data={"spec": orjson.dumps(spec).decode()},
                files={"archive": ("ticker.tar.gz", archive.read_bytes(), "application/gzip")},
            )
            assert submitted.status_code == 200, submitted.text
        yield PrivateJob(url, alice, bob, submitted.json()["job_id"])


def test_signed_in_the_owner_follows_her_job_and_others_see_nothing(
    browser: Browser, private_job: PrivateJob, screenshots: Path
) -> None:
    alice = signed_in(browser, private_job.alice)
    alice.goto(f"{private_job.url}/runyard/jobs/{private_job.job_id}")
    # the live tail signs in too
    expect(alice.get_by_label("Log")).to_contain_text(whole_line("tick 3"), timeout=180_000)  # a loaded machine
    expect(alice.locator("#status")).to_have_text("Succeeded")
    alice.screenshot(path=str(screenshots / "test_jobs_page-signed-in-owner.png"))
    alice.context.close()

    bob = signed_in(browser, private_job.bob)
    bob.goto(f"{private_job.url}/runyard/jobs")
    expect(bob.get_by_text("No jobs match.")).to_be_visible()
    expect(bob.locator("tbody tr")).to_have_count(0)
    refused = bob.goto(f"{private_job.url}/runyard/jobs/{private_job.job_id}")
    assert refused is not None
    assert refused.status == 403
    assert "alice-jobs-private" not in bob.content()
    bob.context.close()
