"""Workspaces as MLflow 3 defines them: the name rules (a DNS label, as Kubernetes namespaces), the reserved
`default`, the checks on a workspace's own artifact root, and the three deletion modes."""

from __future__ import annotations

import os
import re
from urllib.parse import urlparse

from sqlalchemy.orm import Session

from server.errors import ErrorCode, MlflowError
from server.store import workspaces as store

# The request's workspace, set by the API layer for the store's queries.
from server.store.scope import current
from server.store.scope import working_in as working_in
from server.store.workspace_models import DEFAULT_WORKSPACE, Workspace

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MIN_NAME, MAX_NAME = 2, 63
# Names that would read as paths of the server itself.
_RESERVED = {"workspaces", "api", "ajax-api", "static-files"}


def validate_name(name: str) -> None:
    if not MIN_NAME <= len(name) <= MAX_NAME:
        raise MlflowError.invalid_parameter(
            f"Workspace name '{name}' must be between {MIN_NAME} and {MAX_NAME} characters."
        )
    if not _NAME.match(name):
        raise MlflowError.invalid_parameter(
            f"Workspace name '{name}' must match the pattern {_NAME_PATTERN} "
            "(lowercase alphanumeric with optional internal hyphens)."
        )
    if name in _RESERVED:
        raise MlflowError.invalid_parameter(f"Workspace name '{name}' is reserved and cannot be used.")


def validate_named(name: str) -> None:
    """A workspace named in a path or header: `default` always passes, any other name must be well formed."""
    if name != DEFAULT_WORKSPACE:
        validate_name(name)


def _artifact_root(value: str | None) -> str | None:
    """None keeps what is stored; "" clears it (the server's root is used again); anything else must be a URI or
    an absolute path: a relative one would be resolved on each client's own machine."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return ""
    parsed = urlparse(value)
    if parsed.fragment or parsed.params:
        raise MlflowError.invalid_parameter("'default_artifact_root' URL can't include fragments or params.")
    if not (len(parsed.scheme) > 1 or os.path.isabs(value)):
        raise MlflowError.invalid_parameter(
            "Invalid value for 'default_artifact_root'. Expected a URI (for example 's3://bucket/prefix' or "
            f"'mlflow-artifacts:/prefix') or an absolute path, got '{value}'."
        )
    return value


def list_workspaces(session: Session, shown: set[str] | None = None) -> list[Workspace]:
    """Every workspace, or those named in `shown`."""
    return [workspace for workspace in store.list_workspaces(session) if shown is None or workspace.name in shown]


def create_workspace(
    session: Session, *, name: str, description: str | None, default_artifact_root: str | None
) -> Workspace:
    if name == DEFAULT_WORKSPACE:
        raise MlflowError.invalid_parameter(f"The '{DEFAULT_WORKSPACE}' workspace is reserved and cannot be created")
    validate_name(name)
    root = _artifact_root(default_artifact_root)
    workspace = Workspace(name=name, description=description, default_artifact_root=root or None)
    return store.create_workspace(session, workspace)


def get_workspace(session: Session, name: str) -> Workspace:
    validate_named(name)
    return store.get_workspace(session, name)


def update_workspace(
    session: Session, name: str, *, description: str | None, default_artifact_root: str | None
) -> Workspace:
    validate_named(name)
    if description is None and default_artifact_root is None:
        raise MlflowError.invalid_parameter("Workspace update must have at least one key")
    root = _artifact_root(default_artifact_root)
    workspace = store.get_workspace(session, name)
    if description is not None:
        workspace.description = description
    if root is not None:
        workspace.default_artifact_root = root or None
    return workspace


def delete_workspace(session: Session, name: str, mode: str) -> None:
    if name == DEFAULT_WORKSPACE:
        raise MlflowError.invalid_parameter(f"The '{DEFAULT_WORKSPACE}' workspace is reserved and cannot be deleted")
    validate_name(name)
    if mode not in store.DELETION_MODES:
        raise MlflowError.invalid_parameter(
            f"Invalid deletion mode '{mode}'. Must be one of: {', '.join(store.DELETION_MODES)}"
        )
    store.delete_workspace(session, name, mode)


def check_single_team(session: Session) -> None:
    """A server started without workspaces would show every team's experiments, models and webhooks as one team's
    (their lookups by name would miss): MLflow refuses to start then, and so does Runyard."""
    found = store.outside_default(session)
    if found is not None:
        kind, name, workspace = found
        raise MlflowError(
            f"Cannot disable workspaces because {kind}s exist outside the default workspace (for example, {kind} "
            f"'{name}' in workspace '{workspace}'). Start the server with --enable-workspaces "
            f"(MLFLOW_ENABLE_WORKSPACES=true), or move them to '{DEFAULT_WORKSPACE}' first (delete their workspace "
            "with mode SET_DEFAULT).",
            ErrorCode.INVALID_STATE,
        )


def proxied_artifact_path(path: str) -> str:
    """A path of the artifact proxy as the request's workspace may use it (MLflow's rule): a workspace other than
    `default` reads and writes only under `workspaces/<name>/` (a path without that prefix is put under it), and no
    workspace may name another's folder. `default` also keeps the folders made before workspaces existed."""
    workspace = current()
    if workspace is None:
        return path
    relative = path.lstrip("/")
    base = f"{store.WORKSPACES_FOLDER}/{workspace}"
    if not relative:
        return path if workspace == DEFAULT_WORKSPACE else base
    segments = relative.split("/", 2)
    if segments[0] != store.WORKSPACES_FOLDER:
        return path if workspace == DEFAULT_WORKSPACE else f"{base}/{relative}"
    if len(segments) == 1 or not segments[1]:
        raise MlflowError.invalid_parameter("Artifact paths prefixed with 'workspaces/' must include a workspace name.")
    if segments[1] != workspace:
        raise MlflowError.invalid_parameter(
            f"Artifact path targets workspace '{segments[1]}' but the workspace specified in the request is "
            f"'{workspace}'."
        )
    return relative
