"""Prometheus gauges for the queue, read from the database at scrape time, so every server process reports the
same numbers and none has to keep counters of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from server.clock import now_ms
from server.jobspec.schemas import JobStatus
from server.store.engine import Database
from server.store.models import Job


def job_gauges(db: Database) -> Callable[[], Iterable[GaugeMetricFamily]]:
    def collect() -> Iterable[GaugeMetricFamily]:
        with db.read() as session:
            by_status = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            due = session.scalar(
                select(func.count()).where(Job.status == JobStatus.QUEUED, Job.available_at <= now_ms())
            )
        jobs = GaugeMetricFamily("runyard_jobs", "Jobs by state.", labels=["status"])
        for status in JobStatus:
            jobs.add_metric([status.value], float(by_status.get(status.value, 0)))
        yield jobs
        yield GaugeMetricFamily("runyard_job_queue_depth", "Queued jobs due to run now.", value=float(due or 0))

    return collect
