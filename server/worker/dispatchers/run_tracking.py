"""What a dispatcher writes into its job's MLflow run itself, over MLflow's own REST API: tags, and files such as
logs fetched from remote compute.

A worker may run many jobs at once, each with its own run-scoped token, so this speaks plain HTTP with the token of
the job at hand instead of going through the `mlflow` client, which reads one token from the process environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlparse

import httpx

from server.jobspec.schemas import DEFAULT_WORKSPACE


class TrackingError(Exception):
    """The run could not be read or written; the job goes on, the user is told in its log."""


class RunTracking:
    def __init__(
        self, server_url: str, token: str | None, *, workspace: str = DEFAULT_WORKSPACE, timeout: float = 60.0
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if workspace != DEFAULT_WORKSPACE:  # the job's run is found in the job's workspace only
            headers["X-MLFLOW-WORKSPACE"] = workspace
        self._http = httpx.Client(base_url=server_url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TrackingError(f"{method} {path}: {exc}") from exc
        if response.is_error:
            raise TrackingError(f"{method} {path}: HTTP {response.status_code} {response.text[:500]}")
        return response

    def experiment_name(self, experiment_id: str) -> str:
        body = self._call("GET", "/api/2.0/mlflow/experiments/get", params={"experiment_id": experiment_id}).json()
        return str(body["experiment"]["name"])

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._call("POST", "/api/2.0/mlflow/runs/set-tag", json={"run_id": run_id, "key": key, "value": value})

    def upload_folder(self, run_id: str, folder: Path, artifact_path: str) -> int:
        """Every file under `folder` into the run's artifacts under `artifact_path`; how many were stored.

        Only proxied runs (`mlflow-artifacts:` URIs, Runyard's default) can be written through the server."""
        info = self._call("GET", "/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]["info"]
        artifact_uri = str(info["artifact_uri"])
        parsed = urlparse(artifact_uri)
        if parsed.scheme != "mlflow-artifacts":
            raise TrackingError(f"the run's artifacts live at {artifact_uri}, outside the server's artifact proxy")
        root = parsed.path.strip("/")
        count = 0
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            target = quote(f"{root}/{artifact_path.strip('/')}/{relative}")
            with path.open("rb") as handle:
                self._call("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{target}", content=_chunks(handle))
            count += 1
        return count


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(1024 * 1024):
        yield chunk
