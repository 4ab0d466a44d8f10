"""Which backend serves an artifact URI, and which URIs this server agrees to serve at all.

Proxied URIs (`mlflow-artifacts:/<path>`) map onto the destination recorded when their run or model was created
(the configured one for anything unrecorded), so moving `--artifacts-destination`, say from a folder to Azure Blob,
leaves earlier runs readable where they were written. Local paths and `file:` URIs (experiments created with
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
from server.store import artifact_destinations
from server.store.engine import Database


def _join(base: str, relative: str) -> str:
    return posixpath.join(base, relative) if base and relative else base or relative


def _local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and uri[1:2] == ":"):
        return Path(uri)
    return None


def canonical_destination(destination: str) -> str:
    """The form a destination is recorded in: an absolute folder, so a restart from another directory finds it."""
    local = _local_path(destination)
    return os.path.realpath(local) if local is not None else destination.rstrip("/")


class ArtifactRegistry:
    def __init__(self, destination: str, db: Database, *, local_roots: Iterable[str] = ()) -> None:
        self.destination_uri = canonical_destination(destination)
        self.destination: ArtifactStore = _store_for_root(self.destination_uri)
        self._db = db
        self._local_roots = [Path(os.path.realpath(p)) for root in local_roots if (p := _local_path(root))]

    def proxied(self, path: str) -> tuple[ArtifactStore, str]:
        """The store holding `mlflow-artifacts:/<path>` and the cleaned path within it. Blocking: one indexed read."""
        path = clean_relative_path(path)
        with self._db.read() as session:
            record = artifact_destinations.lookup(session, path) if path else None
            recorded = record.destination if record else None
        if recorded is None or recorded == self.destination_uri:
            return self.destination, path
        return _store_for_root(recorded), path

    def resolve(self, uri: str) -> tuple[ArtifactStore, str]:
        """The store holding `uri` and the path of `uri` relative to that store's root."""
        proxied = artifact_destinations.proxied_path(uri)
        if proxied is not None:
            return self.proxied(proxied)
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
