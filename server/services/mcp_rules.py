"""What the MCP Server Registry accepts, with MLflow 3.18's messages: server names, SemVer versions (and the key that
orders them), statuses and their transitions, transports, icons, tools and endpoint URLs.

A server is named `<reverse-dns namespace>/<slug>` as in the MCP registry's `server.json`; the slug can never be one
of the words the routes use after a name (`versions`, `tags`, ...), so a URL always reads one way.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from server.errors import MlflowError
from server.services import validation

DRAFT, ACTIVE, DEPRECATED, DELETED = "draft", "active", "deprecated", "deleted"
STATUSES = (DRAFT, ACTIVE, DEPRECATED, DELETED)
# MLflow's VALID_STATUS_TRANSITIONS: an active version is deprecated (or back to draft) before it can be deleted,
# and a deleted one never comes back.
TRANSITIONS: dict[str, set[str]] = {
    DRAFT: {ACTIVE, DELETED},
    ACTIVE: {DRAFT, DEPRECATED},
    DEPRECATED: {ACTIVE, DELETED},
}
TRANSPORTS = ("streamable-http", "sse")
LATEST = "latest"
MAX_ICONS = 100
MAX_TOOLS = 1000
MAX_SERVERS_PAGE = 1000
MAX_PAGE = 50000

_NAMESPACE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9.-]*[a-zA-Z0-9]$")
_SLUG = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$")
_RESERVED_SLUGS = frozenset({"aliases", "endpoints", "tags", "versions"})
_BAD_NAME = (
    "Invalid MCP server name. Expected '<reverse-dns namespace>/<server slug>' such as 'com.example/server-name'."
)
# SemVer 2.0.0's own pattern, with ASCII digits only.
_SEMVER = re.compile(
    r"^(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)"
    r"(?:-(?P<pre>(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_MAX_SEMVER_LENGTH = 128
_MAX_SEMVER_PART = 2_147_483_647


def invalid(message: str) -> MlflowError:
    return MlflowError.invalid_parameter(message)


def server_name(name: object) -> str:
    if not name:
        raise invalid("MCP server name must not be empty")
    if not isinstance(name, str) or name.count("/") != 1:
        raise invalid(_BAD_NAME)
    namespace, slug = name.split("/")
    if slug in _RESERVED_SLUGS or not _NAMESPACE.fullmatch(namespace) or not _SLUG.fullmatch(slug):
        raise invalid(_BAD_NAME)
    return validation.limit_length("MCP server name", 256, name)


@dataclass(frozen=True, slots=True)
class SemVer:
    """A parsed version and `key`, its prerelease part encoded so that plain string order is SemVer precedence."""

    major: int
    minor: int
    patch: int
    key: str


def semver(version: object, field: str) -> SemVer:
    if not isinstance(version, str):
        raise invalid(f"Invalid semantic version for {field}: {version!r}")
    if len(version) > _MAX_SEMVER_LENGTH:
        raise invalid(
            f"Invalid semantic version for {field}: '{version}' (maximum length is {_MAX_SEMVER_LENGTH} characters)"
        )
    match = _SEMVER.fullmatch(version)
    if match is None:
        raise invalid(f"Invalid semantic version for {field}: '{version}'")
    parts = {label: int(match[label]) for label in ("major", "minor", "patch")}
    for label, value in parts.items():
        if value > _MAX_SEMVER_PART:
            raise invalid(f"Invalid semantic version for {field}: '{version}' ({label} must be <= {_MAX_SEMVER_PART})")
    return SemVer(parts["major"], parts["minor"], parts["patch"], _prerelease_key(match["pre"]))


def _prerelease_key(prerelease: str | None) -> str:
    """A release is "2", above every prerelease; a numeric identifier is "0", its digit count and its digits (so
    that 10 sorts after 9); a text one is "1", each character's code in three digits, then "000" (so that `alpha`
    sorts before `alpha1` and `alpha.1`). Digits only, so no collation can reorder it."""
    if not prerelease:
        return "2"
    key = ""
    for identifier in prerelease.split("."):
        if identifier.isdigit():
            key += f"0{len(identifier):03d}{identifier}"
        else:
            key += "1" + "".join(f"{ord(char):03d}" for char in identifier) + "000"
    return key


def status(value: object) -> str:
    if value not in STATUSES:
        raise invalid(f"Invalid status: '{value}'")
    return str(value)


def initial_status(value: str) -> str:
    if value not in (DRAFT, ACTIVE):
        raise invalid("Initial MCP server registration status must be 'draft' or 'active'.")
    return value


def check_transition(current: str, new: str) -> None:
    allowed = TRANSITIONS.get(current, set())
    if new not in allowed:
        raise invalid(f"Invalid status transition from '{current}' to '{new}'. Allowed transitions: {sorted(allowed)}")


def transport(value: object) -> str:
    if value not in TRANSPORTS:
        raise invalid(f"Invalid transport_type: '{value}'")
    return str(value)


def endpoint_url(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise invalid(f"MCP access endpoint url cannot be empty or just whitespace: {url!r}")
    return url


def limited(what: str, limit: int, value: str | None) -> str | None:
    """A value no longer than its column. MLflow leaves this to the database, which on SQLite stores it whole and on
    PostgreSQL fails the request; here both refuse it alike, with a 400."""
    return validation.limit_length(what, limit, value) if value is not None else None


def tag(key: str, value: str) -> tuple[str, str]:
    limited("Tag key", 250, key)
    limited("Tag value", 5000, value)
    return key, value


def max_results(value: int, ceiling: int = MAX_PAGE) -> int:
    if value < 1:
        raise invalid(f"Invalid value {value} for parameter 'max_results' supplied. It must be a positive integer")
    if value > MAX_PAGE:
        raise invalid(f"Invalid value {value} for parameter 'max_results' supplied. It must be at most {MAX_PAGE}")
    if value > ceiling:
        raise invalid(f"Invalid value for max_results. It must be at most {ceiling}, but got {value}")
    return value


# --- icons and tools ----------------------------------------------------------------------------------------------


def icon_url(url: object) -> None:
    """Public https images only. The server never fetches an icon (the browser does), so a host name is not
    resolved here; an address written as an IP literal must be a canonical, public one."""
    field = "Icon URL"
    if not isinstance(url, str):
        raise invalid(f"{field} must be a string, got {type(url).__name__!r}")
    if not url.strip():
        raise invalid(f"{field} cannot be empty or just whitespace: {url!r}")
    try:
        parts = urlparse(url)
        hostname = parts.hostname
    except ValueError as error:
        raise invalid(f"Invalid {field} {url!r}: {error!r}") from None
    if parts.scheme != "https":
        raise invalid(f"Invalid {field} scheme: {parts.scheme!r}. Allowed schemes are: 'https'.")
    if parts.username or parts.password:
        raise invalid(f"{field} must not include embedded credentials: {url!r}")
    if not hostname:
        raise invalid(f"{field} must include a hostname: {url!r}")
    if ":" in hostname or hostname.replace(".", "").isdigit():
        try:
            address = ipaddress.ip_address(hostname)
        except ValueError:
            raise invalid(f"{field} host {hostname!r} is not a canonical IP address literal.") from None
        if not address.is_global:
            raise invalid(f"{field} must not resolve to a non-public IP address. {hostname!r} resolves to {address}.")


def mime_type(value: object) -> str | None:
    if value is None:
        return None
    normalized = value.strip().lower() if isinstance(value, str) else ""
    if not normalized.startswith("image/") or normalized == "image/":
        raise invalid(f"Invalid icon mimeType {value!r}. Allowed values must use the 'image/*' media type.")
    return normalized


def writable_icons(icons: list[dict[str, Any]] | None, field: str = "icons") -> list[dict[str, Any]] | None:
    """Icons as stored: `source` is what a response adds, so an echoed `server` one is dropped, while `version`
    would turn a version's icon into the server's own and is refused."""
    if icons is None:
        return None
    kept = []
    for index, icon in enumerate(icons):
        if icon.get("source") == "version":
            raise invalid(
                f"Invalid {field}[{index}].source: 'version' is response-only and cannot be written. Writing it "
                "would persist a version-resolved icon as a server override. Omit source, or send source='server' "
                "when echoing a server icon."
            )
        kept.append({key: value for key, value in icon.items() if key != "source"})
    return kept


def resolved_icons(
    server_icons: list[dict[str, Any]] | None, version_icons: list[dict[str, Any]] | None
) -> list[dict[str, Any]] | None:
    """A server's icons as MLflow shows them: its own, then its latest version's for the themes it has none of,
    each marked with where it came from; an explicit empty list of its own shows none."""
    if server_icons is not None and not server_icons:
        return []
    own = [icon for icon in server_icons or [] if isinstance(icon, dict)]
    themes = {icon.get("theme") for icon in own}
    shown = [{**icon, "source": "server"} for icon in own]
    shown += [
        {**icon, "source": "version"}
        for icon in version_icons or []
        if isinstance(icon, dict) and icon.get("theme") not in themes
    ]
    return shown or None
