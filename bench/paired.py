"""Paired read timings: the two servers answer the same search alternately, call after call.

A workload's median is taken over a few seconds on one server, then the other server takes its turn. On a shared
machine the load drifts between those turns, and a 1-2 ms difference on a 20 ms page drowns in it (rounds of the
UI's page swung between 0.83x and 1.17x for the same code). Here every call to one server is next to a call to the
other, their order swapped each pair (A B, B A, ...), so drift hits both sides alike, and the ratio is the median of
the per-pair ratios.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.client import Api
from bench.context import Context
from bench.parallel import Budget
from bench.reads import FILTER, ORDER_BY, PAGE, UI_ORDER, WALK_FILTER, WALK_ORDER, _walk

Search = Callable[[Api, str, Budget], object]


@dataclass(frozen=True)
class PairedRow:
    label: str
    search: Search


def _ui_page(api: Api, experiment_id: str, _budget: Budget) -> object:
    return api.search_page(experiment_id, "", UI_ORDER, PAGE, None)


def _filtered_first_page(api: Api, experiment_id: str, _budget: Budget) -> object:
    return api.search_runs(experiment_id, FILTER, ORDER_BY, PAGE)


def _filtered_walk(api: Api, experiment_id: str, budget: Budget) -> object:
    return _walk(api, experiment_id, WALK_FILTER, WALK_ORDER, PAGE, budget)


def _pages_of_1000(api: Api, experiment_id: str, budget: Budget) -> object:
    return _walk(api, experiment_id, "", UI_ORDER, 1_000, budget)


ROWS = (
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
    """Times every row `pairs` times on each server, alternating, on the runs each seeded for its search workload.

    Returns the table: each server's median in ms and the median of the per-pair ratios (second's time over first's,
    so above 1 means the first server is faster, as in the main table), with their quartiles.
    """
    experiment_a, experiment_b = first.search_experiment_id, second.search_experiment_id
    if experiment_a is None or experiment_b is None:
        return "paired reads: skipped, a search workload did not finish on both servers"
    lines = [
        f"paired reads, {pairs} alternating pairs per row: median ms of {first.server.spec.name} | of "
        f"{second.server.spec.name} | how many times faster the first is (median of the pairs, quartiles):",
    ]
    budget = first.budget()
    with first.api() as api_a, second.api() as api_b:
        for row in ROWS:
            median_a, median_b, ratios = _pair_up(
                functools.partial(row.search, api_a, experiment_a, budget),
                functools.partial(row.search, api_b, experiment_b, budget),
                pairs,
            )
            low, middle, high = statistics.quantiles(ratios, n=4)
            lines.append(
                f"  {row.label:<72} {median_a * 1000:7.1f} | {median_b * 1000:7.1f} | "
                f"{middle:5.2f}x ({low:.2f} to {high:.2f})"
            )
    return "\n".join(lines)
