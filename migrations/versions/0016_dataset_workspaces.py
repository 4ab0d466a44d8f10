"""evaluation datasets belong to a workspace, as in MLflow (a dataset may be linked to several experiments, or to
none, so it carries its own); existing ones go to `default`

Revision ID: 0016_dataset_workspaces
Revises: 0015_registry_workspaces
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_dataset_workspaces"
down_revision: str | None = "0015_registry_workspaces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("evaluation_datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace", sa.String(length=63), server_default="default", nullable=False))
        batch_op.create_foreign_key(
            batch_op.f("fk_evaluation_datasets_workspace_workspaces"),
            "workspaces",
            ["workspace"],
            ["name"],
            onupdate="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("evaluation_datasets", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_evaluation_datasets_workspace_workspaces"), type_="foreignkey")
        batch_op.drop_column("workspace")
