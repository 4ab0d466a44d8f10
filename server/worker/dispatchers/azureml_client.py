"""The Azure ML boundary: the only module that imports `azure.ai.ml` (SDK v2).

Everything the dispatcher needs from a workspace goes through `AzureML`, in our own plain types (`CommandJob`,
`RemoteJob`, `AzureMLError`), so the dispatcher's state machine is tested against an autospec'd `MLClient` without
the SDK's entities leaking past this file, and an SDK upgrade has one place to break.

Azure's exceptions are translated here into the handful of failures a user can act on: no credentials, an unknown
workspace, an unknown compute, a refused submission, and transient trouble worth retrying.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from azure.ai.ml import MLClient, command
from azure.ai.ml.entities import Environment
from azure.ai.ml.exceptions import JobException, MlException
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

log = logging.getLogger(__name__)

ErrorKind = Literal["credentials", "workspace", "compute", "refused", "transient"]
_TRANSIENT_HTTP = frozenset({408, 429, 500, 502, 503, 504})


class AzureMLError(Exception):
    """A failure talking to Azure ML, worded for the job's `error` and the run's tag."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def transient(self) -> bool:
        return self.kind == "transient"


@dataclass(frozen=True, slots=True)
class Workspace:
    """Where jobs go: explicit coordinates, else a `config.json` as `MLClient.from_config` finds it."""

    subscription_id: str | None = None
    resource_group: str | None = None
    workspace_name: str | None = None
    config_path: str | None = None

    @property
    def explicit(self) -> bool:
        return bool(self.subscription_id and self.resource_group and self.workspace_name)


@dataclass(frozen=True, slots=True)
class EnvironmentChoice:
    """`named` (a registered or curated environment, e.g. `azureml://registries/azureml/environments/sklearn-1.5/
    labels/latest` or `AzureML-sklearn-1.5@latest`) is used as is; otherwise an anonymous environment is built from
    `image` plus, when the project has one, its conda specification."""

    named: str | None = None
    image: str | None = None
    conda: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CommandJob:
    name: str
    code: Path
    command: str
    environment: EnvironmentChoice
    compute: str
    experiment_name: str
    environment_variables: dict[str, str] = field(default_factory=dict)
    display_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RemoteJob:
    name: str
    status: str
    studio_url: str | None = None


def build_command_job(spec: CommandJob) -> Any:
    """The SDK's `Command` entity for `spec`; no network (the code folder is uploaded at `create_or_update`)."""
    environment: str | Environment
    if spec.environment.named:
        environment = spec.environment.named
    else:
        environment = Environment(image=spec.environment.image, conda_file=spec.environment.conda)
    return command(
        name=spec.name,
        display_name=spec.display_name or spec.name,
        experiment_name=spec.experiment_name,
        code=str(spec.code),
        command=spec.command,
        environment=environment,
        environment_variables=dict(spec.environment_variables),
        compute=spec.compute,
        tags=dict(spec.tags),
    )


def _detail(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())[:2000]


