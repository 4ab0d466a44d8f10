"""Skill versions registered by uploading their content (MLflow 3.18's `register_skill` of a local directory).

The client sends the tree as a gzip-compressed tar. The server checks it (`skill_content`), hashes it, and stores
its files under a path no other upload can have: `skills/[@<organization>/]<name>/<token>`, inside the request's
workspace folder when workspaces are on. Only then does it write the version row, whose source is that folder as
an `mlflow-artifacts:/` URI. So a version is complete the moment it exists. A rejection after the files were
stored (say, the skill was deleted meanwhile) takes the files away again. A crash in between leaves unreferenced
bytes, never a version without content.

Only the exact shape written here counts as a version's own upload (`owned_path`). Deleting the skill reclaims
those folders and nothing else, so a row can never get anything else deleted.
"""

from __future__ import annotations

import logging
import re
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from server.artifacts.base import ArtifactStore
from server.artifacts.local_files import store_tree
from server.errors import ErrorCode, MlflowError
from server.services import skill_content, workspaces
from server.services import skills as service
from server.store.engine import Database

log = logging.getLogger(__name__)

UPLOAD_ROOT = "skills"
MLFLOW_SOURCE = "mlflow"
_ARTIFACTS_SCHEME = "mlflow-artifacts:/"
_TOKEN = re.compile(r"[0-9a-f]{32}")
_CHUNK = 1024 * 1024
# gzip framing and tar headers can make an archive of incompressible content a little larger than the content.
_ARCHIVE_SLACK = 1024 * 1024
# Codes a registration fails with only when nothing was committed: its stored files can go.
_NOTHING_COMMITTED = frozenset(
    {
        ErrorCode.INVALID_PARAMETER_VALUE,
        ErrorCode.NOT_IMPLEMENTED,
        ErrorCode.PERMISSION_DENIED,
        ErrorCode.RESOURCE_ALREADY_EXISTS,
        ErrorCode.RESOURCE_DOES_NOT_EXIST,
    }
)

# Finds the store and path of an `mlflow-artifacts:/` path, as the artifact proxy does.
Proxied = Callable[[str], Awaitable[tuple[ArtifactStore, str]]]


def max_archive_bytes(max_content_bytes: int) -> int:
    return max_content_bytes + _ARCHIVE_SLACK


def _identity_folder(organization: str, name: str) -> str:
    return f"{UPLOAD_ROOT}/@{organization}/{name}" if organization else f"{UPLOAD_ROOT}/{name}"


def owned_path(
    organization: str, name: str, source_type: str | None, source: str | None, subpath: str | None
) -> str | None:
    """The folder a version's upload owns: an `mlflow` source, no subpath, and exactly this skill's upload folder
    followed by one token. Anything else (a remote source, another skill's folder, a longer or shorter path) owns
    nothing."""
    if source_type != MLFLOW_SOURCE or subpath is not None or not source or not source.startswith(_ARTIFACTS_SCHEME):
        return None
    path = source.removeprefix(_ARTIFACTS_SCHEME).strip("/")
    head, _, token = path.rpartition("/")
    return path if head == _identity_folder(organization, name) and _TOKEN.fullmatch(token) else None


def _spool(content: BinaryIO, target: Path, max_bytes: int) -> None:
    received = 0
    with open(target, "wb") as out:
        while chunk := content.read(_CHUNK):
            received += len(chunk)
            if received > max_bytes:
                raise MlflowError.invalid_parameter(
                    f"The uploaded skill content exceeds the size limit of {max_bytes} bytes."
                )
            out.write(chunk)
    if received == 0:
        raise MlflowError.invalid_parameter("The 'content' part is empty.")


