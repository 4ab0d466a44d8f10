"""The ordered list of workloads and the table rows each one fills."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench import reads, transfer, writes
from bench.context import Context, Results


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[Context], Results]
    keys: tuple[str, ...]


def workloads(big: bool) -> list[Workload]:
    plan = [
        Workload("log-batch", writes.log_batch_points, ("batch",)),
        Workload("log-metric serial", writes.log_metric_serial, ("serial_rate", "serial_p50")),
        Workload("log-metric threads", writes.log_metric_threads, ("threaded_rate",)),
        Workload("create-run threads", writes.create_runs, ("runs_rate",)),
        Workload(
            "search-runs",
            reads.search_runs,
            ("search_ms", "ui_page_ms", "walk_ms", "pages_1000_ms", "client_search_ms"),
        ),
        Workload("get-history", reads.metric_history, ("history_s",)),
        Workload("artifacts", transfer.artifacts, ("upload", "download", "rss")),
    ]
    if big:
        plan.append(Workload("big search", reads.big_search, ("big_search_ms",)))
    return plan
