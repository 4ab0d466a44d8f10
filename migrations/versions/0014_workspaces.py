"""workspaces: one namespace per team (`--enable-workspaces`); every experiment belongs to one, and experiment
names are unique within their workspace instead of across the server. Existing experiments go to `default`.

Revision ID: 0014_workspaces
Revises: 0013_evaluation_datasets
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_workspaces"
down_revision: str | None = "0013_evaluation_datasets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    workspaces = op.create_table(
        "workspaces",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("default_artifact_root", sa.String(length=2048), nullable=True),
        sa.Column("trace_archival_location", sa.String(length=2048), nullable=True),
        sa.Column("trace_archival_retention", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_workspaces")),
    )
    op.bulk_insert(workspaces, [{"name": "default", "description": "Default workspace"}])
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace", sa.String(length=63), server_default="default", nullable=False))
        batch_op.drop_constraint("uq_experiments_name", type_="unique")
        batch_op.create_foreign_key(
            batch_op.f("fk_experiments_workspace_workspaces"), "workspaces", ["workspace"], ["name"], onupdate="CASCADE"
        )
        batch_op.create_index(batch_op.f("ix_experiments_workspace_name"), ["workspace", "name"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiments_workspace_name"))
        batch_op.drop_constraint(batch_op.f("fk_experiments_workspace_workspaces"), type_="foreignkey")
        batch_op.create_unique_constraint("uq_experiments_name", ["name"])
        batch_op.drop_column("workspace")
    op.drop_table("workspaces")
