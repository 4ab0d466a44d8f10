"""Metric points: history rows, the latest-value table kept beside them, and history reads."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.models import Metric
from server.store.raw import Raw


@dataclass(frozen=True, slots=True)
class MetricPoint:
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


def sampled_history(
    session: Session,
    run_ids: Iterable[str],
    key: str,
    *,
    start_step: int | None,
    end_step: int | None,
    max_results: int,
) -> list[tuple[str, float, int, int, bool]]:
    """Points at up to `max_results` evenly spread steps per run (first and last always kept), for charts."""
    result: list[tuple[str, float, int, int, bool]] = []
    for run_id in run_ids:
        query = select(Metric.value, Metric.timestamp, Metric.step, Metric.is_nan).where(
            Metric.run_uuid == run_id, Metric.key == key
        )
        if start_step is not None and end_step is not None:
            query = query.where(Metric.step >= start_step, Metric.step <= end_step)
        rows = session.execute(query.order_by(Metric.step, Metric.timestamp, Metric.value)).all()
        steps = sorted({row.step for row in rows})
        keep = set(_spread(steps, max_results))
        result.extend((run_id, r.value, r.timestamp, r.step, r.is_nan) for r in rows if r.step in keep)
    return result


def _spread(steps: list[int], count: int) -> list[int]:
    if len(steps) <= count:
        return steps
    if count == 1:
        return [steps[0]]
    stride = (len(steps) - 1) / (count - 1)
    return [steps[round(i * stride)] for i in range(count)]
