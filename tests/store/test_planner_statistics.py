"""PostgreSQL: a table the planner has no statistics for is analysed by the server soon after it fills, and again
each time it has doubled, not up to a minute later by autovacuum; until then a filtered, metric-ordered search is
planned as if every table held one row (150-190 ms instead of 2 ms for 2,000 runs)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import psycopg

from server.store.engine import Database
from server.store.planner_statistics import MIN_ROWS, analyze_grown_tables
from tests.support.processes import create_database, runyard_server

API = "/api/2.0/mlflow"
CAP_S = 300  # how long the event may take on a loaded machine; it comes within about ten seconds on a quiet one


def _analysed(store: str, table: str) -> tuple[object, object]:
    with psycopg.connect(store) as conn:
        row = conn.execute(
            "SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables WHERE relname = %s", (table,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def _wait_for_analysis_after(store: str, table: str, earlier: object) -> object:
    """The time of the server's next ANALYZE of `table` after `earlier` (None: its first), waited for."""
    deadline = time.monotonic() + CAP_S
    while (analysed := _analysed(store, table)[0]) is None or (earlier is not None and analysed <= earlier):
        assert time.monotonic() < deadline, f"{table} not analysed again after {CAP_S} s"
        time.sleep(0.2)
    return analysed


def _reltuples(store: str, table: str) -> float:
    with psycopg.connect(store) as conn:
        row = conn.execute("SELECT reltuples FROM pg_class WHERE relname = %s", (table,)).fetchone()
    assert row is not None
    return float(row[0])


def test_the_server_analyses_a_table_that_fills_and_again_when_it_doubles(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    store = create_database(postgres_admin_url, f"runyard_stats_{os.getpid()}")
    with runyard_server(store, tmp_path / "mlartifacts") as url:
        with psycopg.connect(store, autocommit=True) as conn:  # only the server may analyse `runs` here
            conn.execute("ALTER TABLE runs SET (autovacuum_enabled = false)")
        with httpx.Client(base_url=url, timeout=60) as http:
            experiment_id = http.post(f"{API}/experiments/create", json={"name": "filled"}).json()["experiment_id"]

            def create(count: int) -> None:
                for _ in range(count):
                    assert http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).status_code == 200

            create(MIN_ROWS + 50)
            first = _wait_for_analysis_after(store, "runs", None)
            known = _reltuples(store, "runs")
            assert known >= MIN_ROWS
            # Doubled since: analysed again, at the new size.
            create(int(known) + 50)
            second = _wait_for_analysis_after(store, "runs", first)
            assert _reltuples(store, "runs") >= 2 * known
    assert _analysed(store, "runs")[1] is None  # the server's ANALYZE, not autovacuum's
    assert second > first

    db = Database(store)
    try:
        with db.read() as session:
            assert "runs" not in analyze_grown_tables(session)  # as many rows as its statistics say: nothing to do
    finally:
        db.dispose()


def test_sqlite_needs_nothing(tmp_path: Path) -> None:
    """SQLite plans without statistics; the loop returns at once instead of polling a catalog it does not have."""
    import asyncio

    from server.store.planner_statistics import keep_statistics

    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        asyncio.run(asyncio.wait_for(keep_statistics(db), timeout=30))
    finally:
        db.dispose()