def _unpack(content: BinaryIO, work: Path, max_bytes: int, declared_digest: str | None) -> tuple[Path, str]:
    """The checked tree, extracted under `work`, and its digest (which must equal the one the client sent)."""
    archive, tree = work / "content.tar.gz", work / "tree"
    _spool(content, archive, max_archive_bytes(max_bytes))
    skill_content.extract(archive, tree, max_bytes=max_bytes)
    files = skill_content.tree_files(tree)
    if not files:
        raise MlflowError.invalid_parameter("The uploaded skill content contains no files.")
    skill_content.refuse_undownloadable(files)
    digest = skill_content.tree_digest(files)
    if declared_digest is not None and declared_digest != digest:
        raise MlflowError.invalid_parameter(
            f"'digest' does not match the uploaded content: expected {digest}, got {declared_digest}."
        )
    return tree, digest


async def reclaim(store: ArtifactStore, folder: str) -> None:
    """Delete an upload's folder; a failure only leaves unreferenced bytes behind, so it is logged, not raised."""
    try:
        await run_in_threadpool(store.delete, folder)
    except Exception:  # whatever the storage says, the caller's outcome stands
        log.warning("could not delete the skill content at %r; nothing refers to it any more", folder, exc_info=True)


class SkillUploads:
    """Registers uploaded versions and reclaims their folders. Files are stored where the artifact proxy looks
    for them (`proxied`), so the client pulls a version back through the proxy; None when artifacts are not
    served, where uploads are refused."""

    def __init__(self, db: Database, proxied: Proxied | None, max_bytes: int) -> None:
        self._db, self._proxied, self.max_bytes = db, proxied, max_bytes

    async def _locate(self, relative: str) -> tuple[ArtifactStore, str]:
        """Recorded sources are workspace-relative, like every `mlflow-artifacts:/` URI a client sees; the
        workspace's folder is added only to touch the storage."""
        assert self._proxied is not None
        return await self._proxied(workspaces.proxied_artifact_path(relative))

    async def register(
        self,
        registration: service.Registration,
        content: BinaryIO,
        *,
        guard: Callable[[Session], None] | None = None,
        then: Callable[[Session, service.VersionRow], None] | None = None,
    ) -> service.VersionRow:
        """`guard` and `then` run in the write that records the version, before and after it (the caller's
        permission check, the creator's grant); if either raises, nothing is recorded and the stored files go."""
        service.check_upload(registration)
        if self._proxied is None:
            raise MlflowError.not_implemented(
                "This MLflow server does not serve artifacts, so skill content cannot be stored in MLflow artifact "
                "storage. Register the skill from a git, oci, or zip source, or start the server with "
                "--serve-artifacts."
            )
        with tempfile.TemporaryDirectory(prefix="runyard-skill-upload-") as work:
            tree, digest = await run_in_threadpool(_unpack, content, Path(work), self.max_bytes, registration.digest)
            folder = f"{_identity_folder(registration.organization, registration.name)}/{uuid.uuid4().hex}"
            store, stored_at = await self._locate(folder)
            try:
                await store_tree(store, stored_at, tree)
            except BaseException:
                await reclaim(store, stored_at)
                raise
        source = f"{_ARTIFACTS_SCHEME}{folder}"
        try:

            def record(session: Session) -> service.VersionRow:
                if guard is not None:
                    guard(session)
                row = service.register_uploaded(session, registration, source=source, digest=digest)
                if then is not None:
                    then(session, row)
                return row

            return await self._db.run_write(record)
        except MlflowError as e:
            if e.code in _NOTHING_COMMITTED:
                await reclaim(store, stored_at)
            raise

    async def owned_folders(self, organization: str, name: str) -> list[str]:
        """The upload folders the skill's versions own; none for a skill that does not exist."""

        def read(session: Session) -> list[str]:
            try:
                sources = service.version_sources(session, organization, name)
            except MlflowError:
                return []
            return [path for source in sources if (path := owned_path(organization, name, *source)) is not None]

        return await self._db.run_read(read)

    async def reclaim_all(self, name: str, folders: list[str]) -> None:
        """After the skill's delete committed: its versions' upload folders."""
        if folders and self._proxied is None:
            log.warning("skill %r owned uploaded content, left in place (artifacts are not served): %s", name, folders)
            return
        for folder in folders:
            store, stored_at = await self._locate(folder)
            await reclaim(store, stored_at)
