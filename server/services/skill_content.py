"""Uploaded skill content: a gzip-compressed tar checked entry by entry before anything is kept, extracted into an
empty folder, and hashed the way MLflow 3.18's client hashes a skill tree.

The archive comes from a client, so every rule MLflow's skill content rules state is enforced here, in their words:
- only regular files and directories; no links, devices or FIFOs;
- no absolute path, `.` or `..` segment, backslash, colon, control character, Windows-reserved name, or name ending
  in a space or period; a segment of at most 255 bytes, a path of at most 128 segments and 4,096 bytes;
- no two paths that are the same after Unicode NFC normalisation or case folding, and no path that is both a file
  and a directory;
- at most 10,000 entries and `max_bytes` of content (MLflow's `MLFLOW_SKILL_CONTENT_MAX_DECOMPRESSED_SIZE`);
- tar headers (PAX and GNU long names included) may not decompress to more than 1 KiB per allowed entry, and all
  the decompression the archive causes, skipped bytes included, is bounded by a multiple of `max_bytes`: a small
  archive cannot make the server inflate gigabytes, or hold a huge header in memory.

The archive is read twice, as a stream: once to check every entry, then to write them. A rejected archive writes
nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import struct
import tarfile
import unicodedata
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from server.errors import MlflowError

MAX_ENTRIES = 10_000
MAX_SEGMENT_BYTES = 255
MAX_DEPTH = 128
MAX_PATH_BYTES = 4096
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
_HEADER_ALLOWANCE = 1024 * MAX_ENTRIES
_WORK_MULTIPLIER = 64
_MIN_WORK = 16 * 1024 * 1024
_CHUNK = 1024 * 1024
_WINDOWS_INVALID = '<>"|?*'
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)
# The artifact API decodes percent-escapes and ends a path at `?` or `#`: a name holding one would not come back.
_UNDOWNLOADABLE = "%?#"
_TAR_FAILURES = (tarfile.TarError, EOFError, OSError, zlib.error, RecursionError, ValueError)


def _invalid(message: str) -> MlflowError:
    return MlflowError.invalid_parameter(message)


def _shown(value: str) -> str:
    """A name fit for a message even when it holds undecodable bytes (as lone surrogates)."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_segment(segment: str, whole: str) -> None:
    shown = _shown(whole)
    if segment in (".", ".."):
        raise _invalid(f"Path '{shown}' must not contain '.' or '..' segments.")
    if ":" in segment:
        raise _invalid(f"Path '{shown}' must not contain ':' in a segment.")
    if any(ch in _WINDOWS_INVALID for ch in segment):
        raise _invalid(f"Path '{shown}' contains a character Windows does not allow in names ({_WINDOWS_INVALID}).")
    if segment[-1] in " .":
        raise _invalid(f"Path '{shown}' has a name ending in a space or period.")
    if any(ord(ch) < 32 or ch == "\x7f" for ch in segment):
        raise _invalid(f"Path '{shown}' must not contain control characters.")
    try:
        encoded = segment.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(f"Path '{shown}' is not valid UTF-8.") from None
    if max(len(encoded), len(unicodedata.normalize("NFC", segment).encode("utf-8"))) > MAX_SEGMENT_BYTES:
        raise _invalid(f"Path '{shown}' has a name longer than {MAX_SEGMENT_BYTES} bytes.")
    if segment.split(".", 1)[0].upper() in _WINDOWS_RESERVED:
        raise _invalid(f"Path '{shown}' uses a reserved Windows device name.")


def canonical_path(value: str) -> str | None:
    """An entry's path as a POSIX relative path, unchanged but for empty segments; None for the root itself."""
    if "\\" in value:
        raise _invalid(f"Path '{_shown(value)}' must use forward slashes as separators.")
    if value.startswith("/"):
        raise _invalid(f"Path '{_shown(value)}' must be relative to the content root.")
    parts = [part for part in value.split("/") if part]
    if len(parts) > MAX_DEPTH:
        raise _invalid(f"Path '{_shown(value)}' is nested deeper than {MAX_DEPTH} directories.")
    lengths = (len(form.encode("utf-8", "surrogatepass")) for form in (value, unicodedata.normalize("NFC", value)))
    if max(lengths) > MAX_PATH_BYTES:
        raise _invalid(f"Path '{_shown(value)}' is longer than {MAX_PATH_BYTES} bytes.")
    for part in parts:
        _check_segment(part, value)
    return "/".join(parts) if parts else None


