"""Artifacts in a local folder (the default `./mlartifacts`)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread

from server.artifacts.base import Download, FileInfo, MultipartUploads, SignedUrls
from server.artifacts.paths import RESERVED_ROOT_ENTRY, resolve_under
from server.errors import ErrorCode, MlflowError

CHUNK_SIZE = 1 << 20  # bytes per read, and per write to disk
SHOWN_PATH_LENGTH = 300  # of a path echoed in an error: a megabyte of path does not come back as a megabyte of error
STAGING_DIR = RESERVED_ROOT_ENTRY  # multipart parts in flight; hidden from listings, refused as a client path


def shown(path: str) -> str:
    return path if len(path) <= SHOWN_PATH_LENGTH else f"{path[:SHOWN_PATH_LENGTH]}..."


@contextlib.contextmanager
def _filesystem_refusals(path: str) -> Iterator[None]:
    """What the filesystem refuses because of the path a client sent, or a change another request made meanwhile,
    answered as MLflow's 4xx rather than a 500: a name longer than the filesystem allows, a file used as a folder,
    a folder deleted (or filled) while this request worked in it."""
    try:
        yield
    except MlflowError:
        raise
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            raise MlflowError.invalid_parameter(
                f"Invalid path: a name in '{shown(path)}' is longer than the artifact store allows"
            ) from None
        if error.errno in (errno.ENOTDIR, errno.ENOENT):
            raise MlflowError.not_found(f"No such artifact: '{shown(path)}'") from None
        if error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
            raise MlflowError.invalid_parameter(
                f"Invalid path: '{shown(path)}' was changed by another request while this one used it"
            ) from None
        raise


class LocalArtifactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def _path(self, relative: str) -> Path:
        return resolve_under(self.root, relative)

    def check(self) -> None:
        """Ready means we can write here: the folder exists (or can be made) and is writable."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MlflowError(
                f"Cannot create artifact folder {str(self.root)!r}: {exc}", ErrorCode.INVALID_STATE
            ) from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise MlflowError(f"Artifact folder {str(self.root)!r} is not writable", ErrorCode.INVALID_STATE)

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> None:
        await self.write_to(self._path(path), path, chunks)

    async def write_to(self, target: Path, path: str, chunks: AsyncIterator[bytes]) -> None:
        """Stream into a temporary file beside the target, then rename it into place: never half-visible."""
        with _filesystem_refusals(path):
            fd, tmp_name = await anyio.to_thread.run_sync(self._open_temp_beside, target, path)
        try:
            with os.fdopen(fd, "wb") as out:
                pending: list[bytes] = []
                buffered = 0
                async for chunk in chunks:
                    pending.append(chunk)
                    buffered += len(chunk)
                    if buffered >= CHUNK_SIZE:
                        await anyio.to_thread.run_sync(out.write, b"".join(pending))
                        pending, buffered = [], 0
                if pending:
                    await anyio.to_thread.run_sync(out.write, b"".join(pending))
            with _filesystem_refusals(path):
                await anyio.to_thread.run_sync(os.replace, tmp_name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    def _open_temp_beside(self, target: Path, path: str) -> tuple[int, str]:
        if target == self.root or target.is_dir():
            raise MlflowError.invalid_parameter(f"Invalid path: '{shown(path)}' is a directory")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise MlflowError.invalid_parameter(f"Invalid path: a parent of '{shown(path)}' is a file") from None
        return tempfile.mkstemp(dir=target.parent, prefix=".upload-")

    def open(self, path: str, offset: int = 0, length: int | None = None) -> Download:
        target = self._path(path)
        with _filesystem_refusals(path):
            if target.is_dir():
                raise MlflowError.invalid_parameter(f"Invalid path: '{shown(path)}' is a directory")
            handle = target.open("rb")
        size = os.fstat(handle.fileno()).st_size
        handle.seek(min(offset, size))  # past the end reads nothing; the caller answers 416
        return Download(size=size, chunks=_read_chunks(handle, length))

    def list(self, path: str) -> list[FileInfo]:
        target = self._path(path)
        with _filesystem_refusals(path):
            if not target.is_dir():
                return []
            return _entries(target)

    def delete(self, path: str) -> None:
        target = self._path(path)
        if target == self.root:
            raise MlflowError.invalid_parameter("Refusing to delete the artifact root")
        with _filesystem_refusals(path):
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            else:
                raise MlflowError.not_found(f"No such artifact: '{shown(path)}'")

    def multipart(self) -> MultipartUploads:
        return LocalMultipartUploads(self)

    def signed_urls(self) -> SignedUrls | None:
        return None  # a folder is reached through the server only


def _entries(folder: Path) -> list[FileInfo]:
    infos = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".upload-") or entry.name == STAGING_DIR:
                continue
            is_dir = entry.is_dir()
            infos.append(FileInfo(entry.name, is_dir, None if is_dir else entry.stat().st_size))
    return sorted(infos, key=lambda info: info.path)


def _read_chunks(handle: BinaryIO, length: int | None) -> Iterator[bytes]:
    remaining = -1 if length is None else length
    with handle:
        while remaining and (chunk := handle.read(CHUNK_SIZE if remaining < 0 else min(CHUNK_SIZE, remaining))):
            remaining -= len(chunk) if remaining > 0 else 0
            yield chunk


class LocalMultipartUploads:
    """Multipart uploads into a local folder: parts are staged under `.runyard-mpu/<upload id>/` in the same root
    (so every server process sees them) and joined into the target in one rename at completion."""

    def __init__(self, store: LocalArtifactStore) -> None:
        self.store = store

    def _staging(self, upload_id: str) -> Path:
        return self.store.root / STAGING_DIR / upload_id  # the caller has checked upload_id is plain hex

    async def write_part(self, path: str, upload_id: str, part_number: int, chunks: AsyncIterator[bytes]) -> str:
        await self.store.write_to(self._staging(upload_id) / f"{part_number:06d}", path, chunks)
        return f'"{upload_id}-{part_number}"'

    def complete(self, path: str, upload_id: str, part_numbers: list[int]) -> None:
        target = self.store._path(path)
        with _filesystem_refusals(path):
            fd, tmp_name = self.store._open_temp_beside(target, path)
        try:
            with os.fdopen(fd, "wb") as out:
                for number in part_numbers:
                    try:
                        part = (self._staging(upload_id) / f"{number:06d}").open("rb")
                    except FileNotFoundError:
                        raise MlflowError.invalid_parameter(
                            f"Part {number} of upload {upload_id} was not uploaded"
                        ) from None
                    with part:
                        shutil.copyfileobj(part, out, CHUNK_SIZE)
            with _filesystem_refusals(path):
                os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        self.abort(path, upload_id)

    def abort(self, path: str, upload_id: str) -> None:  # noqa: ARG002  (the protocol's signature)
        shutil.rmtree(self._staging(upload_id), ignore_errors=True)
