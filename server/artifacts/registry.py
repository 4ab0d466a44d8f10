"""Which backend serves an artifact URI, and which URIs this server agrees to serve at all.

Proxied URIs (`mlflow-artifacts:/<path>`) map onto the configured destination; a run keeps the URI it was created
with, so it stays readable after the default root changes. Local paths and `file:` URIs (experiments created with
`--no-serve-artifacts`) are served only when they lie inside a root the operator configured: a client that creates
an experiment with `artifact_location="/etc"` must not be able to read `/etc` through the server, the hole behind
several MLflow CVEs.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from server.artifacts.azure_blob import AzureBlobArtifactStore
from server.artifacts.base import ArtifactStore
from server.artifacts.local import LocalArtifactStore
from server.artifacts.paths import clean_relative_path
from server.errors import MlflowError

PROXY_SCHEME = "mlflow-artifacts"


def _join(base: str, relative: str) -> str:
    return posixpath.join(base, relative) if base and relative else base or relative


def _local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and uri[1:2] == ":"):
        return Path(uri)
    return None


class ArtifactRegistry:
    def __init__(self, destination: str, *, local_roots: Iterable[str] = ()) -> None:
        self.destination: ArtifactStore = _store_for_root(destination)
        self._local_roots = [Path(os.path.realpath(p)) for root in local_roots if (p := _local_path(root))]

    def resolve(self, uri: str) -> tuple[ArtifactStore, str]:
        """The store holding `uri` and the path of `uri` relative to that store's root."""
        parsed = urlparse(uri)
        if parsed.scheme == PROXY_SCHEME:
            return self.destination, clean_relative_path(parsed.path.lstrip("/"))
        local = _local_path(uri)
        if local is not None:
            resolved = Path(os.path.realpath(local))
            for root in self._local_roots:
                if resolved == root or root in resolved.parents:
                    relative = resolved.relative_to(root).as_posix()
                    return _store_for_root(str(root)), "" if relative == "." else relative
        raise MlflowError.invalid_parameter(f"Artifacts at '{uri}' are not served by this server.")

    def locate(self, uri: str, relative: str | None) -> tuple[ArtifactStore, str]:
        """The store holding `<uri>/<relative>` and that path within it; `relative` is cleaned here."""
        store, base = self.resolve(uri)
        return store, _join(base, clean_relative_path(relative))


@lru_cache(maxsize=64)
def _store_for_root(root: str) -> ArtifactStore:
    local = _local_path(root)
    if local is not None:
        return LocalArtifactStore(local)
    if root.startswith("wasbs://"):
        store = AzureBlobArtifactStore(root)
        store.check()
        return store
    raise MlflowError.invalid_parameter(f"Unsupported artifact destination '{root}'.")
