"""Artifacts in Azure Blob Storage (or Azurite), under `wasbs://<container>@<account>.blob.core.windows.net/<prefix>`.

Uploads are staged as fixed-size blocks and committed at the end, so a broken upload never leaves a partial blob
visible. Block ids all have the same length: `mlflow server` numbers them `mlflow_block_9`, `mlflow_block_10`,
and Azure refuses block lists of unequal ids (`InvalidBlobOrBlock`) past the ninth part.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import posixpath
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobPrefix,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ExponentialRetry,
    UserDelegationKey,
    generate_blob_sas,
)

from server.artifacts.base import Download, FileInfo, MultipartUploads, SignedUrls, StorageCredentials
from server.errors import ErrorCode, MlflowError

BLOCK_SIZE = 4 << 20  # bytes per staged block (Azure allows up to 50,000 blocks per blob)
# Downloads fetch this much per request (the SDK's default first request is 32 MiB), keeping memory flat.
# Retries back off 1, 3, 5 s (the SDK's default starts at 15 s): a request that waits on storage longer than
# that is better answered with a retryable 503, which the MLflow client retries on its own schedule.
_TRANSFER: dict[str, Any] = {
    "max_single_get_size": BLOCK_SIZE,
    "max_chunk_get_size": BLOCK_SIZE,
    "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3),
}
_WASBS = re.compile(r"^wasbs://(?P<container>[^@/]+)@(?P<account>[a-z0-9]+)\.blob\.(?P<suffix>[\w.]+)(?P<path>/.*)?$")


def parse_wasbs(uri: str) -> tuple[str, str, str, str]:
    """(container, account, endpoint suffix, prefix) of MLflow's `wasbs://` form."""
    match = _WASBS.match(uri)
    if match is None:
        raise MlflowError.invalid_parameter(
            f"Invalid Azure artifact URI {uri!r}: expected wasbs://<container>@<account>.blob.core.windows.net/<path>"
        )
    prefix = (match["path"] or "").strip("/")
    return match["container"], match["account"], match["suffix"], prefix


def service_client(account: str, suffix: str, credentials: StorageCredentials) -> BlobServiceClient:
    """Credentials in MLflow's order: a connection string (which also carries Azurite's endpoint), an account
    key, then whatever `DefaultAzureCredential` finds (managed identity, CLI login, service principal)."""
    if connection_string := credentials.azure_connection_string:
        return BlobServiceClient.from_connection_string(connection_string, **_TRANSFER)
    url = f"https://{account}.blob.{suffix}"
    if access_key := credentials.azure_access_key:
        return BlobServiceClient(url, credential={"account_name": account, "account_key": access_key}, **_TRANSFER)
    from azure.identity import DefaultAzureCredential  # imported only when neither secret is configured

    return BlobServiceClient(url, credential=DefaultAzureCredential(), **_TRANSFER)


