"""The rules of MLflow 3's role API (basic-auth RBAC), with its messages: what a role may be called and where it
lives, which grants a role may carry, and who is shown which roles.

A grant names a resource type, a pattern (an id or name, or `*`) and a permission. The types and the grain each
accepts are MLflow's (`permissions.TYPE`): the workspace itself and the sub-resources (runs, traces, ...) take
`*` only. Runyard stores every valid grant, but only those on experiments, registered models, skills, MCP servers
(and their versions' tier) and the workspace change what a request may do (`auth/role_grants.py`); the rest are kept
for MLflow clients that read them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from server.auth.identity import Principal
from server.auth.role_grants import DENY, MLFLOW_PERMISSIONS, USE, Baseline
from server.errors import ErrorCode, MlflowError
from server.store import roles, users, workspaces
from server.store import skills as skill_store
from server.store.role_models import (
    RESOURCE_PATTERN_LENGTH,
    ROLE_NAME_LENGTH,
    Role,
    RolePermission,
    UserRoleAssignment,
)
from server.store.roles import WORKSPACE_TYPE
from server.store.workspace_models import DEFAULT_WORKSPACE

# Each resource type, and whether its grants may name one resource (else `*` only), as MLflow declares them.
RESOURCE_TYPES: dict[str, bool] = {
    WORKSPACE_TYPE: False,
    "experiment": True,
    "registered_model": True,
    "prompt": True,
    "scorer": True,
    "gateway_secret": True,
    "gateway_endpoint": True,
    "gateway_model_definition": True,
    "mcp_server": True,
    skill_store.GRANT_TYPE: True,
    "run": False,
    "trace": False,
    "assessment": False,
    "logged_model": False,
    "review_queue": False,
    "registered_model_version": False,
    "prompt_version": False,
    "scorer_version": False,
    "mcp_server_version": False,
}
# On the workspace: USE makes a member, MANAGE an administrator. On a resource: no NO_PERMISSIONS (an absent grant
# says that already).
WORKSPACE_GRANTABLE = ("MANAGE", USE)
RESOURCE_GRANTABLE = (DENY, "EDIT", "MANAGE", "READ", USE)
# A skill has nothing to USE: MLflow's Skill Registry grants leave it out.
SKILL_GRANTABLE = (DENY, "EDIT", "MANAGE", "READ")
# MLflow keeps each user's direct grants in a role named `__user_<id>__`; the whole prefix is reserved.
RESERVED_PREFIX = "__user_"


@dataclass(frozen=True, slots=True)
class RoleView:
    """A role as the API shows one: the row and its grants."""

    role: Role
    permissions: list[RolePermission]


def _views(session: Session, found: Sequence[Role]) -> list[RoleView]:
    grants = roles.permissions_of(session, [role.id for role in found])
    return [RoleView(role, grants[role.id]) for role in found]


def _view(session: Session, role: Role) -> RoleView:
    return _views(session, [role])[0]


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise MlflowError.invalid_parameter("Role name cannot be empty.")
    if name.startswith(RESERVED_PREFIX):
        raise MlflowError.invalid_parameter(
            f"Role name {name!r} uses the reserved '{RESERVED_PREFIX}' prefix, which is held for the per-user "
            "permission representation. Choose a different name."
        )
    if len(name) > ROLE_NAME_LENGTH:
        raise MlflowError.invalid_parameter(f"Role name must be at most {ROLE_NAME_LENGTH} characters long.")
    return name


def _check_permission(permission: Any, resource_type: Any) -> None:
    """MLflow's order: a known permission, a known type, then one the type accepts."""
    if permission not in MLFLOW_PERMISSIONS:
        raise MlflowError.invalid_parameter(
            f"Invalid permission '{permission}'. Valid permissions are: {MLFLOW_PERMISSIONS}"
        )
    _check_type(resource_type)
    if resource_type == WORKSPACE_TYPE:
        if permission not in WORKSPACE_GRANTABLE:
            raise MlflowError.invalid_parameter(
                f"Invalid permission '{permission}' for resource_type='{WORKSPACE_TYPE}'. "
                f"Workspace-wide grants accept only: {WORKSPACE_GRANTABLE}."
            )
    elif resource_type == skill_store.GRANT_TYPE:
        if permission not in SKILL_GRANTABLE:
            raise MlflowError.invalid_parameter(
                f"Invalid permission '{permission}' for resource_type='{resource_type}'. "
                f"Skill Registry grants accept only: {SKILL_GRANTABLE}."
            )
    elif permission not in RESOURCE_GRANTABLE:
        raise MlflowError.invalid_parameter(
            f"Invalid permission '{permission}' for resource_type='{resource_type}'. "
            f"Resource-level grants accept only: {RESOURCE_GRANTABLE}."
        )


