"""Tracing: Runyard next to `mlflow server`, started the same way in one run, each on a fresh SQLite store.

    python -m bench.traces [--quick] [--big-mlflow] [--only runyard|mlflow]

1. The stock client: a function under `@mlflow.trace` that makes 10 spans (a root and 9 children), called from 8
   threads with the client pointed at the server, then `mlflow.flush_trace_async_logging()`: traces/s until every
   trace is stored. Each server's client runs in its own subprocess (the client's tracing state is process-global);
   search and batchGet then check that every trace arrived with its 10 spans.
2. OTLP ingestion: pre-built protobuf `ExportTraceServiceRequest` bodies of 100 traces x 10 spans, with the
   attributes MLflow's client writes, posted to `/v1/traces` by 4 keep-alive clients: spans/s.
3. `traces/search`, first page of 100, `tags.env = 'prod'` (a tenth of the traces), newest first: p50 and p95 over a
   smaller count on both servers, then over 100,000 traces (10,000 with --quick) on Runyard, and on mlflow server
   only when its seeding is estimated to fit the limit or with --big-mlflow.
4. `traces/get` of one 10,000-span trace over REST and through `MlflowClient().get_trace`, and how far the serving
   process's resident memory rose above idle while that trace was written and read.

Workloads 1 and 2 alternate the servers (A B A B) and report the median of the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from mlflow.tracing.utils.otlp import _set_otel_proto_anyvalue
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bench import procfs, report
from bench.client import Api
from bench.parallel import Budget, BudgetExceeded, run_threads
from bench.servers import MLFLOW, RUNYARD, RunningServer, ServerError, environment, launch

OTLP_PATH = "/v1/traces"
TRACES = "/api/3.0/mlflow/traces"
SPANS_PER_TRACE = 10
TAG_FILTER = "tags.env = 'prod'"
ORDER_BY = ["timestamp_ms DESC"]
PAGE = 100
PROD_EVERY = 10  # one trace in ten is tagged env=prod, the others env=dev
CLIENT_ENV = {
    # The client drops an export task when its queue (1,000 by default) is full; a slow server would then lose
    # traces instead of taking longer. Both sides get the same larger queue.
    "MLFLOW_ASYNC_TRACE_LOGGING_MAX_QUEUE_SIZE": "1000000",
}
SPAN_TYPES = ("RETRIEVER", "LLM", "TOOL", "PARSER", "EMBEDDING", "RERANKER", "LLM", "TOOL", "CHAT_MODEL")


@dataclass(frozen=True)
class Sizes:
    """How much each workload does (full and --quick); the counts keep a full run under 10 minutes."""

    client_calls: int = 500
    client_threads: int = 8
    client_rounds: int = 2
    otlp_requests: int = 50  # per round, each of `otlp_traces_per_request` traces of 10 spans
    otlp_traces_per_request: int = 100
    otlp_clients: int = 4
    otlp_rounds: int = 2
    otlp_round_s: float = 15.0  # a slower server is measured on the requests it finished in this time
    search_small: int = 5_000  # both servers
    search_big: int = 100_000  # Runyard; mlflow server when estimated under `mlflow_seed_limit_s`, or asked
    search_calls: int = 20
    seed_traces_per_request: int = 500
    mlflow_seed_limit_s: float = 120.0
    big_trace_spans: int = 10_000
    big_trace_request_spans: int = 1_000
    get_repeats: int = 3
    workload_budget_s: float = 600.0


FULL = Sizes()
QUICK = Sizes(
    client_calls=120,
    client_rounds=1,
    otlp_requests=8,
    otlp_round_s=5.0,
    search_small=1_000,
    search_big=10_000,
    search_calls=10,
    mlflow_seed_limit_s=15.0,
    get_repeats=1,
    workload_budget_s=180.0,
)


def rows(sizes: Sizes) -> list[report.Row]:
    Row = report.Row
    small, big = f"{sizes.search_small:,}", f"{sizes.search_big:,}"
    search = f"3. search_traces {TAG_FILTER}, newest first, 1st page of {PAGE}"
    return [
        Row(
            "client",
            f"1. stock client, @mlflow.trace x {SPANS_PER_TRACE} spans, {sizes.client_threads} threads, "
            f"{sizes.client_calls:,} calls",
            "traces/s",
            True,
            ratio_target=10.0,
        ),
        Row(
            "otlp",
            f"2. OTLP /v1/traces, {sizes.otlp_traces_per_request} traces x {SPANS_PER_TRACE} spans/request, "
            f"{sizes.otlp_clients} clients",
            "spans/s",
            True,
            (">=", 50_000),
        ),
        Row("search_small_p50", f"{search}, {small} traces, p50", "ms", False),
        Row("search_small_p95", f"{search}, {small} traces, p95", "ms", False),
        Row("search_big_p50", f"{search}, {big} traces, p50", "ms", False, ("<=", 50)),
        Row("search_big_p95", f"{search}, {big} traces, p95", "ms", False),
        Row("get_rest", f"4. traces/get of a {sizes.big_trace_spans:,}-span trace (REST)", "s", False, ("<=", 1)),
        Row("get_client", f"4. MlflowClient().get_trace, {sizes.big_trace_spans:,} spans", "s", False, ("<=", 1)),
        Row("get_rss", "4. server peak RSS growth, writing + reading it", "MiB", False, compare=False),
    ]


# --- OTLP bodies --------------------------------------------------------------------------------------------------


def _attribute(key: str, value: Any) -> KeyValue:
    pair = KeyValue(key=key)
    _set_otel_proto_anyvalue(pair.value, value)  # the encoder MLflow's client exports its spans with
    return pair


def _span(
    trace_id: bytes,
    parent: bytes,
    name: str,
    span_type: str,
    start_ns: int,
    duration_ns: int,
    inputs: Any,
    outputs: Any,
    extra: dict[str, str] | None = None,
) -> Span:
    """A span as MLflow's client exports it: typed attribute values (inputs and outputs as key-value lists), its
    trace id repeated as an attribute."""
    span = Span(
        trace_id=trace_id,
        span_id=os.urandom(8),
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration_ns,
    )
    span.status.code = Status.STATUS_CODE_OK
    attributes = {
        "mlflow.traceRequestId": f"tr-{trace_id.hex()}",
        "mlflow.spanType": span_type,
        "mlflow.spanFunctionName": name,
        "mlflow.spanInputs": inputs,
        "mlflow.spanOutputs": outputs,
        **(extra or {}),
    }
    span.attributes.extend(_attribute(key, value) for key, value in attributes.items())
    return span


def trace_spans(index: int, start_ms: int, spans: int = SPANS_PER_TRACE) -> list[Span]:
    """One trace: a CHAIN root whose `mlflow.traceTag.env` is prod for one trace in ten, and `spans - 1` children."""
    trace_id = os.urandom(16)
    question = f"question {index}: what does the tide table say for harbour {index % 97}?"
    start_ns = start_ms * 1_000_000
    env = "prod" if index % PROD_EVERY == 0 else "dev"
    root = _span(
        trace_id,
        b"",
        "pipeline",
        "CHAIN",
        start_ns,
        (spans + 1) * 2_000_000,
        {"query": question, "user": f"user-{index % 50}"},
        {"answer": f"High tide at {index % 12 + 1}:00, low tide six hours later.", "sources": 3},
        {"mlflow.traceTag.env": env},
    )
    children = [
        _span(
            trace_id,
            root.span_id,
            f"step_{child}",
            SPAN_TYPES[child % len(SPAN_TYPES)],
            start_ns + (child + 1) * 2_000_000,
            1_500_000,
            {"query": question, "step": child, "top_k": 5},
            {"documents": [f"doc-{index}-{child}-{k}" for k in range(3)], "score": 0.5 + child / 20},
        )
        for child in range(spans - 1)
    ]
    return [*children, root]  # children end first, as a client sends them


def export_body(spans: list[Span]) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(_attribute("service.name", "bench-traces"))
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "mlflow.tracing"
    scope.spans.extend(spans)
    return bytes(request.SerializeToString())


def _headers(experiment_id: str) -> dict[str, str]:
    return {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id}


# --- shared helpers -----------------------------------------------------------------------------------------------


def _location(experiment_id: str) -> list[dict[str, Any]]:
    return [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}]


def search_page(
    api: Api, experiment_id: str, filter_string: str | None, max_results: int, token: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    body: dict[str, Any] = {"locations": _location(experiment_id), "max_results": max_results, "order_by": ORDER_BY}
    if filter_string:
        body["filter"] = filter_string
    if token:
        body["page_token"] = token
    data = api.post_json(f"{TRACES}/search", body)
    return list(data.get("traces", [])), data.get("next_page_token") or None


def all_trace_ids(api: Api, experiment_id: str) -> list[str]:
    ids: list[str] = []
    token: str | None = None
    while True:
        page, token = search_page(api, experiment_id, None, 500, token)
        ids += [info["trace_id"] for info in page]
        if not token:
            return ids


def span_counts(api: Api, trace_ids: list[str], chunk: int = 20) -> dict[str, int]:
    """Spans stored per trace, read back through `traces/batchGet`."""
    counts: dict[str, int] = {}
    for start in range(0, len(trace_ids), chunk):
        params = {"trace_ids": trace_ids[start : start + chunk]}  # repeated in the query string
        for trace in api.get(f"{TRACES}/batchGet", params).get("traces", []):
            counts[trace["trace_info"]["trace_id"]] = len(trace.get("spans", []))
    return counts


def verify_traces(api: Api, experiment_id: str, expected: int, spans: int = SPANS_PER_TRACE) -> None:
    """Every trace found by search, and each with its spans; raises with what is missing."""
    ids = all_trace_ids(api, experiment_id)
    if len(ids) != expected:
        raise RuntimeError(f"search found {len(ids):,} traces in experiment {experiment_id}, expected {expected:,}")
    counts = span_counts(api, ids)
    short = {trace_id: counts.get(trace_id, 0) for trace_id in ids if counts.get(trace_id, 0) != spans}
    if short:
        sample = ", ".join(f"{trace_id}: {count}" for trace_id, count in list(short.items())[:3])
        raise RuntimeError(f"{len(short):,} of {expected:,} traces do not have {spans} spans ({sample})")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class Side:
    """One server under test and what it has measured so far."""

    server: RunningServer
    results: dict[str, report.Cell] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seed_rate: float | None = None  # traces/s while seeding the search
    search_experiment: str | None = None
    seeded: int = 0

    @property
    def name(self) -> str:
        return self.server.spec.name

    @property
    def pid(self) -> int:
        return self.server.serving_pid or self.server.process.pid

    def cpu_s(self) -> float:
        """CPU seconds the server's whole process tree has used so far."""
        return procfs.cpu_seconds(procfs.descendants(self.server.process.pid))

    def api(self, timeout_s: float = 300.0) -> Api:
        return Api(self.server.base_url, timeout_s)

    def experiment(self, label: str) -> str:
        with self.api() as api:
            return api.create_experiment(f"bench-traces-{label}-{time.time_ns()}")