class AzureBlobArtifactStore:
    def __init__(self, uri: str, credentials: StorageCredentials) -> None:
        container, account, suffix, self.prefix = parse_wasbs(uri)
        self.service = service_client(account, suffix, credentials)
        self.container: ContainerClient = self.service.get_container_client(container)
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_expiry = datetime.min.replace(tzinfo=UTC)
        self._delegation_lock = threading.Lock()

    def check(self) -> None:
        """Fail at start-up, not at the first upload, when the container or the credentials are unusable."""
        try:
            exists = self.container.exists()
        except Exception as exc:
            raise MlflowError(
                f"Cannot reach Azure container {self.container.container_name!r}: {exc}", ErrorCode.INVALID_STATE
            ) from None
        if not exists:
            raise MlflowError(
                f"Azure container {self.container.container_name!r} does not exist", ErrorCode.INVALID_STATE
            )

    def _name(self, path: str) -> str:
        return posixpath.join(self.prefix, path) if self.prefix else path

    def signed_url(self, path: str, ttl_s: int, *, block: str | None = None) -> str:
        """A URL to one blob that works without our credentials for `ttl_s` seconds: to read it, or (given a
        `block` id) to stage that one block, which only the server can commit. Signed with the account key when we
        have one, else with a user delegation key, so managed identities can hand out URLs too."""
        blob = self.container.get_blob_client(self._name(path))
        now = datetime.now(UTC)
        # A SAS carries whole seconds and the SDK truncates: round up, or a short URL could expire at once.
        expiry = now.replace(microsecond=0) + timedelta(seconds=ttl_s + 1)
        signing: dict[str, Any] = {}
        if account_key := getattr(self.container.credential, "account_key", None):
            signing["account_key"] = account_key
        else:
            signing["user_delegation_key"] = self._user_delegation_key(expiry)
        with _storage_reachable():
            sas = generate_blob_sas(
                self.container.account_name or "",
                self.container.container_name,
                blob.blob_name,
                permission=BlobSasPermissions(write=True) if block else BlobSasPermissions(read=True),
                start=now - timedelta(minutes=5),  # tolerates clocks a little behind ours
                expiry=expiry,
                **signing,
            )
        if block is None:
            return f"{blob.url}?{sas}"
        encoded = base64.b64encode(block.encode()).decode()  # the id on the wire, as the SDK's stage_block sends it
        return f"{blob.url}?{sas}&comp=block&blockid={quote(encoded, safe='')}"

    def multipart(self) -> MultipartUploads:
        return AzureMultipartUploads(self)

    def signed_urls(self) -> SignedUrls:
        return self

    def download_url(self, path: str, ttl_s: int) -> str:
        return self.signed_url(path, ttl_s)

    def part_upload_url(self, path: str, upload_id: str, part_number: int, ttl_s: int) -> str:
        """A part sent straight to storage is one block, the first of its part's ids."""
        return self.signed_url(path, ttl_s, block=block_id(upload_id, part_number, 0))

    def _user_delegation_key(self, expiry: datetime) -> UserDelegationKey:
        """One key per day, fetched on first need: each fetch is a round trip to Azure."""
        with self._delegation_lock:
            if self._delegation_key is None or self._delegation_expiry < expiry:
                start = datetime.now(UTC) - timedelta(minutes=5)
                self._delegation_expiry = max(expiry, start + timedelta(days=1))
                with _storage_reachable():
                    self._delegation_key = self.service.get_user_delegation_key(start, self._delegation_expiry)
            return self._delegation_key

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> None:
        blob = self.container.get_blob_client(self._name(path))
        upload = uuid.uuid4().hex  # keeps concurrent uploads of one path from sharing uncommitted blocks
        block_ids = await stage_blocks(blob, upload, 0, chunks)
        with _storage_reachable():
            await anyio.to_thread.run_sync(blob.commit_block_list, [BlobBlock(block_id=b) for b in block_ids])

    def open(self, path: str, offset: int = 0, length: int | None = None) -> Download:
        with _storage_reachable():
            return self._open(path, offset, length)

    def _open(self, path: str, offset: int, length: int | None) -> Download:
        blob = self.container.get_blob_client(self._name(path))
        try:
            if offset or length is not None:
                size = blob.get_blob_properties().size
                if offset >= size or length == 0:
                    return Download(size=size, chunks=iter(()))
                length = size - offset if length is None else min(length, size - offset)
                stream = blob.download_blob(offset=offset, length=length)
                return Download(size=size, chunks=stream.chunks())
            stream = blob.download_blob()
        except ResourceNotFoundError:
            if self.list(path):
                raise MlflowError.invalid_parameter(f"Invalid path: {path!r} is a directory") from None
            raise MlflowError.not_found(f"No such artifact: '{path}'") from None
        return Download(size=stream.size, chunks=stream.chunks())

    def list(self, path: str) -> list[FileInfo]:
        with _storage_reachable():
            return self._list(path)

    def _list(self, path: str) -> builtins.list[FileInfo]:  # `list` here would name the method above
        prefix = self._name(path).rstrip("/")
        prefix = f"{prefix}/" if prefix else ""
        infos = []
        for item in self.container.walk_blobs(name_starts_with=prefix, delimiter="/"):
            name = item.name[len(prefix) :].rstrip("/")
            if isinstance(item, BlobPrefix):
                infos.append(FileInfo(name, True))
            else:
                infos.append(FileInfo(name, False, item.size))
        return sorted(infos, key=lambda info: info.path)

    def delete(self, path: str) -> None:
        with _storage_reachable():
            self._delete(path)

    def _delete(self, path: str) -> None:
        name = self._name(path)
        names = [b.name for b in self.container.list_blobs(name_starts_with=f"{name}/")]
        if not names:
            try:
                self.container.delete_blob(name)
            except ResourceNotFoundError:
                raise MlflowError.not_found(f"No such artifact: '{path}'") from None
            return
        for blob_name in names:
            try:
                self.container.delete_blob(blob_name)
            except HttpResponseError as exc:
                if exc.status_code != 404:
                    raise


