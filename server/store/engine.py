"""Engines and per-request sessions for SQLite and PostgreSQL.

SQLite is the embedded default, so it gets Prefect's treatment: WAL, a busy timeout, and our own `BEGIN` so that
write requests take the lock up front (`BEGIN IMMEDIATE`) instead of deadlocking on a read-to-write upgrade. Within
one process, writers also queue on a lock, so concurrent clients wait in line instead of spinning in SQLite's
busy handler; separate processes still meet at the busy timeout.

Every wait on the database is bounded, so a request is answered before the client gives up on it: SQLite's busy
timeout and PostgreSQL's lock_timeout (a lock another connection holds), PostgreSQL's statement_timeout, its
connect timeout and the pool's. Each ends in an error the server renders as retryable (`server.errors`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from server.errors import MlflowError, note_write_committed
from server.store.bounded_pg import BoundedConnection, bounded_connection_class
from server.store.dialect import SQLITE_PERCENTILE, SqlitePercentile, sqlite_regexp
from server.store.writer import GroupCommitWriter

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 30.0
# The server passes its settings. Without them (one-off commands such as `runyard db upgrade`, where nobody retries
# and waiting out another process's lock or a long migration statement is what the operator wants) SQLite waits a
# minute for a lock and PostgreSQL as long as it takes.
DEFAULT_SQLITE_BUSY_TIMEOUT_S = 60.0


def normalise_url(uri: str) -> str:
    """Accept MLflow's spellings (`postgresql://`, `postgres://`) and pick the psycopg 3 driver."""
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri[len("postgres://") :]
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri[len("postgresql://") :]
    return uri


def _supported_url(uri: str) -> URL:
    """The store's URL, or one line saying why not. An MLflow file store (`./mlruns`, `file:///...`) is the common
    mistake: it would otherwise reach SQLAlchemy and end the server with a traceback."""
    try:
        url = make_url(normalise_url(uri))
    except ArgumentError:
        url = None
    if url is None or url.get_backend_name() not in ("sqlite", "postgresql"):
        raise MlflowError(
            f"Unsupported backend store URI {uri!r}: Runyard keeps its metadata in SQLite (sqlite:///path.db) or "
            "PostgreSQL (postgresql://user:password@host/db). To bring in an MLflow file store, run "
            "`runyard import <path>` against the new store."
        )
    return url


def _postgres_options(url_options: str | None, timeouts_s: dict[str, float | None]) -> str:
    """libpq's `options`: our timeouts (in ms), after any the URL already gives (a later `-c` wins, so ours apply)."""
    ours = [f"-c {name}={max(1, round(seconds * 1000))}" for name, seconds in timeouts_s.items() if seconds]
    return " ".join([*([url_options] if url_options else []), *ours])


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA case_sensitive_like=ON")  # MLflow's LIKE is case-sensitive, ILIKE is not
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()
        dbapi_conn.create_aggregate(SQLITE_PERCENTILE, 2, SqlitePercentile)  # PostgreSQL has percentile_cont
        dbapi_conn.create_function("regexp", 2, sqlite_regexp, deterministic=True)  # PostgreSQL has `~`

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight to the driver: `exec_driver_sql` would build a whole execution context (and fire its events)
        # for a statement that returns nothing, on every transaction. A busy database raises sqlite3's own
        # OperationalError here, which `is_refused_write` knows as well as SQLAlchemy's wrapper of it.
        begin = "BEGIN " + conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.connection.dbapi_connection.execute(begin)


def _bound_waits(engine: Engine, connection_class: type[BoundedConnection]) -> None:
    """Open the engine's PostgreSQL connections as `connection_class`, whose waits on the server are bounded."""

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        return connection_class.connect(*cargs, **cparams)


class Database:
    """Owns the engine and hands out one session per request, committed when the request's work succeeds.

    `busy_timeout_s` is how long a statement waits for a lock another connection holds (SQLite's busy timeout,
    PostgreSQL's lock_timeout); `statement_timeout_s` bounds any one PostgreSQL statement; `timeout_s` bounds
    opening a PostgreSQL connection and waiting for a free one."""

    def __init__(
        self,
        uri: str,
        *,
        pool_size: int = 10,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        busy_timeout_s: float | None = None,
        statement_timeout_s: float | None = None,
    ) -> None:
        self.url = _supported_url(uri)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            busy_s = busy_timeout_s or DEFAULT_SQLITE_BUSY_TIMEOUT_S
            self.engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": busy_s})
            _install_sqlite_hooks(self.engine, max(1, round(busy_s * 1000)))
            writer: Engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            # Bounded waits: a server that does not answer (stopped, or a black hole on the network) fails the
            # connection after `timeout_s`, and a request waiting for a free connection gives up as long; a lock
            # held by another connection (a `LOCK TABLE`, a long migration, a stuck transaction) is waited for
            # `busy_timeout_s`, and a statement runs at most `statement_timeout_s`. Each answers the client instead
            # of hanging until it gives up.
            url_options = self.url.query.get("options")
            options = _postgres_options(
                url_options if isinstance(url_options, str) else None,
                {"lock_timeout": busy_timeout_s, "statement_timeout": statement_timeout_s},
            )
            connect_args: dict[str, Any] = {"connect_timeout": max(1, round(timeout_s))}
            if options:
                connect_args["options"] = options
            self.engine = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=2 * pool_size,
                pool_pre_ping=True,
                pool_timeout=timeout_s,
                connect_args=connect_args,
            )
            if statement_timeout_s:
                _bound_waits(self.engine, bounded_connection_class(statement_timeout_s))
            writer = self.engine
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(writer, expire_on_commit=False)
        self._write_lock: AbstractContextManager[Any] = threading.Lock() if self.is_sqlite else nullcontext()
        self._writer: GroupCommitWriter | None = None
        if self.is_sqlite:
            self._writer = GroupCommitWriter(self.write)

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._write_lock, self._write_sessions() as session, session.begin():
            yield session
        note_write_committed()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read_sessions() as session, session.begin():
            yield session

    async def run_read(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a read-only session on the thread pool, so an async caller never blocks the event loop on
        the database; the twin of `run_write`."""

        def in_session() -> T:
            with self.read() as session:
                return work(session)

        return await run_in_threadpool(in_session)

    async def run_write(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a write transaction off the event loop: SQLite through the group-commit writer,
        PostgreSQL (which takes concurrent writers itself) on the thread pool, one transaction each."""
        if self._writer is not None:
            result = await self._writer.run(work)
            note_write_committed()  # the writer thread commits outside the request's context
            return result

        def in_transaction() -> T:
            with self.write() as session:
                return work(session)

        return await run_in_threadpool(in_transaction)

    def dispose(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.engine.dispose()
