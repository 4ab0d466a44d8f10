"""spans.content: a span's name, attributes and events as JSON text, which `trace.text` and `span.attributes.*`
filters search; spans stored before this revision get theirs from their protobuf encoding

Revision ID: 0008_span_content
Revises: 0007_traces
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

revision: str = "0008_span_content"
down_revision: str | None = "0007_traces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500  # spans read, decoded and updated at a time, so a large store is filled without holding it in memory


def upgrade() -> None:
    # Imported here, not at the top: Alembic loads every revision to walk the chain, and this one pulls in MLflow,
    # which would add more than a second to every `runyard` command that only checks the schema.
    from server.services.spans import span_record

    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content", sa.Text(), nullable=True))
    spans = sa.table(
        "spans",
        sa.column("trace_id", sa.String),
        sa.column("span_id", sa.String),
        sa.column("payload", sa.LargeBinary),
        sa.column("content", sa.Text),
    )
    connection = op.get_bind()
    after = ("", "")
    while True:
        rows = connection.execute(
            sa.select(spans.c.trace_id, spans.c.span_id, spans.c.payload)
            .where(sa.tuple_(spans.c.trace_id, spans.c.span_id) > after)
            .order_by(spans.c.trace_id, spans.c.span_id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        updates = [
            {"t": trace_id, "s": span_id, "content": span_record(OtlpSpan.FromString(payload)).content}
            for trace_id, span_id, payload in rows
        ]
        connection.execute(
            sa.update(spans)
            .where(spans.c.trace_id == sa.bindparam("t"), spans.c.span_id == sa.bindparam("s"))
            .values(content=sa.bindparam("content")),
            updates,
        )
        after = (rows[-1][0], rows[-1][1])


def downgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_column("content")
