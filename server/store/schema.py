"""Schema lifecycle: create a fresh database at start, refuse an old one, migrate on explicit request.

MLflow's store silently migrates in its constructor; we only ever create an *empty* database on our own, and an
existing database at an older revision must be upgraded by the operator (`runyard db upgrade`).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from server.errors import ErrorCode, MlflowError
from server.store.engine import normalise_url


def migrations_dir() -> Path:
    """`migrations/` sits beside the package in a checkout and inside it (as `server/migrations`) in a wheel."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "migrations", here.parent / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("Runyard's migrations folder is missing from this installation")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one whose schema is not at our head revision. A database
    that cannot be reached (within the connect timeout) is said so in one line, not with a driver's traceback."""
    try:
        tables = inspect(engine).get_table_names()
    except OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise MlflowError(
            f"Cannot reach the database at {where}: {exc.orig or exc}", ErrorCode.TEMPORARILY_UNAVAILABLE
        ) from None
    if not tables:
        upgrade(engine)
        return
    current, head = current_revision(engine), head_revision(engine)
    if current != head:
        raise MlflowError(
            f"The database schema is at revision {current!r} but this Runyard needs {head!r}. "
            "Back up the database, then run `runyard db upgrade --backend-store-uri <uri>`.",
            ErrorCode.INVALID_STATE,
        )


def is_empty(uri: str) -> bool:
    """Whether the database has no tables yet, found without creating it (a SQLite file that is not there is
    empty, and stays not there). One that cannot be reached is not called empty: opening it says why."""
    url = make_url(normalise_url(uri))
    if url.get_backend_name() == "sqlite" and (not url.database or not Path(url.database).exists()):
        return True
    engine = create_engine(url)
    try:
        return not inspect(engine).get_table_names()
    except OperationalError:
        return False
    finally:
        engine.dispose()
