"""The rules behind MLflow's basic-auth account API: finding users with their grants, the admin flag, deleting a
user, changing a password, and each user's grants on experiments and registered models. The credentials these
build on (hashing, tokens, the first admin) are in services/users.py, which the CLI shares.

Some fields are passed as readers (callables) rather than values: the API finds the user before it reads them, so
an unknown user is reported ahead of a missing or malformed field, and a field that a rule does not need (an
administrator's `current_password`) is never read at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from server.auth import secrets as auth_secrets
from server.auth.identity import Principal
from server.auth.rules import Authorizer
from server.errors import ErrorCode, MlflowError
from server.permissions import Permission
from server.services import users as credentials
from server.store import users
from server.store.models import User

Key = TypeVar("Key", int, str)


@dataclass(frozen=True, slots=True)
class UserGrants:
    """A user's explicit grants: permission names by experiment id and by registered model name."""

    experiments: dict[int, str]
    registered_models: dict[str, str]


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the account API shows one: the row and its explicit grants."""

    user: User
    grants: UserGrants


@dataclass(frozen=True)
class Grants(Generic[Key]):
    """One kind of per-user grant, named as MLflow's messages name it; both kinds follow the same rules, so one
    set of functions below serves both."""

    resource_type: str  # as MLflow 3's per-user grant API names the kind
    label: str  # as the per-kind routes' messages name it
    field: str  # the request field naming the resource
    table: users.PermissionTable[Any, Key]


EXPERIMENTS: Grants[int] = Grants("experiment", "Experiment", "experiment_id", users.EXPERIMENT_PERMISSIONS)
REGISTERED_MODELS: Grants[str] = Grants(
    "registered_model", "Registered model", "name", users.REGISTERED_MODEL_PERMISSIONS
)


def _is_self(caller: Principal | None, username: str) -> bool:
    return caller is not None and caller.username == username


def _valid_permission(value: str) -> Permission:
    try:
        return Permission(value)
    except ValueError:
        names = ", ".join(p.value for p in Permission)
        raise MlflowError.invalid_parameter(f"Invalid permission '{value}'. Valid permissions are: ({names})") from None


# --- users ------------------------------------------------------------------------------------------------------


def get_user(session: Session, username: str) -> User:
    """The user by name; an unknown one is RESOURCE_DOES_NOT_EXIST."""
    return users.get_user(session, username)


def grants_of(session: Session, user_id: int) -> UserGrants:
    """Every explicit grant of one user, for showing the account and for the UI's choice of controls."""
    return UserGrants(users.experiment_grants(session, user_id), users.registered_model_grants(session, user_id))


def get_account(session: Session, username: str) -> Account:
    user = users.get_user(session, username)
    return Account(user, grants_of(session, user.id))


def create_account(session: Session, username: str | None, password: str | None) -> Account:
    """A user created over the API always has a password, as in MLflow (one first signed in over OIDC has none)."""
    if not username or not password:
        raise MlflowError.invalid_parameter("Username and password cannot be empty.")
    user = credentials.create_user(session, username, password)
    return Account(user, grants_of(session, user.id))


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return users.list_users(session)


def change_password(
    session: Session,
    username: str,
    password: str,
    *,
    caller: Principal | None,
    current_password: Callable[[], str | None],
) -> None:
    """Changing one's own password re-states the current one, so that a borrowed session cannot take the account;
    an administrator changing someone else's does not, and `current_password` is then not read."""
    user = users.get_user(session, username)
    if _is_self(caller, username):
        current = current_password()
        if not current:
            raise MlflowError.invalid_parameter("Current password is required when changing your own password.")
        if not auth_secrets.password_matches(user.password_hash, current):
            raise MlflowError.invalid_parameter("Current password does not match.")
        if password == current:
            raise MlflowError.invalid_parameter("New password must differ from the current password.")
    credentials.set_password(session, username, password)


def set_admin(session: Session, username: str, is_admin: bool) -> None:
    users.get_user(session, username).is_admin = is_admin


