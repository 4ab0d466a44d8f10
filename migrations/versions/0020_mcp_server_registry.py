"""the MCP Server Registry of MLflow 3.18: MCP servers within a workspace, their SemVer-named versions (each with its
server.json, tools and status), the tags and aliases of both, and the access endpoints approved for reaching them

Revision ID: 0020_mcp_server_registry
Revises: 0019_skill_registry
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_mcp_server_registry"
down_revision: str | None = "0019_skill_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _by() -> list[sa.Column]:
    """Who made and last changed a row, and when."""
    return [
        sa.Column("created_by", sa.String(length=256), nullable=True),
        sa.Column("last_updated_by", sa.String(length=256), nullable=True),
        sa.Column("creation_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger(), nullable=False),
    ]


def _server_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["server_id"],
        ["mcp_servers.server_id"],
        name=op.f(f"fk_{table}_server_id_mcp_servers"),
        ondelete="CASCADE",
    )


def _version_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["server_id", "version"],
        ["mcp_server_versions.server_id", "mcp_server_versions.version"],
        name=op.f(f"fk_{table}_server_id_mcp_server_versions"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("server_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(length=63), server_default="default", nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("icons", sa.Text(), nullable=True),
        *_by(),
        sa.ForeignKeyConstraint(
            ["workspace"],
            ["workspaces.name"],
            name=op.f("fk_mcp_servers_workspace_workspaces"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("server_id", name=op.f("pk_mcp_servers")),
    )
    with op.batch_alter_table("mcp_servers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mcp_servers_workspace_name"), ["workspace", "name"], unique=True)

    op.create_table(
        "mcp_server_versions",
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("version_major", sa.BigInteger(), nullable=False),
        sa.Column("version_minor", sa.BigInteger(), nullable=False),
        sa.Column("version_patch", sa.BigInteger(), nullable=False),
        sa.Column("prerelease_key", sa.String(length=512), nullable=False),
        sa.Column("server_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tools", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=512), nullable=True),
        sa.Column("connect_options", sa.Text(), nullable=True),
        *_by(),
        _server_key("mcp_server_versions"),
        sa.PrimaryKeyConstraint("server_id", "version", name=op.f("pk_mcp_server_versions")),
    )
    with op.batch_alter_table("mcp_server_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mcp_server_versions_server_id_status"), ["server_id", "status"], unique=False
        )

    op.create_table(
        "mcp_server_tags",
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=5000), nullable=False),
        _server_key("mcp_server_tags"),
        sa.PrimaryKeyConstraint("server_id", "key", name=op.f("pk_mcp_server_tags")),
    )

    op.create_table(
        "mcp_server_version_tags",
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=5000), nullable=False),
        _version_key("mcp_server_version_tags"),
        sa.PrimaryKeyConstraint("server_id", "version", "key", name=op.f("pk_mcp_server_version_tags")),
    )

    op.create_table(
        "mcp_server_aliases",
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=256), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        _version_key("mcp_server_aliases"),
        sa.PrimaryKeyConstraint("server_id", "alias", name=op.f("pk_mcp_server_aliases")),
    )

    op.create_table(
        "mcp_access_endpoints",
        sa.Column("endpoint_id", sa.String(length=36), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("server_version", sa.String(length=128), nullable=True),
        sa.Column("server_alias", sa.String(length=256), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("transport_type", sa.String(length=32), nullable=False),
        *_by(),
        _server_key("mcp_access_endpoints"),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_mcp_access_endpoints")),
    )
    with op.batch_alter_table("mcp_access_endpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mcp_access_endpoints_server_id_server_version"), ["server_id", "server_version"]
        )
        batch_op.create_index(
            batch_op.f("ix_mcp_access_endpoints_server_id_server_alias"), ["server_id", "server_alias"]
        )


def downgrade() -> None:
    with op.batch_alter_table("mcp_access_endpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mcp_access_endpoints_server_id_server_alias"))
        batch_op.drop_index(batch_op.f("ix_mcp_access_endpoints_server_id_server_version"))
    op.drop_table("mcp_access_endpoints")
    op.drop_table("mcp_server_aliases")
    op.drop_table("mcp_server_version_tags")
    op.drop_table("mcp_server_tags")
    with op.batch_alter_table("mcp_server_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mcp_server_versions_server_id_status"))
    op.drop_table("mcp_server_versions")
    with op.batch_alter_table("mcp_servers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mcp_servers_workspace_name"))
    op.drop_table("mcp_servers")
