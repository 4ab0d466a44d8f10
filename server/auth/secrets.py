"""Passwords (argon2id, slow on purpose) and API tokens (random, stored as SHA-256, fast to check)."""

from __future__ import annotations

import functools
import hashlib
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

TOKEN_PREFIX = "ryd_"  # noqa: S105 (a prefix that makes leaked tokens recognisable, not a secret)


@functools.cache
def _hasher() -> PasswordHasher:
    """argon2 loads with the first password, so a server without `--auth` never imports it."""
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("Passwords must be at least 8 characters long.")
    return _hasher().hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
