"""Where a webhook may point: MLflow's `_validate_webhook_url` rules and wording (scheme in
`MLFLOW_WEBHOOK_ALLOWED_SCHEMES`, a hostname, and only public addresses unless `MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS`).

The same resolution runs again at delivery time and the request goes to the address checked (see
`webhook_sender`), so a name that later resolves to an internal host (DNS rebinding) reaches nothing.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import urllib.parse
from typing import Any

from server.config import Settings
from server.errors import MlflowError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# A lookup holds up the request (or the delivery) that waits for it: it must not hang it. A create or update looks up
# before it opens its write transaction (`webhooks.check_create`), so the writer never waits on DNS.
RESOLVE_TIMEOUT_SECONDS = 5.0


def _embedded_ipv4(ip: IpAddress) -> IpAddress:
    """An IPv6 transition address (IPv4-mapped, 6to4, NAT64) judged by the IPv4 address it carries."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded
    return ip


def is_public(ip: IpAddress) -> bool:
    return _embedded_ipv4(ip).is_global


def _check_ip_literal(hostname: str) -> None:
    """Numeric hosts must be canonical literals: `127.1` or `0177.0.0.1` mean different hosts to different parsers."""
    if ":" in hostname or hostname.replace(".", "").isdigit():
        try:
            ipaddress.ip_address(hostname)
        except ValueError:
            raise MlflowError.invalid_parameter(
                f"Webhook URL host {hostname!r} is not a canonical IP address literal."
            ) from None


def _getaddrinfo(hostname: str, port: int) -> list[Any]:
    """`getaddrinfo` with a deadline (it has none of its own), in MLflow's words when it passes."""
    result: dict[str, Any] = {}

    def resolve() -> None:
        try:
            result["infos"] = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
        except Exception as exc:  # handed to the caller below
            result["error"] = exc

    thread = threading.Thread(target=resolve, daemon=True, name="webhook-hostname-resolution")
    thread.start()
    thread.join(RESOLVE_TIMEOUT_SECONDS)
    if thread.is_alive():
        raise MlflowError.invalid_parameter(
            f"Timed out resolving Webhook URL hostname {hostname!r} after {RESOLVE_TIMEOUT_SECONDS:g} seconds"
        )
    if "error" in result:
        raise result["error"]
    return list(result["infos"])


def resolve_public(hostname: str, port: int) -> list[IpAddress]:
    """Every address `hostname` resolves to, all of them public, else MLflow's refusal."""
    _check_ip_literal(hostname)
    try:
        infos = _getaddrinfo(hostname, port)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise MlflowError.invalid_parameter(f"Cannot resolve Webhook URL hostname {hostname!r}: {exc}") from None
    addresses: list[IpAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not is_public(ip):
            raise MlflowError.invalid_parameter(
                f"Webhook URL must not resolve to a non-public IP address. {hostname!r} resolves to {ip}."
            )
        addresses.append(ip)
    return addresses


def default_port(parsed: urllib.parse.ParseResult) -> int:
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def validate_url(settings: Settings, url: str, *, look_up: bool = True) -> urllib.parse.ParseResult:
    """MLflow's checks in its order; the last, that the host resolves to public addresses only, is skipped without
    `look_up` (for a caller that passed it already for this URL)."""
    if not url.strip():
        raise MlflowError.invalid_parameter(f"Webhook URL cannot be empty or just whitespace: {url!r}")
    try:
        parsed = urllib.parse.urlparse(url)
        parsed.port  # noqa: B018  (parses the port, which may be out of range)
    except ValueError as exc:
        raise MlflowError.invalid_parameter(f"Invalid webhook URL {url!r}: {exc!r}") from None
    schemes = settings.webhook_scheme_list
    if parsed.scheme not in schemes:
        raise MlflowError.invalid_parameter(
            f"Invalid webhook URL scheme: {parsed.scheme!r}. Allowed schemes are: {', '.join(schemes)}."
        )
    if not parsed.hostname:
        raise MlflowError.invalid_parameter(f"Webhook URL must include a hostname: {url!r}")
    if look_up and not settings.webhook_allow_private_ips:
        resolve_public(parsed.hostname, default_port(parsed))
    return parsed
