"""Time budgets and a barrier-started thread pool, so every concurrent workload is timed from one common start."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from bench.client import Api

S = TypeVar("S")


class BudgetExceeded(RuntimeError):
    """A workload ran out of wall-clock time (or the user pressed Ctrl-C)."""


@dataclass(frozen=True)
class Budget:
    """A deadline on the monotonic clock plus stop flags; loops call `check()` once per iteration.

    `stop` is the run-wide flag (Ctrl-C); `abort` is local to one thread group, set when a sibling thread failed.
    """

    deadline: float
    stop: threading.Event
    abort: threading.Event | None = None

    @classmethod
    def seconds(cls, seconds: float, stop: threading.Event) -> Budget:
        return cls(time.monotonic() + seconds, stop)

    def check(self) -> None:
        if self.stop.is_set() or (self.abort is not None and self.abort.is_set()):
            raise BudgetExceeded("stopped")
        if time.monotonic() >= self.deadline:
            raise BudgetExceeded("time budget exhausted")


def run_threads(
    base_url: str,
    threads: int,
    setup: Callable[[Api, int], S],
    work: Callable[[Api, S, Budget], int],
    budget: Budget,
    workspace: str | None = None,
) -> tuple[int, float]:
    """Each thread opens its own connection and runs `setup`; then all start `work` together.

    Returns the summed count the `work` calls report and the seconds from the common start to the last finish.
    """
    abort = threading.Event()
    group = Budget(budget.deadline, budget.stop, abort)
    barrier = threading.Barrier(threads + 1)
    wait_s = max(1.0, budget.deadline - time.monotonic())

    def thread_main(index: int) -> int:
        with Api(base_url, workspace=workspace) as api:
            try:
                state = setup(api, index)
            except BaseException:
                barrier.abort()
                raise
            barrier.wait(timeout=wait_s)
            return work(api, state, group)

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench") as pool:
        futures = [pool.submit(thread_main, i) for i in range(threads)]
        try:
            try:
                barrier.wait(timeout=wait_s)
            except threading.BrokenBarrierError as broken:
                errors = [future.exception() for future in futures]
                cause = next((e for e in errors if e and not isinstance(e, threading.BrokenBarrierError)), None)
                raise (cause or broken) from None  # the setup error that broke the barrier, if there was one
            started = time.perf_counter()
            done = sum(future.result() for future in futures)
            return done, time.perf_counter() - started
        except BaseException:  # a failed thread, or Ctrl-C: release the waiting threads and end the others' loops
            barrier.abort()
            abort.set()
            raise
