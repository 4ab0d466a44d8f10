"""What every artifact backend provides; the proxy endpoints and the tracking API know only this."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
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
class StorageCredentials:
    """Secrets for cloud stores, from Settings; a local folder needs none. Kept out of repr so they are never
    logged."""

    azure_connection_string: str | None = field(default=None, repr=False)
    azure_access_key: str | None = field(default=None, repr=False)


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

    def multipart(self) -> MultipartUploads | None:
        """How this store assembles an upload sent in parts, or None when it cannot."""
        ...

    def signed_urls(self) -> SignedUrls | None:
        """How this store hands out URLs that reach one file without the server, or None when it cannot (a local
        folder). The API asks this instead of asking which backend it holds."""
        ...


class MultipartUploads(Protocol):
    """Parts are staged invisibly and become the file only when `complete` assembles them in order."""

    async def write_part(self, path: str, upload_id: str, part_number: int, chunks: AsyncIterator[bytes]) -> str:
        """Stage one part; returns its ETag."""
        ...

    def complete(self, path: str, upload_id: str, part_numbers: list[int]) -> None: ...

    def abort(self, path: str, upload_id: str) -> None: ...


class SignedUrls(Protocol):
    """Short-lived URLs to one file in the storage itself, so big transfers skip the server. Blocking: signing may
    fetch a key from the storage service."""

    def download_url(self, path: str, ttl_s: int) -> str:
        """Read-only, for `ttl_s` seconds at least."""
        ...

    def part_upload_url(self, path: str, upload_id: str, part_number: int, ttl_s: int) -> str:
        """Write-only, for staging one part of a multipart upload; only the server can complete the upload."""
        ...