def translate(exc: BaseException, *, doing: str) -> AzureMLError:
    """Azure's exception as one of the failures we report (`doing` says what we were trying)."""
    if isinstance(exc, AzureMLError):
        return exc
    if isinstance(exc, ClientAuthenticationError):
        return AzureMLError(
            "credentials",
            f"No usable Azure credentials while {doing}: DefaultAzureCredential found none (give the worker a "
            f"service principal through AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_CLIENT_SECRET, a managed "
            f"identity, or `az login` as its user). {_detail(exc)}",
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return AzureMLError("transient", f"Azure ML unreachable while {doing}: {_detail(exc)}")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        if status in _TRANSIENT_HTTP:
            return AzureMLError("transient", f"Azure ML answered HTTP {status} while {doing}: {_detail(exc)}")
        return AzureMLError("refused", f"Azure ML refused {doing} (HTTP {status}): {_detail(exc)}")
    if isinstance(exc, MlException):
        return AzureMLError("refused", f"Azure ML refused {doing}: {_detail(exc)}")
    return AzureMLError("refused", f"{doing} failed: {type(exc).__name__}: {_detail(exc)}")


class _StdoutRouter(io.TextIOBase):
    """`JobOperations.stream` writes to `sys.stdout`, hard-wired. This stands in for `sys.stdout` and sends what a
    registered thread writes to that thread's sink; every other write goes where it went before. A child process per
    stream would do too, but could not share the worker's client (or a test's fake one)."""

    def __init__(self, fallback: Any) -> None:
        super().__init__()
        self.fallback = fallback
        self.sinks: dict[int, Callable[[str], None]] = {}

    def write(self, text: str) -> int:
        sink = self.sinks.get(threading.get_ident())
        if sink is None:
            return int(self.fallback.write(text))
        sink(text)
        return len(text)

    def flush(self) -> None:
        if threading.get_ident() not in self.sinks:
            self.fallback.flush()

    def writable(self) -> bool:
        return True


_router_lock = threading.Lock()


@contextmanager
def _stdout_to(sink: Callable[[str], None]) -> Iterator[None]:
    with _router_lock:
        router = sys.stdout if isinstance(sys.stdout, _StdoutRouter) else _StdoutRouter(sys.stdout)
        sys.stdout = router
        router.sinks[threading.get_ident()] = sink
    try:
        yield
    finally:
        with _router_lock:
            router.sinks.pop(threading.get_ident(), None)


class LogStream:
    """`jobs.stream(name)` in a thread of its own, its output handed to `sink` until `detach()`. It returns when
    the job ends; `failure` keeps the SDK's account of a Failed job (its error details)."""

    def __init__(self, client: MLClient, name: str, sink: Callable[[str], None]) -> None:
        self.failure: str | None = None
        self._client = client
        self._name = name
        self._sink: Callable[[str], None] | None = sink
        self._thread = threading.Thread(target=self._run, name=f"azureml-stream-{name}", daemon=True)
        self._thread.start()

    def _write(self, text: str) -> None:
        sink = self._sink
        if sink is not None:
            sink(text)

    def _run(self) -> None:
        with _stdout_to(self._write):
            try:
                self._client.jobs.stream(self._name)
            except JobException as exc:
                self.failure = _detail(exc)
            except Exception as exc:  # streaming is a convenience: the poller decides the outcome
                log.warning("streaming the logs of Azure ML job %s stopped: %s", self._name, exc)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def detach(self) -> None:
        """Drop whatever the stream still writes (the job went on without us)."""
        self._sink = None


class AzureML:
    """One workspace, through an `MLClient`."""

    def __init__(self, client: MLClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, workspace: Workspace) -> AzureML:
        """Build the client and check the workspace exists (which also proves the credentials)."""
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
        try:
            if workspace.explicit:
                client = MLClient(
                    credential,
                    subscription_id=workspace.subscription_id,
                    resource_group_name=workspace.resource_group,
                    workspace_name=workspace.workspace_name,
                )
            else:
                client = MLClient.from_config(credential, path=workspace.config_path)
        except (MlException, OSError, ValueError) as exc:
            raise AzureMLError(
                "workspace",
                "No Azure ML workspace configured: set AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and "
                f"AZUREML_WORKSPACE, or point AZUREML_CONFIG at a config.json. {_detail(exc)}",
            ) from None
        return cls.open(client)

    @classmethod
    def open(cls, client: MLClient) -> AzureML:
        azure = cls(client)
        azure.check_workspace()
        return azure

    @property
    def workspace_label(self) -> str:
        return f"'{self.client.workspace_name}' (resource group '{self.client.resource_group_name}')"

    def check_workspace(self) -> None:
        try:
            self.client.workspaces.get(name=self.client.workspace_name)
        except ResourceNotFoundError as exc:
            raise AzureMLError(
                "workspace",
                f"Azure ML workspace {self.workspace_label} was not found in subscription "
                f"'{self.client.subscription_id}': {_detail(exc)}",
            ) from None
        except AzureError as exc:
            raise translate(exc, doing=f"opening workspace {self.workspace_label}") from None

    def check_compute(self, name: str) -> None:
        try:
            self.client.compute.get(name)
        except ResourceNotFoundError:
            raise AzureMLError(
                "compute", f"Compute '{name}' does not exist in Azure ML workspace {self.workspace_label}."
            ) from None
        except AzureError as exc:
            raise translate(exc, doing=f"looking up compute '{name}'") from None

    def find(self, name: str) -> RemoteJob | None:
        """The job named `name`, or None if the workspace has none (the check that makes submission idempotent)."""
        try:
            return _remote(self.client.jobs.get(name))
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise translate(exc, doing=f"looking up job {name}") from None

    def status(self, name: str) -> RemoteJob:
        found = self.find(name)
        if found is None:
            raise AzureMLError("refused", f"Azure ML job {name} has disappeared from the workspace.")
        return found

    def submit(self, spec: CommandJob) -> RemoteJob:
        try:
            job = build_command_job(spec)
            return _remote(self.client.jobs.create_or_update(job, experiment_name=spec.experiment_name))
        except AzureError as exc:
            raise translate(exc, doing=f"submitting job {spec.name} to compute '{spec.compute}'") from None

    def cancel(self, name: str) -> None:
        """Ask for the cancel; the job passes through CancelRequested, and the poller waits for Canceled."""
        try:
            self.client.jobs.begin_cancel(name)
        except AzureError as exc:
            raise translate(exc, doing=f"canceling job {name}") from None

    def stream(self, name: str, sink: Callable[[str], None]) -> LogStream:
        return LogStream(self.client, name, sink)

    def download_logs(self, name: str, dest: Path) -> Path:
        """The job's default outputs (its logs) under `dest`; only a finished job's can be downloaded."""
        try:
            self.client.jobs.download(name, download_path=str(dest))
        except AzureError as exc:
            raise translate(exc, doing=f"downloading the logs of job {name}") from None
        return dest


def _remote(job: Any) -> RemoteJob:
    return RemoteJob(name=str(job.name), status=str(job.status or "Unknown"), studio_url=job.studio_url)
