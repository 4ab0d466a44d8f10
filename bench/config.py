"""Workload sizes (full and `--quick`) and the time budgets every loop is bounded by."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does; every count is also capped by a wall-clock budget."""

    threads: int = 8
    batch_points: int = 1_000
    batch_count: int = 30
    serial_calls: int = 1_000
    threaded_calls_per_thread: int = 250
    runs_per_thread: int = 100
    search_runs: int = 2_000
    search_calls: int = 20
    walk_calls: int = 5
    history_batches: int = 100
    history_page: int = 25_000
    history_repeats: int = 3
    artifact_mib: int = 50
    big_runs: int = 100_000
    workload_budget_s: float = 600.0
    big_budget_s: float = 3_600.0
    big_mlflow_limit_s: float = 600.0


FULL = Sizes()

QUICK = Sizes(
    batch_count=5,
    serial_calls=200,
    threaded_calls_per_thread=40,
    runs_per_thread=15,
    search_runs=300,
    search_calls=5,
    walk_calls=2,
    history_batches=10,
    history_repeats=3,
    artifact_mib=10,
    big_runs=5_000,
    workload_budget_s=180.0,
    big_budget_s=900.0,
)
