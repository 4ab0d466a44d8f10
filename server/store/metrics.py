"""Metric points: history rows, the latest-value table kept beside them, and history reads."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Row, select, tuple_
from sqlalchemy.orm import Session

from server.store.dialect import dialect_insert, insert_ignore
from server.store.models import LatestMetric, LoggedModelMetric, Metric


@dataclass(frozen=True, slots=True)
class MetricPoint:
    key: str
    value: float  # NaN allowed; ±inf already clamped
    timestamp: int
    step: int
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None

    def row(self, run_id: str) -> dict[str, object]:
        nan = math.isnan(self.value)
        return {
            "run_uuid": run_id,
            "key": self.key,
            "timestamp": self.timestamp,
            "step": self.step,
            "value": 0.0 if nan else self.value,
            "is_nan": nan,
        }


def _rank(row: dict[str, object]) -> tuple[object, ...]:
    """MLflow's latest rule: the greatest (step, timestamp, value) wins; step beats time."""
    return (row["step"], row["timestamp"], row["is_nan"], row["value"])


def insert_metrics(session: Session, run_id: str, points: Sequence[MetricPoint]) -> None:
    """Store points (identical ones once) and move each key's latest value forward where a point beats it."""
    if not points:
        return
    rows = [point.row(run_id) for point in points]
    insert_ignore(session, Metric.__table__, rows)  # type: ignore[arg-type]
    best: dict[object, dict[str, object]] = {}
    for row in rows:
        current = best.get(row["key"])
        if current is None or _rank(row) > _rank(current):
            best[row["key"]] = row
    _advance_latest(session, list(best.values()))
    model_rows = [
        {
            **point.row(run_id),
            "model_id": point.model_id,
            "dataset_name": point.dataset_name or "",
            "dataset_digest": point.dataset_digest or "",
        }
        for point in points
        if point.model_id
    ]
    insert_ignore(session, LoggedModelMetric.__table__, model_rows)  # type: ignore[arg-type]


def _advance_latest(session: Session, rows: list[dict[str, object]]) -> None:
    table = LatestMetric.__table__
    stmt = dialect_insert(session, table)  # type: ignore[arg-type]
    newer = tuple_(stmt.excluded.step, stmt.excluded.timestamp, stmt.excluded.value) > tuple_(
        table.c.step, table.c.timestamp, table.c.value
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_uuid", "key"],
        set_={c: stmt.excluded[c] for c in ("timestamp", "step", "value", "is_nan")},
        where=newer,
    )
    session.execute(stmt, rows)


def metric_history(
    session: Session, run_id: str, key: str, *, offset: int = 0, limit: int | None = None
) -> Sequence[Row[tuple[float, int, int, bool]]]:
    query = (
        select(Metric.value, Metric.timestamp, Metric.step, Metric.is_nan)
        .where(Metric.run_uuid == run_id, Metric.key == key)
        .order_by(Metric.timestamp, Metric.step, Metric.value)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return session.execute(query).all()


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
