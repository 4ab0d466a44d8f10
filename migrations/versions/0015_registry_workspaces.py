"""registry workspaces: every registered model (prompts too) and every webhook belongs to a workspace; model names
are unique within their workspace instead of across the server. Versions, tags and aliases follow their model.
Existing models and webhooks go to `default`.

Revision ID: 0015_registry_workspaces
Revises: 0014_workspaces
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_registry_workspaces"
down_revision: str | None = "0014_workspaces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _workspace_column() -> sa.Column[str]:
    return sa.Column("workspace", sa.String(length=63), server_default="default", nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("registered_models", schema=None) as batch_op:
        batch_op.add_column(_workspace_column())
        batch_op.drop_constraint("uq_registered_models_name", type_="unique")
        batch_op.create_foreign_key(
            batch_op.f("fk_registered_models_workspace_workspaces"),
            "workspaces",
            ["workspace"],
            ["name"],
            onupdate="CASCADE",
        )
        batch_op.create_index(batch_op.f("ix_registered_models_workspace_name"), ["workspace", "name"], unique=True)
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(_workspace_column())
        batch_op.create_foreign_key(
            batch_op.f("fk_webhooks_workspace_workspaces"), "workspaces", ["workspace"], ["name"], onupdate="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_webhooks_workspace_workspaces"), type_="foreignkey")
        batch_op.drop_column("workspace")
    with op.batch_alter_table("registered_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registered_models_workspace_name"))
        batch_op.drop_constraint(batch_op.f("fk_registered_models_workspace_workspaces"), type_="foreignkey")
        batch_op.create_unique_constraint("uq_registered_models_name", ["name"])
        batch_op.drop_column("workspace")
