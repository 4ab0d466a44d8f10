"""OIDC bearer tokens (Microsoft Entra ID and other issuers): signature checked against the issuer's JWKS,
then issuer, audience and expiry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.errors import ErrorCode, MlflowError

if TYPE_CHECKING:
    import jwt  # PyJWT and httpx load when a bearer token first arrives, not with every server

_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("ey")


class OidcVerifier:
    def __init__(self, issuer: str, audience: str | None, jwks_url: str | None, username_claim: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.username_claim = username_claim
        self._jwks_url = jwks_url
        self._keys: jwt.PyJWKClient | None = None

    def _client(self) -> jwt.PyJWKClient:
        import httpx
        import jwt

        if self._keys is None:
            url = self._jwks_url
            if url is None:  # OpenID discovery, once
                metadata = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10).json()
                url = str(metadata["jwks_uri"])
            self._keys = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600)
        return self._keys

    def username(self, token: str) -> str:
        """The user the token names; UNAUTHENTICATED if it is forged, expired, or meant for someone else."""
        import httpx
        import jwt

        try:
            key = self._client().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss"], "verify_aud": self.audience is not None},
            )
        except (jwt.PyJWTError, httpx.HTTPError, KeyError, ValueError) as exc:
            raise MlflowError(f"Invalid bearer token: {exc}", ErrorCode.UNAUTHENTICATED) from None
        username = claims.get(self.username_claim)
        if not isinstance(username, str) or not username:
            raise MlflowError(f"The token has no '{self.username_claim}' claim.", ErrorCode.UNAUTHENTICATED)
        return username
