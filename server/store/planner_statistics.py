"""Table statistics for PostgreSQL's planner, from the moment a table fills.

PostgreSQL plans a query from its tables' statistics, and a table has none until autovacuum first analyses it,
up to a minute (`autovacuum_naptime`) after it filled. Until then every estimate is one row. A filtered run
search ordered by a metric, over 2,000 runs, then took 150-190 ms instead of 2 ms: the planner nested a scan of
the experiment's runs inside its walk of the metric index. A new store, or one just filled by `runyard import`,
meets this first. So the server analyses a table that was never analysed as soon as it holds enough rows to
matter; autovacuum keeps the statistics fresh from then on. SQLite plans without statistics; nothing to do there.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

from server.store.engine import Database

log = logging.getLogger(__name__)

MIN_ROWS = 500  # below this a wrong estimate costs little, and autovacuum's own threshold is near
CHECK_INTERVAL_S = 10.0

_NEVER_ANALYZED = text(
    "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
    "AND last_analyze IS NULL AND last_autoanalyze IS NULL AND n_live_tup >= :rows ORDER BY relname"
)


def analyze_new_tables(session: Session, min_rows: int = MIN_ROWS) -> list[str]:
    """ANALYZE each table of the store's schema that holds at least `min_rows` rows and was never analysed, by
    anyone; returns their names. One catalog query when there is nothing to do."""
    names = list(session.scalars(_NEVER_ANALYZED, {"rows": min_rows}))
    quote = session.get_bind().dialect.identifier_preparer.quote
    for name in names:
        session.execute(text(f"ANALYZE {quote(name)}"))
    return names


async def keep_statistics(db: Database) -> None:
    """Every few seconds, for the life of the server: `analyze_new_tables` on PostgreSQL. A failure (the database
    away, a lock held by autovacuum's own ANALYZE) is logged and retried next round."""
    if db.is_sqlite:
        return
    while True:
        await asyncio.sleep(CHECK_INTERVAL_S)
        try:
            analyzed = await db.run_read(analyze_new_tables)
        except Exception:  # the loop must outlive a database hiccup
            log.warning("analysing new tables for the planner failed; retrying next round", exc_info=True)
            continue
        if analyzed:
            log.info("analysed for the planner, never analysed before: %s", ", ".join(analyzed))
