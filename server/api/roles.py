"""MLflow 3's role API (basic-auth RBAC), so the stock `AuthServiceClient`'s role methods and the web UI's role
pages work against Runyard: roles in a workspace, their grants, and who holds them.

The thirteen routes, their JSON and their messages are MLflow's; who may call each is declared as its `Access`
(`auth/role_access.py`), and what a role's grants let a user do is decided with their per-user grants
(`auth/role_grants.py`). Like the rest of the account API, without `--auth` the routes answer 404.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.wire import Fields, missing
from server.auth import role_access, rules
from server.errors import ErrorCode, MlflowError
from server.services import roles as service
from server.store.role_models import RolePermission, UserRoleAssignment
from server.web.context import Context


def _require_auth(context: Context) -> None:
    """Without `--auth` MLflow has no role API, and neither do we."""
    if context.authorizer is None:
        raise MlflowError("No such endpoint: this server does not sign users in.", ErrorCode.ENDPOINT_NOT_FOUND)


def role_json(view: service.RoleView) -> dict[str, Any]:
    role = view.role
    return {
        "id": role.id,
        "name": role.name,
        "workspace": role.workspace,
        "description": role.description,
        "permissions": [permission_json(p) for p in view.permissions],
    }


def permission_json(row: RolePermission) -> dict[str, Any]:
    return {
        "id": row.id,
        "role_id": row.role_id,
        "resource_type": row.resource_type,
        "resource_pattern": row.resource_pattern,
        "permission": row.permission,
    }


def _assignment_json(row: UserRoleAssignment) -> dict[str, Any]:
    return {"id": row.id, "user_id": row.user_id, "role_id": row.role_id}


def _given(fields: Fields, name: str) -> Any:
    """A field as sent, whatever its type (the service says what is wrong with it); absent, MLflow's 400."""
    value = fields.raw(name)
    if isinstance(value, list) and fields.from_query:
        value = value[0] if value else None
    if value is None:
        raise missing(name)
    return value


def _id(fields: Fields, name: str) -> int:
    value = role_access.int_field(fields, name)
    if value is None:
        raise missing(name)
    return value


def _username(fields: Fields) -> str:
    username = _given(fields, "username")
    return username if isinstance(username, str) else str(username)


# --- roles ------------------------------------------------------------------------------------------------------


def create_role(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    name, workspace = _given(fields, "name"), _given(fields, "workspace")
    view = service.create_role(
        session,
        workspace,
        name,
        fields.raw("description"),
        workspaces_enabled=context.settings.enable_workspaces,
    )
    return {"role": role_json(view)}


def get_role(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    return {"role": role_json(service.get_role(session, _id(fields, "role_id")))}


def list_roles(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    """The roles of the workspaces named (`workspace`, repeated), or of every workspace."""
    _require_auth(context)
    named = fields.raw("workspace")
    in_workspaces = named if isinstance(named, list) else [] if named is None else [named]
    return {"roles": [role_json(view) for view in service.list_roles(session, in_workspaces)]}


def update_role(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    role_id = _id(fields, "role_id")
    view = service.update_role(session, role_id, fields.raw("name"), fields.raw("description"))
    return {"role": role_json(view)}


def delete_role(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    service.delete_role(session, _id(fields, "role_id"))
    return {}


# --- a role's grants --------------------------------------------------------------------------------------------


def add_role_permission(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    role_id = _id(fields, "role_id")
    resource_type, pattern = _given(fields, "resource_type"), _given(fields, "resource_pattern")
    permission = _given(fields, "permission")
    row = service.add_permission(session, role_id, resource_type, pattern, permission)
    return {"role_permission": permission_json(row)}


def remove_role_permission(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    service.remove_permission(session, _id(fields, "role_permission_id"))
    return {}


def list_role_permissions(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    rows = service.list_permissions(session, _id(fields, "role_id"))
    return {"role_permissions": [permission_json(row) for row in rows]}


def update_role_permission(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    role_permission_id = _id(fields, "role_permission_id")
    row = service.update_permission(session, role_permission_id, _given(fields, "permission"))
    return {"role_permission": permission_json(row)}


# --- who holds which role ---------------------------------------------------------------------------------------


def assign_role(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    username = _username(fields)
    assignment = service.assign(session, username, _id(fields, "role_id"))
    return {"assignment": _assignment_json(assignment)}


def unassign_role(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    username = _username(fields)
    service.unassign(session, username, _id(fields, "role_id"))
    return {}


def list_user_roles(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    """A user's roles; a workspace administrator is shown only those of the workspaces they administer."""
    _require_auth(context)
    views = service.roles_of_user(session, _username(fields), rules.current_principal())
    return {"roles": [role_json(view) for view in views]}


def list_role_users(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    rows = service.role_users(session, _id(fields, "role_id"))
    return {"assignments": [_assignment_json(row) for row in rows]}


RPCS = [
    Rpc("POST", "/mlflow/roles/create", create_role, since=3, access=role_access.ROLE_CREATE),
    Rpc("GET", "/mlflow/roles/get", get_role, since=3, access=role_access.ROLE_VIEW),
    Rpc("GET", "/mlflow/roles/list", list_roles, since=3, access=role_access.ROLES_LIST),
    Rpc("PATCH", "/mlflow/roles/update", update_role, since=3, access=role_access.ROLE_MANAGE),
    Rpc("DELETE", "/mlflow/roles/delete", delete_role, since=3, access=role_access.ROLE_MANAGE),
    Rpc("POST", "/mlflow/roles/permissions/add", add_role_permission, since=3, access=role_access.ROLE_MANAGE),
    Rpc(
        "DELETE",
        "/mlflow/roles/permissions/remove",
        remove_role_permission,
        since=3,
        access=role_access.ROLE_PERMISSION_MANAGE,
    ),
    Rpc("GET", "/mlflow/roles/permissions/list", list_role_permissions, since=3, access=role_access.ROLE_VIEW),
    Rpc(
        "PATCH",
        "/mlflow/roles/permissions/update",
        update_role_permission,
        since=3,
        access=role_access.ROLE_PERMISSION_MANAGE,
    ),
    Rpc("POST", "/mlflow/roles/assign", assign_role, since=3, access=role_access.ROLE_MANAGE),
    Rpc("DELETE", "/mlflow/roles/unassign", unassign_role, since=3, access=role_access.ROLE_MANAGE),
    Rpc("GET", "/mlflow/users/roles/list", list_user_roles, since=3, access=role_access.USER_ROLES),
    Rpc("GET", "/mlflow/roles/users/list", list_role_users, since=3, access=role_access.ROLE_MANAGE),
]
