"""HTTP client for the job API, used by `runyard worker`, `runyard submit` and the MLflow plugin: workers never see
the database, only this API, so they can run on any machine that reaches the server."""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from server.jobspec.schemas import (
    API_PREFIX,
    DEFAULT_WORKSPACE,
    ClaimedJob,
    ClaimRequest,
    ClaimResponse,
    FinishRequest,
    GitJobSubmit,
    Heartbeat,
    JobSpec,
    JobView,
    LeaseRequest,
    LeaseState,
)


class JobApiError(Exception):
    """The server answered with an error body (MLflow's shape) or not at all."""

    def __init__(self, message: str, *, status: int | None = None, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code

    @property
    def lease_lost(self) -> bool:
        return self.status == 409

    @property
    def transient(self) -> bool:
        """Worth retrying: the server was unreachable, restarting, or busy."""
        return self.status is None or self.status in (429, 502, 503, 504)


WORKSPACE_HEADER = "X-MLFLOW-WORKSPACE"


def credentials_from_env() -> httpx.Auth | None:
    """The stock client's variables: MLFLOW_TRACKING_TOKEN (bearer), else MLFLOW_TRACKING_USERNAME/PASSWORD."""
    if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return _Bearer(token)
    username, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    return httpx.BasicAuth(username, password or "") if username else None


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class JobClient:
    def __init__(self, server_url: str, *, timeout: float = 60.0, workspace: str | None = None) -> None:
        """`workspace`: the one a user submits and reads jobs in (a worker serves every workspace, and names none)."""
        self.server_url = server_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server_url + API_PREFIX,
            timeout=timeout,
            auth=credentials_from_env(),
            headers={WORKSPACE_HEADER: workspace} if workspace else None,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JobClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise JobApiError(f"Runyard at {self.server_url} is unreachable: {exc}") from exc
        if response.is_error:
            try:
                body = response.json()
            except ValueError:
                body = {}
            message = body.get("message") if isinstance(body, dict) else None
            raise JobApiError(
                message or f"HTTP {response.status_code} from {path}",
                status=response.status_code,
                error_code=body.get("error_code") if isinstance(body, dict) else None,
            )
        return response

    def _post(self, path: str, body: BaseModel | None = None, **kwargs: Any) -> Any:
        if body is not None:
            kwargs["content"] = body.model_dump_json()
            kwargs["headers"] = {"Content-Type": "application/json"}
        return self._request("POST", path, **kwargs).json()

    # --- users ------------------------------------------------------------------------------------------------

    def submit_archive(self, spec: JobSpec, archive: Path) -> JobView:
        with archive.open("rb") as handle:
            files = {"archive": ("project.tar.gz", handle, "application/gzip")}
            body = self._request("POST", "/jobs/archive", data={"spec": spec.model_dump_json()}, files=files)
        return JobView.model_validate(body.json())

    def submit_git(self, spec: GitJobSubmit) -> JobView:
        return JobView.model_validate(self._post("/jobs", spec))

    def get(self, job_id: str) -> JobView:
        return JobView.model_validate(self._request("GET", f"/jobs/{job_id}").json())

    def cancel(self, job_id: str) -> JobView:
        return JobView.model_validate(self._post(f"/jobs/{job_id}/cancel"))

    def retry(self, job_id: str) -> JobView:
        return JobView.model_validate(self._post(f"/jobs/{job_id}/retry"))

    def logs(self, job_id: str) -> str:
        return self._request("GET", f"/jobs/{job_id}/logs").text

    def follow(self, job_id: str, after: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
        """The live tail: `("log", {attempt, stream, text})` events until `("end", {status})`."""
        try:
            with self._http.stream(
                "GET", f"/jobs/{job_id}/logs/stream", params={"after": after}, timeout=httpx.Timeout(60, read=None)
            ) as response:
                if response.is_error:
                    response.read()
                    raise JobApiError(response.text, status=response.status_code)
                event, data = "message", ""
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                    elif not line and data:
                        yield event, json.loads(data)
                        event, data = "message", ""
        except httpx.TransportError as exc:
            raise JobApiError(f"Runyard at {self.server_url} is unreachable: {exc}") from exc

    # --- workers ----------------------------------------------------------------------------------------------

    def claim(self, request: ClaimRequest) -> list[ClaimedJob]:
        timeout = httpx.Timeout(request.wait_seconds + 30)
        return ClaimResponse.model_validate(self._post("/workers/claim", request, timeout=timeout)).jobs

    def download_snapshot(self, job_id: str, dest: Path, workspace: str = DEFAULT_WORKSPACE) -> None:
        """The snapshot is read in the job's workspace, as its submitter would read it."""
        headers = {WORKSPACE_HEADER: workspace} if workspace != DEFAULT_WORKSPACE else None
        try:
            with self._http.stream("GET", f"/jobs/{job_id}/snapshot", headers=headers) as response:
                if response.is_error:
                    response.read()
                    raise JobApiError(response.text, status=response.status_code)
                with dest.open("wb") as out:
                    for chunk in response.iter_bytes(1024 * 1024):
                        out.write(chunk)
        except httpx.TransportError as exc:
            raise JobApiError(f"Runyard at {self.server_url} is unreachable: {exc}") from exc

    def start(self, job_id: str, token: str) -> LeaseState:
        return LeaseState.model_validate(self._post(f"/jobs/{job_id}/start", LeaseRequest(lease_token=token)))

    def heartbeat(self, job_id: str, beat: Heartbeat) -> LeaseState:
        return LeaseState.model_validate(self._post(f"/jobs/{job_id}/heartbeat", beat))

    def release(self, job_id: str, lease_token: str) -> None:
        self._request(
            "POST",
            f"/jobs/{job_id}/release",
            content=LeaseRequest(lease_token=lease_token).model_dump_json(),
            headers={"Content-Type": "application/json"},
        )

    def finish(self, job_id: str, request: FinishRequest) -> JobView:
        return JobView.model_validate(self._post(f"/jobs/{job_id}/finish", request))
