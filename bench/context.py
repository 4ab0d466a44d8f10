"""What every workload receives: the server under test, the sizes, the stop flag and a few shared readings."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from bench.client import Api
from bench.config import Sizes
from bench.parallel import Budget
from bench.servers import RunningServer

Results = dict[str, float]


@dataclass
class Context:
    """Per-server state for one benchmark run (created by the CLI, never at import)."""

    server: RunningServer
    sizes: Sizes
    stop: threading.Event
    seed_runs_per_s: float | None = None
    search_experiment_id: str | None = None  # the runs the last search workload seeded (the paired timings reuse them)
    notes: list[str] = field(default_factory=list)
    log_shown: bool = False  # the server log tail is added to the notes once, at the first error

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def api(self) -> Api:
        return Api(self.base_url, workspace=self.server.spec.workspace)

    def budget(self, seconds: float | None = None) -> Budget:
        return Budget.seconds(self.sizes.workload_budget_s if seconds is None else seconds, self.stop)

    def experiment_name(self, workload: str) -> str:
        return f"bench-{workload}-{time.time_ns()}"
