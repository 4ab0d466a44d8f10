"""MLflow 3's workspace RPCs (`/api/3.0/mlflow/workspaces…`): list, create (201), get, update and delete (204, with
MLflow's `mode`). Served only with `--enable-workspaces`; without it every one of them says so."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.wire import Fields, invalid
from server.auth import rules
from server.errors import ErrorCode, MlflowError
from server.services import roles as roles_service
from server.services import workspaces as service
from server.store.workspace_models import Workspace
from server.web.context import Context

WORKSPACES_DISABLED = "Workspace APIs are not available: workspaces are not enabled on this server"


def workspace_json(workspace: Workspace) -> dict[str, Any]:
    body: dict[str, Any] = {"name": workspace.name}
    if workspace.description is not None:
        body["description"] = workspace.description
    if workspace.default_artifact_root is not None:
        body["default_artifact_root"] = workspace.default_artifact_root
    archival = {
        key: value
        for key, value in (
            ("location", workspace.trace_archival_location),
            ("retention", workspace.trace_archival_retention),
        )
        if value is not None
    }
    if archival:
        body["trace_archival_config"] = archival
    return body


def _enabled(context: Context) -> None:
    if not context.settings.enable_workspaces:
        raise MlflowError(WORKSPACES_DISABLED, ErrorCode.FEATURE_DISABLED)


def _optional_string(fields: Fields, name: str) -> str | None:
    value = fields.raw(name)
    if value is not None and not isinstance(value, str):
        raise invalid(name, value)
    return value


def list_workspaces(_: Fields, session: Session, context: Context) -> dict[str, Any]:
    """With --auth, a user who is not an administrator sees the workspaces they hold a role in (and `default` when
    it is open to everyone), as MLflow lists them."""
    _enabled(context)
    principal = rules.current_principal()
    shown = None
    if context.authorizer is not None and principal is not None and not principal.is_admin:
        shown = roles_service.workspaces_of(session, principal.user_id, context.authorizer.baseline)
    return {"workspaces": [workspace_json(workspace) for workspace in service.list_workspaces(session, shown)]}


def create_workspace(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _enabled(context)
    workspace = service.create_workspace(
        session,
        name=fields.required_string("name"),
        description=_optional_string(fields, "description"),
        default_artifact_root=_optional_string(fields, "default_artifact_root"),
    )
    if context.settings.auth and context.settings.rbac_seed_default_roles:
        roles_service.seed_default_roles(session, workspace.name)
    return {"workspace": workspace_json(workspace)}


def get_workspace(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _enabled(context)
    return {"workspace": workspace_json(service.get_workspace(session, fields.required_string("workspace_name")))}


def update_workspace(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _enabled(context)
    workspace = service.update_workspace(
        session,
        fields.required_string("workspace_name"),
        description=_optional_string(fields, "description"),
        default_artifact_root=_optional_string(fields, "default_artifact_root"),
    )
    return {"workspace": workspace_json(workspace)}


def delete_workspace(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _enabled(context)
    service.delete_workspace(session, fields.required_string("workspace_name"), fields.string("mode") or "RESTRICT")
    return {}


PATH = "/mlflow/workspaces"
RPCS = [
    Rpc("GET", PATH, list_workspaces, since=3, access=rules.SIGNED_IN),
    Rpc("POST", PATH, create_workspace, since=3, access=rules.ADMIN, status=201),
    Rpc("GET", f"{PATH}/{{workspace_name}}", get_workspace, since=3, access=rules.SIGNED_IN),
    Rpc("PATCH", f"{PATH}/{{workspace_name}}", update_workspace, since=3, access=rules.ADMIN),
    Rpc("DELETE", f"{PATH}/{{workspace_name}}", delete_workspace, since=3, access=rules.ADMIN, status=204),
]
