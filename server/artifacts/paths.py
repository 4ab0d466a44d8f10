"""The one place a client-supplied artifact path is joined to a storage root.

MLflow shipped a long series of path-traversal CVEs from joining paths in several places; here every backend calls
`clean_relative_path` (and the local backend `resolve_under`), so a path can only ever name something inside its
root: no `..`, no absolute or drive paths, no backslashes or NULs, no percent-encoded disguises of those, and no
symlink that points outside.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from urllib.parse import unquote

from server.errors import MlflowError

_DRIVE = re.compile(r"^[a-zA-Z]:")
RESERVED_ROOT_ENTRY = ".runyard-mpu"  # where multipart parts wait; never addressable by a client


def _invalid(_: str) -> MlflowError:
    return MlflowError.invalid_parameter("Invalid path")  # MLflow's exact words (validate_path_is_safe)


def clean_relative_path(path: str | None) -> str:
    """A normalised POSIX path relative to the root ('' for the root itself), or a 400."""
    if not path:
        return ""
    decoded = path
    for _ in range(3):  # see through double and triple percent-encoding, as an attacker would stack it
        if "%" not in decoded:
            break
        decoded = unquote(decoded)
    for candidate in (path, decoded):
        if any(c in candidate for c in "\x00\\#") or candidate.startswith("/") or _DRIVE.match(candidate):
            raise _invalid(path)
        if any(part == ".." for part in candidate.split("/")):
            raise _invalid(path)
    normalised = posixpath.normpath(path)
    if normalised.split("/", 1)[0] == RESERVED_ROOT_ENTRY:
        raise _invalid(path)
    return "" if normalised == "." else normalised


def resolve_under(root: Path, relative: str) -> Path:
    """The filesystem path for `relative` under `root`, refusing anything a symlink would carry outside."""
    root_real = Path(os.path.realpath(root))
    target = Path(os.path.realpath(root_real / clean_relative_path(relative)))
    if target != root_real and root_real not in target.parents:
        raise _invalid(relative)
    return target
