"""Alembic environment: the engine comes from `config.attributes` (set by `server.store.schema`) so the CLI, the
server and the tests all migrate exactly the database they were given.

On SQLite a batch migration rebuilds a table: it copies it, drops the original and renames the copy. With foreign
keys enforced, as on every connection of `server.store.engine.Database` (`runyard db upgrade` included), dropping
the original first deletes its rows, and ON DELETE CASCADE takes every referencing row with them (a registered
model's versions and aliases, a webhook's events), or the drop fails where nothing cascades (an experiment's runs).
So enforcement is off while migrations run and restored after. The copy keeps every key, so references stay valid.
SQLite ignores the pragma inside a transaction: it is set on the driver's connection before the migration's
transaction begins, and restored after it has ended either way.
"""

from alembic import context
from sqlalchemy import Engine

from server.store import (  # noqa: F401
    genai_models,
    mcp_models,
    models,
    role_models,
    skill_models,
    webhook_models,
    workspace_models,
)
from server.store.base import Base

engine: Engine = context.config.attributes["engine"]

with engine.connect() as connection:
    sqlite = engine.dialect.name == "sqlite"
    driver = connection.connection.driver_connection if sqlite else None
    enforced = driver is not None and driver.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    if enforced:
        driver.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if enforced:
            connection.rollback()  # a failed migration's transaction ends first, or the pragma would be ignored
            driver.execute("PRAGMA foreign_keys=ON")
