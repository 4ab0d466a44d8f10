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
import threading
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy.orm import Session

from server.artifacts.base import ArtifactStore, StorageCredentials
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
    """Lookups read the store in the caller's session (`locate`, `resolve`, `proxied`); async callers use the
    `*_async` twins, which run the read, and the first connection to a cloud store, off the event loop."""

    def __init__(
        self,
        destination: str,
        db: Database,
        *,
        local_roots: Iterable[str] = (),
        credentials: StorageCredentials | None = None,
    ) -> None:
        self._credentials = credentials or StorageCredentials()
        self._stores: dict[str, ArtifactStore] = {}
        self._stores_lock = threading.Lock()
        self._db = db
        self.destination_uri = canonical_destination(destination)
        self.destination: ArtifactStore = self.store_for_root(self.destination_uri)
        self._local_roots = [Path(os.path.realpath(p)) for root in local_roots if (p := _local_path(root))]

    def proxied(self, session: Session, path: str) -> tuple[ArtifactStore, str]:
        """The store holding `mlflow-artifacts:/<path>` and the cleaned path within it: one indexed read."""
        path = clean_relative_path(path)
        record = artifact_destinations.lookup(session, path) if path else None
        recorded = record.destination if record else None
        if recorded is None or recorded == self.destination_uri:
            return self.destination, path
        return self.store_for_root(recorded), path

    def resolve(self, session: Session, uri: str) -> tuple[ArtifactStore, str]:
        """The store holding `uri` and the path of `uri` relative to that store's root."""
        proxied = artifact_destinations.proxied_path(uri)
        if proxied is not None:
            return self.proxied(session, proxied)
        local = _local_path(uri)
        if local is not None:
            resolved = Path(os.path.realpath(local))
            for root in self._local_roots:
                if resolved == root or root in resolved.parents:
                    relative = resolved.relative_to(root).as_posix()
                    return self.store_for_root(str(root)), "" if relative == "." else relative
        raise MlflowError.invalid_parameter(f"Artifacts at '{uri}' are not served by this server.")

    def locate(self, session: Session, uri: str, relative: str | None) -> tuple[ArtifactStore, str]:
        """The store holding `<uri>/<relative>` and that path within it; `relative` is cleaned here."""
        store, base = self.resolve(session, uri)
        return store, _join(base, clean_relative_path(relative))

    async def proxied_async(self, path: str) -> tuple[ArtifactStore, str]:
        return await self._db.run_read(lambda session: self.proxied(session, path))

    async def locate_async(self, uri: str, relative: str | None) -> tuple[ArtifactStore, str]:
        return await self._db.run_read(lambda session: self.locate(session, uri, relative))

    def store_for_root(self, root: str) -> ArtifactStore:
        """One store per root, built on first use; building a cloud store checks that it is reachable."""
        with self._stores_lock:
            store = self._stores.get(root)
            if store is None:
                store = self._stores[root] = _open_store(root, self._credentials)
            return store


def _open_store(root: str, credentials: StorageCredentials) -> ArtifactStore:
    local = _local_path(root)
    if local is not None:
        return LocalArtifactStore(local)
    if root.startswith("wasbs://"):
        # The Azure SDK takes seconds to import: only a server with an Azure destination pays for it.
        from server.artifacts.azure_blob import AzureBlobArtifactStore

        store = AzureBlobArtifactStore(root, credentials)
        store.check()
        return store
    raise MlflowError.invalid_parameter(f"Unsupported artifact destination '{root}'.")
