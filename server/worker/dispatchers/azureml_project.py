"""An MLflow Project as an Azure ML command job: the settings of an Azure-capable worker, the deterministic job name,
the command line, the environment variables that carry Runyard's tracking coordinates, and the environment.

Azure ML sets `MLFLOW_TRACKING_URI`, `MLFLOW_RUN_ID`, `MLFLOW_EXPERIMENT_ID` and `MLFLOW_TRACKING_TOKEN` inside every
job, overwriting values passed under those names (Azure/azure-sdk-for-python#38813). So ours travel as `RUNYARD_*`
and the command's first step exports them under the MLflow names: the command runs after Azure's injection, so it
wins, and Azure's own token never reaches Runyard.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# mypy reports untyped yaml at one import site only, which may be this one or server.jobspec.mlflow_projects.
import yaml  # type: ignore[import-untyped, unused-ignore]
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from server.errors import MlflowError
from server.jobspec import mlflow_projects
from server.worker.dispatchers.azureml_client import EnvironmentChoice, Workspace

TRACKING_ENV = {
    "MLFLOW_TRACKING_URI": "RUNYARD_TRACKING_URI",
    "MLFLOW_RUN_ID": "RUNYARD_RUN_ID",
    "MLFLOW_EXPERIMENT_ID": "RUNYARD_EXPERIMENT_ID",
}
TOKEN_ENV = "RUNYARD_TRACKING_TOKEN"  # noqa: S105  (the variable's name, not a secret)
WORKSPACE_ENV = "RUNYARD_WORKSPACE"  # the job's workspace, exported as MLFLOW_WORKSPACE when it is not `default`
DEFAULT_ENVIRONMENT = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"
DEFAULT_BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"


class AzureMLSettings(BaseSettings):
    """What `runyard worker --backend azureml` reads from its environment."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    subscription_id: str | None = Field(None, validation_alias=AliasChoices("AZURE_SUBSCRIPTION_ID", "subscription_id"))
    resource_group: str | None = Field(None, validation_alias=AliasChoices("AZURE_RESOURCE_GROUP", "resource_group"))
    workspace_name: str | None = Field(None, validation_alias=AliasChoices("AZUREML_WORKSPACE", "workspace_name"))
    config_path: str | None = Field(
        None,
        validation_alias=AliasChoices("AZUREML_CONFIG", "config_path"),
        description="A config.json (or the folder to search from) when the three coordinates are not set.",
    )
    tracking_uri: str | None = Field(
        None,
        validation_alias=AliasChoices("RUNYARD_AZUREML_TRACKING_URI", "tracking_uri"),
        description="Runyard's address as the compute reaches it; default: the worker's --server-url.",
    )
    poll_seconds: float = Field(
        15.0, gt=0, validation_alias=AliasChoices("RUNYARD_AZUREML_POLL_SECONDS", "poll_seconds")
    )
    not_started_timeout_seconds: float = Field(
        1800.0,
        gt=0,
        validation_alias=AliasChoices("RUNYARD_AZUREML_NOT_STARTED_TIMEOUT_SECONDS", "not_started_timeout_seconds"),
        description="A job still NotStarted after this long is canceled in Azure ML and fails.",
    )
    default_environment: str = Field(
        DEFAULT_ENVIRONMENT,
        validation_alias=AliasChoices("RUNYARD_AZUREML_ENVIRONMENT", "default_environment"),
        description="For projects with no python_env or conda file (a curated environment ships mlflow).",
    )
    base_image: str = Field(
        DEFAULT_BASE_IMAGE,
        validation_alias=AliasChoices("RUNYARD_AZUREML_BASE_IMAGE", "base_image"),
        description="The image a project's conda or python_env specification is built on.",
    )

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.subscription_id, self.resource_group, self.workspace_name, self.config_path)


def job_name(job_id: str, attempt: int) -> str:
    """The same job and attempt always get the same name: a dispatcher that lost the answer to its submission
    looks the job up by this name instead of submitting it again."""
    return f"runyard-{job_id}-a{attempt}"


_EXPERIMENT_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def experiment_name(name: str) -> str:
    """Azure experiment names take letters, digits, `-` and `_`; anything else becomes `-`."""
    cleaned = _EXPERIMENT_CHARS.sub("-", name).strip("-")
    return cleaned[:250] or "Default"


