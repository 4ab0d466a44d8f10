"""Users, API tokens and per-resource permissions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.clock import now_ms
from server.errors import MlflowError
from server.store import scope
from server.store.models import ApiToken, ExperimentPermission, RegisteredModelPermission, User
from server.store.role_models import UserRoleAssignment

Row = TypeVar("Row", ExperimentPermission, RegisteredModelPermission)
Key = TypeVar("Key", int, str)


def count_users(session: Session) -> int:
    return len(session.scalars(select(User.id).limit(1)).all())


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise MlflowError.not_found(f"User with username={username} not found")
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def create_user(session: Session, username: str, password_hash: str | None, *, is_admin: bool = False) -> User:
    if not username or len(username) > 255:
        raise MlflowError.invalid_parameter("Username must be 1 to 255 characters long.")
    if find_user(session, username) is not None:
        raise MlflowError.already_exists(f"User '{username}' already exists.")
    user = User(username=username, password_hash=password_hash, is_admin=is_admin, created_at_ms=now_ms())
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def delete_user(session: Session, username: str) -> None:
    user = get_user(session, username)
    for table in (ApiToken, ExperimentPermission, RegisteredModelPermission, UserRoleAssignment):
        session.execute(delete(table).where(table.user_id == user.id))
    session.delete(user)


def create_token(
    session: Session, user: User, name: str, digest: str, *, expires_at_ms: int | None, run_id: str | None = None
) -> ApiToken:
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_digest=digest,
        run_id=run_id,
        created_at_ms=now_ms(),
        expires_at_ms=expires_at_ms,
    )
    session.add(token)
    session.flush()
    return token


def find_token(session: Session, digest: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.token_digest == digest))


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    return list(session.scalars(query.where(ApiToken.user_id == user.id) if user else query))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise MlflowError.not_found(f"Token {token_id} not found")
    token.revoked_at_ms = token.revoked_at_ms or now_ms()
    return token


@dataclass(frozen=True, slots=True)
class PermissionTable(Generic[Row, Key]):
    """One kind of per-user grant: a table keyed by (resource key, user id) holding a permission name. Experiment
    and registered-model grants are stored the same way, so one set of routines serves both. A registered model is
    named within its workspace, so its grants carry the workspace too (`by_workspace`): a grant on one team's
    `ranker` says nothing about another team's."""

    model: type[Row]
    key: InstrumentedAttribute[Key]  # the column naming the resource
    key_type: type[Key]
    by_workspace: bool = False

    def _where(self, key: Key, user_id: int) -> list[ColumnElement[bool]]:
        return [self.key == key, self.model.user_id == user_id, *self._in_workspace()]

    def _in_workspace(self) -> list[ColumnElement[bool]]:
        if not self.by_workspace:
            return []
        return [getattr(self.model, "workspace") == scope.current_or_default()]  # noqa: B009 - not on every model

    def permission(self, session: Session, key: Key, user_id: int) -> str | None:
        return session.scalar(select(self.model.permission).where(*self._where(key, user_id)))

    def row(self, session: Session, key: Key, user_id: int) -> Row | None:
        return session.scalars(select(self.model).where(*self._where(key, user_id))).one_or_none()

    def set(self, session: Session, key: Key, user_id: int, permission: str) -> None:
        row = self.row(session, key, user_id)
        if row is None:
            placed = {"workspace": scope.current_or_default()} if self.by_workspace else {}
            session.add(self.model(**{self.key.key: key}, user_id=user_id, permission=permission, **placed))
        else:
            row.permission = permission
        session.flush()

    def delete(self, session: Session, key: Key, user_id: int) -> bool:
        """False when there was no such grant."""
        result = session.execute(delete(self.model).where(*self._where(key, user_id)))
        return bool(getattr(result, "rowcount", 0))

    def grants(self, session: Session, user_id: int) -> dict[Key, str]:
        """Every explicit grant of one user, for filtering searches in SQL."""
        query = select(self.key, self.model.permission).where(self.model.user_id == user_id, *self._in_workspace())
        return {self.key_type(key): str(permission) for key, permission in session.execute(query)}


EXPERIMENT_PERMISSIONS = PermissionTable(ExperimentPermission, ExperimentPermission.experiment_id, int)
REGISTERED_MODEL_PERMISSIONS = PermissionTable(
    RegisteredModelPermission, RegisteredModelPermission.name, str, by_workspace=True
)


def experiment_permission(session: Session, experiment_id: int, user_id: int) -> str | None:
    return EXPERIMENT_PERMISSIONS.permission(session, experiment_id, user_id)


def set_experiment_permission(session: Session, experiment_id: int, user_id: int, permission: str) -> None:
    EXPERIMENT_PERMISSIONS.set(session, experiment_id, user_id, permission)


def registered_model_permission(session: Session, name: str, user_id: int) -> str | None:
    return REGISTERED_MODEL_PERMISSIONS.permission(session, name, user_id)


def set_registered_model_permission(session: Session, name: str, user_id: int, permission: str) -> None:
    REGISTERED_MODEL_PERMISSIONS.set(session, name, user_id, permission)


def experiment_grants(session: Session, user_id: int) -> dict[int, str]:
    """Every explicit experiment permission of one user, for filtering searches in SQL."""
    return EXPERIMENT_PERMISSIONS.grants(session, user_id)


def registered_model_grants(session: Session, user_id: int) -> dict[str, str]:
    return REGISTERED_MODEL_PERMISSIONS.grants(session, user_id)


def rename_registered_model_permissions(session: Session, old: str, new: str) -> None:
    """Permissions are keyed by name (in the request's workspace), so they follow a rename (and go with a delete)."""
    session.execute(
        update(RegisteredModelPermission)
        .where(RegisteredModelPermission.name == old, RegisteredModelPermission.workspace == scope.current_or_default())
        .values(name=new)
    )


def delete_registered_model_permissions(session: Session, name: str) -> None:
    session.execute(
        delete(RegisteredModelPermission).where(
            RegisteredModelPermission.name == name, RegisteredModelPermission.workspace == scope.current_or_default()
        )
    )


def job_token_name(job_id: str) -> str:
    return f"job {job_id}"


def revoke_job_tokens(session: Session, job_id: str, run_id: str | None) -> None:
    """A project job's tokens act on its run and are found by it; a GenAI job has no run, and its token (which
    acts for the user who submitted the job) is found by its name."""
    which = ApiToken.run_id == run_id if run_id is not None else ApiToken.name == job_token_name(job_id)
    session.execute(update(ApiToken).where(which, ApiToken.revoked_at_ms.is_(None)).values(revoked_at_ms=now_ms()))
