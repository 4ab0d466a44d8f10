"""One webhook request, as MLflow sends it (`mlflow/webhooks/delivery.py`): a JSON POST with
`X-MLflow-Delivery-Id`, `X-MLflow-Timestamp` and, when the webhook has a secret,
`X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "{delivery_id}.{timestamp}.{body}">`, so a receiver written for
MLflow verifies it unchanged.

Unless private addresses are allowed, the host is resolved and checked here, and the request goes to the checked
address (the name kept in `Host` and in TLS's SNI and certificate check), so DNS cannot swap in an internal
address between the check and the connection. Proxies from the environment are ignored for the same reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
import urllib.parse
from dataclasses import dataclass

import httpx

from server.config import Settings
from server.errors import MlflowError
from server.services import webhook_urls

SIGNATURE_VERSION = "v1"
MAX_RESPONSE_BODY = 16 << 10  # what is kept of a receiver's answer

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _shared_client() -> httpx.Client:
    """One client for the process: building one loads the CA bundle (about 40 ms), which every delivery would pay
    otherwise, and its pool keeps connections to a receiver open between deliveries. It is safe across threads."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(trust_env=False, follow_redirects=False)
        return _client


@dataclass(frozen=True, slots=True)
class Sent:
    """A request's outcome: `status` None means no answer (`error` says why)."""

    status: int | None
    body: str
    error: str | None
    latency_ms: int
    retry_after: float | None = None


def signature(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    signed = f"{delivery_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def _pinned(settings: Settings, url: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL to connect to, extra headers and request extensions: the checked address in place of the name."""
    parsed = webhook_urls.validate_url(settings, url)
    if settings.webhook_allow_private_ips:
        return url, {}, {}
    hostname = parsed.hostname or ""
    address = webhook_urls.resolve_public(hostname, webhook_urls.default_port(parsed))[0]
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = host if parsed.port is None else f"{host}:{parsed.port}"
    pinned = urllib.parse.urlunparse(parsed._replace(netloc=netloc))
    headers = {"Host": parsed.netloc.rsplit("@", 1)[-1]}
    extensions = {"sni_hostname": hostname} if parsed.scheme == "https" else {}
    return pinned, headers, extensions


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def send(settings: Settings, url: str, body: str, delivery_id: str, secret: str | None) -> Sent:
    started = time.monotonic()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": timestamp,
    }
    if secret:
        headers["X-MLflow-Signature"] = signature(secret, delivery_id, timestamp, body)
    try:
        target, extra, extensions = _pinned(settings, url)
        client = _shared_client()
        request = client.build_request(
            "POST",
            target,
            content=body.encode(),
            headers={**headers, **extra},
            extensions=extensions,
            timeout=settings.webhook_request_timeout,
        )
        response = client.send(request, stream=True)
        try:
            text = _read_capped(response)
        finally:
            response.close()
    except MlflowError as exc:
        return Sent(None, "", exc.message, _since(started))
    except httpx.HTTPError as exc:
        return Sent(None, "", f"{type(exc).__name__}: {exc}", _since(started))
    return Sent(response.status_code, text, None, _since(started), _retry_after(response))


def _read_capped(response: httpx.Response) -> str:
    """The start of the receiver's answer: a receiver cannot make us hold a large body."""
    kept = bytearray()
    for chunk in response.iter_bytes():
        kept += chunk[: MAX_RESPONSE_BODY - len(kept)]
        if len(kept) >= MAX_RESPONSE_BODY:
            break
    return kept.decode(response.encoding or "utf-8", errors="replace")


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
