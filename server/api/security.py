"""Guards for a server that browsers talk to: Host checks against DNS rebinding, Origin checks against cross-site
writes, and headers against MIME sniffing and framing (clickjacking of, say, a job's Cancel button).

`mlflow server` ships the same three guards, but by default accepts only `localhost` and private IP addresses as
Host, so `MLFLOW_TRACKING_URI=http://runyard:5000` (a compose service name) is refused until `--allowed-hosts` is
set. Ours accepts by default any Host a rebinding attack cannot produce: IP literals and single-label names
(`localhost`, `runyard`), because an attacker's page always has a dotted public name. A dotted name
(`runyard.example.com`) must be listed in `--allowed-hosts`. MLflow also sends CORS headers that let any site read
its API with the browser's credentials; we send none unless `--cors-allowed-origins` names the sites.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import ErrorCode, error_response

log = logging.getLogger(__name__)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROBES = frozenset({"/health", "/ready", "/version"})  # load balancers probe with whatever Host they like


def _host_name(host: str) -> str:
    """`name` from `name:port` or `[v6]:port`, lower-cased, without a trailing dot."""
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else host.lower()
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name.rstrip(".").lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _matcher(patterns: Sequence[str]) -> re.Pattern[str]:
    """One case-insensitive regex for a list of exact values and `*` wildcards (fnmatch style)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(p.strip())})" for p in patterns if p.strip()), re.IGNORECASE)


class HostPolicy:
    def __init__(self, allowed: Sequence[str] | None) -> None:
        self.any = allowed is not None and "*" in allowed
        self.listed = _matcher(allowed) if allowed else None
        # A server sees a handful of Host values; the bound keeps a flood of made-up ones from growing it.
        self.allows = functools.lru_cache(maxsize=256)(self._allows)

    def _allows(self, host: str) -> bool:
        if self.any:
            return True
        name = _host_name(host)
        if self.listed is not None and (self.listed.fullmatch(host) or self.listed.fullmatch(name)):
            return True
        return bool(name) and ("." not in name or _is_ip(name))


class OriginPolicy:
    def __init__(self, allowed: Sequence[str] | None) -> None:
        self.any = allowed is not None and "*" in allowed
        self.listed = _matcher(allowed) if allowed else None

    def allows(self, origin: str, hosts: Sequence[str]) -> bool:
        """Same-origin writes (the web UI's own) and the listed sites; everything else a browser sends cross-site.
        `hosts` are the Host header and a proxy's X-Forwarded-Host: a page cannot set the latter on a cross-site
        request without a CORS preflight, which only listed sites pass."""
        if self.any:
            return True
        if self.listed is not None and self.listed.fullmatch(origin):
            return True
        parts = urlsplit(origin)
        netloc = parts.netloc.lower()
        return parts.scheme in ("http", "https") and any(host and netloc == host.lower() for host in hosts)


class SecurityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Sequence[str] | None,
        cors_allowed_origins: Sequence[str] | None,
        x_frame_options: str | None,
    ) -> None:
        self.app = app
        self.hosts = HostPolicy(allowed_hosts)
        self.origins = OriginPolicy(cors_allowed_origins)
        self.extra_headers: list[tuple[bytes, bytes]] = [(b"x-content-type-options", b"nosniff")]
        if x_frame_options and x_frame_options.upper() != "NONE":
            self.extra_headers.append((b"x-frame-options", x_frame_options.upper().encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if scope["path"] not in PROBES and not self.hosts.allows(host):
            log.warning("refused a request for Host %r; list it in --allowed-hosts if it is this server's", host)
            message = f"Invalid Host header {host!r} (possible DNS rebinding); allow it with --allowed-hosts."
            await error_response(ErrorCode.PERMISSION_DENIED, message)(scope, receive, send)
            return
        origin = headers.get(b"origin")
        if origin is not None and scope["method"] in STATE_CHANGING:
            forwarded = headers.get(b"x-forwarded-host", b"").decode("latin-1").split(",")[0].strip()
            if not self.origins.allows(origin.decode("latin-1"), (host, forwarded)):
                message = "Cross-origin request blocked; the server allows other sites with --cors-allowed-origins."
                await error_response(ErrorCode.PERMISSION_DENIED, message)(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in self.extra_headers if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cors_options(origins: Sequence[str]) -> dict[str, Any]:
    """Starlette's CORSMiddleware for the listed sites, with credentials (a browser signed in to Runyard). `*`
    allows any site but then without credentials, as browsers require."""
    if "*" in origins:
        return {"allow_origins": ["*"], "allow_methods": ["*"], "allow_headers": ["*"]}
    exact = [o for o in origins if "*" not in o]
    wildcards = [o for o in origins if "*" in o]
    return {
        "allow_origins": exact,
        "allow_origin_regex": _matcher(wildcards).pattern if wildcards else None,
        "allow_credentials": True,
        "allow_methods": ["*"],
        "allow_headers": ["*"],
        "expose_headers": ["X-Request-Id"],
    }
