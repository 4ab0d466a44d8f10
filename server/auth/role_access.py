"""Who may call the role API, by MLflow's validators (`validate_can_manage_roles` and its neighbours):

- administrators may do anything;
- a workspace's administrator (a user holding a role that grants MANAGE on the workspace, `*`) manages the roles
  of that workspace: creates them there, changes, deletes, grants, assigns and lists their users;
- a user holding any role in a workspace may read that workspace's roles and their grants, and list them;
- a user may list their own roles, and a workspace administrator those of a user present in their workspace.

A job's token acts on its run only and has no say here. Each route finds the role's workspace from the one field
it names (`role_id`, `role_permission_id`, or `workspace` on create), where MLflow takes whichever of the three
comes first: a request naming a role of one's own workspace cannot reach another workspace's grant or create a
role elsewhere. A role or grant that does not exist is refused, not reported, so its existence does not leak.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.auth.access import Access, permission_denied
from server.auth.identity import Principal
from server.errors import MlflowError
from server.permissions import Permission
from server.store import roles, users

# Managing a role: the workspace of the role, of the role's grant, or (creating one) the workspace named.
ROLE_MANAGE = Access("role", Permission.MANAGE, "role_id")
ROLE_PERMISSION_MANAGE = Access("role", Permission.MANAGE, "role_permission_id")
ROLE_CREATE = Access("role", Permission.MANAGE, "workspace")
# Reading a role and its grants: administrators and the holders of any role in its workspace.
ROLE_VIEW = Access("role", Permission.READ, "role_id")
# Listing roles: across the server, administrators only; by workspace, a user holding a role in each one named.
ROLES_LIST = Access("roles", Permission.READ, "workspace")
# A user's roles: administrators, the user, and the administrators of a workspace the user holds a role in.
USER_ROLES = Access("user_roles", Permission.READ, "username")

_LOCATORS = ("role_id", "role_permission_id", "workspace")
_MANAGED_BY = "roles of a workspace are managed by administrators and the workspace's administrators"
_SHOWN_TO = "a workspace's roles are shown to administrators and to the users holding a role in it"


def int_field(fields: Any, name: str) -> int | None:
    """An integer request field, as MLflow's role handlers read one (`int()` of what was sent); None if absent."""
    value = fields.raw(name)
    if isinstance(value, list):  # a query string field
        value = value[0] if value else None
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MlflowError.invalid_parameter(f"Parameter '{name}' must be an integer. Got: {value!r}") from None


def _acting_user(principal: Principal) -> None:
    if principal.run_id is not None:
        raise permission_denied("a job's token acts on its own run only")


def _workspace_of(field: str, fields: Any, session: Session) -> str | None:
    """The workspace the request acts in, found from `field`; None for a role or grant that does not exist."""
    if field == "workspace":
        workspace = fields.raw("workspace")
        if not isinstance(workspace, str) or not workspace.strip():
            raise MlflowError.invalid_parameter("Parameter 'workspace' must be a non-empty string.")
        return workspace
    number = int_field(fields, field)
    if number is None:
        return None
    if field == "role_permission_id":
        grant = roles.find_permission(session, number)
        number = grant.role_id if grant is not None else None
    role = roles.find_role(session, number) if number is not None else None
    return role.workspace if role is not None else None


def check_role(access: Access, fields: Any, session: Session, principal: Principal) -> Any:
    _acting_user(principal)
    if principal.is_admin:
        return fields
    if not any(fields.has(name) for name in _LOCATORS):
        raise MlflowError.invalid_parameter("Request must include one of: role_id, role_permission_id, workspace.")
    workspace = _workspace_of(access.field, fields, session) if fields.has(access.field) else None
    if access.need == Permission.MANAGE:
        if workspace is None or workspace not in roles.admin_workspaces(session, principal.user_id):
            raise permission_denied(_MANAGED_BY)
    elif workspace is None or workspace not in roles.workspaces_of_user(session, principal.user_id):
        raise permission_denied(_SHOWN_TO)
    return fields


def check_roles_list(access: Access, fields: Any, session: Session, principal: Principal) -> Any:
    _acting_user(principal)
    if principal.is_admin:
        return fields
    named = {w.strip() for w in fields.string_list(access.field) if w.strip()}
    if not named or not named <= roles.workspaces_of_user(session, principal.user_id):
        raise permission_denied(f"{_SHOWN_TO}; all of them, to administrators only")
    return fields


def check_user_roles(access: Access, fields: Any, session: Session, principal: Principal) -> Any:
    _acting_user(principal)
    username = fields.string(access.field)
    if principal.is_admin or username == principal.username:
        return fields
    target = users.find_user(session, username) if username else None
    if target is None or not (
        roles.admin_workspaces(session, principal.user_id) & roles.workspaces_of_user(session, target.id)
    ):
        raise permission_denied(
            "a user's roles are shown to that user, administrators and their workspaces' administrators"
        )
    return fields
