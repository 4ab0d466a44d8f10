"""Queries on workspaces, and what deleting one does to the experiments, registered models and webhooks in it
(MLflow's three deletion modes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import ErrorCode, MlflowError
from server.store import roles
from server.store.genai_models import EvaluationDataset
from server.store.mcp_models import McpServer
from server.store.models import Experiment, RegisteredModel, RegisteredModelPermission
from server.store.skill_models import Skill
from server.store.webhook_models import Webhook
from server.store.workspace_models import DEFAULT_WORKSPACE, Workspace

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


def outside_default(session: Session) -> tuple[str, str, str] | None:
    """One experiment, registered model, evaluation dataset or live webhook outside `default` (kind, name,
    workspace), or None when everything is in `default`."""
    for kind, name, workspace, live in (
        ("experiment", Experiment.name, Experiment.workspace, None),
        ("registered model", RegisteredModel.name, RegisteredModel.workspace, None),
        ("evaluation dataset", EvaluationDataset.name, EvaluationDataset.workspace, None),
        ("webhook", Webhook.name, Webhook.workspace, Webhook.deleted_timestamp.is_(None)),
        ("MCP server", McpServer.name, McpServer.workspace, None),
        ("skill", Skill.name, Skill.workspace, None),
    ):
        query = select(name, workspace).where(workspace != DEFAULT_WORKSPACE)
        row = session.execute(query if live is None else query.where(live)).first()
        if row is not None:
            return kind, row[0], row[1]
    return None


def artifact_root(session: Session, name: str, server_root: str) -> str:
    """Where a new experiment of workspace `name` keeps its artifacts: the workspace's own root, or its folder
    under the server's."""
    workspace = session.get(Workspace, name)
    if workspace is not None and workspace.default_artifact_root:
        return workspace.default_artifact_root.rstrip("/")
    return f"{server_root.rstrip('/')}/{WORKSPACES_FOLDER}/{name}"


def _count(session: Session, query: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _clashes(session: Session, name: str) -> list[str]:
    """Names of the workspace's registered models and experiments that `default` already has, in MLflow's lines."""
    clashes: list[str] = []
    for table, column, workspace in (
        ("registered_models", RegisteredModel.name, RegisteredModel.workspace),
        ("experiments", Experiment.name, Experiment.workspace),
        ("mcp_servers", McpServer.name, McpServer.workspace),
    ):
        in_default = select(column).where(workspace == DEFAULT_WORKSPACE)
        found = session.scalars(select(column).where(workspace == name, column.in_(in_default))).all()
        clashes += [f"  - {table}: {clash!r}" for clash in sorted(found)]
    defaults = select(Skill.organization, Skill.name).where(Skill.workspace == DEFAULT_WORKSPACE).subquery()
    skills = select(Skill.organization, Skill.name).where(
        Skill.workspace == name, Skill.organization == defaults.c.organization, Skill.name == defaults.c.name
    )
    for organization, skill in sorted(session.execute(skills).tuples()):
        clashes.append(f"  - skills: {f'@{organization}/{skill}' if organization else skill!r}")
    return clashes


def delete_workspace(session: Session, name: str, mode: str) -> None:
    """RESTRICT refuses while registered models, experiments, evaluation datasets or webhooks remain (MLflow's
    order, one table at a time); SET_DEFAULT hands them to `default` (refused on a name clash). CASCADE, which would
    erase every run and model version of the team at once, is not offered.

    A deleted webhook keeps its row only for its deliveries' history, and no request can remove it further, so it
    does not hold the workspace back: it moves to `default` with the workspace's deletion, still deleted."""
    workspace = get_workspace(session, name)
    if mode == "RESTRICT":
        for table, owned in (
            ("registered_models", select(RegisteredModel.id).where(RegisteredModel.workspace == name)),
            ("experiments", select(Experiment.experiment_id).where(Experiment.workspace == name)),
            (
                "evaluation_datasets",
                select(EvaluationDataset.dataset_id).where(EvaluationDataset.workspace == name),
            ),
            (
                "webhooks",
                select(Webhook.webhook_id).where(Webhook.workspace == name, Webhook.deleted_timestamp.is_(None)),
            ),
            ("mcp_servers", select(McpServer.server_id).where(McpServer.workspace == name)),
            ("skills", select(Skill.skill_id).where(Skill.workspace == name)),
        ):
            if count := _count(session, owned):
                raise MlflowError(
                    f"Cannot delete workspace '{name}': table '{table}' still contains {count} resource(s). "
                    "Remove or reassign them before deleting the workspace.",
                    ErrorCode.INVALID_STATE,
                )
    elif mode == "SET_DEFAULT":
        if clashes := _clashes(session, name):
            details = "\n".join(clashes)
            raise MlflowError(
                f"Cannot reassign resources from workspace '{name}' to '{DEFAULT_WORKSPACE}': the following names "
                f"already exist in the default workspace and would cause conflicts:\n{details}\n"
                "Rename or remove the conflicting resources before retrying.",
                ErrorCode.INVALID_STATE,
            )
        moving = select(RegisteredModel.name).where(RegisteredModel.workspace == name)
        stale = RegisteredModelPermission.workspace == DEFAULT_WORKSPACE, RegisteredModelPermission.name.in_(moving)
        session.execute(delete(RegisteredModelPermission).where(*stale))  # grants left by deleted models of `default`
        for model in (RegisteredModel, Experiment, EvaluationDataset, RegisteredModelPermission, McpServer, Skill):
            session.execute(update(model).where(model.workspace == name).values(workspace=DEFAULT_WORKSPACE))
    else:
        raise MlflowError(
            "Workspace deletion mode CASCADE is not supported by this server: delete the workspace's experiments, "
            "registered models, evaluation datasets and webhooks, or move them to the default workspace with mode "
            "SET_DEFAULT.",
            ErrorCode.FEATURE_DISABLED,
        )
    # What webhooks are left: every one with SET_DEFAULT, the deleted ones with RESTRICT.
    session.execute(update(Webhook).where(Webhook.workspace == name).values(workspace=DEFAULT_WORKSPACE))
    roles.delete_for_workspace(session, workspace.name)  # MLflow drops a deleted workspace's roles too
    try:
        with session.begin_nested():
            session.execute(delete(Workspace).where(Workspace.name == workspace.name))
    except IntegrityError:
        # Something was created in the workspace after the count above (another server, between our reads):
        # its foreign key keeps the workspace, and the answer is RESTRICT's own, not a 500.
        raise MlflowError(
            f"Cannot delete workspace '{name}': resources were created in it while it was being deleted. "
            "Remove or reassign them before deleting the workspace.",
            ErrorCode.INVALID_STATE,
        ) from None
