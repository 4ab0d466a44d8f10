"""registered-model grants carry the model's workspace: a model is named within its workspace, so a grant on one
team's `ranker` must not reach another team's. Existing grants are for models of `default`.

Revision ID: 0018_model_grants_by_workspace
Revises: 0017_roles
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_model_grants_by_workspace"
down_revision: str | None = "0017_roles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registered_model_permissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace", sa.String(length=63), server_default="default", nullable=False))
        batch_op.drop_constraint("pk_registered_model_permissions", type_="primary")
        batch_op.create_primary_key("pk_registered_model_permissions", ["workspace", "name", "user_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_registered_model_permissions_workspace_workspaces"),
            "workspaces",
            ["workspace"],
            ["name"],
            onupdate="CASCADE",
            ondelete="CASCADE",
        )


def downgrade() -> None:
    op.execute("DELETE FROM registered_model_permissions WHERE workspace <> 'default'")
    with op.batch_alter_table("registered_model_permissions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_registered_model_permissions_workspace_workspaces"), type_="foreignkey")
        batch_op.drop_constraint("pk_registered_model_permissions", type_="primary")
        batch_op.create_primary_key("pk_registered_model_permissions", ["name", "user_id"])
        batch_op.drop_column("workspace")
