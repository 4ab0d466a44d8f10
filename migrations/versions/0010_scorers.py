"""registered scorers (versioned per experiment and name) with their online scoring configs, and GenAI issues; an
index on assessments' (kind, name) finds the traces linked to an issue

Revision ID: 0010_scorers
Revises: 0009_webhooks
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_scorers"
down_revision: str | None = "0009_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scorers",
        sa.Column("scorer_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("scorer_name", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_scorers_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scorer_id", name=op.f("pk_scorers")),
    )
    with op.batch_alter_table("scorers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scorers_experiment_id_scorer_name"), ["experiment_id", "scorer_name"], unique=True
        )

    op.create_table(
        "issues",
        sa.Column("issue_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("severity", sa.String(length=50), nullable=True),
        sa.Column("root_causes", sa.Text(), nullable=True),
        sa.Column("source_run_id", sa.String(length=32), nullable=True),
        sa.Column("categories", sa.Text(), nullable=True),
        sa.Column("created_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_issues_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_run_id"], ["runs.run_uuid"], name=op.f("fk_issues_source_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_issues")),
    )
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_issues_experiment_id_created_timestamp"),
            ["experiment_id", "created_timestamp"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_issues_source_run_id"), ["source_run_id"], unique=False)

    op.create_table(
        "online_scoring_configs",
        sa.Column("online_scoring_config_id", sa.String(length=36), nullable=False),
        sa.Column("scorer_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("sample_rate", sa.Float(precision=53), nullable=False),
        sa.Column("filter_string", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_online_scoring_configs_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scorer_id"],
            ["scorers.scorer_id"],
            name=op.f("fk_online_scoring_configs_scorer_id_scorers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("online_scoring_config_id", name=op.f("pk_online_scoring_configs")),
    )
    with op.batch_alter_table("online_scoring_configs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_online_scoring_configs_scorer_id"), ["scorer_id"], unique=False)

    op.create_table(
        "scorer_versions",
        sa.Column("scorer_id", sa.String(length=36), nullable=False),
        sa.Column("scorer_version", sa.Integer(), nullable=False),
        sa.Column("serialized_scorer", sa.Text(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scorer_id"], ["scorers.scorer_id"], name=op.f("fk_scorer_versions_scorer_id_scorers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("scorer_id", "scorer_version", name=op.f("pk_scorer_versions")),
    )
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessments_kind_name"), ["kind", "name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessments_kind_name"))

    op.drop_table("scorer_versions")
    with op.batch_alter_table("online_scoring_configs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_online_scoring_configs_scorer_id"))

    op.drop_table("online_scoring_configs")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issues_source_run_id"))
        batch_op.drop_index(batch_op.f("ix_issues_experiment_id_created_timestamp"))

    op.drop_table("issues")
    with op.batch_alter_table("scorers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scorers_experiment_id_scorer_name"))

    op.drop_table("scorers")
