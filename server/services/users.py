"""Accounts: creating users with hashed passwords, the first admin, and tokens; shared by the CLI and the server."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.auth import secrets as auth_secrets
from server.clock import now_ms
from server.config import Settings
from server.errors import ErrorCode, MlflowError
from server.store import users
from server.store.models import ApiToken, User

DAY_MS = 86_400_000


def create_user(session: Session, username: str, password: str | None, *, is_admin: bool = False) -> User:
    try:
        password_hash = auth_secrets.hash_password(password) if password is not None else None
    except ValueError as exc:
        raise MlflowError.invalid_parameter(str(exc)) from None
    return users.create_user(session, username, password_hash, is_admin=is_admin)


def set_password(session: Session, username: str, password: str) -> None:
    user = users.get_user(session, username)
    try:
        user.password_hash = auth_secrets.hash_password(password)
    except ValueError as exc:
        raise MlflowError.invalid_parameter(str(exc)) from None


def issue_token(
    session: Session, username: str, name: str, *, expires_in_days: float | None, run_id: str | None = None
) -> tuple[ApiToken, str]:
    """The stored token row and the token itself, which is shown once and never stored."""
    user = users.get_user(session, username)
    token = auth_secrets.new_token()
    expires = now_ms() + int(expires_in_days * DAY_MS) if expires_in_days else None
    row = users.create_token(
        session, user, name, auth_secrets.token_digest(token), expires_at_ms=expires, run_id=run_id
    )
    return row, token


def bootstrap_admin(session: Session, settings: Settings) -> None:
    """With auth on, an empty user table gets its first admin from RUNYARD_ADMIN_USERNAME/PASSWORD. Without
    them the server refuses to start, rather than invent a default password (`mlflow server --app-name
    basic-auth` creates admin/password1234)."""
    if users.count_users(session):
        return
    if not (settings.admin_username and settings.admin_password):
        raise MlflowError(
            "Authentication is on and there are no users yet: set RUNYARD_ADMIN_USERNAME and "
            "RUNYARD_ADMIN_PASSWORD for the first admin (or create one with `runyard users create --admin`).",
            ErrorCode.INVALID_STATE,
        )
    create_user(session, settings.admin_username, settings.admin_password, is_admin=True)


def issue_admin_token(session: Session, name: str, *, days: float) -> tuple[int, str]:
    """A token for the first administrator, for processes the server starts itself (its embedded job worker)."""
    admin = session.scalar(select(User).where(User.is_admin.is_(True)).order_by(User.id).limit(1))
    if admin is None:
        raise MlflowError("No administrator exists to run the embedded worker as.", ErrorCode.INVALID_STATE)
    row, token = issue_token(session, admin.username, name, expires_in_days=days)
    return row.id, token