def _check_type(resource_type: Any) -> None:
    if resource_type not in RESOURCE_TYPES:
        raise MlflowError.invalid_parameter(
            f"Invalid resource type '{resource_type}'. Valid resource types are: {tuple(sorted(RESOURCE_TYPES))}"
        )


def _check_pattern(pattern: Any, resource_type: str) -> str:
    if pattern == "*":
        return "*"
    if not RESOURCE_TYPES[resource_type]:
        raise MlflowError.invalid_parameter(
            f"Invalid resource_pattern '{pattern}' for resource_type='{resource_type}'. This resource type supports "
            "only wildcard ('*') grants."
        )
    if not isinstance(pattern, str):
        raise MlflowError.invalid_parameter(f"Invalid resource_pattern '{pattern}': it must be a string.")
    if len(pattern) > RESOURCE_PATTERN_LENGTH:
        raise MlflowError.invalid_parameter(
            f"Resource pattern must be at most {RESOURCE_PATTERN_LENGTH} characters long."
        )
    if resource_type == skill_store.GRANT_TYPE:
        identity = skill_store.parse_grant_key(pattern)
        if identity is None:
            raise MlflowError.invalid_parameter(
                "Invalid Skill Registry resource_id. Expected 'name' or '@organization/name'."
            )
        return skill_store.grant_key(*identity)
    return pattern


# --- roles ------------------------------------------------------------------------------------------------------


def create_role(session: Session, workspace: Any, name: Any, description: Any, *, workspaces_enabled: bool) -> RoleView:
    """A role in an existing workspace. Without workspaces there is only `default`: a role anywhere else would
    never grant anything, so it is refused rather than kept."""
    if not isinstance(name, str) or not name.strip():
        raise MlflowError.invalid_parameter("Role name cannot be empty.")
    if not isinstance(workspace, str) or not workspace.strip():
        raise MlflowError.invalid_parameter("Workspace cannot be empty.")
    if description is not None and not isinstance(description, str):
        raise MlflowError.invalid_parameter("Role description must be a string or null.")
    _check_name(name)
    if not workspaces_enabled and workspace != DEFAULT_WORKSPACE:
        raise MlflowError(
            f"Workspace '{workspace}' is not available: workspaces are not enabled on this server, so roles live in "
            f"workspace '{DEFAULT_WORKSPACE}'.",
            ErrorCode.FEATURE_DISABLED,
        )
    workspaces.get_workspace(session, workspace)
    return RoleView(roles.create_role(session, workspace, name, description), [])


# The roles MLflow seeds into each new workspace when auth is on (MLFLOW_RBAC_SEED_DEFAULT_ROLES): a name, the
# workspace-wide permission it grants, and its description.
DEFAULT_WORKSPACE_ROLES = (
    ("admin", "MANAGE", "Full MANAGE authority over the workspace."),
    (
        "user",
        USE,
        "Read every resource in the workspace and create new experiments and registered models; the creator of a "
        "resource manages it, without write or delete access to resources owned by other users.",
    ),
)


def seed_default_roles(session: Session, workspace: str) -> None:
    """A new workspace starts with the two roles an admin hands out to its people, in the same transaction as the
    workspace itself (MLflow adds them after the fact and logs a failure instead)."""
    for name, permission, description in DEFAULT_WORKSPACE_ROLES:
        role = roles.create_role(session, workspace, name, description)
        roles.add_permission(session, role.id, WORKSPACE_TYPE, "*", permission)


def workspaces_of(session: Session, user_id: int, baseline: Baseline) -> set[str]:
    """The workspaces a user belongs to: those they hold a role in, and `default` when it is open to everyone."""
    found = roles.workspaces_of_user(session, user_id)
    if not baseline.bounded or baseline.open_default_workspace:
        found.add(DEFAULT_WORKSPACE)
    return found


def get_role(session: Session, role_id: int) -> RoleView:
    return _view(session, roles.get_role(session, role_id))