def block_id(upload_id: str, part_number: int, index: int) -> str:
    """`<upload>-<part>-<block>`, always 21 characters before encoding: Azure refuses a blob whose block ids differ
    in length, so whole-file uploads (part 0) and multipart parts share one format. (The SDK base64-encodes it.)"""
    return f"{upload_id[:8]}-{part_number:05d}-{index:06d}"


def _part_of(block: str, upload_id: str) -> int | None:
    """The part number of one of `upload_id`'s block ids, None for any other block."""
    upload, _, rest = block.partition("-")
    return int(rest[:5]) if upload == upload_id[:8] and len(block) == 21 and rest[:5].isdigit() else None


async def stage_blocks(blob: BlobClient, upload_id: str, part_number: int, chunks: AsyncIterator[bytes]) -> list[str]:
    """Stages a stream as blocks of about BLOCK_SIZE (never more in memory) and returns their ids in order."""
    block_ids: list[str] = []
    pending: list[bytes] = []
    buffered = 0

    async def stage() -> None:
        block = block_id(upload_id, part_number, len(block_ids))
        with _storage_reachable():
            await anyio.to_thread.run_sync(blob.stage_block, block, b"".join(pending))
        block_ids.append(block)

    async for chunk in chunks:
        pending.append(chunk)
        buffered += len(chunk)
        if buffered >= BLOCK_SIZE:
            await stage()
            pending, buffered = [], 0
    if pending or not block_ids:
        await stage()
    return block_ids


@contextlib.contextmanager
def _storage_reachable() -> Iterator[None]:
    """Storage that cannot be reached is a retryable 503 for the client, not a 500."""
    try:
        yield
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise MlflowError(f"Azure Blob Storage is unreachable: {exc}", ErrorCode.TEMPORARILY_UNAVAILABLE) from None


class AzureMultipartUploads:
    """Multipart uploads onto a block blob: each part is staged as one or more blocks (so a part of any size
    streams through in bounded memory), and completion commits every part's blocks in order. Abandoned blocks
    are never visible and Azure discards them after a week."""

    def __init__(self, store: AzureBlobArtifactStore) -> None:
        self.store = store

    async def write_part(self, path: str, upload_id: str, part_number: int, chunks: AsyncIterator[bytes]) -> str:
        blob = self.store.container.get_blob_client(self.store._name(path))
        await stage_blocks(blob, upload_id, part_number, chunks)
        return f'"{upload_id}-{part_number}"'

    def complete(self, path: str, upload_id: str, part_numbers: list[int]) -> None:
        blob = self.store.container.get_blob_client(self.store._name(path))
        with _storage_reachable():
            try:
                _, uncommitted = blob.get_block_list("uncommitted")
            except ResourceNotFoundError:
                uncommitted = []
            wanted = set(part_numbers)
            # Ids are fixed-width, so their text order is (part, block) order.
            staged = sorted(b.id for b in uncommitted if _part_of(b.id, upload_id) in wanted)
            missing = sorted(wanted - {_part_of(block, upload_id) for block in staged})
            if missing:
                raise MlflowError.invalid_parameter(f"Upload {upload_id} is missing parts {missing}")
            blob.commit_block_list([BlobBlock(block_id=block) for block in staged])

    def abort(self, path: str, upload_id: str) -> None:
        """Nothing to do: uncommitted blocks are invisible and expire on their own."""
