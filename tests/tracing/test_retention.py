"""Retention: `delete_traces` by age over more traces than one step deletes, so the delete goes in several
transactions and still removes exactly the traces asked for, oldest first."""

from __future__ import annotations

import os

import httpx
import mlflow
from mlflow import MlflowClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

STEP = 1000  # traces one step of a delete by time removes (server/store/traces.py DELETE_BATCH)
START_NS = 1_600_000_000_000_000_000


def _export(server_url: str, experiment_id: str, first: int, count: int) -> list[str]:
    """`count` one-span traces, the i-th starting i ms after START_NS; returns their trace ids."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    ids = []
    for index in range(first, first + count):
        span = scope.spans.add()
        span.trace_id, span.span_id, span.name = os.urandom(16), os.urandom(8), f"old-{index}"
        span.start_time_unix_nano = START_NS + index * 1_000_000
        span.end_time_unix_nano = span.start_time_unix_nano + 1_000_000
        ids.append("tr-" + span.trace_id.hex())
    answer = httpx.post(
        f"{server_url}/v1/traces",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    return ids


def test_a_delete_by_age_larger_than_a_step_removes_exactly_what_was_asked(
    client: MlflowClient, server_url: str, unique_name: str
) -> None:
    experiment_id = client.create_experiment(unique_name)
    ids = _export(server_url, experiment_id, 0, 1500) + _export(server_url, experiment_id, 1500, 1500)
    newest_kept = ids[-1]
    cutoff_ms = START_NS // 1_000_000 + 2799  # traces 0..2799 are at or before it

    # Capped: the oldest 1,500, over two steps.
    assert client.delete_traces(experiment_id, max_timestamp_millis=cutoff_ms, max_traces=STEP + 500) == STEP + 500
    assert mlflow.get_trace(ids[STEP + 499]) is None
    assert client.get_trace(ids[STEP + 500]).info.trace_id == ids[STEP + 500]

    # Uncapped: the rest at or before the cutoff (1,300), again over two steps; the 200 newer stay.
    assert client.delete_traces(experiment_id, max_timestamp_millis=cutoff_ms) == 1300
    left = []
    page = client.search_traces(locations=[experiment_id], max_results=500)
    while True:
        left.extend(t.info.trace_id for t in page)
        if not page.token:
            break
        page = client.search_traces(locations=[experiment_id], max_results=500, page_token=page.token)
    assert sorted(left) == sorted(ids[2800:])
    assert newest_kept in left
