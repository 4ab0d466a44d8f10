"""The project's environment on a local worker, built with MLflow's own helpers (as `mlflow run` builds it): the
shell prefix that activates it, or nothing for `local`.

MLflow keeps no lock while it creates an environment, so two jobs of the same project starting together would
build the same folder at once; here a file lock per environment makes the second wait and then reuse the first's.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from server.errors import MlflowError
from server.jobspec import mlflow_projects


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def activation_command(project: Any, work_dir: Path, env_manager: str) -> str | None:
    """The command that activates the environment (None for `local`), creating the environment first."""
    if env_manager == "local":
        return None
    if env_manager == "virtualenv" or env_manager == "uv":
        if env_manager == "uv" and shutil.which("uv") is None:
            raise MlflowError.invalid_parameter("env_manager 'uv' needs `uv` on the worker's PATH.")
        env_dir = mlflow_projects.virtualenv_dir(project, work_dir)
        with _locked(env_dir.parent / ".locks" / f"{env_dir.name}.lock"):
            manager: Literal["virtualenv", "uv"] = "uv" if env_manager == "uv" else "virtualenv"
            return mlflow_projects.create_virtualenv(project, work_dir, env_dir, manager)
    if env_manager == "conda":
        if shutil.which("conda") is None:
            raise MlflowError.invalid_parameter("env_manager 'conda' needs `conda` on the worker's PATH.")
        with _locked(Path.home() / ".mlflow" / "locks" / "conda.lock"):
            return mlflow_projects.conda_activation(project)
    raise MlflowError.invalid_parameter(f"Unknown env_manager '{env_manager}'.")
