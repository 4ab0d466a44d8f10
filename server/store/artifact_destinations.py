"""The destination each proxied artifact folder was written to, so a later `--artifacts-destination` only
applies to folders created after the change."""

from __future__ import annotations

import hashlib
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.dialect import insert_ignore
from server.store.models import ArtifactDestination
from server.store.raw import Raw

PROXY_SCHEME = "mlflow-artifacts"
PROXY_ROUTE = "/api/2.0/mlflow-artifacts/artifacts"
_MAX_DEPTH = 64  # deeper paths are looked up by their first 64 folders, far beyond any recorded prefix


def _digest(prefix: str) -> str:
    return hashlib.sha256(prefix.encode()).hexdigest()


def proxied_path(uri: str) -> str | None:
    """The path below the destination root of a `mlflow-artifacts:` URI, or of an http(s) URL of the proxy's own
    route (`http://<server>/api/2.0/mlflow-artifacts/artifacts/<path>`, what runs get when the server's default
    artifact root is spelled as its URL); None for any other URI. As in MLflow's server, the URL's host is not
    compared: whichever host a client used to reach the proxy, the files are in this server's destination, and
    the path is the same one a `mlflow-artifacts:/<path>` URI would name."""
    parsed = urlparse(uri)
    if parsed.scheme == PROXY_SCHEME:
        return parsed.path.strip("/")
    if parsed.scheme in ("http", "https"):
        _, anchor, after = parsed.path.partition(PROXY_ROUTE)
        if anchor and (not after or after.startswith("/")):
            return after.strip("/")
    return None


_INSERT = "INSERT INTO artifact_destinations (prefix_digest, prefix, destination, owner_id) VALUES (:d, :p, :dest, :o)"


def record(session: Session, artifact_uri: str, destination: str, owner_id: str) -> None:
    """Remember where `artifact_uri`'s folder lives and which run or logged model owns it; a no-op for URIs the
    proxy does not serve."""
    prefix = proxied_path(artifact_uri)
    if prefix:  # through the driver: run creation is a hot path, and an ORM (bulk) insert took a third of it
        row = {"d": _digest(prefix), "p": prefix, "dest": destination, "o": owner_id}
        Raw(session).execute(_INSERT, row)


def record_once(session: Session, artifact_uri: str, destination: str, owner_id: str) -> None:
    """`record`, where the same folder may be recorded again (a trace's folder, named by both of its halves)."""
    record_many_once(session, [(artifact_uri, destination, owner_id)])


def record_many_once(session: Session, folders: list[tuple[str, str, str]]) -> None:
    """`record_once` for many (artifact_uri, destination, owner_id) at once, in key order, so that concurrent
    requests recording the same folders lock them in the same order and cannot deadlock (PostgreSQL)."""
    rows = {}
    for artifact_uri, destination, owner_id in folders:
        if prefix := proxied_path(artifact_uri):
            digest = _digest(prefix)
            rows[digest] = {"prefix_digest": digest, "prefix": prefix, "destination": destination, "owner_id": owner_id}
    insert_ignore(session, ArtifactDestination, [rows[digest] for digest in sorted(rows)])


def lookup(session: Session, path: str) -> ArtifactDestination | None:
    """The record of the deepest recorded folder holding `path` (cleaned, relative), if any."""
    parts = path.split("/")[:_MAX_DEPTH]
    prefixes = {_digest("/".join(parts[: n + 1])): n for n in range(len(parts))}
    rows = session.scalars(select(ArtifactDestination).where(ArtifactDestination.prefix_digest.in_(prefixes))).all()
    return max(rows, key=lambda row: prefixes[row.prefix_digest]) if rows else None
