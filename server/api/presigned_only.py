"""`--artifacts-presigned-only` (MLflow 3.18): artifact bytes move between clients and storage only.

The routes that would carry bytes through the server refuse with MLflow's PERMISSION_DENIED, its wording and its
`artifacts_presigned_only` field, on which a 3.18 client knows to use presigned URLs (server-info announces the
mode too). Listings, deletes and the URL-handing routes (multipart `create`/`complete`, `presigned`, a model file's
`?presigned=true`) stay open.
"""

from __future__ import annotations

from server.api.health import MLFLOW_PROTOCOL_VERSION
from server.artifacts.base import ArtifactStore
from server.config import Settings
from server.errors import ErrorCode, MlflowError

_UPGRADE = (
    f"Upgrade your MLflow client to match this server (MLflow {MLFLOW_PROTOCOL_VERSION}) or a newer version "
    "with presigned-only artifact support, then retry the {}. "
    "If you are using the MLflow UI, reload the page to refresh the server settings."
)
UPLOAD_MESSAGE = "This server requires artifacts to be uploaded directly to storage. " + _UPGRADE.format("upload")
DOWNLOAD_MESSAGE = "This server requires artifacts to be downloaded directly from storage. " + _UPGRADE.format(
    "download"
)


def refused(*, upload: bool) -> MlflowError:
    return MlflowError(
        UPLOAD_MESSAGE if upload else DOWNLOAD_MESSAGE,
        ErrorCode.PERMISSION_DENIED,
        details={"artifacts_presigned_only": True},
    )


def check_destination(settings: Settings, destination: ArtifactStore) -> None:
    """Presigned-only needs a destination that signs URLs to its own objects; on a folder every byte would have to
    pass through the server, so the mode would leave clients no way to move any. Said at start, in one line."""
    if not settings.serve_artifacts:
        raise MlflowError.invalid_parameter("--artifacts-presigned-only needs artifact proxying (--serve-artifacts).")
    if destination.signed_urls() is None:
        raise MlflowError.invalid_parameter(
            "--artifacts-presigned-only needs an artifacts destination that signs URLs (Azure Blob Storage, "
            f"wasbs://...); {settings.artifacts_destination!r} cannot."
        )
