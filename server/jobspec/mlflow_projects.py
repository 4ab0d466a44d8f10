"""The MLflow Projects helpers we reuse rather than rewrite (MLproject parsing, entry-point commands with typed and
quoted parameters, git and zip fetching, environment creation), behind typed signatures.

MLflow's functions are untyped; this module is the one place that calls them, so the rest of the job code stays
under mypy's strict checks. These are private MLflow APIs: `mlflow-skinny` is pinned to a minor release, and a bump
must re-run the job tests.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped, unused-ignore]

YAML_ERRORS: tuple[type[Exception], ...] = (yaml.YAMLError,)
PYTHON_ENV = "python_env"  # mlflow.projects.env_type.PYTHON
CONDA_ENV = "conda"  # mlflow.projects.CONDA_ENV


def _mlflow(module: str) -> Any:
    """Imported on first use: importing mlflow takes seconds, and the server should start without paying it."""
    return importlib.import_module(module)


def mlflow_exception() -> type[Exception]:
    error: type[Exception] = _mlflow("mlflow.exceptions").MlflowException
    return error


def find_mlproject(directory: Path) -> str | None:
    found: str | None = _mlflow("mlflow.projects._project_spec")._find_mlproject(str(directory))
    return found


def load_project(directory: Path) -> Any:
    return _mlflow("mlflow.projects._project_spec").load_project(str(directory))


def entry_point_command(project: Any, entry_point: str, parameters: dict[str, str], storage_dir: Path) -> list[str]:
    command: list[str] = _mlflow("mlflow.projects.utils").get_entry_point_command(
        project, entry_point, parameters, str(storage_dir)
    )
    return command


def fetch_git_repo(uri: str, version: str | None, dest: Path) -> None:
    _mlflow("mlflow.projects.utils")._fetch_git_repo(uri, version, str(dest))


def fetch_project(uri: str, version: str | None) -> str:
    """A local folder as is, a zip unpacked, a git repository fetched (`version` checked out)."""
    work_dir: str = _mlflow("mlflow.projects.utils")._fetch_project(uri, version)
    return work_dir


def split_subdirectory(uri: str) -> tuple[str, str]:
    base, subdirectory = _mlflow("mlflow.projects.utils")._parse_subdirectory(uri)
    return str(base), str(subdirectory)


def is_remote_git(uri: str) -> bool:
    base, _ = split_subdirectory(uri)
    return not _mlflow("mlflow.projects.utils")._is_zip_uri(base) and not _mlflow(
        "mlflow.projects.utils"
    )._is_local_uri(base)


def current_user() -> str:
    from mlflow.tracking.context.default_context import _get_user

    return str(_get_user())


def local_source_tags(uri: str, work_dir: str) -> dict[str, str]:
    """The tags `mlflow run` sets for a local project (mlflow/projects/utils.py `_create_run`)."""
    from mlflow.tracking._tracking_service.utils import _get_git_url_if_present
    from mlflow.utils.git_utils import get_git_commit, get_git_repo_url

    tags = {
        "mlflow.user": current_user(),
        "mlflow.source.name": str(_get_git_url_if_present(_mlflow("mlflow.projects.utils")._expand_uri(uri))),
    }
    if commit := get_git_commit(work_dir):
        tags["mlflow.source.git.commit"] = str(commit)
    if repo_url := get_git_repo_url(work_dir):
        tags["mlflow.source.git.repoURL"] = str(repo_url)
    return tags


def _python_env(project: Any) -> Any:
    from mlflow.utils.environment import _PythonEnv

    if project.env_type == CONDA_ENV:
        return _PythonEnv.from_conda_yaml(project.env_config_path)
    return _PythonEnv.from_yaml(project.env_config_path) if project.env_config_path else _PythonEnv()


def virtualenv_dir(project: Any, work_dir: Path) -> Path:
    """Where MLflow keeps this project's environment: a name hashed from its python_env, so runs share it."""
    from mlflow.utils.virtualenv import _get_mlflow_virtualenv_root, _get_virtualenv_name

    name: str = _get_virtualenv_name(_python_env(project), work_dir)
    return Path(_get_mlflow_virtualenv_root()) / name


def create_virtualenv(project: Any, work_dir: Path, env_dir: Path, manager: Literal["virtualenv", "uv"]) -> str:
    """Create (or reuse) the environment; the command that activates it."""
    from mlflow.utils.virtualenv import _create_virtualenv

    command: str = _create_virtualenv(
        local_model_path=work_dir,
        python_env=_python_env(project),
        env_dir=env_dir,
        env_manager=manager,
        capture_output=True,
    )
    return command


def conda_activation(project: Any) -> str:
    from mlflow.utils.conda import get_or_create_conda_env

    return " && ".join(get_or_create_conda_env(project.env_config_path).get_activate_command())
