"""`runyard worker` and `runyard submit`: the job queue from a shell."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import click

from server.jobspec.schemas import TERMINAL, JobStatus
from server.worker.client import JobApiError, JobClient

AZUREML_MISSING = "The azureml backend needs the Azure ML SDK: pip install 'runyard[azureml]'"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package (here `azure.ai`) is missing
        return False


def _default_server_url() -> str | None:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return uri if uri.startswith(("http://", "https://")) else None


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    """The embedded worker ends with the server that started it, even if the server was killed outright."""
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            stop.set()


@click.command()
@click.option("--server-url", default=_default_server_url, required=True, help="Runyard to pull jobs from.")
@click.option("--concurrency", "-c", type=click.IntRange(1, 64), default=1, show_default=True, help="Jobs at once.")
@click.option("--worker-id", default=None, help="Name shown as the jobs' lease owner [default host:pid:random].")
@click.option("--cancel-grace", type=float, default=30.0, show_default=True, help="Seconds from SIGTERM to SIGKILL.")
@click.option("--poll-seconds", type=float, default=10.0, show_default=True, help="Long-poll wait per claim.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Scratch folder.")
@click.option(
    "--backend",
    "backends",
    type=click.Choice(["local", "azureml"]),
    multiple=True,
    default=("local",),
    show_default=True,
    help="Which jobs to claim (repeatable): `local` runs them here, `azureml` submits them to Azure ML compute.",
)
@click.option("--parent-pid", type=int, default=None, hidden=True)
def worker(
    server_url: str,
    concurrency: int,
    worker_id: str | None,
    cancel_grace: float,
    poll_seconds: float,
    work_dir: Path | None,
    backends: tuple[str, ...],
    parent_pid: int | None,
) -> None:
    """Run queued MLflow Projects, pulling them from the server over HTTP."""
    from server.worker.dispatchers.base import Dispatcher
    from server.worker.dispatchers.local import LocalDispatcher
    from server.worker.loop import Worker

    if "azureml" in backends and not _installed("azure.ai.ml"):
        raise click.ClickException(AZUREML_MISSING)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(parent_pid, stop), daemon=True).start()
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    with JobClient(server_url) as client:
        dispatchers: list[Dispatcher] = []
        if "local" in backends:
            dispatchers.append(
                LocalDispatcher(tracking_uri=server_url, cancel_grace_seconds=cancel_grace, work_root=work_dir)
            )
        if "azureml" in backends:
            from server.worker.dispatchers.azureml import AzureMLDispatcher

            dispatchers.append(AzureMLDispatcher(server_url=server_url, work_root=work_dir))
        runner = Worker(client, dispatchers, concurrency=concurrency, worker_id=worker_id, poll_seconds=poll_seconds)
        click.echo(
            f"Runyard worker {runner.worker_id}: {concurrency} slot(s) for {', '.join(sorted(set(backends)))} jobs, "
            f"pulling from {server_url}",
            err=True,
        )
        runner.serve(stop)


def _parameters(pairs: tuple[str, ...]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="-P")
        parameters[key] = value
    return parameters


def _follow(client: JobClient, job_id: str) -> JobStatus:
    for event, data in client.follow(job_id):
        if event == "log":
            out = sys.stderr if data["stream"] == "stderr" else sys.stdout
            out.write(data["text"])
            out.flush()
    return client.get(job_id).status


@click.command()
@click.argument("uri", default=".")
@click.option("--entry-point", "-e", default="main", show_default=True)
@click.option("--param", "-P", "params", multiple=True, help="An entry-point parameter, KEY=VALUE (repeatable).")
@click.option("--version", "-v", default=None, help="Git commit, branch or tag.")
@click.option("--experiment-name", default=None)
@click.option("--experiment-id", default=None)
@click.option("--env-manager", type=click.Choice(["local", "virtualenv", "uv", "conda"]), default=None)
@click.option("--backend-config", "-c", default=None, help="JSON object, or a path to a .json file.")
@click.option("--run-name", default=None)
@click.option("--idempotency-key", default=None, help="Resubmitting with the same key returns the same job.")
@click.option("--follow/--no-follow", default=False, help="Stream the job's output and exit with its outcome.")
@click.option("--server-url", default=_default_server_url, required=True, help="[env MLFLOW_TRACKING_URI]")
def submit(uri: str, params: tuple[str, ...], follow: bool, server_url: str, **options: Any) -> None:
    """Submit the MLflow Project at URI (a folder, a .zip, or a git URI with #subdirectory) to Runyard."""
    from server.worker.submit import Submission
    from server.worker.submit import submit as submit_project

    config_text = options.pop("backend_config")
    if config_text and config_text.endswith(".json") and Path(config_text).exists():
        config_text = Path(config_text).read_text()
    try:
        backend_config = json.loads(config_text) if config_text else {}
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--backend-config") from None
    with JobClient(server_url) as client:
        try:
            job = submit_project(
                client, Submission(uri=uri, parameters=_parameters(params), backend_config=backend_config, **options)
            )
        except JobApiError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"job {job.job_id}  run {job.run_id}  experiment {job.experiment_id}  {job.status}", err=True)
        click.echo(job.job_id)
        if not follow:
            return
        status = _follow(client, job.job_id)
        click.echo(f"job {job.job_id} {status}", err=True)
        if status in TERMINAL and status != JobStatus.SUCCEEDED:
            sys.exit(1)


def start_embedded_worker(server_url: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """One worker beside `runyard server`, so the one-command start can run jobs."""
    return subprocess.Popen(
        [sys.executable, "-m", "server", "worker", "--server-url", server_url, "--parent-pid", str(os.getpid())],
        env=env,
    )
