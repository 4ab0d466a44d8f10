"""One settings object for the server, read from flags and environment.

Where `mlflow server` has a flag or environment variable, we accept the same name (`MLFLOW_BACKEND_STORE_URI`,
`MLFLOW_DEFAULT_ARTIFACT_ROOT`, ...), so an existing deployment's command line and environment keep working; every
setting also answers to a `RUNYARD_` name. Built once by the CLI (or a test) and passed down, never read at import.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The CLI hands the resolved settings to uvicorn's worker processes through this variable.
SETTINGS_ENV = "RUNYARD_RESOLVED_SETTINGS"


def _env(name: str) -> AliasChoices:
    return AliasChoices(f"MLFLOW_{name}", f"RUNYARD_{name}", name.lower())


def _runyard_env(name: str) -> AliasChoices:
    """For settings MLflow has no counterpart of: the `RUNYARD_` name only."""
    return AliasChoices(f"RUNYARD_{name}", name.lower())


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
        description="Where proxied artifacts are stored: a local folder, or "
        "wasbs://<container>@<account>.blob.core.windows.net/<prefix> for Azure Blob Storage.",
    )
    artifacts_direct_access: bool = Field(
        False,
        validation_alias=_env("ARTIFACTS_DIRECT_ACCESS"),
        description="Let clients move big files straight to and from Azure Blob Storage through short-lived, "
        "single-blob SAS URLs (presigned downloads, multipart part uploads) instead of through the server.",
    )
    artifacts_presigned_only: bool = Field(
        False,
        validation_alias=_env("ARTIFACTS_PRESIGNED_ONLY"),
        description="Move artifact bytes only between clients and storage, never through the server: proxied "
        "uploads and downloads are refused (as MLflow 3.18's --artifacts-presigned-only does) and clients use SAS "
        "URLs instead. Turns on direct access; needs an Azure Blob destination.",
    )
    skill_content_max_decompressed_size: int = Field(
        25 * 1024 * 1024,
        gt=0,
        validation_alias=_env("SKILL_CONTENT_MAX_DECOMPRESSED_SIZE"),
        description="Bytes of content an uploaded skill version may unpack to (MLflow's limit, same name).",
    )
    presigned_url_ttl: int = Field(
        300,
        ge=1,
        le=604_800,
        validation_alias=AliasChoices(
            "MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS", "RUNYARD_PRESIGNED_URL_TTL", "presigned_url_ttl"
        ),
        description="Seconds a presigned download URL stays valid (part upload URLs get at least an hour).",
    )
    max_request_bytes: int = Field(
        16 << 20,
        ge=1 << 20,
        validation_alias=_env("MAX_REQUEST_BYTES"),
        description="Largest request body accepted (artifact uploads excepted, they stream to storage); the "
        "biggest log-batch MLflow allows, 1,000 entries with values escaped to their worst case, is about 10 MB.",
    )
    access_log: bool = Field(
        True, validation_alias=_env("ACCESS_LOG"), description="Write one JSON line per request to stderr."
    )
    auth: bool = Field(
        False,
        validation_alias=_env("AUTH"),
        description="Require every caller to sign in (HTTP Basic, API tokens, OIDC bearer tokens) and enforce "
        "per-experiment and per-model permissions.",
    )
    auth_default_permission: str = Field(
        "READ",
        validation_alias=_env("AUTH_DEFAULT_PERMISSION"),
        description="What a signed-in user may do on a resource nobody granted them anything on: READ, EDIT, "
        "MANAGE or NO_PERMISSIONS (MLflow's default is READ).",
    )
    auth_grant_default_workspace_access: bool = Field(
        False,
        validation_alias=_env("AUTH_GRANT_DEFAULT_WORKSPACE_ACCESS"),
        description="With --auth and --enable-workspaces, give every user the default permission in the 'default' "
        "workspace without a role there (MLflow's grant_default_workspace_access); other workspaces stay for their "
        "members.",
    )
    admin_username: str | None = Field(
        None,
        validation_alias=AliasChoices("MLFLOW_AUTH_ADMIN_USERNAME", *_env("ADMIN_USERNAME").choices),
        description="With --auth, the first admin, created at start when there are no users yet.",
    )
    admin_password: str | None = Field(
        None, validation_alias=AliasChoices("MLFLOW_AUTH_ADMIN_PASSWORD", *_env("ADMIN_PASSWORD").choices), repr=False
    )
    oidc_issuer: str | None = Field(
        None,
        validation_alias=_env("OIDC_ISSUER"),
        description="Accept bearer JWTs from this issuer (e.g. https://login.microsoftonline.com/<tenant>/v2.0).",
    )
    oidc_audience: str | None = Field(
        None, validation_alias=_env("OIDC_AUDIENCE"), description="The `aud` OIDC tokens must carry."
    )
    oidc_jwks_url: str | None = Field(
        None,
        validation_alias=_env("OIDC_JWKS_URL"),
        description="Where the issuer's signing keys are; discovered from the issuer's metadata when unset.",
    )
    oidc_username_claim: str = Field(
        "preferred_username",
        validation_alias=_env("OIDC_USERNAME_CLAIM"),
        description="The token claim naming the Runyard user (Entra ID: preferred_username, upn or oid).",
    )
    host: str = Field("127.0.0.1", validation_alias=_env("HOST"), description="Interface to listen on.")
    port: int = Field(5000, validation_alias=_env("PORT"), description="Port to listen on.")
    workers: int = Field(1, validation_alias=_env("WORKERS"), description="Number of server processes.")
    allowed_hosts: str | None = Field(
        None,
        validation_alias=AliasChoices("MLFLOW_SERVER_ALLOWED_HOSTS", "RUNYARD_ALLOWED_HOSTS", "allowed_hosts"),
        description="Comma-separated Host values (fnmatch wildcards; `*` for any) the server answers besides IP "
        "addresses and single-label names; a dotted name such as runyard.example.com must be listed.",
    )
    cors_allowed_origins: str | None = Field(
        None,
        validation_alias=AliasChoices(
            "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS", "RUNYARD_CORS_ALLOWED_ORIGINS", "cors_allowed_origins"
        ),
        description="Comma-separated origins (https://app.example.com, wildcards allowed) whose pages may call "
        "the API from the browser; others may not write, and get no CORS headers.",
    )
    x_frame_options: str = Field(
        "SAMEORIGIN",
        validation_alias=AliasChoices("MLFLOW_SERVER_X_FRAME_OPTIONS", "RUNYARD_X_FRAME_OPTIONS", "x_frame_options"),
        description="X-Frame-Options on every response (SAMEORIGIN, DENY, or NONE to send none).",
    )
    disable_security_middleware: bool = Field(
        False,
        validation_alias=AliasChoices(
            "MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE",
            "RUNYARD_DISABLE_SECURITY_MIDDLEWARE",
            "disable_security_middleware",
        ),
        description="Turn off the Host, Origin and header guards (only behind a proxy that does the same).",
    )

    embedded_worker: bool = Field(
        True,
        validation_alias=_runyard_env("EMBEDDED_WORKER"),
        description="`runyard server` also starts one job worker, so a single command can run projects.",
    )
    job_lease_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias=_runyard_env("JOB_LEASE_SECONDS"),
        description="How long a worker holds a job between heartbeats before the job is taken back.",
    )
    job_max_attempts: int = Field(
        3,
        ge=1,
        validation_alias=_runyard_env("JOB_MAX_ATTEMPTS"),
        description="Default attempts per job when workers are lost (a failing project is not retried).",
    )
    job_retry_backoff_seconds: float = Field(
        5.0,
        ge=0,
        validation_alias=_runyard_env("JOB_RETRY_BACKOFF_SECONDS"),
        description="Delay before a requeued job is offered again; doubles with each attempt (capped at 10 min).",
    )
    job_reap_interval_seconds: float = Field(
        2.0,
        gt=0,
        validation_alias=_runyard_env("JOB_REAP_INTERVAL_SECONDS"),
        description="How often the server looks for expired leases.",
    )
    job_max_snapshot_mb: int = Field(
        500,
        gt=0,
        validation_alias=_runyard_env("JOB_MAX_SNAPSHOT_MB"),
        description="Largest project snapshot accepted, unpacked.",
    )
    job_max_log_mb: float = Field(
        64.0,
        gt=0,
        validation_alias=_runyard_env("JOB_MAX_LOG_MB"),
        description="Log stored per job attempt (the live tail, the log route and the run's runyard/logs/ "
        "artifacts); past it the log ends with a line saying so and the rest of the output is dropped.",
    )
    azure_storage_connection_string: str | None = Field(
        None,
        repr=False,
        validation_alias=AliasChoices("AZURE_STORAGE_CONNECTION_STRING", "azure_storage_connection_string"),
        description="Azure Blob credentials as a connection string (it also carries Azurite's endpoint); read "
        "first, as MLflow does.",
    )
    azure_storage_access_key: str | None = Field(
        None,
        repr=False,
        validation_alias=AliasChoices("AZURE_STORAGE_ACCESS_KEY", "azure_storage_access_key"),
        description="Azure Blob account key, when there is no connection string. With neither, the server signs in "
        "with DefaultAzureCredential (managed identity, CLI login, service principal).",
    )
    job_allow_local_git: bool = Field(
        False,
        validation_alias=_runyard_env("JOB_ALLOW_LOCAL_GIT"),
        description="Accept file:// git URIs, which read repositories on the server's own disk.",
    )

    database_timeout_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias=_runyard_env("DATABASE_TIMEOUT_SECONDS"),
        description="How long a PostgreSQL connection may take to open, and a request may wait for a free one. A "
        "request that waited for a connection in vain is a 429 to retry; one that could not connect, a 503 (at "
        "start: the server stops with the error).",
    )
    database_busy_timeout_seconds: float = Field(
        5.0,
        gt=0,
        validation_alias=_runyard_env("DATABASE_BUSY_TIMEOUT_SECONDS"),
        description="How long a request waits for a lock another connection holds (SQLite's busy timeout: another "
        "process writing; PostgreSQL's lock_timeout) before it is refused with a 429 and a Retry-After, which "
        "MLflow clients resend, writes included. Within one server process SQLite writers queue in line and never "
        "meet it; it is what separate processes (`--workers N`, a script on the same file) give each other.",
    )
    database_statement_timeout_seconds: float = Field(
        60.0,
        gt=0,
        validation_alias=_runyard_env("DATABASE_STATEMENT_TIMEOUT_SECONDS"),
        description="PostgreSQL's statement_timeout: the longest one statement may run before it is cancelled, its "
        "transaction rolled back and the request refused with a 429; below MLflow's 120 s request timeout, so "
        "the client hears the answer. A server that does not answer at all (stopped, frozen, cut off) is given "
        "5 s more, then the connection is closed and the request answered with a 503.",
    )
    webhook_secret_encryption_key: str | None = Field(
        None,
        repr=False,
        validation_alias=_env("WEBHOOK_SECRET_ENCRYPTION_KEY"),
        description="Fernet key (urlsafe base64 of 32 bytes) that encrypts webhook secrets at rest. Without it, "
        "webhooks without a secret still work, and creating one with a secret is refused.",
    )
    webhook_allowed_schemes: str = Field(
        "https",
        validation_alias=_env("WEBHOOK_ALLOWED_SCHEMES"),
        description="Comma-separated URL schemes a webhook may use.",
    )
    webhook_allow_private_ips: bool = Field(
        False,
        validation_alias=_env("WEBHOOK_ALLOW_PRIVATE_IPS"),
        description="Let webhook URLs reach loopback, private and link-local addresses (off: only public ones).",
    )
    webhook_request_timeout: float = Field(
        30.0,
        gt=0,
        validation_alias=_env("WEBHOOK_REQUEST_TIMEOUT"),
        description="Seconds one webhook request may take.",
    )
    webhook_retry_base_seconds: float = Field(
        1.0,
        gt=0,
        validation_alias=_runyard_env("WEBHOOK_RETRY_BASE_SECONDS"),
        description="Delay before the first retry of a failed webhook delivery; doubles with each attempt.",
    )
    webhook_retry_max_seconds: float = Field(
        600.0,
        gt=0,
        validation_alias=_runyard_env("WEBHOOK_RETRY_MAX_SECONDS"),
        description="Longest delay between two attempts of a webhook delivery.",
    )
    webhook_retry_hours: float = Field(
        24.0,
        gt=0,
        validation_alias=_runyard_env("WEBHOOK_RETRY_HOURS"),
        description="How long a webhook delivery is retried before it is marked failed.",
    )
    webhook_poll_seconds: float = Field(
        1.0,
        gt=0,
        validation_alias=_runyard_env("WEBHOOK_POLL_SECONDS"),
        description="How often each server process looks for webhook deliveries that other processes recorded.",
    )

    enable_workspaces: bool = Field(
        False,
        validation_alias=_env("ENABLE_WORKSPACES"),
        description="Serve several teams from one server: every experiment, model, dataset, webhook and job belongs "
        "to a workspace, chosen per request by the X-MLFLOW-WORKSPACE header ('default' without it).",
    )

    rbac_seed_default_roles: bool = Field(
        True,
        validation_alias=_env("RBAC_SEED_DEFAULT_ROLES"),
        description="With --auth, give each new workspace MLflow's two ready-made roles to hand out: 'admin' "
        "(MANAGE on the workspace) and 'user' (USE: read everything, create new experiments and models).",
    )

    enable_custom_scorers: bool = Field(
        False,
        validation_alias=AliasChoices(
            "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS", "RUNYARD_ENABLE_CUSTOM_SCORERS", "enable_custom_scorers"
        ),
        description="Accept registered scorers that carry Python source (MLflow's @scorer functions), which "
        "whoever runs them executes; built-in and make_judge scorers are accepted either way.",
    )
    scorer_invoke_batch_size: int = Field(
        100,
        ge=1,
        le=10_000,
        validation_alias=AliasChoices("MLFLOW_SERVER_SCORER_INVOKE_BATCH_SIZE", "scorer_invoke_batch_size"),
        description="How many traces one job of the UI's 'run a judge' scores; more traces make more jobs.",
    )

    @staticmethod
    def _split(value: str | None) -> list[str] | None:
        return [item.strip() for item in value.split(",") if item.strip()] if value else None

    @property
    def allowed_host_list(self) -> list[str] | None:
        return self._split(self.allowed_hosts)

    @property
    def cors_origin_list(self) -> list[str] | None:
        return self._split(self.cors_allowed_origins)

    @property
    def webhook_scheme_list(self) -> list[str]:
        return self._split(self.webhook_allowed_schemes) or []

    @field_validator("webhook_secret_encryption_key")
    @classmethod
    def _fernet_key(cls, value: str | None) -> str | None:
        """A key Fernet cannot use fails at start, not at the first webhook with a secret."""
        if value:
            from cryptography.fernet import Fernet

            try:
                Fernet(value)
            except ValueError:
                raise ValueError(
                    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY must be a Fernet key: 32 bytes in urlsafe base64"
                ) from None
        return value or None

    @field_validator("auth_default_permission")
    @classmethod
    def _known_permission(cls, value: str) -> str:
        from server.permissions import parse_permission

        return parse_permission(value).value

    @property
    def hands_out_storage_urls(self) -> bool:
        """Whether clients get SAS URLs to the blobs themselves: with direct access, and always in presigned-only
        mode, which has no other way to move bytes."""
        return self.artifacts_direct_access or self.artifacts_presigned_only

    @property
    def effective_artifact_root(self) -> str:
        """The root experiments are created under, following `mlflow server`'s defaults."""
        if self.default_artifact_root:
            return self.default_artifact_root.rstrip("/")
        return "mlflow-artifacts:" if self.serve_artifacts else "./mlruns"
