"""record each proxied artifact folder's destination

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifact_destinations",
        sa.Column("prefix_digest", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("prefix_digest", name=op.f("pk_artifact_destinations")),
    )


def downgrade() -> None:
    op.drop_table("artifact_destinations")
