"""Signed URLs for the artifact proxy. The stock client sends multipart parts and parallel range downloads to the
URLs the server handed out, without its credentials (as it would to cloud storage), so with auth on those URLs
carry their own proof: an HMAC over method, path and expiry, keyed by a secret all server processes share
through the database. A signature opens exactly one method on one path until it expires."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.store.models import ServerSecret

EXPIRES_PARAM = "runyard_expires"
SIGNATURE_PARAM = "runyard_signature"
_SECRET_NAME = "artifact_url_signing_key"  # noqa: S105 (the row name, not the secret)


def shared_key(session: Session) -> bytes:
    """The key, created by whichever process starts first."""
    row = session.get(ServerSecret, _SECRET_NAME)
    if row is None:
        try:
            with session.begin_nested():
                row = ServerSecret(name=_SECRET_NAME, value=secrets.token_hex(32))
                session.add(row)
        except IntegrityError:
            row = session.get(ServerSecret, _SECRET_NAME)
            assert row is not None
    return bytes.fromhex(row.value)


class UrlSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, method: str, path: str, expires: int) -> str:
        return hmac.new(self._key, f"{method} {path} {expires}".encode(), hashlib.sha256).hexdigest()

    def sign(self, method: str, path: str, ttl_s: int) -> dict[str, str]:
        """Query parameters that authorise `method` on `path` (the URL path, as the server will see it)."""
        expires = int(time.time()) + ttl_s
        return {EXPIRES_PARAM: str(expires), SIGNATURE_PARAM: self._mac(method, path, expires)}

    def verify(self, method: str, path: str, query: Mapping[str, str]) -> bool:
        expires, signature = query.get(EXPIRES_PARAM, ""), query.get(SIGNATURE_PARAM, "")
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(self._mac(method, path, int(expires)), signature)
