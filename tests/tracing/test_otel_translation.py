"""Spans from OpenTelemetry instrumentations other than MLflow's (OpenInference, OpenLLMetry, the GenAI semantic
conventions), sent by a plain OpenTelemetry SDK exporter, read back through the stock client as `mlflow server`
makes them: span types, inputs and outputs, token usage summed over the trace (across export requests), previews,
session and user, and the service name of a known coding agent on the root span. Spans of MLflow's own client keep
their attributes as sent."""

from __future__ import annotations

import os
from collections.abc import Iterator

import mlflow
import pytest
from mlflow import MlflowClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Tracer


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return client.create_experiment(unique_name)


@pytest.fixture
def tracer(server_url: str, experiment_id: str) -> Iterator[Tracer]:
    yield from _tracer(server_url, experiment_id, "support-bot")


def _tracer(server_url: str, experiment_id: str, service: str) -> Iterator[Tracer]:
    exporter = OTLPSpanExporter(
        endpoint=f"{server_url}/v1/traces", headers={"x-mlflow-experiment-id": experiment_id}, timeout=60
    )
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # each span is sent as it ends: several requests
    yield provider.get_tracer("app")
    provider.shutdown()


def _trace_id(span: object) -> str:
    return "tr-" + format(span.get_span_context().trace_id, "032x")  # type: ignore[attr-defined]


def test_openinference_spans_become_mlflow_spans(client: MlflowClient, tracer: Tracer) -> None:
    with tracer.start_as_current_span("agent") as root:
        root.set_attribute("openinference.span.kind", "CHAIN")
        root.set_attribute("input.value", "Where is my parcel?")
        root.set_attribute("output.value", "It arrives tomorrow.")
        root.set_attribute("session.id", "chat-7")
        root.set_attribute("user.id", "ada")
        with tracer.start_as_current_span("llm") as llm:
            llm.set_attribute("openinference.span.kind", "LLM")
            llm.set_attribute("llm.token_count.prompt", 120)
            llm.set_attribute("llm.token_count.completion", 30)
        with tracer.start_as_current_span("lookup") as tool:
            tool.set_attribute("traceloop.span.kind", "tool")
            tool.set_attribute("gen_ai.usage.input_tokens", 5)
            tool.set_attribute("gen_ai.usage.output_tokens", 1)

    trace = client.get_trace(_trace_id(root))
    spans = {span.name: span for span in trace.data.spans}
    assert {name: span.span_type for name, span in spans.items()} == {"agent": "CHAIN", "llm": "LLM", "lookup": "TOOL"}
    assert spans["agent"].inputs == "Where is my parcel?"
    assert spans["agent"].outputs == "It arrives tomorrow."
    assert spans["llm"].get_attribute("mlflow.chat.tokenUsage") == {
        "input_tokens": 120,
        "output_tokens": 30,
        "total_tokens": 150,
    }
    assert spans["agent"].get_attribute("input.value") == "Where is my parcel?"  # the sender's own stay as sent
    assert trace.info.request_preview == '"Where is my parcel?"'
    assert trace.info.response_preview == '"It arrives tomorrow."'
    # Three requests (one per span): the usage is the sum over the whole trace.
    assert trace.info.token_usage == {"input_tokens": 125, "output_tokens": 31, "total_tokens": 156}
    assert trace.info.trace_metadata["mlflow.trace.session"] == "chat-7"
    assert trace.info.trace_metadata["mlflow.trace.user"] == "ada"

    found = mlflow.search_traces(
        locations=[trace.info.experiment_id], filter_string="span.type = 'LLM'", return_type="list"
    )
    assert [t.info.trace_id for t in found] == [trace.info.trace_id]


def test_usage_on_a_parent_is_not_counted_again_for_its_children(client: MlflowClient, tracer: Tracer) -> None:
    """An instrumentation that rolls its children's usage up onto the parent: MLflow counts the parent only."""
    with tracer.start_as_current_span("crew") as root:
        root.set_attribute("gen_ai.usage.input_tokens", 300)
        root.set_attribute("gen_ai.usage.output_tokens", 60)
        for index in range(2):
            with tracer.start_as_current_span(f"call-{index}") as call:
                call.set_attribute("gen_ai.usage.input_tokens", 150)
                call.set_attribute("gen_ai.usage.output_tokens", 30)
    assert client.get_trace(_trace_id(root)).info.token_usage == {
        "input_tokens": 300,
        "output_tokens": 60,
        "total_tokens": 360,
    }


def test_a_known_coding_agent_names_itself_on_the_root_span(
    client: MlflowClient, server_url: str, experiment_id: str
) -> None:
    for tracer in _tracer(server_url, experiment_id, "gemini-cli"):
        with tracer.start_as_current_span("session") as root, tracer.start_as_current_span("turn"):
            pass
    spans = {span.name: span for span in client.get_trace(_trace_id(root)).data.spans}
    assert spans["session"].get_attribute("service.name") == "gemini-cli"
    assert spans["turn"].get_attribute("service.name") is None


def test_mlflow_client_spans_keep_their_attributes(client: MlflowClient, experiment_id: str) -> None:
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_span("plain") as span:
        span.set_attribute("input.value", "not an input")  # an OpenInference name, on a span MLflow's client made
        span.set_inputs({"q": os.urandom(4).hex()})
    mlflow.flush_trace_async_logging(terminate=False)
    stored = client.get_trace(span.trace_id).data.spans[0]
    assert stored.span_type == "UNKNOWN"
    assert stored.inputs == span.inputs
    assert stored.get_attribute("input.value") == "not an input"