def delete_user(session: Session, username: str, *, caller: Principal | None) -> None:
    """A user with their tokens and grants. Deleting one's own account is refused, so that an administrator
    cannot remove the account they act as; that is checked before the user is looked up."""
    if _is_self(caller, username):
        raise MlflowError(
            "Users cannot delete their own account. Ask another admin to delete this user instead.",
            ErrorCode.BAD_REQUEST,
        )
    users.delete_user(session, username)


# --- the per-kind grant routes: create, get, update, delete -----------------------------------------------------


def _grant_not_found(grants: Grants[Key], resource: Key, user: User) -> MlflowError:
    return MlflowError.not_found(
        f"{grants.label} permission with {grants.field}={resource} and username={user.username} not found"
    )


def create_grant(
    session: Session, grants: Grants[Key], resource: Key, username: str, permission: Callable[[], str]
) -> tuple[User, str]:
    """A new grant, refused if the user holds one on the resource already (update changes it); returns the user
    and the permission granted. The permission is read once the user is found."""
    user = users.get_user(session, username)
    granted = _valid_permission(permission()).value
    if grants.table.row(session, resource, user.id) is not None:
        raise MlflowError.already_exists(
            f"{grants.label} permission ({grants.field}={resource}, username={user.username}) already exists"
        )
    grants.table.set(session, resource, user.id, granted)
    return user, granted


def get_grant(session: Session, grants: Grants[Key], resource: Key, username: str) -> tuple[User, str]:
    """The user and their explicit permission on the resource; without a grant, RESOURCE_DOES_NOT_EXIST (the
    server's default is not a grant)."""
    user = users.get_user(session, username)
    row = grants.table.row(session, resource, user.id)
    if row is None:
        raise _grant_not_found(grants, resource, user)
    return user, row.permission


def update_grant(
    session: Session, grants: Grants[Key], resource: Key, username: str, permission: Callable[[], str]
) -> None:
    """Changes an existing grant only (create makes one). The permission is read, and checked, before the grant is
    looked up, so a bad permission is reported ahead of a missing grant."""
    user = users.get_user(session, username)
    granted = _valid_permission(permission()).value
    row = grants.table.row(session, resource, user.id)
    if row is None:
        raise _grant_not_found(grants, resource, user)
    row.permission = granted


def delete_grant(session: Session, grants: Grants[Key], resource: Key, username: str) -> None:
    user = users.get_user(session, username)
    if not grants.table.delete(session, resource, user.id):
        raise _grant_not_found(grants, resource, user)


# --- MLflow 3's per-user grant API: the same rules, in its (resource_type, resource_id) wording -----------------


def grant_permission(
    session: Session, grants: Grants[Key], resource: Key, username: str, permission: Callable[[], str]
) -> None:
    """As `create_grant`; the permission is read once the user is found."""
    user = users.get_user(session, username)
    granted = _valid_permission(permission()).value
    if grants.table.row(session, resource, user.id) is not None:
        raise MlflowError.already_exists(
            f"Permission for user={user.username} on resource_type={grants.resource_type}, "
            f"resource_id={resource} already exists."
        )
    grants.table.set(session, resource, user.id, granted)


def revoke_permission(session: Session, grants: Grants[Key], resource: Key, username: str) -> None:
    user = users.get_user(session, username)
    if not grants.table.delete(session, resource, user.id):
        raise MlflowError.not_found(
            f"No permission for user={user.username} on resource_type={grants.resource_type}, resource_id={resource}."
        )


def effective_permission(
    session: Session, authorizer: Authorizer, grants: Grants[Key], resource: Key, username: str
) -> Permission:
    """The user's permission as a request of theirs would see it: their grant, else the server's default (an
    administrator's is MANAGE)."""
    user = users.get_user(session, username)
    target = Principal(user.id, user.username, user.is_admin)
    if grants is EXPERIMENTS:
        assert isinstance(resource, int)
        return authorizer.on_experiment(session, target, resource)
    assert isinstance(resource, str)
    return authorizer.on_registered_model(session, target, resource)
