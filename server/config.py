"""One settings object for the server, read from flags and environment.

Where `mlflow server` has a flag or environment variable, we accept the same name (`MLFLOW_BACKEND_STORE_URI`,
`MLFLOW_DEFAULT_ARTIFACT_ROOT`, ...), so an existing deployment's command line and environment keep working; every
setting also answers to a `RUNYARD_` name. Built once by the CLI (or a test) and passed down, never read at import.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(f"MLFLOW_{name}", f"RUNYARD_{name}", name.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    backend_store_uri: str = Field(
        "sqlite:///runyard.db",
        validation_alias=_env("BACKEND_STORE_URI"),
        description="SQLAlchemy URL of the metadata database: sqlite:///path.db or postgresql://user:pw@host/db.",
    )
    default_artifact_root: str | None = Field(
        None,
        validation_alias=_env("DEFAULT_ARTIFACT_ROOT"),
        description="Root under which new experiments get their artifact location. Defaults to mlflow-artifacts:/ "
        "when artifacts are served, else to ./mlruns.",
    )
    serve_artifacts: bool = Field(
        True,
        validation_alias=_env("SERVE_ARTIFACTS"),
        description="Proxy artifact uploads and downloads through the server (mlflow-artifacts:/ URIs).",
    )
    artifacts_destination: str = Field(
        "./mlartifacts",
        validation_alias=_env("ARTIFACTS_DESTINATION"),
        description="Where proxied artifacts are stored: a local folder.",
    )
    host: str = Field("127.0.0.1", validation_alias=_env("HOST"), description="Interface to listen on.")
    port: int = Field(5000, validation_alias=_env("PORT"), description="Port to listen on.")
    workers: int = Field(1, validation_alias=_env("WORKERS"), description="Number of server processes.")

    embedded_worker: bool = Field(
        True,
        validation_alias=AliasChoices("RUNYARD_EMBEDDED_WORKER", "embedded_worker"),
        description="`runyard server` also starts one job worker, so a single command can run projects.",
    )
    job_lease_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias=AliasChoices("RUNYARD_JOB_LEASE_SECONDS", "job_lease_seconds"),
        description="How long a worker holds a job between heartbeats before the job is taken back.",
    )
    job_max_attempts: int = Field(
        3,
        ge=1,
        validation_alias=AliasChoices("RUNYARD_JOB_MAX_ATTEMPTS", "job_max_attempts"),
        description="Default attempts per job when workers are lost (a failing project is not retried).",
    )
    job_retry_backoff_seconds: float = Field(
        5.0,
        ge=0,
        validation_alias=AliasChoices("RUNYARD_JOB_RETRY_BACKOFF_SECONDS", "job_retry_backoff_seconds"),
        description="Delay before a requeued job is offered again; doubles with each attempt (capped at 10 min).",
    )
    job_reap_interval_seconds: float = Field(
        2.0,
        gt=0,
        validation_alias=AliasChoices("RUNYARD_JOB_REAP_INTERVAL_SECONDS", "job_reap_interval_seconds"),
        description="How often the server looks for expired leases.",
    )
    job_max_snapshot_mb: int = Field(
        500,
        gt=0,
        validation_alias=AliasChoices("RUNYARD_JOB_MAX_SNAPSHOT_MB", "job_max_snapshot_mb"),
        description="Largest project snapshot accepted, unpacked.",
    )
    job_allow_local_git: bool = Field(
        False,
        validation_alias=AliasChoices("RUNYARD_JOB_ALLOW_LOCAL_GIT", "job_allow_local_git"),
        description="Accept file:// git URIs, which read repositories on the server's own disk.",
    )

    @property
    def effective_artifact_root(self) -> str:
        """The root experiments are created under, following `mlflow server`'s defaults."""
        if self.default_artifact_root:
            return self.default_artifact_root.rstrip("/")
        return "mlflow-artifacts:" if self.serve_artifacts else "./mlruns"
