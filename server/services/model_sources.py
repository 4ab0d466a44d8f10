"""Where a new model version's files are, and whether the client may point there.

MLflow's server (`_create_model_version` and the `_validate_source_*` helpers in mlflow/server/handlers.py)
accepts a source only when the run or logged model named in the request actually contains it: otherwise anyone
could register `/etc` or another team's artifacts and read them back through the registry. The same rules apply
here, and the version also records its `storage_location`, resolved once: a logged model's artifact location for
`models:/<model_id>`, or the copied version's location for `models:/<name>/<version>`.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, unquote_plus, urlparse, urlsplit

from sqlalchemy.orm import Session

from server.errors import ErrorCode, MlflowError
from server.services import registry as rules
from server.services import validation
from server.store import logged_models as logged_model_store
from server.store import model_versions as version_store
from server.store import registered_models as model_store
from server.store import runs as run_store

PROMPT_SOURCES = frozenset({"dummy-source", "prompt-template"})
# Schemes whose artifact repositories connect to the host named in the URI (MLflow's host_policy.py).
_HOST_SCHEMES = frozenset({"ftp", "sftp", "hdfs", "viewfs", "http", "https", "r2", "b2", "abfss"})
# Schemes reaching the same service, and the ports a URI without one connects to (`mlflow-artifacts://host` follows
# the client's transport, so either web port).
_SCHEME_FAMILIES = {"https": "http", "mlflow-artifacts": "http", "viewfs": "hdfs"}
_DEFAULT_PORTS: dict[str, tuple[int | None, ...]] = {
    "ftp": (21,),
    "sftp": (22,),
    "http": (80,),
    "https": (443,),
    "mlflow-artifacts": (80, 443),
    "r2": (443,),
    "b2": (443,),
    "abfss": (443,),
}
_PROXY_ROUTE = ("api", "2.0", "mlflow-artifacts", "artifacts")


@dataclass(frozen=True, slots=True)
class Lineage:
    source: str
    storage_location: str
    run_id: str | None
    model_id: str | None


def _invalid_source(source: str, owner: str) -> MlflowError:
    return MlflowError.invalid_parameter(
        f"Invalid model version source: '{source}'. The {owner} request parameter must identify the resource "
        "that contains the source."
    )


def _is_local(uri: str) -> bool:
    """A path or `file:` URI on this machine. A `file:` URI naming another host is refused with MLflow's message:
    MLflow's server fails it with a 500, which its client retries although only the caller can fix it."""
    parsed = urlparse(uri)
    host = parsed.hostname
    if parsed.scheme == "file" and host and host != "." and not host.startswith(("localhost", "127.0.0.1")):
        raise MlflowError.invalid_parameter(
            f"{uri} is not a valid remote uri. For remote access on windows, please consider using a different "
            "scheme such as SMB (e.g. smb://<hostname>/<path>)."
        )
    return parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and uri[1:2] == ":")


def _local_path(uri: str) -> Path:
    return Path(os.path.realpath(urlparse(uri).path if uri.startswith("file:") else uri))


def _within(source: str, root: str) -> bool:
    """Whether `source` lies under `root`: same scheme and authority, and the root's path segments as a prefix."""
    if _is_local(source):
        if not _is_local(root):
            return False
        target, base = _local_path(source), _local_path(root)
        return target == base or base in target.parents

    def parts(uri: str) -> tuple[str, str, tuple[str, ...]]:
        parsed = urlsplit(uri)
        return parsed.scheme.lower(), parsed.netloc.lower(), tuple(unquote(p) for p in parsed.path.split("/") if p)

    (scheme, host, path), (root_scheme, root_host, root_path) = parts(source), parts(root)
    return (scheme, host) == (root_scheme, root_host) and bool(root_path) and path[: len(root_path)] == root_path


def _check_no_relative_parts(source: str) -> None:
    """No `..`, NUL or path that normalisation would change, even behind (repeated) percent-encoding. A local
    source may name `.` and `..` (`<run artifacts>/model/..`), as in MLflow: it is resolved, symlinks included,
    before its run or model is checked to contain it, so only a NUL (which no path can hold) is refused here."""
    decoded = source
    while (once := unquote_plus(decoded)) != decoded:
        decoded = once
    path = re.sub(r"/+", "/", urlparse(decoded).path.rstrip("/"))
    if "\x00" not in path and _is_local(source):
        return
    normalised = posixpath.normpath(path) if path else path
    if "\x00" in path or ".." in decoded.split("/") or (path and normalised != path):
        raise MlflowError.invalid_parameter(
            f"Invalid model version source: '{source}'. If supplying a source as an http, https, local file path, "
            "ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path "
            "references present. Please provide an absolute path."
        )


