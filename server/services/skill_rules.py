"""What the Skill Registry accepts, with MLflow 3.18's messages: skill and organization names, version numbers,
statuses and their transitions, aliases, tags and icons.

A skill is addressed as `name` or `@organization/name`; both parts are lowercase slugs so that the two spellings can
never be confused in a URL (a name can never begin with `@`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from server.errors import MlflowError
from server.services import registry, validation

MAX_NAME_LENGTH = 64
MAX_VERSION = 2_147_483_647
MAX_ICONS = 100
MAX_BULK_SKILLS = 500
MAX_RESULTS_THRESHOLD = 1000
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_ORGANIZATION = re.compile(r"^[a-z0-9]+([-.][a-z0-9]+)*$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")

ACTIVE, DRAFT, DEPRECATED, DELETED = "active", "draft", "deprecated", "deleted"
STATUSES = (DRAFT, ACTIVE, DEPRECATED, DELETED)
# MLflow's VALID_SKILL_STATUS_TRANSITIONS: a deleted version never comes back, and an active one is deprecated
# before it can be deleted.
TRANSITIONS: dict[str, set[str]] = {
    DRAFT: {ACTIVE, DELETED},
    ACTIVE: {DRAFT, DEPRECATED},
    DEPRECATED: {ACTIVE, DELETED},
}


def invalid(message: str) -> MlflowError:
    return MlflowError.invalid_parameter(message)


def skill_name(name: object) -> str:
    if not name:
        raise invalid("Skill name must not be empty.")
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise invalid(
            f"Invalid skill name {name!r}. Names must be 1-64 lowercase ASCII letters, digits, and hyphens; cannot "
            "begin or end with a hyphen; and cannot contain consecutive hyphens."
        )
    return validation.limit_length("Skill name", MAX_NAME_LENGTH, name)


def organization(value: object) -> str:
    if value == "" or value is None:
        return ""
    if not isinstance(value, str) or _ORGANIZATION.fullmatch(value) is None:
        raise invalid(
            f"Invalid organization name {value!r}. Organizations must be 1-64 lowercase ASCII letters, digits, "
            "hyphens, and periods; must have alphanumeric first and last characters; and cannot contain "
            "consecutive hyphens or periods."
        )
    return validation.limit_length("Organization name", MAX_NAME_LENGTH, value)


def identity(organization_name: object, name: object) -> tuple[str, str]:
    return organization(organization_name), skill_name(name)


def parse_identities(values: Sequence[str]) -> list[tuple[str, str]]:
    """`name` or `@organization/name` selectors of a search."""
    parsed = []
    for value in values:
        org, name = "", value
        if value.startswith("@"):
            org, separator, name = value[1:].partition("/")
            if not separator or not org:
                raise invalid("Skill identities must be 'name' or '@organization/name'.")
        parsed.append(identity(org, name))
    return parsed


def version_number(value: object) -> int:
    """A version from a path segment or a body: a positive 32-bit integer."""
    number = value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_VERSION:
        raise invalid(f"Skill version must be a positive integer <= {MAX_VERSION}, got {value!r}.")
    return number


def initial_status(status: object) -> str:
    if status not in (ACTIVE, DRAFT):
        raise invalid(f"A skill version can be registered as 'active' or 'draft', got {status!r}.")
    return str(status)


def new_status(status: object) -> str:
    if status is None:
        raise invalid("status cannot be null; omit the field to leave it unchanged")
    if status not in STATUSES:
        raise invalid(f"Invalid SkillVersion status: {status!r}")
    return str(status)


def check_transition(current: str, new: str) -> None:
    allowed = TRANSITIONS.get(current, set())
    if new not in allowed:
        raise invalid(f"Invalid status transition from '{current}' to '{new}'. Allowed transitions: {sorted(allowed)}")


def digest(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or _DIGEST.fullmatch(value) is None:
        raise invalid("'digest' must be a SHA-256 digest of 64 lowercase hex characters.")
    return value


def alias(value: object, *, allow_latest: bool = False) -> str:
    """An alias a client may name; `latest` (any case) is resolved by the server, `v<n>` would read as a version."""
    if value is None or value == "":
        raise invalid("Skill alias name cannot be empty.")
    if not isinstance(value, str) or not re.fullmatch(r"[\w\-]*", value):
        raise invalid(
            f"Invalid alias name: '{value}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )
    validation.limit_length("Skill alias name", registry.MAX_ALIAS_LENGTH, value)
    if value.lower() == "latest":
        if allow_latest:
            return value
        raise invalid("'latest' alias name (case insensitive) is reserved.")
    if re.fullmatch(r"[vV]\d+", value):
        raise invalid(f"Version alias name '{value}' is reserved.")
    return value


def tag(key: object, value: object) -> tuple[str, str]:
    if not isinstance(key, str):
        raise invalid(f"Invalid value {key!r} for parameter 'key' supplied.")
    if not isinstance(value, str):
        raise invalid(f"Invalid value {value!r} for parameter 'value' supplied.")
    registry.validate_tag(key, value)
    return key, value


def max_results(value: int | None) -> int:
    if value is None:
        return 100
    if value < 1:
        raise invalid(f"max_results must be at least 1, got {value}.")
    if value > MAX_RESULTS_THRESHOLD:
        raise invalid(f"max_results must be at most {MAX_RESULTS_THRESHOLD}, got {value}.")
    return value


def icons(value: object) -> list[dict[str, Any]] | None:
    """Icons as MCP describes them (`src`, optional `sizes`, `mimeType`, `theme`): public https images."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid("Invalid icons. Expected a list.")
    if len(value) > MAX_ICONS:
        raise invalid(f"Invalid icons. It must contain at most {MAX_ICONS} items.")
    checked = []
    for index, icon in enumerate(value):
        if not isinstance(icon, dict):
            raise invalid(f"Invalid icons[{index}]. Expected an object.")
        if "src" not in icon:
            raise invalid(f"Invalid icons[{index}]. Missing required key 'src'.")
        _icon_url(icon["src"])
        icon = dict(icon)
        if icon.get("mimeType") is not None:
            icon["mimeType"] = _mime_type(icon["mimeType"])
        checked.append({key: item for key, item in icon.items() if item is not None})
    return checked


def _icon_url(url: object) -> None:
    if not isinstance(url, str) or not url:
        raise invalid(f"Icon URL must be a non-empty string, got {url!r}.")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        raise invalid(f"Icon URL must use one of the allowed schemes ['https'], got {url!r}.")
    if not parts.hostname:
        raise invalid(f"Icon URL must include a hostname: {url!r}")


def _mime_type(mime_type: object) -> str:
    normalized = mime_type.strip().lower() if isinstance(mime_type, str) else ""
    if not normalized.startswith("image/") or normalized == "image/":
        raise invalid(f"Invalid icon mimeType {mime_type!r}. Allowed values must use the 'image/*' media type.")
    return normalized
