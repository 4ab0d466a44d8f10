"""GenAI evaluation datasets: the datasets, their tags, their links to experiments, and their records (one row
each, keyed for upserts by the hash of their inputs and paged by their insertion order)

Revision ID: 0013_evaluation_datasets
Revises: 0012_labeling
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_evaluation_datasets"
down_revision: str | None = "0012_labeling"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluation_datasets",
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("schema", sa.Text(), nullable=True),
        sa.Column("profile", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("last_updated_by", sa.Text(), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_evaluation_datasets")),
    )
    with op.batch_alter_table("evaluation_datasets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluation_datasets_created_time_dataset_id"), ["created_time", "dataset_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_evaluation_datasets_name"), ["name"], unique=False)

    op.create_table(
        "evaluation_dataset_experiments",
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["evaluation_datasets.dataset_id"],
            name=op.f("fk_evaluation_dataset_experiments_dataset_id_evaluation_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_evaluation_dataset_experiments_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "experiment_id", name=op.f("pk_evaluation_dataset_experiments")),
    )
    with op.batch_alter_table("evaluation_dataset_experiments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluation_dataset_experiments_experiment_id"), ["experiment_id"], unique=False
        )

    op.create_table(
        "evaluation_dataset_records",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset_record_id", sa.String(length=36), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("input_hash", sa.String(length=64), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=True),
        sa.Column("expectations", sa.Text(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column("source_type", sa.String(length=32), nullable=True),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("last_updated_by", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["evaluation_datasets.dataset_id"],
            name=op.f("fk_evaluation_dataset_records_dataset_id_evaluation_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_evaluation_dataset_records")),
        sa.UniqueConstraint("dataset_record_id", name=op.f("uq_evaluation_dataset_records_dataset_record_id")),
    )
    with op.batch_alter_table("evaluation_dataset_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluation_dataset_records_dataset_id_input_hash"), ["dataset_id", "input_hash"], unique=True
        )
        batch_op.create_index(
            batch_op.f("ix_evaluation_dataset_records_dataset_id_seq"), ["dataset_id", "seq"], unique=False
        )

    op.create_table(
        "evaluation_dataset_tags",
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["evaluation_datasets.dataset_id"],
            name=op.f("fk_evaluation_dataset_tags_dataset_id_evaluation_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "key", name=op.f("pk_evaluation_dataset_tags")),
    )


def downgrade() -> None:
    op.drop_table("evaluation_dataset_tags")
    with op.batch_alter_table("evaluation_dataset_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_dataset_records_dataset_id_seq"))
        batch_op.drop_index(batch_op.f("ix_evaluation_dataset_records_dataset_id_input_hash"))

    op.drop_table("evaluation_dataset_records")
    with op.batch_alter_table("evaluation_dataset_experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_dataset_experiments_experiment_id"))

    op.drop_table("evaluation_dataset_experiments")
    with op.batch_alter_table("evaluation_datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_datasets_name"))
        batch_op.drop_index(batch_op.f("ix_evaluation_datasets_created_time_dataset_id"))

    op.drop_table("evaluation_datasets")
