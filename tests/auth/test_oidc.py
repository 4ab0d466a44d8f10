"""OIDC bearer tokens (as Microsoft Entra ID issues them): signature checked against the issuer's JWKS (served
here on loopback from a key pair made by the test), then issuer, audience and expiry; the username claim names
the Runyard user, created on first sign-in."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.auth.conftest import ADMIN
from tests.support.processes import runyard_server

ISSUER = "https://login.example.test/tenant/v2.0"
AUDIENCE = "api://runyard"
API = "/api/2.0/mlflow"


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {name: rsa.generate_private_key(public_exponent=65537, key_size=2048) for name in ("issuer", "forger")}


@pytest.fixture(scope="module")
def jwks_url(keys: dict[str, rsa.RSAPrivateKey]) -> Iterator[str]:
    body = json.dumps({"keys": [_jwk(keys["issuer"], "k1")]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/keys"
    server.shutdown()


@pytest.fixture(scope="module")
def server(jwks_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("oidc")
    env = {
        "RUNYARD_ADMIN_USERNAME": ADMIN[0],
        "RUNYARD_ADMIN_PASSWORD": ADMIN[1],
        "RUNYARD_OIDC_ISSUER": ISSUER,
        "RUNYARD_OIDC_AUDIENCE": AUDIENCE,
        "RUNYARD_OIDC_JWKS_URL": jwks_url,
    }
    with runyard_server(f"sqlite:///{base / 'db.sqlite'}", Path(base) / "art", "--auth", env=env) as url:
        yield url


def _token(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "iat": now, "preferred_username": "gina@example.test"}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="RS256", headers={"kid": "k1"})


def _status(server: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{server}{API}/experiments/create",
        json={"name": f"oidc-{time.monotonic_ns()}"},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_a_valid_token_signs_in_and_creates_its_user(server: str, keys: dict[str, rsa.RSAPrivateKey]) -> None:
    created = _status(server, _token(keys["issuer"]))
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]
    again = httpx.get(
        f"{server}{API}/experiments/get",
        params={"experiment_id": experiment_id},
        headers={"Authorization": f"Bearer {_token(keys['issuer'])}"},
    )
    assert again.status_code == 200  # the same user (its creator, so MANAGE) on a second token


@pytest.mark.parametrize(
    ("why", "overrides", "signer"),
    [
        ("forged signature", {}, "forger"),
        ("other audience", {"aud": "api://someone-else"}, "issuer"),
        ("other issuer", {"iss": "https://evil.example.test"}, "issuer"),
        ("expired", {"exp": int(time.time()) - 60}, "issuer"),
        ("no username claim", {"preferred_username": None}, "issuer"),
    ],
)
def test_bad_tokens_are_refused(
    server: str, keys: dict[str, rsa.RSAPrivateKey], why: str, overrides: dict[str, Any], signer: str
) -> None:
    response = _status(server, _token(keys[signer], **overrides))
    assert response.status_code == 401, why
    assert response.json()["error_code"] == "UNAUTHENTICATED"