# --- 1. the stock client ------------------------------------------------------------------------------------------

CLIENT_SNIPPET = "import sys; from bench.traces import client_main; client_main(sys.argv[1])"


def client_main(config_json: str) -> None:
    """Runs in a subprocess: the traced calls, the flush, and the wait until search finds every trace."""
    config = json.loads(config_json)
    import mlflow  # heavy, and its tracing state is per process: imported only here

    mlflow.set_tracking_uri(config["url"])
    mlflow.set_experiment(experiment_id=config["experiment_id"])

    @mlflow.trace(span_type="TOOL")
    def step(index: int, query: str) -> dict[str, Any]:
        return {"step": index, "documents": [f"{query[:12]}-{index}-{k}" for k in range(3)]}

    @mlflow.trace(span_type="CHAIN")
    def pipeline(query: str) -> list[dict[str, Any]]:
        return [step(index, query) for index in range(SPANS_PER_TRACE - 1)]

    pipeline("warm-up")  # the first call resolves the experiment, the server version and the exporter
    mlflow.flush_trace_async_logging()
    threads, calls = config["threads"], config["calls"]
    shares = [calls // threads + (1 if i < calls % threads else 0) for i in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def caller(index: int) -> None:
        barrier.wait()
        for call in range(shares[index]):
            pipeline(f"thread {index} call {call}: where is the nearest harbour?")

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started, cpu_started = time.perf_counter(), time.process_time()
    server_started = procfs.cpu_seconds(procfs.descendants(config["server_pid"]))
    for worker in workers:
        worker.join()
    called = time.perf_counter() - started
    mlflow.flush_trace_async_logging()
    flushed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    server = procfs.cpu_seconds(procfs.descendants(config["server_pid"])) - server_started
    expected = calls + 1
    with Api(config["url"]) as api:
        deadline = time.monotonic() + config["wait_s"]
        found = len(all_trace_ids(api, config["experiment_id"]))
        stored = flushed  # the flush returns once the server has answered every export, so normally all are in
        while found < expected and time.monotonic() < deadline:
            time.sleep(0.2)
            found = len(all_trace_ids(api, config["experiment_id"]))
            stored = time.perf_counter() - started
    measured = {"called_s": called, "stored_s": stored, "found": found, "cpu_s": cpu, "server_cpu_s": server}
    print(json.dumps(measured), flush=True)


def stock_client(side: Side, sizes: Sizes, round_number: int) -> None:
    experiment_id = side.experiment(f"client{round_number}")
    config = {
        "url": side.server.base_url,
        "experiment_id": experiment_id,
        "threads": sizes.client_threads,
        "calls": sizes.client_calls,
        "wait_s": 60.0,
        "server_pid": side.server.process.pid,
    }
    env = {**environment(), **CLIENT_ENV}
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_SNIPPET, json.dumps(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=sizes.workload_budget_s,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"client process exited with {done.returncode}: {done.stderr.strip()[-600:]}")
    measured = json.loads(lines[-1])
    expected = sizes.client_calls + 1  # and the warm-up call
    if measured["found"] != expected:
        warnings = " | ".join(line for line in done.stderr.splitlines() if "WARNING" in line or "Error" in line)
        raise RuntimeError(
            f"search found {measured['found']:,} of {expected:,} traces 60 s after the flush; "
            f"client log: {warnings[-600:] or '(nothing)'}"
        )
    with side.api() as api:
        verify_traces(api, experiment_id, expected)
    rate = sizes.client_calls / measured["stored_s"]
    side.samples.setdefault("client", []).append(rate)
    client_ms = measured["cpu_s"] / sizes.client_calls * 1000
    side.notes.append(
        f"1. round {round_number + 1}: {sizes.client_calls:,} calls returned in {measured['called_s']:.1f} s, "
        f"flushed and stored at {measured['stored_s']:.1f} s = {rate:,.0f} traces/s; "
        f"{expected:,} traces x {SPANS_PER_TRACE} spans verified by search and batchGet; CPU per trace: client "
        f"{client_ms:.1f} ms (one client process, held to a core by its GIL, tops out near "
        f"{1000 / client_ms:,.0f} traces/s), server {measured['server_cpu_s'] / sizes.client_calls * 1000:.1f} ms"
    )


# --- 2. OTLP ingestion --------------------------------------------------------------------------------------------


def build_bodies(requests: int, traces_per_request: int) -> list[bytes]:
    start_ms = int(time.time() * 1000) - 3_600_000
    bodies = []
    for request in range(requests):
        base = request * traces_per_request
        spans = [s for i in range(traces_per_request) for s in trace_spans(base + i, start_ms + base + i)]
        bodies.append(export_body(spans))
    return bodies


def post_bodies(
    side: Side,
    experiment_id: str,
    bodies: list[bytes],
    clients: int,
    budget: Budget,
    stop_after_s: float | None = None,
) -> tuple[int, float]:
    """Posts the bodies from `clients` keep-alive connections; returns (bodies posted, seconds).

    With `stop_after_s`, a client sends no new body after that many seconds (the count says how many went)."""
    headers = _headers(experiment_id)
    soft_deadline: list[float] = []

    def setup(_: Api, index: int) -> list[bytes]:
        return bodies[index::clients]

    def work(api: Api, mine: list[bytes], group: Budget) -> int:
        if not soft_deadline and stop_after_s is not None:
            soft_deadline.append(time.monotonic() + stop_after_s)
        sent = 0
        for body in mine:
            group.check()
            if soft_deadline and time.monotonic() > soft_deadline[0]:
                break
            api.post_bytes(OTLP_PATH, body, headers)
            sent += 1
        return sent

    return run_threads(side.server.base_url, clients, setup, work, budget)


def otlp_ingest(side: Side, sizes: Sizes, bodies: list[bytes], round_number: int) -> None:
    experiment_id = side.experiment(f"otlp{round_number}")
    budget = Budget.seconds(sizes.workload_budget_s, threading.Event())
    with side.api() as api:
        api.post_bytes(OTLP_PATH, export_body(trace_spans(0, int(time.time() * 1000))), _headers(experiment_id))
    server_cpu = side.cpu_s()
    sent, elapsed = post_bodies(side, experiment_id, bodies, sizes.otlp_clients, budget, sizes.otlp_round_s)
    server_cpu = side.cpu_s() - server_cpu
    traces = sent * sizes.otlp_traces_per_request
    rate = traces * SPANS_PER_TRACE / elapsed
    with side.api() as api:
        found = len(all_trace_ids(api, experiment_id)) - 1  # less the warm-up trace
        if found != traces:
            raise RuntimeError(f"search found {found:,} traces after {sent} requests of {traces:,} traces")
        ids = [info["trace_id"] for info in search_page(api, experiment_id, None, 20)[0]]
        counts = span_counts(api, ids)
        if sorted(set(counts.values())) != [SPANS_PER_TRACE] or len(counts) != len(ids):
            raise RuntimeError(f"batchGet of the newest {len(ids)} traces: span counts {sorted(counts.values())}")
    side.samples.setdefault("otlp", []).append(rate)
    cut = f" (stopped after {sizes.otlp_round_s:.0f} s)" if sent < len(bodies) else ""
    side.notes.append(
        f"2. round {round_number + 1}: {sent} of {len(bodies)} requests{cut}, {traces * SPANS_PER_TRACE:,} spans in "
        f"{elapsed:.2f} s = {rate:,.0f} spans/s, server CPU {server_cpu / (traces * SPANS_PER_TRACE) * 1e6:.0f} µs "
        f"per span; {found:,} traces found by search, 20 checked for 10 spans"
    )


# --- 3. search ----------------------------------------------------------------------------------------------------


def seed_search(side: Side, sizes: Sizes, upto: int) -> float:
    """Adds one-span traces to the side's search experiment until it holds `upto`; returns traces/s."""
    if side.search_experiment is None:
        side.search_experiment = side.experiment("search")
    per = sizes.seed_traces_per_request
    count = upto - side.seeded
    start_ms = int(time.time() * 1000) - 30 * 86_400_000
    bodies = []
    for first in range(side.seeded, upto, per):
        last = min(upto, first + per)
        bodies.append(export_body([s for i in range(first, last) for s in trace_spans(i, start_ms + i * 1000, 1)]))
    budget = Budget.seconds(sizes.workload_budget_s * 2, threading.Event())
    sent, elapsed = post_bodies(side, side.search_experiment, bodies, sizes.otlp_clients, budget)
    if sent != len(bodies):
        raise RuntimeError(f"seeding sent {sent} of {len(bodies)} requests")
    side.seeded = upto
    return count / elapsed


def measure_search(side: Side, sizes: Sizes, key: str) -> None:
    assert side.search_experiment is not None
    timings = []
    with side.api() as api:
        for attempt in range(sizes.search_calls + 2):  # two warm-ups, which also check the answer
            started = time.perf_counter()
            page, _ = search_page(api, side.search_experiment, TAG_FILTER, PAGE)
            timings.append(time.perf_counter() - started)
            if attempt < 2:
                _check_page(page, side.seeded)
    timings = timings[2:]
    side.results[f"{key}_p50"] = statistics.median(timings) * 1000
    side.results[f"{key}_p95"] = _percentile(timings, 0.95) * 1000


def _check_page(page: list[dict[str, Any]], seeded: int) -> None:
    expected = min(PAGE, (seeded + PROD_EVERY - 1) // PROD_EVERY)
    if len(page) != expected:
        raise RuntimeError(f"search returned {len(page)} traces, expected {expected}")
    if any(info.get("tags", {}).get("env") != "prod" for info in page):
        raise RuntimeError("search returned a trace whose tag env is not 'prod'")
    times = [info["request_time"] for info in page]
    if times != sorted(times, reverse=True):
        raise RuntimeError("search did not return the newest traces first")


# --- 4. one big trace ---------------------------------------------------------------------------------------------


def big_trace(side: Side, sizes: Sizes) -> None:
    import mlflow  # heavy: imported only for this workload

    experiment_id = side.experiment("big")
    trace_id = os.urandom(16)
    start_ns = time.time_ns() - 600 * 1_000_000_000
    root = _span(trace_id, b"", "agent", "AGENT", start_ns, 500_000_000_000, {"task": "long"}, {"done": True})
    spans = []
    parents = [root.span_id]
    for index in range(sizes.big_trace_spans - 1):
        parent = parents[0] if index < 99 else parents[1 + index % 99]
        span = _span(
            trace_id,
            parent,
            f"step_{index}",
            SPAN_TYPES[index % len(SPAN_TYPES)],
            start_ns + (index + 1) * 10_000_000,
            8_000_000,
            {"query": f"part {index} of the long task", "step": index},
            {"documents": [f"doc-{index}-{k}" for k in range(3)], "score": index / sizes.big_trace_spans},
        )
        if index < 99:
            parents.append(span.span_id)
        spans.append(span)
    spans.append(root)
    chunk = sizes.big_trace_request_spans
    bodies = [export_body(spans[start : start + chunk]) for start in range(0, len(spans), chunk)]
    mlflow_id = f"tr-{trace_id.hex()}"
    client = mlflow.MlflowClient(side.server.base_url)
    with side.api() as api:
        warm = trace_spans(0, int(time.time() * 1000))  # warm-up: the write and both read paths, before idle RSS
        api.post_bytes(OTLP_PATH, export_body(warm), _headers(experiment_id))
        warm_id = f"tr-{warm[0].trace_id.hex()}"
        api.get(f"{TRACES}/get", {"trace_id": warm_id})
        client.get_trace(warm_id)
        time.sleep(0.5)
        idle_kib = procfs.rss_kib(side.pid) or 0
        with procfs.RssSampler(side.pid) as sampler:
            started = time.perf_counter()
            for body in bodies:
                api.post_bytes(OTLP_PATH, body, _headers(experiment_id))
            written = time.perf_counter() - started
            rest, via_client = [], []
            for _ in range(sizes.get_repeats):
                started = time.perf_counter()
                trace = api.get(f"{TRACES}/get", {"trace_id": mlflow_id})["trace"]
                rest.append(time.perf_counter() - started)
                if len(trace.get("spans", [])) != sizes.big_trace_spans:
                    raise RuntimeError(f"traces/get returned {len(trace.get('spans', []))} spans")
                started = time.perf_counter()
                fetched = client.get_trace(mlflow_id)
                via_client.append(time.perf_counter() - started)
                if len(fetched.data.spans) != sizes.big_trace_spans:
                    raise RuntimeError(f"MlflowClient().get_trace returned {len(fetched.data.spans)} spans")
    rest_s, client_s = statistics.median(rest), statistics.median(via_client)
    side.results["get_rest"], side.results["get_client"] = rest_s, client_s
    side.results["get_rss"] = max(0, sampler.peak_kib - idle_kib) / 1024
    size = sum(len(body) for body in bodies)
    side.notes.append(
        f"4. {sizes.big_trace_spans:,} spans ({size / 1e6:.1f} MB of protobuf) written in {len(bodies)} requests in "
        f"{written:.2f} s; idle RSS {idle_kib / 1024:,.0f} MiB, peak {sampler.peak_kib / 1024:,.0f} MiB; "
        f"MlflowClient().get_trace takes {client_s - rest_s:.2f} s more than one "
        f"traces/get: a second request (the trace info) and the client's own parsing of the JSON into spans"
    )


# --- driver -------------------------------------------------------------------------------------------------------


def _guarded(side: Side, keys: list[str], label: str, run: Callable[[], None]) -> None:
    """Runs one measurement; a failure fills its cells with "error" and keeps what failed in the notes."""
    started = time.monotonic()
    try:
        run()
    except BudgetExceeded as exc:
        side.results.update(dict.fromkeys(keys, "timeout"))
        side.notes.append(f"{label}: {exc}")
    except Exception as exc:
        side.results.update(dict.fromkeys(keys, "error"))
        side.notes.append(f"{label}: {type(exc).__name__}: {exc}")
        if side.server.process.poll() is not None:
            side.notes.append(f"server exited with {side.server.process.returncode}:\n{side.server.log_tail()}")
    print(f"  [{side.name}] {label} ({time.monotonic() - started:.1f} s)", flush=True)


def _settle_medians(sides: list[Side], key: str) -> None:
    for side in sides:
        if side.results.get(key) is None and side.samples.get(key):
            side.results[key] = statistics.median(side.samples[key])


def _search(sides: list[Side], sizes: Sizes, big_mlflow: bool) -> None:
    for side in sides:
        key = ["search_small_p50", "search_small_p95"]

        def small(side: Side = side) -> None:
            side.seed_rate = seed_search(side, sizes, sizes.search_small)
            side.notes.append(f"3. seeded {sizes.search_small:,} one-span traces at {side.seed_rate:,.0f} traces/s")
            measure_search(side, sizes, "search_small")

        _guarded(side, key, f"search over {sizes.search_small:,} traces", small)
    for side in sides:
        keys = ["search_big_p50", "search_big_p95"]
        if not isinstance(side.results.get("search_small_p50"), float):
            side.results.update(dict.fromkeys(keys, side.results.get("search_small_p50") or "error"))
            continue
        more = sizes.search_big - sizes.search_small
        estimate = more / side.seed_rate if side.seed_rate else float("inf")
        if side.server.spec is MLFLOW and not big_mlflow and estimate > sizes.mlflow_seed_limit_s:
            side.results.update(dict.fromkeys(keys, "skipped*"))
            side.notes.append(
                f"3. * not seeded to {sizes.search_big:,} traces: {more:,} more estimated at {estimate:,.0f} s "
                f"(over the {sizes.mlflow_seed_limit_s:,.0f} s limit; --big-mlflow seeds it anyway); "
                f"the two servers compare at {sizes.search_small:,} traces"
            )
            continue

        def big(side: Side = side) -> None:
            started = time.monotonic()
            rate = seed_search(side, sizes, sizes.search_big)
            side.notes.append(
                f"3. seeded {sizes.search_big - sizes.search_small:,} more in {time.monotonic() - started:.0f} s "
                f"({rate:,.0f} traces/s)"
            )
            measure_search(side, sizes, "search_big")

        _guarded(side, keys, f"search over {sizes.search_big:,} traces", big)


def run_all(sides: list[Side], sizes: Sizes, big_mlflow: bool) -> None:
    print("1. stock client:", flush=True)
    for round_number in range(sizes.client_rounds):
        for side in sides:
            _guarded(side, ["client"], f"round {round_number + 1}", partial(stock_client, side, sizes, round_number))
    _settle_medians(sides, "client")
    print("2. OTLP ingestion:", flush=True)
    for round_number in range(sizes.otlp_rounds):
        bodies = build_bodies(sizes.otlp_requests, sizes.otlp_traces_per_request)  # new ids each round
        for side in sides:
            ingest = partial(otlp_ingest, side, sizes, bodies, round_number)
            _guarded(side, ["otlp"], f"round {round_number + 1}", ingest)
    _settle_medians(sides, "otlp")
    print("3. search:", flush=True)
    _search(sides, sizes, big_mlflow)
    print("4. one big trace:", flush=True)
    for side in sides:
        _guarded(side, ["get_rest", "get_client", "get_rss"], "get_trace", partial(big_trace, side, sizes))


def _versions() -> str:
    import importlib.metadata

    return (
        f"versions: mlflow {importlib.metadata.version('mlflow')}, runyard {importlib.metadata.version('runyard')}, "
        f"httpx {importlib.metadata.version('httpx')} (keep-alive, one connection per client thread)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.traces", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--only", choices=("runyard", "mlflow"), help="measure one side only")
    parser.add_argument(
        "--big-mlflow", action="store_true", help="seed mlflow server to the full search count however long it takes"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    specs = [spec for spec in (RUNYARD, MLFLOW) if args.only in (None, spec.key)]
    spec_rows = rows(sizes)
    print(report.machine())
    print(report.load())
    print(_versions(), flush=True)
    sides: list[Side] = []
    failures: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="runyard-bench-traces-") as tmp:
        servers = [launch(spec, Path(tmp)) for spec in specs]
        try:
            for server in servers:
                try:
                    server.wait_healthy()
                except ServerError as exc:
                    failures.append(str(exc))
                    continue
                waited = server.settle()
                print(
                    f"{server.spec.name}: {server.base_url} /version {server.version}, serving pid "
                    f"{server.serving_pid}, idle after {waited or 60:.0f} s",
                    flush=True,
                )
                sides.append(Side(server))
            run_all(sides, sizes, args.big_mlflow)
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the servers", flush=True)
        finally:
            for server in servers:
                server.stop(grace_s=3.0)  # the stores are thrown away: no need to wait long
    results = {side.name: side.results for side in sides}
    print(f"\n{report.load()} (after the run, {time.monotonic() - started:.0f} s in all)")
    print(report.table(spec_rows, results, (RUNYARD.name, MLFLOW.name)))
    for side in sides:
        for note in side.notes:
            print(f"note [{side.name}]: {note}")
    for failure in failures:
        print(f"error: {failure}")
    print(
        "ratio: how many times faster Runyard is (higher is better); client queue: "
        + ", ".join(f"{key}={value}" for key, value in CLIENT_ENV.items())
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
