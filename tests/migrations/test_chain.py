"""The Alembic chain: one head, up and down cleanly, and exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from server.store import schema
from server.store.base import Base
from server.store.engine import normalise_url


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
