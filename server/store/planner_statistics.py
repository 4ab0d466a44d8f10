"""Table statistics for PostgreSQL's planner, from the moment a table fills and while it grows.

PostgreSQL plans a query from its tables' statistics, and a table has none until autovacuum first analyses it,
up to a minute (`autovacuum_naptime`) after it filled. Until then every estimate is one row. A filtered run
search ordered by a metric, over 2,000 runs, then took 150-190 ms instead of 2 ms: the planner nested a scan of
the experiment's runs inside its walk of the metric index. A new store, or one just filled by `runyard import`,
meets this first; so does a store analysed while still small, whose estimates lag far behind a table that grew
tenfold in the seconds since. So the server analyses a table as soon as it holds enough rows to matter and has at
least doubled since its statistics were taken (or has none): a table filling up is analysed a few times, at
sizes doubling each time; one that only changes in place (updates) never is. Autovacuum does the rest. SQLite
plans without statistics; nothing to do there.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

from server.store.engine import Database

log = logging.getLogger(__name__)

MIN_ROWS = 500  # below this a wrong estimate costs little, and autovacuum's own threshold is near
CHECK_INTERVAL_S = 2.0  # one catalog query a round; a bench or an import searches seconds after it wrote

# `reltuples` is the row count the last ANALYZE (or VACUUM) saw: -1 (0 before PostgreSQL 14) when none ran.
_OUTGROWN = text(
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE s.schemaname = current_schema() AND s.n_live_tup >= :rows "
    "AND (c.reltuples <= 0 OR s.n_live_tup >= 2 * c.reltuples) ORDER BY s.relname"
)


def analyze_grown_tables(session: Session, min_rows: int = MIN_ROWS) -> list[str]:
    """ANALYZE each table of the store's schema that holds at least `min_rows` rows and at least twice the rows
    its statistics know of (none, for a table never analysed); returns their names. One catalog query when there
    is nothing to do."""
    names = list(session.scalars(_OUTGROWN, {"rows": min_rows}))
    quote = session.get_bind().dialect.identifier_preparer.quote
    for name in names:
        session.execute(text(f"ANALYZE {quote(name)}"))
    return names


async def keep_statistics(db: Database) -> None:
    """Every few seconds, for the life of the server: `analyze_grown_tables` on PostgreSQL. A failure (the database
    away, a lock held by autovacuum's own ANALYZE) is logged and retried next round."""
    if db.is_sqlite:
        return
    while True:
        await asyncio.sleep(CHECK_INTERVAL_S)
        try:
            analyzed = await db.run_read(analyze_grown_tables)
        except Exception:  # the loop must outlive a database hiccup
            log.warning("analysing new tables for the planner failed; retrying next round", exc_info=True)
            continue
        if analyzed:
            log.info("analysed for the planner, grown past their statistics: %s", ", ".join(analyzed))
