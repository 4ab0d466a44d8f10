"""Turning `mlflow.projects.run(...)` arguments (or `runyard submit` flags) into a job: a project on this machine
is packed and uploaded; a remote git URI is handed to the server to fetch. Shared by the plugin and the CLI."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.jobspec import mlflow_projects
from server.jobspec.projects import pack_directory
from server.jobspec.schemas import GitJobSubmit, GitSource, JobSpec, JobView
from server.worker.client import JobClient

# Keys MLflow writes into every backend_config (mlflow/projects/__init__.py `_run`) that mean nothing to us.
MLFLOW_INJECTED = {"SYNCHRONOUS", "DOCKER_ARGS", "STORAGE_DIR", "build_image", "docker_auth", "ENV_MANAGER"}
OUR_KEYS = {"USE_CONDA", "STREAM_LOGS", "MAX_ATTEMPTS", "PRIORITY", "IDEMPOTENCY_KEY"}


@dataclass(slots=True)
class Submission:
    uri: str
    entry_point: str = "main"
    parameters: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    experiment_id: str | None = None
    experiment_name: str | None = None
    env_manager: str | None = None
    backend_config: dict[str, Any] = field(default_factory=dict)
    run_name: str | None = None
    idempotency_key: str | None = None


def _env_manager(submission: Submission) -> str | None:
    """MLflow's ENV_MANAGER wins; else the article's `USE_CONDA` (False: the worker's Python, True: conda)."""
    config = submission.backend_config
    chosen = submission.env_manager or config.get("ENV_MANAGER")
    if chosen is None and "USE_CONDA" in config:
        chosen = "conda" if str(config["USE_CONDA"]).lower() in ("true", "1") else "local"
    return str(chosen) if chosen else None


def build_spec(submission: Submission, tags: dict[str, str]) -> dict[str, Any]:
    config = submission.backend_config
    compute = config.get("COMPUTE")
    return {
        "experiment_id": submission.experiment_id,
        "experiment_name": submission.experiment_name,
        "entry_point": submission.entry_point,
        "parameters": {
            k: v if isinstance(v, str | int | float | bool) else str(v) for k, v in submission.parameters.items()
        },
        "backend": "azureml" if compute and str(compute).lower() != "local" else "local",
        "backend_config": {k: v for k, v in config.items() if k not in MLFLOW_INJECTED | OUR_KEYS},
        "env_manager": _env_manager(submission),
        "run_name": submission.run_name,
        "tags": tags,
        "idempotency_key": submission.idempotency_key or config.get("IDEMPOTENCY_KEY"),
        "max_attempts": config.get("MAX_ATTEMPTS"),
        "priority": int(config.get("PRIORITY", 0)),
    }


def submit(client: JobClient, submission: Submission) -> JobView:
    if mlflow_projects.is_remote_git(submission.uri):
        base, subdirectory = mlflow_projects.split_subdirectory(submission.uri)
        spec = build_spec(submission, {"mlflow.user": mlflow_projects.current_user()})
        source = GitSource(uri=base, version=submission.version, subdirectory=subdirectory or None)
        return client.submit_git(GitJobSubmit(**spec, source=source))
    work_dir = mlflow_projects.fetch_project(submission.uri, submission.version)
    spec = build_spec(submission, mlflow_projects.local_source_tags(submission.uri, work_dir))
    with tempfile.TemporaryDirectory(prefix="runyard-submit-") as tmp:
        archive = Path(tmp) / "project.tar.gz"
        pack_directory(Path(work_dir), archive)
        return client.submit_archive(JobSpec(**spec), archive)
