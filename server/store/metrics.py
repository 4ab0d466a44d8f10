"""Metric points: history rows, the latest-value table kept beside them, and history reads."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from server.store.raw import Raw


class MetricPoint(NamedTuple):
    """One point as a client logs it. A named tuple, not a frozen dataclass: a batch builds a thousand, and a frozen
    dataclass sets each field through `object.__setattr__`, which takes twice as long."""

    key: str
    value: float  # NaN allowed; ±inf already clamped
    timestamp: int
    step: int
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None

    def row(self, run_id: str) -> dict[str, Any]:
        nan = math.isnan(self.value)
        return {
            "r": run_id,
            "k": self.key,
            "t": self.timestamp,
            "s": self.step,
            "v": 0.0 if nan else self.value,
            "n": nan,
        }


def _rank(row: dict[str, Any]) -> tuple[Any, ...]:
    """MLflow's latest rule: the greatest (step, timestamp, value) wins; step beats time."""
    return (row["s"], row["t"], row["n"], row["v"])


_INSERT_POINT = (
    "INSERT INTO metrics (run_uuid, key, timestamp, step, value, is_nan) VALUES (:r, :k, :t, :s, :v, :n) "
    "ON CONFLICT DO NOTHING"
)
_ADVANCE_LATEST = (
    "INSERT INTO latest_metrics (run_uuid, key, timestamp, step, value, is_nan) VALUES (:r, :k, :t, :s, :v, :n) "
    "ON CONFLICT (run_uuid, key) DO UPDATE SET timestamp = excluded.timestamp, step = excluded.step, "
    "value = excluded.value, is_nan = excluded.is_nan "
    "WHERE (excluded.step, excluded.timestamp, excluded.value) > "
    "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"
)
_INSERT_MODEL_POINT = (
    "INSERT INTO logged_model_metrics (model_id, key, timestamp, step, value, is_nan, run_uuid, dataset_name, "
    "dataset_digest) VALUES (:m, :k, :t, :s, :v, :n, :r, :dn, :dd) ON CONFLICT DO NOTHING"
)


def insert_metrics(session: Session, run_id: str, points: Sequence[MetricPoint]) -> None:
    """Store points (identical ones once) and move each key's latest value forward where a point beats it."""
    if not points:
        return
    rows = [point.row(run_id) for point in points]
    raw = Raw(session)
    raw.executemany(_INSERT_POINT, rows)
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        current = best.get(row["k"])
        if current is None or _rank(row) > _rank(current):
            best[row["k"]] = row
    # Keys in a fixed order, so concurrent batches lock latest rows in the same order (no PostgreSQL deadlock).
    raw.executemany(_ADVANCE_LATEST, [best[key] for key in sorted(best)])
    model_rows = [
        {**row, "m": point.model_id, "dn": point.dataset_name or "", "dd": point.dataset_digest or ""}
        for point, row in zip(points, rows, strict=True)
        if point.model_id
    ]
    raw.executemany(_INSERT_MODEL_POINT, model_rows)


_NO_LIMIT = 2**62  # SQLite needs a LIMIT to take an OFFSET, and PostgreSQL refuses LIMIT -1


def metric_history(
    session: Session, run_id: str, key: str, *, offset: int = 0, limit: int | None = None
) -> list[tuple[Any, ...]]:
    """(value, timestamp, step, is_nan) rows in MLflow's order, read straight off the primary key."""
    sql = (
        "SELECT value, timestamp, step, is_nan FROM metrics WHERE run_uuid = :r AND key = :k "
        "ORDER BY timestamp, step, value LIMIT :l OFFSET :o"
    )
    return (
        Raw(session)
        .execute(sql, {"r": run_id, "k": key, "l": _NO_LIMIT if limit is None else limit, "o": offset})
        .all()
    )


_SAMPLE = """
SELECT value, timestamp, step, is_nan FROM (
    SELECT value, timestamp, step, is_nan,
           ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY step, timestamp, value, is_nan) AS rn
    FROM (
        SELECT value, timestamp, step, is_nan,
               NTILE(:buckets) OVER (ORDER BY step, timestamp, value, is_nan) AS bucket
        FROM metrics WHERE run_uuid = :r AND key = :k AND step BETWEEN :lo AND :hi
    ) AS bucketed
) AS ranked
WHERE rn = 1 ORDER BY step, timestamp, value, is_nan
"""
_LAST = (
    "SELECT value, timestamp, step, is_nan FROM metrics WHERE run_uuid = :r AND key = :k AND step BETWEEN :lo AND :hi "
    "ORDER BY step DESC, timestamp DESC, value DESC, is_nan DESC LIMIT 1"
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def sampled_history(
    session: Session, run_id: str, key: str, *, start_step: int | None, end_step: int | None, max_results: int
) -> list[tuple[Any, ...]]:
    """Up to `max_results` points spread evenly over the run's series, first and last always kept.

    MLflow's sampling (`SqlAlchemyStore.get_metric_history_bulk_interval`): rows ordered by step, split into
    `max_results` equal buckets with NTILE, the first row of each bucket, and the series' last row in place of
    the final sample. Done in SQL, so a million-point series never comes into memory for a 1,000-point chart.
    """
    params = {
        "r": run_id,
        "k": key,
        "buckets": max(1, max_results),
        "lo": _INT64_MIN if start_step is None else start_step,
        "hi": _INT64_MAX if end_step is None else end_step,
    }
    raw = Raw(session)
    rows = raw.execute(_SAMPLE, params).all()
    last = raw.execute(_LAST, params).one_or_none()
    if last is not None and (not rows or tuple(rows[-1]) != tuple(last)):
        if len(rows) >= max_results:
            rows[-1] = last
        else:
            rows.append(last)
    return rows
