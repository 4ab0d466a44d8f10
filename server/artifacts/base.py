"""What every artifact backend provides; the proxy endpoints and the tracking API know only this."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None = None

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"path": self.path, "is_dir": self.is_dir}
        if not self.is_dir and self.file_size is not None:
            body["file_size"] = self.file_size
        return body


@dataclass(frozen=True, slots=True)
class Download:
    size: int  # of the whole file, whatever part `chunks` covers
    chunks: Iterator[bytes]


class ArtifactStore(Protocol):
    """Artifact storage under one root. Paths are relative to the root and already cleaned by the caller.

    Uploads arrive as a stream and must never become visible half-written; downloads are streamed in bounded
    chunks. Nothing here holds a whole file in memory.
    """

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> None: ...

    def open(self, path: str, offset: int = 0, length: int | None = None) -> Download:
        """The bytes from `offset` (all, or `length` of them). Raise RESOURCE_DOES_NOT_EXIST for a missing file,
        INVALID_PARAMETER_VALUE for a directory."""
        ...

    def list(self, path: str) -> list[FileInfo]:
        """Direct children of a directory, by basename; [] for a file or a missing path."""
        ...

    def delete(self, path: str) -> None: ...

    def check(self) -> None:
        """Raise INVALID_STATE unless the store is reachable and usable now (start-up and readiness probes)."""
        ...
