"""Opening a Runyard store as every entry point needs it: the server, and the commands that write to a store
directly (`runyard import`, `runyard export`). Kept apart from the web app so those commands start without
importing it."""

from __future__ import annotations

from server.config import Settings
from server.services.experiments import ensure_default_experiment
from server.services.workspaces import check_single_team
from server.store.engine import Database
from server.store.schema import ensure_schema


def prepare_database(settings: Settings) -> Database:
    """Open the store: create a fresh schema if empty, refuse an outdated one, make sure "Default" exists."""
    db = Database(
        settings.backend_store_uri,
        timeout_s=settings.database_timeout_seconds,
        busy_timeout_s=settings.database_busy_timeout_seconds,
        statement_timeout_s=settings.database_statement_timeout_seconds,
    )
    ensure_schema(db.engine)
    with db.write() as session:
        if not settings.enable_workspaces:
            check_single_team(session)
        ensure_default_experiment(session, settings)
    return db
