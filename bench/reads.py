"""Read-path workloads: filtered, ordered run search (2,000 and, with --big, 100,000 runs) and paged metric history."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from bench.client import Api, metric
from bench.context import Context, Results
from bench.parallel import Budget, run_threads

FILTER = "metrics.acc > 0.5 AND params.lr = '0.01'"
ORDER_BY = ["metrics.acc DESC"]
WALK_FILTER = "metrics.loss < 0.5 and params.lr = '0.01'"
WALK_ORDER = ["metrics.loss"]
UI_ORDER = ["attributes.start_time DESC"]  # what MLflow's runs table asks for first
PAGE = 100
LEARNING_RATES = ("0.1", "0.01", "0.001")
MODELS = ("cnn", "mlp", "rnn", "vit")


def seed_runs(ctx: Context, experiment_id: str, count: int, budget: Budget) -> float:
    """Creates `count` runs from `threads` clients, each with metrics acc and loss and params lr and model.

    Returns the seeding rate in runs per second.
    """
    threads = ctx.sizes.threads
    shares = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]

    def setup(_: Api, index: int) -> tuple[int, random.Random]:
        return shares[index], random.Random(index)

    def work(api: Api, state: tuple[int, random.Random], group: Budget) -> int:
        share, rng = state
        for _i in range(share):
            group.check()
            run_id = api.create_run(experiment_id)
            metrics = [metric("acc", rng.random(), 0), metric("loss", rng.random() * 2, 0)]
            params = [{"key": "lr", "value": rng.choice(LEARNING_RATES)}, {"key": "model", "value": rng.choice(MODELS)}]
            api.log_batch(run_id, metrics, params)
        return share

    done, elapsed = run_threads(ctx.base_url, threads, setup, work, budget, ctx.server.spec.workspace)
    return done / elapsed


def _median_search_ms(api: Api, experiment_id: str, calls: int, budget: Budget) -> float:
    for _i in range(2):  # warm-up, and a check that the filter matches something
        hits = api.search_runs(experiment_id, FILTER, ORDER_BY, PAGE)
        if not hits or len(hits) > PAGE:
            raise RuntimeError(f"search returned {len(hits)} runs, expected 1..{PAGE}")
    timings = []
    for _i in range(calls):
        budget.check()
        started = time.perf_counter()
        api.search_runs(experiment_id, FILTER, ORDER_BY, PAGE)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def _walk(api: Api, experiment_id: str, filter_string: str, order_by: list[str], page: int, budget: Budget) -> int:
    """Every page of a search, following the page tokens; how many runs came back."""
    seen, token = 0, None
    while True:
        budget.check()
        runs, token = api.search_page(experiment_id, filter_string, order_by, page, token)
        seen += len(runs)
        if token is None:
            return seen


def _median_ms(calls: int, budget: Budget, action: Callable[[], object]) -> float:
    action()  # warm-up
    timings = []
    for _i in range(calls):
        budget.check()
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def _client_search(ctx: Context, experiment_id: str, expected: int) -> Callable[[], object]:
    """The stock client's `MlflowClient.search_runs`, paging through every run in pages of 1,000."""
    from mlflow import MlflowClient  # heavy: only for this row

    client = MlflowClient(tracking_uri=ctx.base_url)

    def search() -> int:
        seen, token = 0, None
        while True:
            page = client.search_runs([experiment_id], max_results=1_000, page_token=token)
            seen += len(page)
            token = page.token
            if not token:
                break
        if seen != expected:
            raise RuntimeError(f"the client's search returned {seen:,} runs, expected {expected:,}")
        return seen

    return search


def search_runs(ctx: Context) -> Results:
    """5. Searches over `search_runs` runs: the filtered, ordered first page (median latency); the UI's runs table
    (first page of 100 by start time); every page of a filtered walk ordered by a metric; all runs in pages of
    1,000; and the stock client's `search_runs` of all runs."""
    budget, sizes = ctx.budget(), ctx.sizes
    with ctx.api() as api:
        experiment_id = api.create_experiment(ctx.experiment_name("search"))
        ctx.seed_runs_per_s = seed_runs(ctx, experiment_id, sizes.search_runs, budget)
        ctx.search_experiment_id = experiment_id
        ctx.notes.append(f"seeded {sizes.search_runs:,} runs at {ctx.seed_runs_per_s:,.0f} runs/s (8 threads)")
        results = {"search_ms": _median_search_ms(api, experiment_id, sizes.search_calls, budget)}

        def ui_page() -> None:
            runs, _ = api.search_page(experiment_id, "", UI_ORDER, PAGE, None)
            if len(runs) != PAGE:
                raise RuntimeError(f"the UI's page returned {len(runs)} runs, expected {PAGE}")

        results["ui_page_ms"] = _median_ms(sizes.search_calls, budget, ui_page)
        matching = _walk(api, experiment_id, WALK_FILTER, WALK_ORDER, PAGE, budget)
        if not matching:
            raise RuntimeError("the filtered walk matched no run")
        walk = lambda: _walk(api, experiment_id, WALK_FILTER, WALK_ORDER, PAGE, budget)  # noqa: E731
        results["walk_ms"] = _median_ms(sizes.walk_calls, budget, walk)
        everything = lambda: _walk(api, experiment_id, "", UI_ORDER, 1_000, budget)  # noqa: E731
        results["pages_1000_ms"] = _median_ms(sizes.walk_calls, budget, everything)
        if ctx.server.spec.workspace is None:  # the stock client here sends no workspace
            results["client_search_ms"] = _median_ms(
                sizes.walk_calls, budget, _client_search(ctx, experiment_id, sizes.search_runs)
            )
        ctx.notes.append(f"the filtered walk ({WALK_FILTER}) matches {matching:,} runs")
        return results


def big_search(ctx: Context) -> Results:
    """8. The same search over `big_runs` runs (seeded through the API first)."""
    budget = ctx.budget(ctx.sizes.big_budget_s)
    with ctx.api() as api:
        experiment_id = api.create_experiment(ctx.experiment_name("big"))
        started = time.monotonic()
        rate = seed_runs(ctx, experiment_id, ctx.sizes.big_runs, budget)
        ctx.notes.append(
            f"seeded {ctx.sizes.big_runs:,} runs in {time.monotonic() - started:,.0f} s ({rate:,.0f} runs/s)"
        )
        return {"big_search_ms": _median_search_ms(api, experiment_id, 5, budget)}


def metric_history(ctx: Context) -> Results:
    """6. Reads a `history_batches` x 1,000-point metric the way the client does: pages of `history_page`."""
    sizes, budget = ctx.sizes, ctx.budget()
    total = sizes.history_batches * 1_000
    with ctx.api() as api:
        run_id = api.create_run(api.create_experiment(ctx.experiment_name("history")))
        stamp = int(time.time() * 1000)
        for batch in range(sizes.history_batches):
            budget.check()
            steps = range(batch * 1_000, (batch + 1) * 1_000)
            api.log_batch(run_id, [metric("loss", 1.0 / (step + 1), step, stamp + step) for step in steps])
        timings = []
        for _repeat in range(sizes.history_repeats):
            started = time.perf_counter()
            received, token = 0, None
            for _page in range(total // sizes.history_page + 2):
                budget.check()
                points, token = api.metric_history_page(run_id, "loss", sizes.history_page, token)
                received += len(points)
                if token is None:
                    break
            timings.append(time.perf_counter() - started)
            if received != total:
                raise RuntimeError(f"history returned {received:,} points, expected {total:,}")
    return {"history_s": statistics.median(timings)}