def _targets(uri: str) -> frozenset[tuple[str, str, int | None]] | None:
    """The (scheme family, host, port) a URI makes an artifact repository connect to; None when it names no host,
    and an empty set when its authority is malformed (it then matches nothing)."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme not in _HOST_SCHEMES and not (scheme == "mlflow-artifacts" and parsed.netloc):
        return None
    if "\\" in parsed.netloc or any(char.isspace() for char in parsed.netloc):
        return frozenset()  # clients end the authority elsewhere than urlparse does
    try:
        port = parsed.port
    except ValueError:
        return frozenset()
    family, host = _SCHEME_FAMILIES.get(scheme, scheme), (parsed.hostname or "").lower()
    return frozenset((family, host, p) for p in ((port,) if port is not None else _DEFAULT_PORTS.get(scheme, (None,))))


def _check_host(source: str, trusted_roots: Sequence[str]) -> None:
    """A source may address a host only when it is the host of the server's own artifact root or destination (MLflow's
    host policy): the server reads a version's files from there, and must never be made to connect elsewhere."""
    targets = _targets(source)
    if targets is None:
        return
    trusted = {target for root in trusted_roots for target in _targets(root) or ()}
    if not targets & trusted:
        scheme = urlparse(source).scheme.lower()
        raise MlflowError.invalid_parameter(
            f"'source' cannot use the '{scheme}' scheme: the '{scheme}' scheme addresses a host other than the "
            "tracking server's configured artifact storage, so the server would connect to the host named in the URI."
        )


def _models_uri_parts(source: str) -> list[str]:
    parsed = urlparse(source)
    if parsed.netloc:
        raise MlflowError.invalid_parameter(
            f"Invalid model version source: '{source}'. Registered model sources must use the active model registry."
        )
    parts = parsed.path[1:].split("/") if parsed.path.startswith("/") else []
    if not parts or len(parts) > 2 or not parts[0].strip() or (len(parts) == 2 and not parts[1].strip()):
        raise _invalid_source(source, "model_id")
    return parts


def _logged_model_id(source: str) -> str | None:
    """The id in `models:/<model_id>`; None for `models:/<name>/<version|stage|latest>` and `models:/<name>@<alias>`."""
    parts = _models_uri_parts(source)
    return parts[0] if len(parts) == 1 and "@" not in parts[0] else None


def _registered_source(session: Session, source: str) -> tuple[str, int]:
    """(name, version) that a `models:/<name>/<suffix>` or `models:/<name>@<alias>` source designates."""
    parts = _models_uri_parts(source)
    name, _, suffix = parts[0].rpartition("@") if len(parts) == 1 else (parts[0], "/", parts[1])
    number = rules.parse_version(suffix) if len(parts) == 2 and suffix.isdigit() else None
    model = model_store.get_registered_model(session, name)
    if model_store.model_tags(session, [model.id])[model.id].get(model_store.PROMPT_TAG) == "true":
        raise MlflowError.invalid_parameter(
            f"Invalid model version source: '{source}'. Prompt versions cannot be used as model version sources."
        )
    if len(parts) == 1:
        return name, model_store.aliased_version(session, model, suffix)
    if number is not None:
        return name, version_store.get_version(session, model, number).version
    stages = () if suffix.lower() == "latest" else (rules.canonical_stage(suffix),)
    latest = version_store.latest_version(session, model, stages)
    if latest is None:
        where = f" and stage '{stages[0]}'" if stages else ""
        raise MlflowError.not_found(f"No versions of model with name '{name}'{where} found")
    return name, latest.version


def _copy_lineage(session: Session, source: str, run_id: str | None, model_id: str | None) -> Lineage:
    """A version registered from another version shares its files and, unless the request says otherwise, its
    run and logged model; a request that names a different run or model is refused."""
    name, number = _registered_source(session, source)
    original = version_store.get_version(session, model_store.get_registered_model(session, name), number)
    if (run_id is not None and run_id != (original.run_id or "")) or (
        model_id is not None and model_id != (original.model_id or "")
    ):
        raise MlflowError.invalid_parameter(
            f"Invalid model version source: '{source}'. The run_id and model_id request parameters must match the "
            "referenced model version."
        )
    return Lineage(
        f"models:/{name}/{number}",
        original.storage_location,
        run_id if run_id is not None else original.run_id,
        model_id if model_id is not None else original.model_id,
    )


