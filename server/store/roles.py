"""Queries on roles, their grants and who holds them, with MLflow's wording for what is missing or taken.

What a grant may say (types, patterns, permission names) is checked above, in `services/roles.py`; what grants are
worth to a request is decided in `auth/role_grants.py`, from the rows `grants_of` reads here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.store.role_models import Role, RolePermission, UserRoleAssignment

WORKSPACE_TYPE = "workspace"  # the resource type of a workspace-wide grant (pattern `*`)
ADMIN_PERMISSION = "MANAGE"  # a workspace-wide MANAGE makes its holder the workspace's administrator


@dataclass(frozen=True, slots=True)
class GrantRow:
    """One grant reaching a user through a role: where it holds, on what, and how much."""

    workspace: str
    resource_type: str
    resource_pattern: str
    permission: str


# --- roles ------------------------------------------------------------------------------------------------------


def get_role(session: Session, role_id: int) -> Role:
    role = find_role(session, role_id)
    if role is None:
        raise MlflowError.not_found(f"Role with id={role_id} not found")
    return role


def find_role(session: Session, role_id: int) -> Role | None:
    return session.get(Role, role_id) if _fits(role_id) else None


def create_role(session: Session, workspace: str, name: str, description: str | None) -> Role:
    """A new role; the name must be free in its workspace (the unique index settles a race with another writer)."""
    if _named(session, workspace, name) is not None:
        raise _role_exists(workspace, name)
    role = Role(workspace=workspace, name=name, description=description)
    session.add(role)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise _role_exists(workspace, name) from None
    return role


def rename_role(session: Session, role: Role, name: str) -> None:
    other = _named(session, role.workspace, name)
    if other is not None and other.id != role.id:
        raise MlflowError.already_exists(f"Role with name={name} already exists in workspace={role.workspace}")
    role.name = name


def list_roles(session: Session, workspaces: Collection[str] | None = None) -> list[Role]:
    """Every role, or those of the given workspaces, oldest first."""
    query = select(Role).order_by(Role.id)
    if workspaces is not None:
        query = query.where(Role.workspace.in_(list(workspaces)))
    return list(session.scalars(query))


def delete_role(session: Session, role: Role) -> None:
    """The role with its grants and assignments (the foreign keys cascade)."""
    session.delete(role)


def _fits(number: int) -> bool:
    """Ids are 32-bit: a larger number names nothing (and the drivers would refuse it)."""
    return -(2**31) <= number < 2**31


def _named(session: Session, workspace: str, name: str) -> Role | None:
    return session.scalar(select(Role).where(Role.workspace == workspace, Role.name == name))


def _role_exists(workspace: str, name: str) -> MlflowError:
    return MlflowError.already_exists(f"Role (name={name}, workspace={workspace}) already exists.")


# --- a role's grants --------------------------------------------------------------------------------------------


def permissions_of(session: Session, role_ids: Sequence[int]) -> dict[int, list[RolePermission]]:
    """The grants of each role, in the order they were added; a role without any maps to an empty list."""
    found: dict[int, list[RolePermission]] = {role_id: [] for role_id in role_ids}
    if role_ids:
        query = select(RolePermission).where(RolePermission.role_id.in_(list(role_ids))).order_by(RolePermission.id)
        for permission in session.scalars(query):
            found[permission.role_id].append(permission)
    return found


def add_permission(
    session: Session, role_id: int, resource_type: str, resource_pattern: str, permission: str
) -> RolePermission:
    """A new grant on the role; one per (type, pattern), changed afterwards with `update`."""
    taken = session.scalar(
        select(RolePermission.id).where(
            RolePermission.role_id == role_id,
            RolePermission.resource_type == resource_type,
            RolePermission.resource_pattern == resource_pattern,
        )
    )
    exists = MlflowError.already_exists(
        f"Role permission (role_id={role_id}, resource_type={resource_type}, "
        f"resource_pattern={resource_pattern}) already exists."
    )
    if taken is not None:
        raise exists
    row = RolePermission(
        role_id=role_id, resource_type=resource_type, resource_pattern=resource_pattern, permission=permission
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise exists from None
    return row


def get_permission(session: Session, role_permission_id: int) -> RolePermission:
    row = find_permission(session, role_permission_id)
    if row is None:
        raise MlflowError.not_found(f"Role permission with id={role_permission_id} not found")
    return row


def find_permission(session: Session, role_permission_id: int) -> RolePermission | None:
    return session.get(RolePermission, role_permission_id) if _fits(role_permission_id) else None


def remove_permission(session: Session, row: RolePermission) -> None:
    session.delete(row)


# --- assignments ------------------------------------------------------------------------------------------------


def assign(session: Session, user_id: int, role_id: int) -> UserRoleAssignment:
    exists = MlflowError.already_exists(f"User role assignment (user_id={user_id}, role_id={role_id}) already exists")
    if _assignment(session, user_id, role_id) is not None:
        raise exists
    row = UserRoleAssignment(user_id=user_id, role_id=role_id)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise exists from None
    return row


def unassign(session: Session, user_id: int, role_id: int) -> None:
    row = _assignment(session, user_id, role_id) if _fits(role_id) else None
    if row is None:
        raise MlflowError.not_found(f"User role assignment (user_id={user_id}, role_id={role_id}) not found")
    session.delete(row)


def _assignment(session: Session, user_id: int, role_id: int) -> UserRoleAssignment | None:
    return session.scalar(
        select(UserRoleAssignment).where(UserRoleAssignment.user_id == user_id, UserRoleAssignment.role_id == role_id)
    )


def roles_of_user(session: Session, user_id: int) -> list[Role]:
    query = (
        select(Role)
        .join(UserRoleAssignment, UserRoleAssignment.role_id == Role.id)
        .where(UserRoleAssignment.user_id == user_id)
        .order_by(Role.id)
    )
    return list(session.scalars(query))


def roles_by_user(session: Session) -> dict[int, list[Role]]:
    """Every user's roles at once (by user id), for the roster the admin page shows."""
    query = (
        select(UserRoleAssignment.user_id, Role)
        .join(Role, UserRoleAssignment.role_id == Role.id)
        .order_by(UserRoleAssignment.user_id, Role.id)
    )
    found: dict[int, list[Role]] = {}
    for user_id, role in session.execute(query).tuples():
        found.setdefault(user_id, []).append(role)
    return found


