"""Alembic environment: the engine comes from `config.attributes` (set by `server.store.schema`) so the CLI, the
server and the tests all migrate exactly the database they were given."""

from alembic import context
from sqlalchemy import Engine

from server.store import genai_models, models, role_models  # noqa: F401  (together they register every table)
from server.store.base import Base

engine: Engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
