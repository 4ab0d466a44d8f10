"""The core tables: experiments, runs, logged models, accounts, the model registry, webhooks, the job queue and
traces. The GenAI tables (scorers, issues, labeling, evaluation datasets) are in `genai_models.py`, on the same
`Base`; Alembic sees the whole schema through `migrations/env.py`, which imports both.

Shaped for the hot paths: metric history is keyed so that one run's series for one key reads in MLflow's order
(timestamp, step, value) straight off the primary key, and `latest_metrics` keeps the one row per (run, key) that
search filters, ordering and `RunData.metrics` need, so none of them scan history.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.store.base import Base
from server.store.workspace_models import workspace_column

RUN_ID = String(32)
MODEL_ID = String(64)
TRACE_ID = String(64)


class Experiment(Base):
    __tablename__ = "experiments"
    # Names are unique within a workspace: two teams may both have a `churn`.
    __table_args__ = (Index(None, "workspace", "name", unique=True),)

    experiment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace: Mapped[str] = workspace_column()
    name: Mapped[str] = mapped_column(String(500))
    artifact_location: Mapped[str] = mapped_column(String(2048))
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)


class ExperimentTag(Base):
    __tablename__ = "experiment_tags"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index(None, "experiment_id", "lifecycle_stage", "start_time"),)

    run_uuid: Mapped[str] = mapped_column(RUN_ID, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id"))
    # Free text from the client (the run name follows the `mlflow.runName` tag): sized like a tag value.
    name: Mapped[str] = mapped_column(String(8000))
    user_id: Mapped[str] = mapped_column(String(8000))
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    deleted_time: Mapped[int | None] = mapped_column(BigInteger)
    lifecycle_stage: Mapped[str] = mapped_column(String(16))
    artifact_uri: Mapped[str] = mapped_column(String(4096))  # a location of up to 2,048 plus our suffix


class Param(Base):
    """No index on `value`: values reach 6,000 characters, past PostgreSQL's b-tree row limit (about 2.7 kB)."""

    __tablename__ = "params"

    run_uuid: Mapped[str] = mapped_column(ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(String(6000))


class RunTag(Base):
    __tablename__ = "tags"

    run_uuid: Mapped[str] = mapped_column(ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(String(8000))


class Metric(Base):
    """Every logged point; an identical point logged twice is stored once (the primary key spans all columns)."""

    __tablename__ = "metrics"

    run_uuid: Mapped[str] = mapped_column(ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float, primary_key=True)
    is_nan: Mapped[bool] = mapped_column(Boolean, primary_key=True)


class LatestMetric(Base):
    """The point with the greatest (step, timestamp, value) per run and key: MLflow's "latest" rule."""

    __tablename__ = "latest_metrics"
    __table_args__ = (Index(None, "key", "value"),)

    run_uuid: Mapped[str] = mapped_column(ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    is_nan: Mapped[bool] = mapped_column(Boolean)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (Index(None, "experiment_id", "name", "digest", unique=True),)

    dataset_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    digest: Mapped[str] = mapped_column(String(36))
    source_type: Mapped[str] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(Text)
    schema: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[str | None] = mapped_column(Text)


class RunDatasetInput(Base):
    __tablename__ = "run_dataset_inputs"

    run_uuid: Mapped[str] = mapped_column(ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True)
    dataset_uuid: Mapped[str] = mapped_column(
        ForeignKey("datasets.dataset_uuid", ondelete="CASCADE"), primary_key=True, index=True
    )


class RunDatasetInputTag(Base):
    __tablename__ = "run_dataset_input_tags"

    run_uuid: Mapped[str] = mapped_column(primary_key=True)
    dataset_uuid: Mapped[str] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))


class RunModelLink(Base):
    """A logged model a run consumed (`direction="input"`) or produced (`"output"`)."""

    __tablename__ = "run_model_links"

    run_uuid: Mapped[str] = mapped_column(ForeignKey("runs.run_uuid", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[str] = mapped_column(MODEL_ID, primary_key=True)
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, default=0)


class LoggedModel(Base):
    __tablename__ = "logged_models"
    __table_args__ = (Index(None, "experiment_id", "lifecycle_stage", "creation_timestamp_ms"),)

    model_id: Mapped[str] = mapped_column(MODEL_ID, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id"))
    name: Mapped[str] = mapped_column(String(500))
    artifact_uri: Mapped[str] = mapped_column(String(4096))  # a location of up to 2,048 plus our suffix
    status: Mapped[int] = mapped_column(Integer)
    status_message: Mapped[str | None] = mapped_column(Text)
    model_type: Mapped[str | None] = mapped_column(String(500))
    source_run_id: Mapped[str | None] = mapped_column(RUN_ID, index=True)
    creation_timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")


class LoggedModelParam(Base):
    __tablename__ = "logged_model_params"

    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LoggedModelTag(Base):
    __tablename__ = "logged_model_tags"

    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LoggedModelMetric(Base):
    __tablename__ = "logged_model_metrics"

    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.model_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float, primary_key=True)
    is_nan: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    run_uuid: Mapped[str] = mapped_column(RUN_ID, primary_key=True)
    dataset_name: Mapped[str] = mapped_column(String(500), primary_key=True, default="")
    dataset_digest: Mapped[str] = mapped_column(String(36), primary_key=True, default="")


class ArtifactDestination(Base):
    """Where the proxied artifacts under one run's or model's folder were sent when it was created.

    Keyed by a digest of the folder (`<experiment>/<run_id>/artifacts`): folders can be longer than PostgreSQL's
    b-tree row limit. Written only by the server, so a destination read from here is trusted like the configured
    one: runs created before the operator moved `--artifacts-destination` keep reading from where they wrote.
    """

    __tablename__ = "artifact_destinations"

    prefix_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    prefix: Mapped[str] = mapped_column(Text)
    destination: Mapped[str] = mapped_column(Text)
    # The run or logged model owning the folder: access to proxied paths follows the owner's permissions.
    owner_id: Mapped[str | None] = mapped_column(String(64))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: signs in only with tokens or OIDC
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)


class ApiToken(Base):
    """A bearer token, stored as its SHA-256: a leaked table does not leak usable tokens. A token with
    `run_id` set (given to a job) acts for its user on that one run only."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    run_id: Mapped[str | None] = mapped_column(RUN_ID)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    expires_at_ms: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at_ms: Mapped[int | None] = mapped_column(BigInteger)


class ExperimentPermission(Base):
    __tablename__ = "experiment_permissions"

    experiment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    permission: Mapped[str] = mapped_column(String(32))


class RegisteredModelPermission(Base):
    __tablename__ = "registered_model_permissions"

    workspace: Mapped[str] = workspace_column(primary_key=True, deleted_with_it=True)
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    permission: Mapped[str] = mapped_column(String(32))


class ServerSecret(Base):
    """Secrets every server process sharing this database must agree on (the key that signs artifact URLs)."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


# --- model registry -------------------------------------------------------------------------------------------------


class RegisteredModel(Base):
    """A named model in the registry. Versions, tags and aliases hang off the surrogate `id`, so a rename touches
    this row only, and they follow the model's workspace without a column of their own; `last_version` is the
    counter that hands out version numbers (never reused, never skipped)."""

    __tablename__ = "registered_models"
    # Names are unique within a workspace: two teams may both register a `ranker`.
    __table_args__ = (Index(None, "workspace", "name", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace: Mapped[str] = workspace_column()
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_version: Mapped[int] = mapped_column(Integer, default=0)


class RegisteredModelTag(Base):
    __tablename__ = "registered_model_tags"

    model_pk: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelVersion(Base):
    """One registered version. `source` is what the client registered; `storage_location` is where its files
    are (a logged model's or another version's location, resolved once at registration)."""

    __tablename__ = "model_versions"

    model_pk: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(Text)
    current_stage: Mapped[str] = mapped_column(String(20), default="None")
    source: Mapped[str] = mapped_column(Text)
    storage_location: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(RUN_ID, index=True)
    run_link: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[str | None] = mapped_column(MODEL_ID, index=True)
    status: Mapped[str] = mapped_column(String(20), default="READY")


class ModelVersionTag(Base):
    __tablename__ = "model_version_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["model_pk", "version"], ["model_versions.model_pk", "model_versions.version"], ondelete="CASCADE"
        ),
    )

    model_pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RegisteredModelAlias(Base):
    """An alias points at one version; deleting that version drops the alias with it (the foreign key)."""

    __tablename__ = "registered_model_aliases"
    __table_args__ = (
        ForeignKeyConstraint(
            ["model_pk", "version"], ["model_versions.model_pk", "model_versions.version"], ondelete="CASCADE"
        ),
    )

    model_pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


# --- job queue ----------------------------------------------------------------------------------------------------


class Job(Base):
    """One queued piece of work: an MLflow Project execution (`kind` "project", with its run) or one of MLflow's
    server-side GenAI jobs (`kind` "genai": `entry_point` names the job function, `parameters` holds its JSON
    arguments, `result` its JSON return value). The queue *is* this table (see `server/store/job_queue.py`).

    Every transition is a compare-and-set on `status` (and, for a worker's writes, `lease_token`), so a worker whose
    lease expired can no longer change a job another worker now holds.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index(None, "status", "available_at"),
        Index(None, "experiment_id", "created_at"),
    )

    job_id: Mapped[str] = mapped_column(RUN_ID, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.run_uuid", ondelete="CASCADE"), index=True)
    experiment_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="project", server_default="project")
    status: Mapped[str] = mapped_column(String(16))
    backend: Mapped[str] = mapped_column(String(32))  # which dispatcher runs it: local, azureml
    entry_point: Mapped[str] = mapped_column(String(1000))
    parameters: Mapped[str] = mapped_column(Text)  # JSON object: strings for a project, any JSON for a GenAI job
    env_manager: Mapped[str | None] = mapped_column(String(16))
    backend_config: Mapped[str] = mapped_column(Text)  # JSON object
    source: Mapped[str] = mapped_column(Text)  # JSON: what the snapshot was made from
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    available_at: Mapped[int] = mapped_column(BigInteger)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    external_id: Mapped[str | None] = mapped_column(String(255))  # e.g. an Azure ML job name
    # Log stored for the current attempt (UTF-8 bytes); past RUNYARD_JOB_MAX_LOG_MB the rest is dropped.
    log_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[int | None] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)
    creator: Mapped[str | None] = mapped_column(String(255))  # who submitted a GenAI job (a project's is its run's)
    timeout_seconds: Mapped[float | None] = mapped_column(Float)  # a GenAI job running longer is stopped
    result: Mapped[str | None] = mapped_column(Text)  # a GenAI job's return value, as JSON


class JobLog(Base):
    """Output lines as workers ship them. `id` orders the interleaved streams and is the live tail's cursor;
    (job, attempt, seq) makes a worker's retried shipment a no-op."""

    __tablename__ = "job_logs"
    __table_args__ = (Index(None, "job_id", "attempt", "seq", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.job_id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    stream: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Trace(Base):
    """One trace: what its search filters and orders by, and short previews of its request and response.

    The full inputs and outputs stay with the spans, so a search scans narrow rows. A trace row exists as soon as
    either of its halves arrives: spans over OTLP (`state` IN_PROGRESS until the root span ends) or the client's
    StartTraceV3 at the end of the trace (`finalized`), whose fields then win.
    """

    __tablename__ = "traces"
    __table_args__ = (Index(None, "experiment_id", "request_time"),)

    trace_id: Mapped[str] = mapped_column(TRACE_ID, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id", ondelete="CASCADE"))
    request_time: Mapped[int] = mapped_column(BigInteger)  # ms since the epoch
    execution_duration: Mapped[int | None] = mapped_column(BigInteger)  # ms
    state: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(500))
    client_request_id: Mapped[str | None] = mapped_column(String(250))
    request_preview: Mapped[str | None] = mapped_column(Text)
    response_preview: Mapped[str | None] = mapped_column(Text)
    finalized: Mapped[bool] = mapped_column(Boolean, default=False)


class TraceTag(Base):
    __tablename__ = "trace_tags"

    trace_id: Mapped[str] = mapped_column(ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class TraceMetadata(Base):
    """Immutable facts the client records on a trace (its run, user, session, token usage)."""

    __tablename__ = "trace_metadata"

    trace_id: Mapped[str] = mapped_column(ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class TraceRunLink(Base):
    """A trace associated with a run after the fact (`link_traces_to_run`, as evaluation does)."""

    __tablename__ = "trace_run_links"

    trace_id: Mapped[str] = mapped_column(ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True)
    run_id: Mapped[str] = mapped_column(RUN_ID, primary_key=True, index=True)


class TracePromptLink(Base):
    """A prompt version a trace used (`name/version`), linked by the client after the trace is exported."""

    __tablename__ = "trace_prompt_links"

    trace_id: Mapped[str] = mapped_column(ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True)
    prompt_version: Mapped[str] = mapped_column(String(300), primary_key=True, index=True)


class Span(Base):
    """A span as it arrived over OTLP (its protobuf encoding), with the columns span filters and trees need.

    Keeping the encoding means a span is stored and served without a conversion round trip, and a span that
    arrives twice (the client retries) replaces itself.
    """

    __tablename__ = "spans"

    trace_id: Mapped[str] = mapped_column(ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True)
    span_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    parent_span_id: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    span_type: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    start_time_ns: Mapped[int] = mapped_column(BigInteger)
    end_time_ns: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    # Name, attributes and events as JSON text (`services/spans.py`), which text and attribute filters search.
    content: Mapped[str | None] = mapped_column(Text)


class Assessment(Base):
    """Feedback or an expectation on a trace (or one of its spans), from a person, a judge or code.

    `value` and `error` hold JSON as the client sent them; an override keeps the assessment it replaces, marked no
    longer `valid`, and names it in `overrides`.
    """

    __tablename__ = "assessments"
    # (kind, name) finds the traces linked to an issue: an `issue` assessment is named after the id.
    __table_args__ = (Index(None, "trace_id", "create_time"), Index(None, "kind", "name"))

    assessment_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    trace_id: Mapped[str] = mapped_column(ForeignKey("traces.trace_id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    kind: Mapped[str] = mapped_column(String(20))  # feedback, expectation or issue
    span_id: Mapped[str | None] = mapped_column(String(16))
    source_type: Mapped[str] = mapped_column(String(30))
    source_id: Mapped[str | None] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(Text)  # JSON
    error: Mapped[str | None] = mapped_column(Text)  # JSON: error_code, error_message, stack_trace
    rationale: Mapped[str | None] = mapped_column(Text)
    assessment_metadata: Mapped[str | None] = mapped_column(Text)  # JSON object of strings
    overrides: Mapped[str | None] = mapped_column(String(50))
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    create_time: Mapped[int] = mapped_column(BigInteger)  # ms
    last_update_time: Mapped[int] = mapped_column(BigInteger)