def assignments_of_role(session: Session, role_id: int) -> list[UserRoleAssignment]:
    query = select(UserRoleAssignment).where(UserRoleAssignment.role_id == role_id).order_by(UserRoleAssignment.id)
    return list(session.scalars(query))


def workspaces_of_user(session: Session, user_id: int) -> set[str]:
    """The workspaces where the user holds at least one role."""
    query = (
        select(Role.workspace)
        .join(UserRoleAssignment, UserRoleAssignment.role_id == Role.id)
        .where(UserRoleAssignment.user_id == user_id)
        .distinct()
    )
    return set(session.scalars(query))


def admin_workspaces(session: Session, user_id: int) -> set[str]:
    """The workspaces the user administers: those where a role of theirs grants MANAGE on the workspace (`*`)."""
    query = (
        select(Role.workspace)
        .join(UserRoleAssignment, UserRoleAssignment.role_id == Role.id)
        .join(RolePermission, RolePermission.role_id == Role.id)
        .where(
            UserRoleAssignment.user_id == user_id,
            RolePermission.resource_type == WORKSPACE_TYPE,
            RolePermission.resource_pattern == "*",
            RolePermission.permission == ADMIN_PERMISSION,
        )
        .distinct()
    )
    return set(session.scalars(query))


def grants_of(session: Session, user_id: int, resource_type: str, workspace: str | None = None) -> list[GrantRow]:
    """The grants reaching the user through roles on `resource_type`, with the workspace-wide ones (which speak
    for every type), in every workspace or in `workspace` only. One query: this runs on every permission check of
    a user who is not an administrator."""
    query = (
        select(Role.workspace, RolePermission.resource_type, RolePermission.resource_pattern, RolePermission.permission)
        .join(UserRoleAssignment, UserRoleAssignment.role_id == Role.id)
        .join(RolePermission, RolePermission.role_id == Role.id)
        .where(
            UserRoleAssignment.user_id == user_id,
            RolePermission.resource_type.in_((resource_type, WORKSPACE_TYPE)),
        )
    )
    if workspace is not None:
        query = query.where(Role.workspace == workspace)
    return [GrantRow(*row) for row in session.execute(query).tuples()]


def delete_for_workspace(session: Session, workspace: str) -> None:
    """A deleted workspace's roles go with it, as in MLflow (their grants and assignments cascade)."""
    session.execute(delete(Role).where(Role.workspace == workspace))


# --- a user's own grants (MLflow's per-user role) ----------------------------------------------------------------

USER_ROLE = "__user_{user_id}__"  # the role MLflow keeps a user's own grants in, one per workspace


def grant_to_user(
    session: Session, user_id: int, workspace: str, resource_type: str, resource_pattern: str, permission: str
) -> None:
    """Set the user's own grant on a resource, as MLflow's `grant_user_permissions` does: a grant of the user's
    per-user role in `workspace`, made (and assigned to the user) on first use; an existing grant is replaced."""
    name = USER_ROLE.format(user_id=user_id)
    role = _named(session, workspace, name)
    if role is None:
        role = create_role(session, workspace, name, None)
        session.add(UserRoleAssignment(user_id=user_id, role_id=role.id))
        session.flush()
    row = session.scalar(
        select(RolePermission).where(
            RolePermission.role_id == role.id,
            RolePermission.resource_type == resource_type,
            RolePermission.resource_pattern == resource_pattern,
        )
    )
    if row is None:
        add_permission(session, role.id, resource_type, resource_pattern, permission)
    else:
        row.permission = permission


def delete_grants_on(session: Session, workspace: str, resource_type: str, resource_pattern: str) -> None:
    """Every role's grant on one resource of `workspace` (the resource is gone; a later one of the same name must
    not inherit them)."""
    in_workspace = select(Role.id).where(Role.workspace == workspace)
    session.execute(
        delete(RolePermission).where(
            RolePermission.resource_type == resource_type,
            RolePermission.resource_pattern == resource_pattern,
            RolePermission.role_id.in_(in_workspace),
        )
    )
