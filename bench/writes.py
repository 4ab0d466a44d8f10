"""Write-path workloads: log-batch, serial and threaded log-metric, and run creation from many threads."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.client import Api, metric
from bench.context import Context, Results
from bench.parallel import Budget, run_threads


def log_batch_points(ctx: Context) -> Results:
    """1. One client sends log-batch calls of `batch_points` metric points (10 keys x 100 steps each)."""
    sizes, budget = ctx.sizes, ctx.budget()
    keys = [f"m{k}" for k in range(10)]
    per_key = sizes.batch_points // len(keys)

    def batch(index: int) -> list[dict[str, Any]]:
        base = index * per_key
        return [metric(key, float(step), base + step) for key in keys for step in range(per_key)]

    with ctx.api() as api:
        run_id = api.create_run(api.create_experiment(ctx.experiment_name("batch")))
        api.log_batch(run_id, batch(0))  # warm-up
        payloads = [batch(i + 1) for i in range(sizes.batch_count)]
        started = time.perf_counter()
        for payload in payloads:
            budget.check()
            api.log_batch(run_id, payload)
        elapsed = time.perf_counter() - started
    return {"batch": sizes.batch_count * len(keys) * per_key / elapsed}


def log_metric_serial(ctx: Context) -> Results:
    """2. One client sends single log-metric calls back to back; rate and median latency."""
    sizes, budget = ctx.sizes, ctx.budget()
    latencies: list[float] = []
    with ctx.api() as api:
        run_id = api.create_run(api.create_experiment(ctx.experiment_name("serial")))
        for step in range(20):  # warm-up
            api.log_metric(run_id, "warm", 0.0, step)
        started = time.perf_counter()
        for step in range(sizes.serial_calls):
            budget.check()
            before = time.perf_counter()
            api.log_metric(run_id, "loss", 1.0 / (step + 1), step)
            latencies.append(time.perf_counter() - before)
        elapsed = time.perf_counter() - started
    return {"serial_rate": len(latencies) / elapsed, "serial_p50": statistics.median(latencies) * 1000}


def log_metric_threads(ctx: Context) -> Results:
    """3. `threads` clients, each logging single metrics to its own run at the same time."""
    sizes = ctx.sizes
    with ctx.api() as api:
        experiment_id = api.create_experiment(ctx.experiment_name("threads"))

    def setup(api: Api, _: int) -> str:
        run_id = api.create_run(experiment_id)
        api.log_metric(run_id, "warm", 0.0, 0)
        return run_id

    def work(api: Api, run_id: str, budget: Budget) -> int:
        for step in range(sizes.threaded_calls_per_thread):
            budget.check()
            api.log_metric(run_id, "loss", 1.0 / (step + 1), step)
        return sizes.threaded_calls_per_thread

    done, elapsed = run_threads(ctx.base_url, sizes.threads, setup, work, ctx.budget(), ctx.server.spec.workspace)
    return {"threaded_rate": done / elapsed}


def create_runs(ctx: Context) -> Results:
    """4. `threads` clients each create runs, every run followed by one log-batch of 10 metrics and 5 params."""
    sizes = ctx.sizes
    with ctx.api() as api:
        experiment_id = api.create_experiment(ctx.experiment_name("runs"))
    params = [{"key": f"p{i}", "value": str(i)} for i in range(5)]

    def setup(api: Api, _: int) -> None:
        api.create_run(experiment_id)  # opens the connection and warms the path

    def work(api: Api, _: None, budget: Budget) -> int:
        for _i in range(sizes.runs_per_thread):
            budget.check()
            run_id = api.create_run(experiment_id)
            api.log_batch(run_id, [metric(f"m{k}", k * 0.1, 0) for k in range(10)], params)
        return sizes.runs_per_thread

    done, elapsed = run_threads(ctx.base_url, sizes.threads, setup, work, ctx.budget(), ctx.server.spec.workspace)
    return {"runs_rate": done / elapsed}
