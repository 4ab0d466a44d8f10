"""Users, API tokens and per-resource permissions."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import MlflowError
from server.store.models import ApiToken, ExperimentPermission, RegisteredModelPermission, User


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
    for table in (ApiToken, ExperimentPermission, RegisteredModelPermission):
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


def experiment_permission(session: Session, experiment_id: int, user_id: int) -> str | None:
    return session.scalar(
        select(ExperimentPermission.permission).where(
            ExperimentPermission.experiment_id == experiment_id, ExperimentPermission.user_id == user_id
        )
    )


def set_experiment_permission(session: Session, experiment_id: int, user_id: int, permission: str) -> None:
    row = session.get(ExperimentPermission, (experiment_id, user_id))
    if row is None:
        session.add(ExperimentPermission(experiment_id=experiment_id, user_id=user_id, permission=permission))
    else:
        row.permission = permission
    session.flush()


def experiment_permission_row(session: Session, experiment_id: int, user_id: int) -> ExperimentPermission | None:
    return session.get(ExperimentPermission, (experiment_id, user_id))


def delete_experiment_permission(session: Session, experiment_id: int, user_id: int) -> bool:
    """False when there was no such grant."""
    result = session.execute(
        delete(ExperimentPermission).where(
            ExperimentPermission.experiment_id == experiment_id, ExperimentPermission.user_id == user_id
        )
    )
    return bool(getattr(result, "rowcount", 0))


def registered_model_permission_row(session: Session, name: str, user_id: int) -> RegisteredModelPermission | None:
    return session.get(RegisteredModelPermission, (name, user_id))


def delete_registered_model_permission(session: Session, name: str, user_id: int) -> bool:
    result = session.execute(
        delete(RegisteredModelPermission).where(
            RegisteredModelPermission.name == name, RegisteredModelPermission.user_id == user_id
        )
    )
    return bool(getattr(result, "rowcount", 0))


def registered_model_permission(session: Session, name: str, user_id: int) -> str | None:
    return session.scalar(
        select(RegisteredModelPermission.permission).where(
            RegisteredModelPermission.name == name, RegisteredModelPermission.user_id == user_id
        )
    )


def set_registered_model_permission(session: Session, name: str, user_id: int, permission: str) -> None:
    row = session.get(RegisteredModelPermission, (name, user_id))
    if row is None:
        session.add(RegisteredModelPermission(name=name, user_id=user_id, permission=permission))
    else:
        row.permission = permission
    session.flush()


def experiment_grants(session: Session, user_id: int) -> dict[int, str]:
    """Every explicit experiment permission of one user, for filtering searches in SQL."""
    rows = session.execute(
        select(ExperimentPermission.experiment_id, ExperimentPermission.permission).where(
            ExperimentPermission.user_id == user_id
        )
    )
    return {int(experiment_id): str(permission) for experiment_id, permission in rows}


def registered_model_grants(session: Session, user_id: int) -> dict[str, str]:
    rows = session.execute(
        select(RegisteredModelPermission.name, RegisteredModelPermission.permission).where(
            RegisteredModelPermission.user_id == user_id
        )
    )
    return {str(name): str(permission) for name, permission in rows}


def rename_registered_model_permissions(session: Session, old: str, new: str) -> None:
    """Permissions are keyed by name, so they follow a rename (and go with a delete, below)."""
    session.execute(update(RegisteredModelPermission).where(RegisteredModelPermission.name == old).values(name=new))


def delete_registered_model_permissions(session: Session, name: str) -> None:
    session.execute(delete(RegisteredModelPermission).where(RegisteredModelPermission.name == name))


def revoke_run_tokens(session: Session, run_id: str) -> None:
    session.execute(
        update(ApiToken)
        .where(ApiToken.run_id == run_id, ApiToken.revoked_at_ms.is_(None))
        .values(revoked_at_ms=now_ms())
    )
