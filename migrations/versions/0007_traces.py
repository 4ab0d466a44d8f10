"""traces, their tags and metadata, their spans (stored as OTLP protobuf, with the columns filters need), their
assessments, and their links to runs and prompt versions

Revision ID: 0007_traces
Revises: 0006_job_log_budget
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_traces"
down_revision: str | None = "0006_job_log_budget"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "traces",
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("request_time", sa.BigInteger(), nullable=False),
        sa.Column("execution_duration", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("client_request_id", sa.String(length=250), nullable=True),
        sa.Column("request_preview", sa.Text(), nullable=True),
        sa.Column("response_preview", sa.Text(), nullable=True),
        sa.Column("finalized", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_traces_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trace_id", name=op.f("pk_traces")),
    )
    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_traces_experiment_id_request_time"), ["experiment_id", "request_time"], unique=False
        )

    op.create_table(
        "spans",
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("parent_span_id", sa.String(length=16), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("span_type", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("start_time_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_time_ns", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["traces.trace_id"], name=op.f("fk_spans_trace_id_traces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name=op.f("pk_spans")),
    )
    op.create_table(
        "trace_metadata",
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["traces.trace_id"], name=op.f("fk_trace_metadata_trace_id_traces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("trace_id", "key", name=op.f("pk_trace_metadata")),
    )
    op.create_table(
        "trace_tags",
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["traces.trace_id"], name=op.f("fk_trace_tags_trace_id_traces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("trace_id", "key", name=op.f("pk_trace_tags")),
    )

    op.create_table(
        "assessments",
        sa.Column("assessment_id", sa.String(length=50), nullable=False),
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.Column("source_type", sa.String(length=30), nullable=False),
        sa.Column("source_id", sa.String(length=250), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("assessment_metadata", sa.Text(), nullable=True),
        sa.Column("overrides", sa.String(length=50), nullable=True),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["traces.trace_id"], name=op.f("fk_assessments_trace_id_traces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("assessment_id", name=op.f("pk_assessments")),
    )
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assessments_trace_id_create_time"), ["trace_id", "create_time"], unique=False
        )

    op.create_table(
        "trace_run_links",
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["traces.trace_id"], name=op.f("fk_trace_run_links_trace_id_traces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("trace_id", "run_id", name=op.f("pk_trace_run_links")),
    )
    with op.batch_alter_table("trace_run_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_run_links_run_id"), ["run_id"], unique=False)

    op.create_table(
        "trace_prompt_links",
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column("prompt_version", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["traces.trace_id"], name=op.f("fk_trace_prompt_links_trace_id_traces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("trace_id", "prompt_version", name=op.f("pk_trace_prompt_links")),
    )
    with op.batch_alter_table("trace_prompt_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_prompt_links_prompt_version"), ["prompt_version"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trace_prompt_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_prompt_links_prompt_version"))

    op.drop_table("trace_prompt_links")
    with op.batch_alter_table("trace_run_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_run_links_run_id"))

    op.drop_table("trace_run_links")
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessments_trace_id_create_time"))

    op.drop_table("assessments")
    op.drop_table("trace_tags")
    op.drop_table("trace_metadata")
    op.drop_table("spans")
    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_traces_experiment_id_request_time"))

    op.drop_table("traces")
