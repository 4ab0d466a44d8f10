"""MLflow Projects on both sides of the queue: packing and checking snapshots, fetching git sources, and reading
MLproject files with MLflow's own parser so entry points, typed parameters and defaults mean what they mean to
`mlflow run`.

A snapshot is a gzipped tar of the project folder. The server refuses, before anything is queued, an archive
with absolute paths, `..`, device files or links that lead outside the project; extraction then also goes through
tarfile's `data` filter, so a check missed here still cannot write outside the target folder.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.artifacts.paths import clean_relative_path
from server.errors import MlflowError
from server.jobspec import mlflow_projects
from server.jobspec.schemas import GitSource

SNAPSHOT_ARTIFACT = "runyard/snapshot.tar.gz"
LOG_ARTIFACTS = {"stdout": "runyard/logs/stdout.log", "stderr": "runyard/logs/stderr.log"}
# Never part of a snapshot: version control, caches, environments, and local MLflow stores.
SKIPPED = frozenset(
    {".git", "__pycache__", ".venv", "venv", "mlruns", "mlartifacts", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
)
MAX_MEMBERS = 20_000


def _bad_archive(reason: str) -> MlflowError:
    return MlflowError.invalid_parameter(f"Invalid project archive: {reason}")


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or "\\" in name or "\x00" in name or (len(name) > 1 and name[1] == ":"):
        raise _bad_archive(f"member '{name}' has an absolute or non-POSIX path")
    if ".." in name.split("/"):
        raise _bad_archive(f"member '{name}' leads outside the project ('..')")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise _bad_archive(f"member '{name}' is not a file, folder or link")
    if member.issym() or member.islnk():
        target = member.linkname
        base = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise _bad_archive(f"link '{name}' points outside the project ('{target}')")


def check_archive(path: Path, *, max_bytes: int) -> None:
    """Refuse an unreadable archive, unsafe members, or more than `max_bytes` once unpacked."""
    total = 0
    try:
        with tarfile.open(path, "r:gz") as tar:
            for count, member in enumerate(tar, start=1):
                _check_member(member)
                total += member.size
                if total > max_bytes or count > MAX_MEMBERS:
                    raise _bad_archive(f"larger than {max_bytes} bytes or {MAX_MEMBERS} files unpacked")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise _bad_archive(f"not a readable .tar.gz file ({exc})") from None


def extract_archive(path: Path, dest: Path, *, max_bytes: int) -> None:
    check_archive(path, max_bytes=max_bytes)
    try:
        with tarfile.open(path, "r:gz") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise _bad_archive(f"could not be unpacked ({exc})") from None


def _skip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if SKIPPED.intersection(info.name.split("/")):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack_directory(src: Path, dest: Path) -> None:
    """The project folder as a snapshot, member names relative to the folder, links kept as links."""
    with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
        for entry in sorted(os.listdir(src)):
            tar.add(src / entry, arcname=entry, filter=_skip)


@dataclass(frozen=True, slots=True)
class CheckedProject:
    """An MLproject that can run the requested entry point with the given parameters."""

    name: str | None
    env_manager: str
    logged_params: dict[str, str]  # the resolved entry-point parameters plus extras, as `mlflow run` logs them


_INTEGER_TYPES = {"int", "integer", "long"}


def _check_types(entry_point: Any, parameters: dict[str, str]) -> None:
    """MLflow leaves `float` unchecked and fails at run time; a wrong type is refused here, before queueing."""
    for name, param in entry_point.parameters.items():
        if name not in parameters:
            continue
        value = parameters[name]
        try:
            if param.type == "float":
                float(value)
            elif param.type in _INTEGER_TYPES:
                int(value)
        except ValueError:
            raise MlflowError.invalid_parameter(
                f"Parameter '{name}' of entry point '{entry_point.name}' must be of type {param.type}, got '{value}'"
            ) from None


def default_env_manager(project: Any, requested: str | None) -> str:
    """MLflow's choice of environment, except that a project with no environment file runs in the worker's own
    Python: MLflow would give it an empty virtualenv, in which `import mlflow` fails."""
    if requested:
        if project.env_type == mlflow_projects.PYTHON_ENV and requested == "conda":
            raise MlflowError.invalid_parameter(
                "python_env project cannot be executed using conda. Set `env_manager` to 'virtualenv', 'uv' or "
                "'local' to execute this project."
            )
        return requested
    if project.env_type == mlflow_projects.CONDA_ENV:
        return "conda"
    return "virtualenv" if project.env_config_path else "local"


def load_checked(
    work_dir: Path, entry_point: str, parameters: dict[str, str], env_manager: str | None
) -> CheckedProject:
    """Read the MLproject with MLflow's parser; every way it can be unusable is a 400."""
    if mlflow_projects.find_mlproject(work_dir) is None:
        raise MlflowError.invalid_parameter("The project has no MLproject file at its root.")
    try:
        project = mlflow_projects.load_project(work_dir)
        if project.docker_env:
            raise MlflowError.invalid_parameter("docker_env projects are not supported by Runyard workers.")
        entry = project.get_entry_point(entry_point)
        _check_types(entry, parameters)
        final, extra = entry.compute_parameters(parameters, storage_dir=None)
    except mlflow_projects.mlflow_exception() as exc:
        raise MlflowError.invalid_parameter(str(getattr(exc, "message", exc))) from None
    except mlflow_projects.YAML_ERRORS as exc:
        raise MlflowError.invalid_parameter(f"The MLproject file is not valid YAML: {exc}") from None
    except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
        raise MlflowError.invalid_parameter(f"The MLproject file is malformed: {exc}") from None
    return CheckedProject(
        name=project.name,
        env_manager=default_env_manager(project, env_manager),
        logged_params={**final, **extra},
    )


_REMOTE_PREFIXES = ("https://", "http://", "ssh://", "git://", "git@")


def fetch_git(source: GitSource, dest: Path, *, allow_local: bool) -> tuple[Path, str]:
    """Fetch `source` into `dest` (MLflow's own shallow fetch); the project folder in it and the commit."""
    import git  # GitPython needs the git executable, which only git sources require

    uri = source.uri
    if not uri.startswith(_REMOTE_PREFIXES) and not (allow_local and uri.startswith("file://")):
        raise MlflowError.invalid_parameter(
            f"Unsupported git URI '{uri}': use https://, ssh://, git:// or git@host:path"
            + ("." if allow_local else " (file:// URIs are off; see RUNYARD_JOB_ALLOW_LOCAL_GIT).")
        )
    os.environ.setdefault("GIT_TERMINAL_PROMPT", "0")  # fail instead of waiting for a password on the console
    try:
        mlflow_projects.fetch_git_repo(uri, source.version, dest)
        commit = git.Repo(dest).head.commit.hexsha
    except (mlflow_projects.mlflow_exception(), git.exc.GitError, ValueError) as exc:
        message = str(getattr(exc, "message", exc))
        raise MlflowError.invalid_parameter(f"Could not fetch the project from {uri}: {message}") from None
    project_dir = dest / clean_relative_path(source.subdirectory) if source.subdirectory else dest
    if not project_dir.is_dir():
        raise MlflowError.invalid_parameter(f"Subdirectory '{source.subdirectory}' is not in {uri}.")
    return project_dir, commit
