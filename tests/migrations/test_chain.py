"""The Alembic chain: one head, up and down cleanly, and exactly the schema the models describe, on both databases."""

from __future__ import annotations

import json

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from sqlalchemy import create_engine, inspect, text

from server.store import schema
from server.store.base import Base
from server.store.engine import Database, normalise_url


def test_single_head() -> None:
    engine = create_engine("sqlite://")
    assert len(ScriptDirectory.from_config(schema.alembic_config(engine)).get_heads()) == 1


def test_upgrade_downgrade_upgrade_matches_the_models(fresh_store_uri: str) -> None:
    engine = create_engine(normalise_url(fresh_store_uri))
    config = schema.alembic_config(engine)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    engine.dispose()


def test_spans_stored_before_0008_get_their_searchable_content(fresh_store_uri: str) -> None:
    """Upgrading a store that already holds spans fills `spans.content` from each span's protobuf encoding, so
    `trace.text` and `span.attributes.*` filters find old traces too."""
    engine = create_engine(normalise_url(fresh_store_uri))
    config = schema.alembic_config(engine)
    command.upgrade(config, "0007_traces")
    span = OtlpSpan(trace_id=bytes(range(16)), span_id=bytes(range(8)), name="retrieve", start_time_unix_nano=1)
    for key, value in (("mlflow.spanInputs", '{"query": "tides"}'), ("mlflow.spanType", '"RETRIEVER"')):
        span.attributes.add(key=key).value.string_value = value
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO experiments (experiment_id, name, lifecycle_stage, artifact_location, creation_time,"
                " last_update_time) VALUES (7, 'old', 'active', 'file:///tmp/x', 0, 0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO traces (trace_id, experiment_id, request_time, state, finalized)"
                " VALUES ('tr-old', 7, 0, 'OK', false)"
            )
        )
        for span_id in range(3):
            span.span_id = bytes([span_id] * 8)
            connection.execute(
                text(
                    "INSERT INTO spans (trace_id, span_id, name, status, start_time_ns, payload)"
                    " VALUES ('tr-old', :id, 'retrieve', 'OK', 1, :payload)"
                ),
                {"id": span.span_id.hex(), "payload": span.SerializeToString()},
            )
    command.upgrade(config, "head")
    with engine.connect() as connection:
        contents = connection.execute(text("SELECT content FROM spans ORDER BY span_id")).scalars().all()
    assert [json.loads(content) for content in contents] == [
        {
            "name": "retrieve",
            "attributes": {
                "mlflow.spanInputs": '{"query": "tides"}',
                "mlflow.spanType": "RETRIEVER",
            },
        }
    ] * 3
    engine.dispose()


_BEFORE_WORKSPACES = (
    "INSERT INTO experiments (experiment_id, name, lifecycle_stage, artifact_location, creation_time,"
    " last_update_time) VALUES (7, 'churn', 'active', 'file:///tmp/x', 0, 0)",
    "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri)"
    " VALUES ('r1', 7, 'baseline', 'u', 'FINISHED', 0, 'active', 'file:///tmp/x/r1')",
    "INSERT INTO registered_models (id, name, creation_timestamp, last_updated_timestamp, last_version)"
    " VALUES (1, 'ranker', 0, 0, 1)",
    "INSERT INTO registered_model_tags (model_pk, key, value) VALUES (1, 'team', 'search')",
    "INSERT INTO model_versions (model_pk, version, creation_timestamp, last_updated_timestamp, current_stage,"
    " source, storage_location, status) VALUES (1, 1, 0, 0, 'None', 'runs:/r1/m', 'runs:/r1/m', 'READY')",
    "INSERT INTO model_version_tags (model_pk, version, key, value) VALUES (1, 1, 'k', 'v')",
    "INSERT INTO registered_model_aliases (model_pk, alias, version) VALUES (1, 'champion', 1)",
    "INSERT INTO webhooks (webhook_id, name, url, status, creation_timestamp, last_updated_timestamp)"
    " VALUES ('w1', 'ci', 'https://hooks.example.com', 'ACTIVE', 0, 0)",
    "INSERT INTO webhook_events (webhook_id, entity, action) VALUES ('w1', 'model_version', 'created')",
    "INSERT INTO webhook_deliveries (delivery_id, webhook_id, entity, action, body, state, attempts, available_at,"
    " created_at, retry_from) VALUES ('d1', 'w1', 'model_version', 'created', '{}', 'delivered', 1, 0, 0, 0)",
)


def test_upgrading_a_store_in_use_keeps_every_row(fresh_store_uri: str) -> None:
    """`runyard db upgrade` connects as the server does, with SQLite's foreign keys enforced: rebuilding a table
    that others reference (experiments, registered models, webhooks) must neither fail nor cascade its delete into
    the rows that reference it."""
    database = Database(fresh_store_uri)
    command.upgrade(schema.alembic_config(database.engine), "0013_evaluation_datasets")
    with database.engine.begin() as connection:
        for statement in _BEFORE_WORKSPACES:
            connection.execute(text(statement))

    schema.upgrade(database.engine)

    tables = ("experiments", "runs", "registered_models", "registered_model_tags", "model_versions")
    tables += ("model_version_tags", "registered_model_aliases", "webhooks", "webhook_events", "webhook_deliveries")
    with database.engine.connect() as connection:
        counts = {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() for table in tables}
        workspaces = [
            connection.execute(text(f"SELECT workspace FROM {table}")).scalar_one()
            for table in ("experiments", "registered_models", "webhooks")
        ]
        enforced = connection.execute(text("PRAGMA foreign_keys")).scalar() if database.is_sqlite else 1
    database.dispose()
    assert counts == dict.fromkeys(tables, 1)
    assert workspaces == ["default"] * 3
    assert enforced == 1  # the server's connections enforce them again