def _entry_path(name: str) -> str | None:
    value = name.removeprefix("./")
    if value in ("", ".", "./"):
        return None
    try:
        return canonical_path(value)
    except MlflowError as e:
        raise _invalid(f"Archive entry '{_shown(name)}' has an unsafe path: {e.message}") from None


class Layout:
    """The files and directories of one tree, so that none aliases or shadows another on any filesystem."""

    def __init__(self) -> None:
        self._by_nfc: dict[str, str] = {}
        self._by_folded: dict[str, str] = {}
        self._files: set[str] = set()
        self._dirs: set[str] = set()

    def _claim(self, path: str) -> str:
        nfc = unicodedata.normalize("NFC", path)
        if (earlier := self._by_nfc.get(nfc)) is not None:
            if earlier == path:
                raise _invalid(f"Path '{path}' appears more than once.")
            raise _invalid(
                f"Paths '{earlier}' and '{path}' normalize to the same path '{nfc}'; the skill tree is ambiguous."
            )
        folded = nfc.casefold()
        if (earlier := self._by_folded.get(folded)) is not None:
            raise _invalid(
                f"Paths '{earlier}' and '{path}' differ only by letter case; the skill tree is ambiguous on "
                "case-insensitive filesystems."
            )
        self._by_nfc[nfc] = path
        self._by_folded[folded] = path
        return nfc

    def _directory(self, path: str, raw_name: str) -> None:
        if path in self._dirs:
            return
        if path in self._files:
            raise _invalid(f"Entry '{_shown(raw_name)}' uses '{path}' as a directory, but it is a file.")
        self._claim(path)
        self._dirs.add(path)

    def add(self, path: str, raw_name: str, *, is_dir: bool) -> str:
        """Register `path` and its parents; returns the NFC form a file is hashed under."""
        parts = path.split("/")
        for depth in range(1, len(parts)):
            self._directory("/".join(parts[:depth]), raw_name)
        if is_dir:
            self._directory(path, raw_name)
            return path
        if path in self._dirs:
            raise _invalid(f"Entry '{_shown(raw_name)}' is a file, but '{path}' is also a directory.")
        nfc = self._claim(path)
        self._files.add(path)
        return nfc


class _Budget:
    def __init__(self, limit: int, message: str) -> None:
        self.limit, self.used, self._message = limit, 0, message

    def take(self, amount: int) -> None:
        self.used += amount
        if self.used > self.limit:
            raise _invalid(self._message.format(limit=self.limit))


class _BoundedStream:
    """The decompressed archive, letting through only the header allowance plus the payloads headers declared:
    a header can never be read into memory past the allowance. Every byte also counts against `work`."""

    def __init__(self, inner: gzip.GzipFile, work: _Budget) -> None:
        self._inner, self._work = inner, work
        self._allowed, self._read = _HEADER_ALLOWANCE, 0

    def read(self, size: int = -1) -> bytes:
        remaining = self._allowed - self._read + 1
        chunk = self._inner.read(remaining if size < 0 or size > remaining else size)
        self._read += len(chunk)
        self._work.take(len(chunk))
        if self._read > self._allowed:
            raise _invalid(
                f"Archive metadata decompresses to more than {self._allowed} bytes, which exceeds the allowance for "
                "tar headers."
            )
        return chunk

    def grant(self, amount: int) -> None:
        self._allowed += amount

    def close(self) -> None:
        self._inner.close()


