"""Where a registered skill version's files live: a git repository, an OCI image or a public zip URL, checked and
settled to one type as MLflow 3.18's registration does it, with MLflow's messages.

The server never fetches a source; it records the pointer. So everything that would make a pointer unsafe to hand
to other people's clients is refused here: local paths, locations inside MLflow (only content the server stored
itself may be recorded as such), and credentials in URLs.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from server.errors import MlflowError
from server.store.skill_models import SOURCE_MAX_LENGTH

GIT, OCI, ZIP = "git", "oci", "zip"
CLIENT_SOURCE_TYPES = (GIT, OCI, ZIP)
_OCI_SCHEME = "oci://"
_MLFLOW_PREFIXES = ("mlflow-artifacts:/", "runs:/", "models:/")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_SCP_GIT = re.compile(r"^(?:[\w.-]+@[\w.-]+|[\w-]+(?:\.[\w-]+)+):")
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")
_OCI_REFERENCE = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+:[a-f0-9]{32,})?$"
)
_ZIP_CREDENTIAL_PARAMETERS = frozenset(
    {
        "access_token",
        "googleaccessid",
        "sig",
        "signature",
        "token",
        "x-amz-credential",
        "x-amz-security-token",
        "x-amz-signature",
        "x-goog-credential",
        "x-goog-signature",
    }
)


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    source_type: str
    source: str
    ref: str | None = None
    subpath: str | None = None


def _invalid(message: str) -> MlflowError:
    return MlflowError.invalid_parameter(message)


def is_local_path(source: str) -> bool:
    if _WINDOWS_DRIVE.match(source):
        return True
    if "://" in source or source.startswith(_MLFLOW_PREFIXES):
        return False
    return not _SCP_GIT.match(source)


def _check_length(value: str, what: str) -> None:
    if len(value) > SOURCE_MAX_LENGTH:
        raise _invalid(f"{what} is {len(value)} characters long; the maximum is {SOURCE_MAX_LENGTH}.")


def _check_remote_value(value: str, what: str) -> None:
    if value.startswith("-"):
        raise _invalid(f"{what} must not start with '-': '{value}'.")
    if _UNSAFE.search(value):
        raise _invalid(f"{what} must not contain whitespace or control characters.")
    _check_length(value, what)


def _check_git(url: str, ref: str | None) -> None:
    _check_remote_value(url, "Git URL")
    if "://" in url:
        parts = urlsplit(url)
        if parts.password or (parts.username and parts.scheme in ("http", "https")):
            raise _invalid(
                "Git URL must not contain credentials; they would be stored with the skill version. Configure a "
                "credential helper and remove them from the URL."
            )
    if ref is not None:
        if not ref:
            raise _invalid("Git ref must not be empty.")
        _check_remote_value(ref, "Git ref")


def _check_zip(url: str) -> None:
    _check_remote_value(url, "ZIP URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise _invalid(f"ZIP source must be an http(s) URL, got '{url}'.")
    if parts.username or parts.password:
        raise _invalid(
            "ZIP sources are fetched without authentication and must be publicly accessible; remove the "
            "credentials from the URL or use a Git or OCI source instead."
        )
    if {name.lower() for name, _ in parse_qsl(parts.query, keep_blank_values=True)} & _ZIP_CREDENTIAL_PARAMETERS:
        raise _invalid(
            "ZIP sources must be publicly accessible and must not contain credentials in the query string. Remove "
            "the signed query parameters or use a Git or OCI source instead."
        )


def _check_oci(image: str) -> None:
    if not image:
        raise _invalid("OCI source must include an image reference after 'oci://'.")
    _check_remote_value(image, "OCI image reference")
    if not _OCI_REFERENCE.match(image):
        raise _invalid(f"Invalid OCI image reference '{image}'.")


def normalize_subpath(subpath: str | None) -> str | None:
    """A path inside the source as a POSIX relative path; None for the whole tree."""
    if subpath is None:
        return None
    value = subpath.strip()
    if not value:
        return None
    segments = value.split("/")
    if value.startswith("/") or "\\" in value or ":" in value or any(s in (".", "..") for s in segments):
        raise _invalid(f"Subpath '{subpath}' is invalid: it must be a relative path inside the source.")
    normalized = posixpath.normpath(value)
    _check_length(normalized, "Subpath")
    return normalized


def _infer(source: str) -> tuple[str, str]:
    if source.startswith(_OCI_SCHEME):
        return OCI, source.removeprefix(_OCI_SCHEME)
    path = urlsplit(source).path
    if source.startswith("git://") or path.endswith((".git", ".git/")):
        return GIT, source
    if path.endswith(".zip"):
        return ZIP, source
    raise _invalid(
        f"Cannot infer the source type of '{source}'. Pass a typed source (GitSource, OCISource, or ZipSource) or "
        "use a URL that ends in '.git' or '.zip', or starts with 'git://' or 'oci://'."
    )


def _named_by_scheme(source: str) -> str | None:
    lowered = source.strip().lower()
    if lowered.startswith(_OCI_SCHEME):
        return OCI
    if lowered.startswith("git://"):
        return GIT
    return None


def resolve(source: str | None, source_type: str | None, ref: str | None, subpath: str | None) -> ResolvedSource:
    """The remote source of a registration, its type settled (given, or inferred from the URL)."""
    if isinstance(source, str) and source.strip().lower().startswith(_MLFLOW_PREFIXES):
        raise _invalid(
            f"'source' {source!r} names content inside MLflow; a remote source must be a git, oci, or zip location. "
            "Upload local content instead of pointing at it."
        )
    if not isinstance(source, str) or (source_type != OCI and is_local_path(source.strip())):
        raise _invalid(
            f"'source' must be a remote git, oci, or zip location, got {source!r}. The server never reads a path on "
            "its own filesystem; local content is uploaded instead."
        )
    if source_type is not None:
        if source_type not in CLIENT_SOURCE_TYPES:
            raise _invalid(f"Unknown 'source_type' {source_type!r}; expected one of {list(CLIENT_SOURCE_TYPES)}.")
        named = _named_by_scheme(source)
        if named is not None and named != source_type:
            raise _invalid(f"'source_type' {source_type!r} contradicts the {named!r} scheme of 'source' {source!r}.")
        if source_type != GIT and ref is not None:
            raise _invalid("'ref' applies to git sources only.")
        kind, pointer = source_type, source.removeprefix(_OCI_SCHEME) if source_type == OCI else source
    else:
        kind, pointer = _infer(source.strip())
        if ref is not None and kind != GIT:
            raise _invalid("'ref' applies to Git sources only.")
    if kind == GIT:
        _check_git(pointer, ref)
    elif kind == ZIP:
        _check_zip(pointer)
    else:
        _check_oci(pointer)
    return ResolvedSource(kind, pointer, ref if kind == GIT else None, normalize_subpath(subpath))
