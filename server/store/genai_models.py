"""The GenAI tables: registered scorers and their online scoring, issues, labeling (label schemas and review queues)
and MLflow 3's evaluation datasets.

Apart from `models.py` to keep each module readable; the tables share its `Base`, so `Base.metadata` holds them
all once both modules are imported (`migrations/env.py` imports both). This module imports `models.py`, never the
other way round, so loading it also registers the experiments, runs and traces its foreign keys point at.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.base import Base
from server.store.models import TRACE_ID
from server.store.workspace_models import workspace_column

# --- GenAI: registered scorers and issues -------------------------------------------------------------------------


class Scorer(Base):
    """A scorer registered by name in an experiment (MLflow's `scorers` table); each registration adds a version."""

    __tablename__ = "scorers"
    __table_args__ = (Index(None, "experiment_id", "scorer_name", unique=True),)

    scorer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id", ondelete="CASCADE"))
    scorer_name: Mapped[str] = mapped_column(String(256))


class ScorerVersion(Base):
    """One registration of a scorer: the serialized scorer (JSON text) exactly as the client sent it."""

    __tablename__ = "scorer_versions"

    scorer_id: Mapped[str] = mapped_column(ForeignKey("scorers.scorer_id", ondelete="CASCADE"), primary_key=True)
    scorer_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    serialized_scorer: Mapped[str] = mapped_column(Text)
    creation_time: Mapped[int] = mapped_column(BigInteger)


class OnlineScoringConfig(Base):
    """How a registered scorer samples new traces (at most one per scorer, as MLflow's upsert keeps it)."""

    __tablename__ = "online_scoring_configs"

    online_scoring_config_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    scorer_id: Mapped[str] = mapped_column(ForeignKey("scorers.scorer_id", ondelete="CASCADE"), index=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id", ondelete="CASCADE"))
    sample_rate: Mapped[float] = mapped_column(Float(precision=53))
    filter_string: Mapped[str | None] = mapped_column(Text)


class Issue(Base):
    """A quality problem found in an experiment's traces. A trace is linked to an issue by an assessment of kind
    `issue` named after the issue's id, as in MLflow's store; `root_causes` and `categories` are JSON lists."""

    __tablename__ = "issues"
    __table_args__ = (Index(None, "experiment_id", "created_timestamp"),)

    issue_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str | None] = mapped_column(String(50))
    root_causes: Mapped[str | None] = mapped_column(Text)
    source_run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.run_uuid", ondelete="SET NULL"), index=True)
    categories: Mapped[str | None] = mapped_column(Text)
    created_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(String(255))


# --- labeling: label schemas and review queues ----------------------------------------------------------------------


class LabelSchema(Base):
    """A question reviewers answer about a trace, scoped to an experiment; its `name` is the assessment name the
    answers are logged under. `input_config` is the input widget's settings as JSON, shaped by `input_type`
    (pass_fail, categorical, numeric, text). The experiment's default question (`is_default`) is seeded on first
    listing and can be neither edited nor deleted."""

    __tablename__ = "label_schemas"
    __table_args__ = (Index(None, "experiment_id", "name", unique=True),)

    schema_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    type: Mapped[str] = mapped_column(String(16))  # feedback or expectation
    instruction: Mapped[str | None] = mapped_column(Text)
    enable_comment: Mapped[bool] = mapped_column(Boolean, default=False)
    input_type: Mapped[str] = mapped_column(String(32))
    input_config: Mapped[str] = mapped_column(Text)  # JSON object
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class ReviewQueue(Base):
    """A named worklist of traces in one experiment, with the users who review it and (for a custom queue) the
    questions they answer. Names are unique per experiment regardless of case: `name_key` is the lower-cased name,
    `name` keeps the casing it was given. A user queue is named after its one user and asks every question of the
    experiment."""

    __tablename__ = "review_queues"
    __table_args__ = (Index(None, "experiment_id", "name_key", unique=True),)

    queue_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.experiment_id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    name_key: Mapped[str] = mapped_column(String(250))
    queue_type: Mapped[str] = mapped_column(String(16))  # user or custom
    created_by: Mapped[str | None] = mapped_column(String(255))
    creation_time_ms: Mapped[int] = mapped_column(BigInteger)
    last_update_time_ms: Mapped[int] = mapped_column(BigInteger)


class ReviewQueueUser(Base):
    """A user assigned to a queue (lower-cased, as assessment sources are matched); any of them may review."""

    __tablename__ = "review_queue_users"

    queue_id: Mapped[str] = mapped_column(ForeignKey("review_queues.queue_id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(250), primary_key=True, index=True)


class ReviewQueueLabelSchema(Base):
    """A question a custom queue asks. Deleting the label schema takes it off the queues that asked it."""

    __tablename__ = "review_queue_label_schemas"

    queue_id: Mapped[str] = mapped_column(ForeignKey("review_queues.queue_id", ondelete="CASCADE"), primary_key=True)
    schema_id: Mapped[str] = mapped_column(
        ForeignKey("label_schemas.schema_id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ReviewQueueItem(Base):
    """A trace in a queue and where its review stands (pending, complete, declined; who closed it and when). The
    answers themselves are assessments on the trace. Deleting the trace takes it out of every queue."""

    __tablename__ = "review_queue_items"
    __table_args__ = (Index(None, "queue_id", "status"),)

    queue_id: Mapped[str] = mapped_column(ForeignKey("review_queues.queue_id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(
        TRACE_ID, ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    item_type: Mapped[str] = mapped_column(String(16))  # trace
    status: Mapped[str] = mapped_column(String(16))  # pending, complete, declined
    completed_by: Mapped[str | None] = mapped_column(String(250))
    completed_time_ms: Mapped[int | None] = mapped_column(BigInteger)
    creation_time_ms: Mapped[int] = mapped_column(BigInteger)
    last_update_time_ms: Mapped[int] = mapped_column(BigInteger)


# --- evaluation datasets (MLflow 3 GenAI) -------------------------------------------------------------------------


class EvaluationDataset(Base):
    """A GenAI evaluation dataset. `schema` and `profile` are the JSON texts MLflow shows; `record_count` keeps the
    profile's count without counting the records on every write."""

    __tablename__ = "evaluation_datasets"
    __table_args__ = (Index(None, "created_time", "dataset_id"),)

    dataset_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace: Mapped[str] = workspace_column()
    name: Mapped[str] = mapped_column(String(255), index=True)
    schema: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[str | None] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    created_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(Text)
    last_updated_by: Mapped[str | None] = mapped_column(Text)
    record_count: Mapped[int] = mapped_column(Integer, default=0)


class EvaluationDatasetTag(Base):
    __tablename__ = "evaluation_dataset_tags"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("evaluation_datasets.dataset_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)


class EvaluationDatasetExperiment(Base):
    """A dataset's link to an experiment it belongs to; its permissions follow these experiments. A deleted
    experiment keeps its links, as in MLflow, so restoring it restores them."""

    __tablename__ = "evaluation_dataset_experiments"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("evaluation_datasets.dataset_id", ondelete="CASCADE"), primary_key=True
    )
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_time: Mapped[int] = mapped_column(BigInteger)


class EvaluationDatasetRecord(Base):
    """One record of a dataset, its parts as the JSON text the client sent (`outputs` unwrapped; NULL where there
    are none). `input_hash` is MLflow's SHA-256 of the inputs' canonical JSON: records with the same inputs are one
    record. `seq` orders a dataset's records as they were added and is the page cursor."""

    __tablename__ = "evaluation_dataset_records"
    __table_args__ = (
        Index(None, "dataset_id", "input_hash", unique=True),
        Index(None, "dataset_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_record_id: Mapped[str] = mapped_column(String(36), unique=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("evaluation_datasets.dataset_id", ondelete="CASCADE"))
    input_hash: Mapped[str] = mapped_column(String(64))
    inputs: Mapped[str] = mapped_column(Text)
    outputs: Mapped[str | None] = mapped_column(Text)
    expectations: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    source_id: Mapped[str | None] = mapped_column(Text)
    source_type: Mapped[str | None] = mapped_column(String(32))
    created_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(Text)
    last_updated_by: Mapped[str | None] = mapped_column(Text)
