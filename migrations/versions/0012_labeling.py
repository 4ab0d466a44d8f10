"""labeling: label schemas (the questions reviewers answer about a trace) and review queues (worklists of traces,
their reviewers, their questions, and where each trace's review stands)

Revision ID: 0012_labeling
Revises: 0011_genai_jobs
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_labeling"
down_revision: str | None = "0011_genai_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "label_schemas",
        sa.Column("schema_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=True),
        sa.Column("enable_comment", sa.Boolean(), nullable=False),
        sa.Column("input_type", sa.String(length=32), nullable=False),
        sa.Column("input_config", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_label_schemas_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schema_id", name=op.f("pk_label_schemas")),
    )
    with op.batch_alter_table("label_schemas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_label_schemas_experiment_id_name"), ["experiment_id", "name"], unique=True)

    op.create_table(
        "review_queues",
        sa.Column("queue_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("name_key", sa.String(length=250), nullable=False),
        sa.Column("queue_type", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("creation_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_review_queues_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", name=op.f("pk_review_queues")),
    )
    with op.batch_alter_table("review_queues", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_queues_experiment_id_name_key"), ["experiment_id", "name_key"], unique=True
        )

    op.create_table(
        "review_queue_items",
        sa.Column("queue_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("item_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("completed_by", sa.String(length=250), nullable=True),
        sa.Column("completed_time_ms", sa.BigInteger(), nullable=True),
        sa.Column("creation_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["traces.trace_id"], name=op.f("fk_review_queue_items_item_id_traces"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["review_queues.queue_id"],
            name=op.f("fk_review_queue_items_queue_id_review_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", "item_id", name=op.f("pk_review_queue_items")),
    )
    with op.batch_alter_table("review_queue_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_queue_items_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_queue_items_queue_id_status"), ["queue_id", "status"], unique=False)

    op.create_table(
        "review_queue_label_schemas",
        sa.Column("queue_id", sa.String(length=36), nullable=False),
        sa.Column("schema_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["review_queues.queue_id"],
            name=op.f("fk_review_queue_label_schemas_queue_id_review_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schema_id"],
            ["label_schemas.schema_id"],
            name=op.f("fk_review_queue_label_schemas_schema_id_label_schemas"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", "schema_id", name=op.f("pk_review_queue_label_schemas")),
    )
    with op.batch_alter_table("review_queue_label_schemas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_queue_label_schemas_schema_id"), ["schema_id"], unique=False)

    op.create_table(
        "review_queue_users",
        sa.Column("queue_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["review_queues.queue_id"],
            name=op.f("fk_review_queue_users_queue_id_review_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", "user_id", name=op.f("pk_review_queue_users")),
    )
    with op.batch_alter_table("review_queue_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_queue_users_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_queue_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_queue_users_user_id"))

    op.drop_table("review_queue_users")
    with op.batch_alter_table("review_queue_label_schemas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_queue_label_schemas_schema_id"))

    op.drop_table("review_queue_label_schemas")
    with op.batch_alter_table("review_queue_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_queue_items_queue_id_status"))
        batch_op.drop_index(batch_op.f("ix_review_queue_items_item_id"))

    op.drop_table("review_queue_items")
    with op.batch_alter_table("review_queues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_queues_experiment_id_name_key"))

    op.drop_table("review_queues")
    with op.batch_alter_table("label_schemas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_label_schemas_experiment_id_name"))

    op.drop_table("label_schemas")
