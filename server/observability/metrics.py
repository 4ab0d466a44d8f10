"""Prometheus metrics: request counts and latencies by route, plus whatever gauges other rooms register.

With several server processes (`--workers N`) each process keeps its own counters in files under
`PROMETHEUS_MULTIPROC_DIR` (the CLI creates one), and `/metrics` sums them, so a scrape of any process sees the
whole server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "runyard_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "runyard_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

GaugeSource = Callable[[], Iterable[GaugeMetricFamily]]


class _LiveGauges(Collector):
    """Gauges read from the store at scrape time (queue depth, jobs by state): always current, whichever process
    is scraped, and never double-counted across processes."""

    def __init__(self, sources: list[GaugeSource]) -> None:
        self.sources = sources

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for source in self.sources:
            yield from source()


def metrics_endpoint(gauge_sources: list[GaugeSource]) -> Callable[[Request], object]:
    def render() -> bytes:
        registry = CollectorRegistry()
        if os.environ.get(MULTIPROCESS_ENV):
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry.register(REQUESTS)
            registry.register(LATENCY)
        registry.register(_LiveGauges(gauge_sources))
        return generate_latest(registry)

    async def metrics(_: Request) -> Response:
        return Response(await run_in_threadpool(render), media_type=CONTENT_TYPE_LATEST)

    return metrics
