"""Paired timings: the two servers answer the same request alternately, call after call (single-client rows:
logging, creating runs, and the searches).

A workload's median is taken over a few seconds on one server, then the other server takes its turn. On a shared
machine the load drifts between those turns, and a 1-2 ms difference on a 20 ms page drowns in it (rounds of the
UI's page swung between 0.83x and 1.17x for the same code). Here every call to one server is next to a call to the
other, their order swapped each pair (A B, B A, ...), so drift hits both sides alike, and the ratio is the median of
the per-pair ratios.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.client import Api, metric
from bench.context import Context
from bench.parallel import Budget
from bench.reads import FILTER, ORDER_BY, PAGE, UI_ORDER, WALK_FILTER, WALK_ORDER, _walk

Action = Callable[[], object]
# Given a server's connection, the experiment its search workload seeded, and the budget: the call to time.
Prepare = Callable[[Api, str, Budget], Action]


@dataclass(frozen=True)
class PairedRow:
    label: str
    prepare: Prepare


def _ui_page(api: Api, experiment_id: str, _budget: Budget) -> Action:
    return lambda: api.search_page(experiment_id, "", UI_ORDER, PAGE, None)


def _filtered_first_page(api: Api, experiment_id: str, _budget: Budget) -> Action:
    return lambda: api.search_runs(experiment_id, FILTER, ORDER_BY, PAGE)


def _filtered_walk(api: Api, experiment_id: str, budget: Budget) -> Action:
    return lambda: _walk(api, experiment_id, WALK_FILTER, WALK_ORDER, PAGE, budget)


def _pages_of_1000(api: Api, experiment_id: str, budget: Budget) -> Action:
    return lambda: _walk(api, experiment_id, "", UI_ORDER, 1_000, budget)


def _own_experiment(api: Api) -> str:
    """The write rows log into an experiment of their own, so the searches' runs stay as seeded."""
    return api.create_experiment(f"bench-paired-{time.time_ns()}")


def _log_metric(api: Api, _experiment_id: str, _budget: Budget) -> Action:
    run_id, steps = api.create_run(_own_experiment(api)), itertools.count()
    return lambda: api.log_metric(run_id, "paired", 0.5, next(steps))


def _log_batch(api: Api, _experiment_id: str, _budget: Budget) -> Action:
    run_id, calls = api.create_run(_own_experiment(api)), itertools.count()

    def log() -> None:
        first = next(calls) * BATCH_POINTS
        api.log_batch(run_id, [metric("paired", 0.5, step) for step in range(first, first + BATCH_POINTS)])

    return log


def _create_run(api: Api, _experiment_id: str, _budget: Budget) -> Action:
    experiment_id = _own_experiment(api)
    return lambda: api.create_run(experiment_id)


BATCH_POINTS = 1_000
ROWS = (
    PairedRow("log-metric, one call", _log_metric),
    PairedRow("log-batch, 1,000 points", _log_batch),
    PairedRow("create-run", _create_run),
    PairedRow("search (filter+order), first page of 100", _filtered_first_page),
    PairedRow("the UI's runs table: first page of 100 by start time", _ui_page),
    PairedRow("every page of 100, metrics.loss < 0.5 and params.lr, by metrics.loss", _filtered_walk),
    PairedRow("all runs in pages of 1,000", _pages_of_1000),
)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _pair_up(run_a: Callable[[], object], run_b: Callable[[], object], pairs: int) -> tuple[float, float, list[float]]:
    """Each side's median time in seconds, and the per-pair ratios (B's time over A's)."""
    run_a(), run_b()  # warm-up
    times_a, times_b, ratios = [], [], []
    for index in range(pairs):
        if index % 2 == 0:
            took_a, took_b = _timed(run_a), _timed(run_b)
        else:
            took_b, took_a = _timed(run_b), _timed(run_a)
        times_a.append(took_a)
        times_b.append(took_b)
        ratios.append(took_b / took_a)
    return statistics.median(times_a), statistics.median(times_b), ratios


def compare(first: Context, second: Context, pairs: int) -> str:
    """Times every row `pairs` times on each server, alternating, in the experiment each seeded for its search
    workload (the write rows in an experiment of their own).

    Returns the table: each server's median in ms and the median of the per-pair ratios (second's time over first's,
    so above 1 means the first server is faster, as in the main table), with their quartiles.
    """
    experiment_a, experiment_b = first.search_experiment_id, second.search_experiment_id
    if experiment_a is None or experiment_b is None:
        return "paired timings: skipped, a search workload did not finish on both servers"
    lines = [
        f"paired timings, {pairs} alternating pairs per row: median ms of {first.server.spec.name} | of "
        f"{second.server.spec.name} | how many times faster the first is (median of the pairs, quartiles):",
    ]
    budget = first.budget()
    with first.api() as api_a, second.api() as api_b:
        for row in ROWS:
            median_a, median_b, ratios = _pair_up(
                row.prepare(api_a, experiment_a, budget), row.prepare(api_b, experiment_b, budget), pairs
            )
            low, middle, high = statistics.quantiles(ratios, n=4)
            lines.append(
                f"  {row.label:<72} {median_a * 1000:7.1f} | {median_b * 1000:7.1f} | "
                f"{middle:5.2f}x ({low:.2f} to {high:.2f})"
            )
    return "\n".join(lines)
