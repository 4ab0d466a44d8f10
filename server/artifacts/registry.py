"""Which backend serves an artifact URI.

Proxied URIs (`mlflow-artifacts:/<path>`) map onto the configured destination; a run keeps the URI it was created
with, so it stays readable after the default root changes. Local paths and `file:` URIs (experiments created with
`--no-serve-artifacts` or an explicit local location) are served from that folder directly.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from server.artifacts.base import ArtifactStore
from server.artifacts.local import LocalArtifactStore
from server.errors import MlflowError

PROXY_SCHEME = "mlflow-artifacts"


class ArtifactRegistry:
    def __init__(self, destination: str) -> None:
        self.destination: ArtifactStore = _store_for_root(destination)

    def resolve(self, uri: str) -> tuple[ArtifactStore, str]:
        """The store holding `uri` and the path of `uri` relative to that store's root."""
        parsed = urlparse(uri)
        if parsed.scheme == PROXY_SCHEME:
            return self.destination, parsed.path.lstrip("/")
        if parsed.scheme in ("", "file"):
            return _store_for_root(parsed.path or uri), ""
        raise MlflowError.invalid_parameter(f"Artifacts at '{uri}' are not served by this server.")


@lru_cache(maxsize=64)
def _store_for_root(root: str) -> ArtifactStore:
    parsed = urlparse(root)
    if parsed.scheme in ("", "file"):
        return LocalArtifactStore(Path(parsed.path if parsed.scheme else root))
    raise MlflowError.invalid_parameter(f"Unsupported artifact destination '{root}'.")
