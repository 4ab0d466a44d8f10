"""The job API's wire contract: pydantic models shared by the server, `runyard worker`, `runyard submit` and the
MLflow plugin, so the three sides cannot drift apart. FastAPI publishes them as OpenAPI under /runyard/api."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class JobStatus(StrEnum):
    QUEUED = "QUEUED"  # waiting for a worker (also after a lost worker, until `available_at`)
    LEASED = "LEASED"  # a worker holds it and is preparing the project
    RUNNING = "RUNNING"  # the entry point is running
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
ACTIVE = frozenset({JobStatus.LEASED, JobStatus.RUNNING})

# The MLflow run follows its job (MLflow's RunStatus names).
RUN_STATUS: dict[JobStatus, str] = {
    JobStatus.QUEUED: "SCHEDULED",
    JobStatus.LEASED: "SCHEDULED",
    JobStatus.RUNNING: "RUNNING",
    JobStatus.SUCCEEDED: "FINISHED",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELED: "KILLED",
}

API_PREFIX = "/runyard/api"

Backend = Literal["local", "azureml"]
EnvManager = Literal["local", "virtualenv", "uv", "conda"]
Stream = Literal["stdout", "stderr"]
ParamValue = str | int | float | bool


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GitSource(_Model):
    """A project in a git repository; the server fetches it once, at submission, and stores the snapshot."""

    type: Literal["git"] = "git"
    uri: str = Field(min_length=1, max_length=2048, description="Clone URL (https, ssh, git; file:// if enabled).")
    version: str | None = Field(None, max_length=255, description="Commit, branch or tag; default: HEAD branch.")
    subdirectory: str | None = Field(None, max_length=1024, description="Project folder inside the repository.")


class JobSpec(_Model):
    """What to run and where to track it; the project itself comes as an archive upload or a `GitSource`."""

    experiment_id: str | None = Field(None, description="Experiment of the new run (default: experiment 0).")
    experiment_name: str | None = Field(None, description="Alternatively, the name of an existing experiment.")
    entry_point: str = Field("main", min_length=1, max_length=1000)
    parameters: dict[str, ParamValue] = Field(default_factory=dict, description="Entry-point parameters.")
    backend: Backend = Field("local", description="Dispatcher: `local` workers or `azureml` compute.")
    backend_config: dict[str, Any] = Field(default_factory=dict, description="Dispatcher options, e.g. COMPUTE.")
    env_manager: EnvManager | None = Field(
        None,
        description="local, virtualenv, uv or conda; default: virtualenv for python_env projects, conda "
        "for conda projects, local (the worker's Python) for projects without an environment file.",
    )
    run_name: str | None = Field(None, max_length=250)
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags for the run (e.g. git commit).")
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Retrying a submission with the same key returns the "
        "first job instead of queueing another; the same key with a different request is refused.",
    )
    max_attempts: int | None = Field(None, ge=1, le=20, description="Attempts allowed when workers are lost.")
    priority: int = Field(0, ge=-1000, le=1000, description="Higher runs first.")

    @field_validator("parameters")
    @classmethod
    def _bounded(cls, value: dict[str, ParamValue]) -> dict[str, ParamValue]:
        if len(value) > 100:
            raise ValueError("at most 100 parameters")
        return value

    def parameter_strings(self) -> dict[str, str]:
        """Values as MLflow passes them to the command line (`str(value)`)."""
        return {key: str(value) for key, value in self.parameters.items()}


class GitJobSubmit(JobSpec):
    source: GitSource


JobKind = Literal["project", "genai"]


# The workspace of everything made while workspaces were off, and of requests that name none.
DEFAULT_WORKSPACE = "default"


class JobView(_Model):
    job_id: str
    kind: JobKind = Field("project", description="An MLflow Project, or one of MLflow's server-side GenAI jobs.")
    run_id: str | None = Field(description="The project's run; a GenAI job has none.")
    experiment_id: str
    run_name: str | None = None
    experiment_name: str | None = None
    workspace: str = Field(
        DEFAULT_WORKSPACE,
        description="The workspace of its experiment; the project logs into it (as MLFLOW_WORKSPACE).",
    )
    user_id: str | None = Field(None, description="Who submitted it: the run's user (the `mlflow.user` tag).")
    status: JobStatus
    run_status: str = Field(description="The MLflow run status the job maps to.")
    backend: str
    entry_point: str = Field(description="The project's entry point, or the GenAI job's name (e.g. invoke_scorer).")
    parameters: dict[str, Any] = Field(description="Entry-point parameters (strings), or a GenAI job's arguments.")
    env_manager: str | None
    backend_config: dict[str, Any]
    source: dict[str, Any]
    priority: int
    attempt: int
    max_attempts: int
    cancel_requested: bool
    lease_owner: str | None
    external_id: str | None
    exit_code: int | None
    error: str | None
    created_at: int
    started_at: int | None
    finished_at: int | None
    creator: str | None = Field(None, description="Who submitted a GenAI job.")
    timeout_seconds: float | None = Field(None, description="A GenAI job running longer than this is stopped.")
    result: Any = Field(None, description="A GenAI job's return value.")

    @property
    def project_run_id(self) -> str:
        """The run of a project job; the code paths that ask only ever hold project jobs."""
        if self.run_id is None:
            raise ValueError(f"job {self.job_id} is a {self.kind} job and has no run")
        return self.run_id


class JobList(_Model):
    jobs: list[JobView]
    next_page_token: str | None = None


class ClaimRequest(_Model):
    worker_id: str = Field(min_length=1, max_length=255)
    backends: list[str] = Field(default_factory=lambda: ["local"], min_length=1)
    max_jobs: int = Field(1, ge=1, le=32)
    wait_seconds: float = Field(0, ge=0, le=60, description="Long-poll: wait this long for a job to arrive.")


class ClaimedJob(_Model):
    job: JobView
    lease_token: str
    lease_seconds: float = Field(description="Heartbeat well within this, or the job is taken back.")
    tracking_token: str | None = Field(
        None,
        description="With authentication on: a bearer token that acts on this job's run only, for the project "
        "process (as MLFLOW_TRACKING_TOKEN). It is revoked when the job finishes.",
    )


class ClaimResponse(_Model):
    jobs: list[ClaimedJob]


class LogChunk(_Model):
    seq: int = Field(ge=0, description="Per attempt, increasing; a chunk sent twice is stored once.")
    stream: Stream
    text: str = Field(max_length=1_048_576)


class LeaseRequest(_Model):
    lease_token: str = Field(min_length=1, max_length=32)


class Heartbeat(LeaseRequest):
    chunks: Annotated[list[LogChunk], Field(max_length=10_000)] = Field(default_factory=list)
    external_id: str | None = Field(
        None, min_length=1, max_length=255, description="The job's name on remote compute (e.g. Azure ML), to record."
    )


class LeaseState(_Model):
    cancel_requested: bool
    lease_seconds: float


class FinishRequest(LeaseRequest):
    outcome: Literal["succeeded", "failed", "canceled"]
    exit_code: int | None = None
    error: str | None = Field(None, max_length=65_536)
    result: Any = Field(None, description="A GenAI job's return value (JSON).")
