"""GenAI jobs in the job queue: MLflow's server-side jobs (running a scorer on traces, an evaluation, a prompt
optimization) are rows of `jobs` too, with no run of their own, their parameters as JSON and their result

Revision ID: 0011_genai_jobs
Revises: 0010_scorers
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_genai_jobs"
down_revision: str | None = "0010_scorers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("run_id", existing_type=sa.String(length=32), nullable=True)
        batch.add_column(sa.Column("kind", sa.String(length=16), server_default="project", nullable=False))
        batch.add_column(sa.Column("creator", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("timeout_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("result", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE kind = 'genai'")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("result")
        batch.drop_column("timeout_seconds")
        batch.drop_column("creator")
        batch.drop_column("kind")
        batch.alter_column("run_id", existing_type=sa.String(length=32), nullable=False)