def _is_proxied(source: str) -> bool:
    """An `mlflow-artifacts` URI, or an http(s) URL of the artifact proxy's route: files the server itself serves,
    so, as in MLflow, they must lie inside the run or logged model the request names."""
    parsed = urlsplit(source)
    scheme = parsed.scheme.lower()
    if scheme == "mlflow-artifacts":
        return True
    parts = tuple(unquote(part) for part in parsed.path.split("/") if part)
    width = len(_PROXY_ROUTE)
    return scheme in ("http", "https") and any(parts[i : i + width] == _PROXY_ROUTE for i in range(len(parts)))


def _run_lineage(session: Session, source: str, run_id: str | None) -> Lineage:
    """Without a logged model, a source must be inside the run named by `run_id` (or be a plain object-store URI)."""
    scheme = urlparse(source).scheme.lower()
    contained = scheme == "runs" or _is_proxied(source) or _is_local(source)
    if not contained:
        return Lineage(source, source, run_id, None)
    if scheme == "runs":
        parsed = urlparse(source)
        if not run_id or parsed.netloc or parsed.path.lstrip("/").split("/")[0] != run_id:
            raise _invalid_source(source, "run_id")
        return Lineage(source, source, run_id, None)
    if run_id:
        try:
            run = run_store.get_run(session, run_id)
        except MlflowError as error:
            if error.code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                raise
        else:
            if _within(source, run.artifact_uri):
                return Lineage(source, source, run_id, None)
    if _is_local(source):
        raise MlflowError.invalid_parameter(
            f"Invalid model version source: '{source}'. To use a local path as a model version source, the run_id "
            "request parameter has to be specified and the local path has to be contained within the artifact "
            "directory of the run specified by the run_id."
        )
    raise _invalid_source(source, "run_id")


def _model_lineage(session: Session, source: str, run_id: str | None, model_id: str) -> Lineage:
    """With a logged model, the source is `models:/<model_id>` or lies inside that model's artifacts."""
    try:
        model = logged_model_store.get_logged_model(session, model_id)
    except MlflowError as error:
        if error.code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
            raise
        raise _invalid_source(source, "model_id") from None
    run_id = run_id or model.source_run_id
    scheme = urlparse(source).scheme.lower()
    if scheme == "models":
        if _logged_model_id(source) != model_id:
            raise _invalid_source(source, "model_id")
        return Lineage(source, model.artifact_uri, run_id, model_id)
    if _is_local(source) and not _within(source, model.artifact_uri):
        raise MlflowError.invalid_parameter(
            f"Invalid model version source: '{source}'. To use a local path as a model version source, the model_id "
            "request parameter has to be specified and the local path has to be contained within the artifact "
            "directory of the run specified by the model_id."
        )
    if scheme == "runs" or (_is_proxied(source) and not _within(source, model.artifact_uri)):
        raise _invalid_source(source, "model_id")
    return Lineage(source, source, run_id, model_id)


def resolve(
    session: Session,
    *,
    source: str,
    run_id: str | None,
    model_id: str | None,
    is_prompt: bool,
    trusted_roots: Sequence[str] = (),
) -> Lineage:
    """Check a CreateModelVersion source against the request's run and logged model; say where its files are.

    `run_id`/`model_id` are None when the request left them out and "" when it sent them empty, a difference
    that only matters when copying a version (an explicit value must match the copied version's). A source may
    address the host of one of `trusted_roots` (the server's artifact root and destination) only."""
    validation.limit_length("source", rules.MAX_SOURCE_LENGTH, source)
    if run_id and len(run_id) > 32:
        raise MlflowError.invalid_parameter(validation.invalid_value("run_id", run_id))
    if is_prompt:
        if source not in PROMPT_SOURCES:
            raise MlflowError.invalid_parameter(
                f"Invalid prompt source: '{source}'. Prompt sources must use an MLflow placeholder."
            )
        return Lineage(source, source, run_id or None, model_id or None)
    _check_host(source, trusted_roots)
    if urlparse(source).scheme.lower() == "models" and _logged_model_id(source) is None:
        return _copy_lineage(session, source, run_id, model_id)
    _check_no_relative_parts(source)
    if model_id:
        return _model_lineage(session, source, run_id or None, model_id)
    if urlparse(source).scheme.lower() == "models":
        raise _invalid_source(source, "model_id")
    return _run_lineage(session, source, run_id or None)


def served_location(session: Session, storage_location: str) -> str:
    """A version's files as a URI the artifact registry resolves: `runs:/<run_id>/<path>` (which the client
    resolves itself) becomes the path under that run's artifact root; every other location is already one."""
    parsed = urlparse(storage_location)
    if parsed.scheme != "runs":
        return storage_location
    run_id, _, path = parsed.path.lstrip("/").partition("/")
    run = run_store.get_run(session, run_id)
    return f"{run.artifact_uri}/{path}" if path.strip("/") else run.artifact_uri
