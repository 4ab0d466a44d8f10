"""Queries on workspaces, and what deleting one does to the experiments in it (MLflow's three deletion modes)."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import ErrorCode, MlflowError
from server.store import roles
from server.store.models import DEFAULT_WORKSPACE, Experiment, Workspace

# Proxied artifacts of a workspace without a root of its own live under this folder of the server's root, one
# sub-folder per workspace (MLflow's layout), so a storage admin can move or bill one team.
WORKSPACES_FOLDER = "workspaces"
DELETION_MODES = ("SET_DEFAULT", "CASCADE", "RESTRICT")


def list_workspaces(session: Session) -> list[Workspace]:
    return list(session.scalars(select(Workspace).order_by(Workspace.name)))


def find_workspace(session: Session, name: str) -> Workspace | None:
    return session.get(Workspace, name)


def get_workspace(session: Session, name: str) -> Workspace:
    workspace = session.get(Workspace, name)
    if workspace is None:
        raise MlflowError.not_found(f"Workspace '{name}' not found")
    return workspace


def create_workspace(session: Session, workspace: Workspace) -> Workspace:
    session.add(workspace)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise MlflowError.already_exists(f"Workspace '{workspace.name}' already exists.") from None
    return workspace


def artifact_root(session: Session, name: str, server_root: str) -> str:
    """Where a new experiment of workspace `name` keeps its artifacts: the workspace's own root, or its folder
    under the server's."""
    workspace = session.get(Workspace, name)
    if workspace is not None and workspace.default_artifact_root:
        return workspace.default_artifact_root.rstrip("/")
    return f"{server_root.rstrip('/')}/{WORKSPACES_FOLDER}/{name}"


def delete_workspace(session: Session, name: str, mode: str) -> None:
    """RESTRICT refuses while experiments remain; SET_DEFAULT hands them to `default` (refused on a name clash).
    CASCADE, which would erase every run of the team at once, is not offered."""
    workspace = get_workspace(session, name)
    owned = select(Experiment.experiment_id).where(Experiment.workspace == name)
    if mode == "RESTRICT":
        count = session.scalar(select(func.count()).select_from(owned.subquery())) or 0
        if count:
            raise MlflowError(
                f"Cannot delete workspace '{name}': table 'experiments' still contains {count} resource(s). "
                "Remove or reassign them before deleting the workspace.",
                ErrorCode.INVALID_STATE,
            )
    elif mode == "SET_DEFAULT":
        in_default = select(Experiment.name).where(Experiment.workspace == DEFAULT_WORKSPACE)
        clashes = session.scalars(
            select(Experiment.name).where(Experiment.workspace == name, Experiment.name.in_(in_default))
        ).all()
        if clashes:
            details = "\n".join(f"  - experiments: {clash!r}" for clash in sorted(clashes))
            raise MlflowError(
                f"Cannot reassign resources from workspace '{name}' to '{DEFAULT_WORKSPACE}': the following names "
                f"already exist in the default workspace and would cause conflicts:\n{details}\n"
                "Rename or remove the conflicting resources before retrying.",
                ErrorCode.INVALID_STATE,
            )
        session.execute(update(Experiment).where(Experiment.workspace == name).values(workspace=DEFAULT_WORKSPACE))
    else:
        raise MlflowError(
            "Workspace deletion mode CASCADE is not supported by this server: delete the workspace's experiments, "
            "or move them to the default workspace with mode SET_DEFAULT.",
            ErrorCode.FEATURE_DISABLED,
        )
    roles.delete_for_workspace(session, workspace.name)  # MLflow drops a deleted workspace's roles too
    session.execute(delete(Workspace).where(Workspace.name == workspace.name))
