"""Who is calling: HTTP Basic (a user's password), a Runyard API token, or an OIDC JWT, each as the stock
client sends it (MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_TRACKING_TOKEN).

Password checks are argon2, tens of milliseconds by design, so a verified (user, password) pair is remembered
for a minute under a keyed hash; tokens are remembered for 30 seconds, which bounds how long a revoked token or
a changed password keeps working on a server process that did not make the change. The process that makes the
change (the user API) calls `Authenticator.forget`, so there it takes effect at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from server.auth import secrets as auth_secrets
from server.auth.oidc import OidcVerifier, looks_like_jwt
from server.clock import now_ms
from server.config import Settings
from server.errors import ErrorCode, MlflowError
from server.store import users
from server.store.engine import Database

PASSWORD_CACHE_S = 60.0
TOKEN_CACHE_S = 30.0


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    is_admin: bool
    run_id: str | None = None  # set for a job's token: it acts on that one run only
    signed: bool = False  # a signed artifact URL: the signature, checked already, is the whole authorisation
    basic: bool = False  # signed in with HTTP Basic, so the browser can sign out by replacing its credentials


SIGNED_URL = Principal(0, "<signed URL>", False, signed=True)


def unauthenticated(reason: str = "") -> MlflowError:
    return MlflowError(
        "You are not authenticated. Sign in with HTTP Basic (MLFLOW_TRACKING_USERNAME and "
        f"MLFLOW_TRACKING_PASSWORD) or a bearer token (MLFLOW_TRACKING_TOKEN).{' ' + reason if reason else ''}",
        ErrorCode.UNAUTHENTICATED,
    )


class _TtlCache:
    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] < time.monotonic():
                self._entries.pop(key, None)
                return None
            return entry[1]

    def put(self, key: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl_s, principal)

    def drop(self, matches: Callable[[Principal], bool]) -> None:
        with self._lock:
            for key in [k for k, (_, p) in self._entries.items() if matches(p)]:
                del self._entries[key]


class Authenticator:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.oidc = (
            OidcVerifier(
                settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks_url, settings.oidc_username_claim
            )
            if settings.oidc_issuer
            else None
        )
        self._key = secrets.token_bytes(32)  # cache keys are keyed hashes: memory never holds a password
        self._passwords = _TtlCache(PASSWORD_CACHE_S)
        self._tokens = _TtlCache(TOKEN_CACHE_S)
        # username -> when its credentials last changed; a check that began before then is not remembered
        self._changed: dict[str, float] = {}
        self._changed_lock = threading.Lock()

    def forget(self, username: str) -> None:
        """Drop what is remembered about `username` (password changed, admin flag changed, user deleted). Call it
        once the change is committed: a check that read the old row and finishes later is not cached either."""
        with self._changed_lock:
            self._changed[username] = time.monotonic()
        self._passwords.drop(lambda p: p.username == username)
        self._tokens.drop(lambda p: p.username == username)

    def forget_job(self, run_id: str | None, creator: str | None) -> None:
        """Drop the remembered tokens of a job once they are revoked, so they stop working at once here: a project
        job's act on its run; a GenAI job's act for its creator (whose other tokens are simply checked again)."""
        if run_id is not None:
            self._tokens.drop(lambda p: p.run_id == run_id)
        elif creator is not None:
            self._tokens.drop(lambda p: p.username == creator and p.run_id is None)

    def _remember(self, cache: _TtlCache, authorization: str, principal: Principal, started: float) -> None:
        with self._changed_lock:
            changed = self._changed.get(principal.username)
        if changed is None or started > changed:
            cache.put(self._cache_key(authorization), principal)

    def cached(self, authorization: str) -> Principal | None:
        """The principal for an Authorization header seen recently, without touching the database."""
        cache = self._passwords if authorization[:6].lower() == "basic " else self._tokens
        return cache.get(self._cache_key(authorization))

    def authenticate(self, authorization: str) -> Principal:
        """Blocking (database, argon2): call from a worker thread."""
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        started = time.monotonic()
        if scheme.lower() == "basic":
            principal = self._basic(credentials)
            self._remember(self._passwords, authorization, principal, started)
        elif scheme.lower() == "bearer" and credentials:
            principal = self._bearer(credentials)
            self._remember(self._tokens, authorization, principal, started)
        else:
            raise unauthenticated(f"Unsupported authorization scheme {scheme!r}.")
        return principal

    def _cache_key(self, authorization: str) -> str:
        return hmac.new(self._key, authorization.encode(), hashlib.sha256).hexdigest()

    def _basic(self, credentials: str) -> Principal:
        try:
            username, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthenticated("Malformed Basic credentials.") from None
        with self.db.read() as session:
            user = users.find_user(session, username)
            if user is None or not auth_secrets.password_matches(user.password_hash, password):
                raise unauthenticated("Wrong username or password.")
            return Principal(user.id, user.username, user.is_admin, basic=True)

    def _bearer(self, token: str) -> Principal:
        if self.oidc is not None and looks_like_jwt(token):
            username = self.oidc.username(token)
            with self.db.write() as session:  # first sign-in creates the user, with no password
                user = users.find_user(session, username) or users.create_user(session, username, None)
                return Principal(user.id, user.username, user.is_admin)
        with self.db.read() as session:
            row = users.find_token(session, auth_secrets.token_digest(token))
            if row is None or row.revoked_at_ms is not None:
                raise unauthenticated("Unknown or revoked token.")
            if row.expires_at_ms is not None and row.expires_at_ms <= now_ms():
                raise unauthenticated("The token has expired.")
            owner = users.user_by_id(session, row.user_id)
            if owner is None:
                raise unauthenticated("Unknown or revoked token.")
            return Principal(owner.id, owner.username, owner.is_admin, run_id=row.run_id)