@contextmanager
def _members(archive: Path, work: _Budget) -> Iterator[tuple[tarfile.TarFile, Iterator[tarfile.TarInfo]]]:
    """The archive's entries, in order, as a stream (tarfile's `r|`), with the gzip trailer checked at the end."""
    with open(archive, "rb") as raw:
        bounded = _BoundedStream(gzip.GzipFile(fileobj=raw, mode="rb"), work)

        def entries(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
            for count, member in enumerate(tar, start=1):
                if count > MAX_ENTRIES:
                    raise _invalid(f"Archive contains more than {MAX_ENTRIES} entries.")
                if member.size < 0:  # base-256 sizes can be negative, which would refill the budgets
                    raise _invalid(f"Archive entry '{_shown(member.name)}' declares a negative size.")
                if member.isreg() or member.type not in tarfile.SUPPORTED_TYPES:
                    bounded.grant(-(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE)
                yield member

        try:
            with tarfile.open(fileobj=bounded, mode="r|") as tar:  # type: ignore[call-overload]
                yield tar, entries(tar)
            while bounded.read(_CHUNK):  # on to gzip's trailer, whose CRC and length refuse a tampered stream
                pass
        except MlflowError:
            raise
        except _TAR_FAILURES as e:
            raise _invalid(f"'{archive.name}' is not a readable tar archive: {e}") from None


def _is_directory(member: tarfile.TarInfo) -> bool:
    if member.isdir():
        return True
    if member.isreg():
        return False
    raise _invalid(f"Archive entry '{member.name}' is not a regular file or directory.")


def _work_budget(max_bytes: int) -> _Budget:
    return _Budget(
        max(max_bytes * _WORK_MULTIPLIER, _MIN_WORK),
        "Archive processing decompressed more than {limit} bytes, the work allowed for the skill content size limit.",
    )


def _content_budget(max_bytes: int) -> _Budget:
    return _Budget(max_bytes, "Archive content exceeds the skill content size limit of {limit} bytes.")


def _check(archive: Path, max_bytes: int, work: _Budget) -> None:
    layout, content = Layout(), _content_budget(max_bytes)
    with _members(archive, work) as (_, entries):
        for member in entries:
            path, is_dir = _entry_path(member.name), _is_directory(member)
            if path is None:
                if not is_dir:
                    raise _invalid("Archive root entry must be a directory.")
                continue
            layout.add(path, member.name, is_dir=is_dir)
            if not is_dir:
                content.take(member.size)


def extract(archive: Path, destination: Path, *, max_bytes: int) -> None:
    """Check every entry of `archive`, then write its files and directories into the empty `destination`."""
    work = _work_budget(max_bytes)
    _check(archive, max_bytes, work)
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    content = _content_budget(max_bytes)
    with _members(archive, work) as (tar, entries):
        for member in entries:
            path = _entry_path(member.name)
            if path is None:
                continue
            target = destination.joinpath(*path.split("/"))
            if not target.resolve().is_relative_to(root):  # cannot happen after the checks; never trust that alone
                raise _invalid(f"Path '{target}' resolves outside of '{destination}'.")
            try:
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                source = tar.extractfile(member)
                if source is None:
                    raise _invalid(f"Archive entry '{member.name}' has no readable content.")
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, open(target, "wb") as out:
                    while chunk := source.read(_CHUNK):
                        content.take(len(chunk))
                        out.write(chunk)
            except OSError as e:
                raise _invalid(f"Cannot extract archive entry '{_shown(member.name)}': {e}") from None


@dataclass(frozen=True, slots=True)
class TreeFile:
    path: str  # POSIX, relative to the root, NFC
    local_path: Path
    size: int


def tree_files(root: Path) -> list[TreeFile]:
    """The regular files under `root` in MLflow's digest order: by the UTF-8 bytes of their NFC paths."""
    layout = Layout()
    files: list[TreeFile] = []
    for folder, directories, names in os.walk(root, followlinks=False):
        here = Path(folder)
        directories[:] = sorted(d for d in directories if not (here / d).is_symlink())
        for name in names:
            local = here / name
            info = os.lstat(local)
            if not stat.S_ISREG(info.st_mode):
                continue
            relative = local.relative_to(root).as_posix()
            path = layout.add(canonical_path(relative) or relative, relative, is_dir=False)
            files.append(TreeFile(path, local, info.st_size))
    files.sort(key=lambda f: f.path.encode("utf-8"))
    return files


def tree_digest(files: list[TreeFile]) -> str:
    """MLflow's skill digest: SHA-256 over each file's path and content, each preceded by its length as an
    unsigned 8-byte big-endian integer, in `tree_files` order. Only paths and bytes count, so the client's digest
    of the directory it packed equals this one."""
    hasher = hashlib.sha256()
    for entry in files:
        path = entry.path.encode("utf-8")
        hasher.update(struct.pack(">Q", len(path)))
        hasher.update(path)
        hasher.update(struct.pack(">Q", entry.size))
        with open(entry.local_path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
    return hasher.hexdigest()


def refuse_undownloadable(files: list[TreeFile]) -> None:
    """Stored content is read back through the artifact API; a name it cannot carry would make a version that
    cannot be pulled."""
    for entry in files:
        for name in entry.path.split("/"):
            if any(character in name for character in _UNDOWNLOADABLE):
                raise _invalid(
                    "Uploaded skill content contains a name that cannot be downloaded back through the artifact "
                    f"API: '{entry.path}'. Names must not contain {', '.join(repr(c) for c in _UNDOWNLOADABLE)}."
                )
