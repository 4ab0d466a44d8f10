"""Writing files of the server's own disk (a spooled upload, a prompt-lab model, an imported run's download) into an
artifact store: streamed a chunk at a time, each read off the event loop, so no file is held in memory whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from server.artifacts.base import ArtifactStore

CHUNK_BYTES = 1 << 20


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    """The file's bytes, `CHUNK_BYTES` at a time."""
    handle = await run_in_threadpool(path.open, "rb")
    try:
        while chunk := await run_in_threadpool(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


def files_of(tree: Path) -> list[tuple[Path, str]]:
    """Every file under `tree` with its path relative to it (`/`-separated), in a stable order."""
    return sorted((path, path.relative_to(tree).as_posix()) for path in tree.rglob("*") if path.is_file())


async def store_tree(store: ArtifactStore, folder: str, tree: Path) -> None:
    """Every file under `tree` into `folder` of `store`, keeping its relative path."""
    for local, relative in await run_in_threadpool(files_of, tree):
        await store.write(f"{folder}/{relative}" if folder else relative, file_chunks(local))
