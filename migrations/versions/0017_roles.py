"""roles: MLflow 3's basic-auth RBAC. A role is a named set of grants (a permission on resources of one type,
by id or name or `*`) in one workspace, and users are assigned roles; grants reach a user through them beside the
per-user grants.

Revision ID: 0017_roles
Revises: 0016_dataset_workspaces
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_roles"
down_revision: str | None = "0016_dataset_workspaces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace"],
            ["workspaces.name"],
            name=op.f("fk_roles_workspace_workspaces"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
    )
    op.create_index(op.f("ix_roles_workspace_name"), "roles", ["workspace", "name"], unique=True)
    op.create_table(
        "role_permissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_pattern", sa.String(length=256), nullable=False),
        sa.Column("permission", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_role_permissions_role_id_roles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_permissions")),
    )
    op.create_index(
        op.f("ix_role_permissions_role_id_resource_type_resource_pattern"),
        "role_permissions",
        ["role_id", "resource_type", "resource_pattern"],
        unique=True,
    )
    op.create_table(
        "user_role_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_user_role_assignments_role_id_roles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_role_assignments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_role_assignments")),
    )
    op.create_index(op.f("ix_user_role_assignments_role_id"), "user_role_assignments", ["role_id"], unique=False)
    op.create_index(
        op.f("ix_user_role_assignments_user_id_role_id"), "user_role_assignments", ["user_id", "role_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_user_role_assignments_user_id_role_id"), table_name="user_role_assignments")
    op.drop_index(op.f("ix_user_role_assignments_role_id"), table_name="user_role_assignments")
    op.drop_table("user_role_assignments")
    op.drop_index(op.f("ix_role_permissions_role_id_resource_type_resource_pattern"), table_name="role_permissions")
    op.drop_table("role_permissions")
    op.drop_index(op.f("ix_roles_workspace_name"), table_name="roles")
    op.drop_table("roles")