def list_roles(session: Session, in_workspaces: Sequence[Any]) -> list[RoleView]:
    """Every role (none named), or those of the named workspaces."""
    for workspace in in_workspaces:
        if not isinstance(workspace, str) or not workspace.strip():
            raise MlflowError.invalid_parameter("Parameter 'workspace' must be a non-empty string when provided.")
    return _views(session, roles.list_roles(session, list(in_workspaces) if in_workspaces else None))


def update_role(session: Session, role_id: int, name: Any, description: Any) -> RoleView:
    if name is None and description is None:
        raise MlflowError.invalid_parameter(
            "At least one of 'name' or 'description' must be provided to update a role."
        )
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise MlflowError.invalid_parameter("Role name cannot be empty.")
    if description is not None and not isinstance(description, str):
        raise MlflowError.invalid_parameter("Role description must be a string.")
    if name is not None:
        _check_name(name)
    role = roles.get_role(session, role_id)
    if name is not None:
        roles.rename_role(session, role, name)
    if description is not None:
        role.description = description
    return _view(session, role)


def delete_role(session: Session, role_id: int) -> None:
    roles.delete_role(session, roles.get_role(session, role_id))


# --- a role's grants --------------------------------------------------------------------------------------------


def add_permission(
    session: Session, role_id: int, resource_type: Any, resource_pattern: Any, permission: Any
) -> RolePermission:
    """The grant is checked before the role is looked up, as in MLflow."""
    _check_permission(permission, resource_type)
    pattern = _check_pattern(resource_pattern, resource_type)
    roles.get_role(session, role_id)
    return roles.add_permission(session, role_id, resource_type, pattern, permission)


def remove_permission(session: Session, role_permission_id: int) -> None:
    roles.remove_permission(session, roles.get_permission(session, role_permission_id))


def list_permissions(session: Session, role_id: int) -> list[RolePermission]:
    return roles.permissions_of(session, [roles.get_role(session, role_id).id])[role_id]


def update_permission(session: Session, role_permission_id: int, permission: Any) -> RolePermission:
    """Only the permission changes (a different type or pattern is a different grant); the grant is looked up
    before the new permission is checked, as in MLflow."""
    row = roles.get_permission(session, role_permission_id)
    _check_permission(permission, row.resource_type)
    row.permission = permission
    return row


# --- who holds which role ---------------------------------------------------------------------------------------


def assign(session: Session, username: str, role_id: int) -> UserRoleAssignment:
    user = users.get_user(session, username)
    roles.get_role(session, role_id)
    return roles.assign(session, user.id, role_id)


def unassign(session: Session, username: str, role_id: int) -> None:
    roles.unassign(session, users.get_user(session, username).id, role_id)


def role_users(session: Session, role_id: int) -> list[UserRoleAssignment]:
    roles.get_role(session, role_id)
    return roles.assignments_of_role(session, role_id)


def _shown_to(session: Session, caller: Principal | None, username: str) -> set[str] | None:
    """The workspaces whose roles `caller` is shown of the user `username`: all of them (None) for an
    administrator and for the user themself, else those the caller administers."""
    if caller is None or caller.is_admin or caller.username == username:
        return None
    return roles.admin_workspaces(session, caller.user_id)


def roles_of_user(session: Session, username: str, caller: Principal | None) -> list[RoleView]:
    user = users.get_user(session, username)
    shown = _shown_to(session, caller, username)
    return _views(session, [r for r in roles.roles_of_user(session, user.id) if shown is None or r.workspace in shown])


def roles_by_user(session: Session, caller: Principal | None) -> dict[int, list[RoleView]]:
    """Every user's roles (by user id) for the roster, each list cut to what the caller is shown of that user."""
    everyone = roles.roles_by_user(session)
    views = {
        view.role.id: view for view in _views(session, list({r.id: r for rs in everyone.values() for r in rs}.values()))
    }
    administered = None if caller is None or caller.is_admin else roles.admin_workspaces(session, caller.user_id)
    shown: dict[int, list[RoleView]] = {}
    for user_id, held in everyone.items():
        mine = caller is not None and caller.user_id == user_id
        shown[user_id] = [views[r.id] for r in held if administered is None or mine or r.workspace in administered]
    return shown


def grants_of_user(session: Session, user_id: int) -> list[tuple[Role, RolePermission]]:
    """Every grant reaching the user through a role, with the role it comes from."""
    return [
        (view.role, grant)
        for view in _views(session, roles.roles_of_user(session, user_id))
        for grant in view.permissions
    ]
