"""Copy one artifact folder of a Runyard store (a run's or a logged model's) into a local folder, file by file, each
streamed in the store's bounded chunks: a model of many gigabytes never sits in memory, whether the store is a
folder or Azure Blob.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from server.artifacts.base import ArtifactStore
from server.artifacts.registry import ArtifactRegistry
from server.services.export_layout import key_file
from server.store.engine import Database


@dataclass(frozen=True, slots=True)
class CopiedFiles:
    files: int = 0
    bytes: int = 0


def copy_folder(db: Database, artifacts: ArtifactRegistry, artifact_uri: str, into: Path) -> CopiedFiles:
    """Every file under `artifact_uri` into the folder `into`, keeping the relative paths."""
    with db.read() as session:
        store, base = artifacts.locate(session, artifact_uri, None)
    return _copy(store, base, "", into)


def _copy(store: ArtifactStore, base: str, relative: str, into: Path) -> CopiedFiles:
    files = size = 0
    for info in store.list(f"{base}/{relative}".strip("/") if relative else base):
        path = f"{relative}/{info.path}" if relative else info.path
        if info.is_dir:
            copied = _copy(store, base, path, into)
            files, size = files + copied.files, size + copied.bytes
            continue
        download = store.open(f"{base}/{path}".strip("/") if base else path)
        with key_file(into, path).open("wb") as handle:
            for chunk in download.chunks:
                handle.write(chunk)
                size += len(chunk)
        files += 1
    return CopiedFiles(files, size)