def tracking_variables(
    tracking_uri: str, run_id: str, experiment_id: str, token: str | None, workspace: str | None = None
) -> dict[str, str]:
    env = {
        TRACKING_ENV["MLFLOW_TRACKING_URI"]: tracking_uri,
        TRACKING_ENV["MLFLOW_RUN_ID"]: run_id,
        TRACKING_ENV["MLFLOW_EXPERIMENT_ID"]: experiment_id,
        "PYTHONUNBUFFERED": "1",  # output reaches the log stream as it is printed
    }
    if token:
        env[TOKEN_ENV] = token
    if workspace:
        env[WORKSPACE_ENV] = workspace
    return env


def job_command(entry_command: str, *, with_token: bool, with_workspace: bool = False) -> str:
    """Export Runyard's tracking coordinates under the MLflow names, then run the entry point."""
    exports = " ".join(f'{mlflow}="${ours}"' for mlflow, ours in TRACKING_ENV.items())
    steps = [f"export {exports}", "unset MLFLOW_EXPERIMENT_NAME MLFLOW_TRACKING_TOKEN MLFLOW_WORKSPACE"]
    if with_token:
        steps.append(f'export MLFLOW_TRACKING_TOKEN="${TOKEN_ENV}"')
    if with_workspace:
        steps.append(f'export MLFLOW_WORKSPACE="${WORKSPACE_ENV}"')
    return " && ".join([*steps, entry_command])


def entry_command(project: Any, entry_point: str, parameters: dict[str, str]) -> str:
    """The MLproject command with its parameters, as `mlflow run` builds it; `path` parameters are passed as
    given (resolved on the compute, relative to the code folder), as azureml-mlflow's remote runs did."""
    return str(project.get_entry_point(entry_point).compute_command(parameters, None))


def _pip_requirements(lines: list[str], project_dir: Path) -> list[str]:
    """pip lines with `-r file` expanded: the image build sees the specification, not the project folder."""
    expanded: list[str] = []
    for line in lines:
        text = str(line).strip()
        if text.startswith(("-r ", "--requirement ")):
            included = project_dir / text.split(maxsplit=1)[1]
            body = [x.split("#", 1)[0].strip() for x in included.read_text().splitlines()]
            expanded.extend(_pip_requirements([x for x in body if x], included.parent))
        elif text:
            expanded.append(text)
    return expanded


def project_conda(project: Any) -> dict[str, Any] | None:
    """The project's environment as a conda specification: its conda.yaml, or its python_env.yaml translated."""
    path = project.env_config_path
    if not path:
        return None
    try:
        spec = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MlflowError.invalid_parameter(f"Cannot read the project's environment file {path}: {exc}") from None
    if not isinstance(spec, dict):
        raise MlflowError.invalid_parameter(f"The project's environment file {path} is not a mapping.")
    if project.env_type == mlflow_projects.CONDA_ENV:
        return spec
    pip = _pip_requirements([*spec.get("build_dependencies", []), *spec.get("dependencies", [])], Path(path).parent)
    python = spec.get("python")
    return {
        "name": "runyard-project",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}" if python else "python", "pip", {"pip": pip}],
    }


def _is_image(value: str) -> bool:
    return "/" in value and not value.startswith("azureml:")


def choose_environment(project: Any, backend_config: dict[str, Any], settings: AzureMLSettings) -> EnvironmentChoice:
    """`ENVIRONMENT` in backend_config wins (a registered or curated environment as is, or a docker image with
    the project's conda specification on top); else the project's own environment file on the base image; else
    the default curated environment. `USE_CONDA` does not matter here, as with azureml-mlflow's remote runs."""
    requested = backend_config.get("ENVIRONMENT")
    if requested and not _is_image(str(requested)):
        return EnvironmentChoice(named=str(requested))
    conda = project_conda(project)
    if requested:
        return EnvironmentChoice(image=str(requested), conda=conda)
    if conda is not None:
        return EnvironmentChoice(image=settings.base_image, conda=conda)
    return EnvironmentChoice(named=settings.default_environment)
