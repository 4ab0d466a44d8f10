"""Tracing as a user of MLflow 3 does it, through the stock client, on SQLite and PostgreSQL: decorated functions
with nested and failing spans, manual spans, search with filters and pages, tags, runs and deletion."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import SpanStatusCode, SpanType
from mlflow.exceptions import MlflowException


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return mlflow.set_experiment(unique_name).experiment_id


def _traced_call(question: str) -> str:
    @mlflow.trace(span_type=SpanType.RETRIEVER)
    def retrieve(query: str) -> list[str]:
        return [f"doc about {query}"]

    @mlflow.trace(name="answer", span_type=SpanType.CHAIN)
    def answer(query: str) -> str:
        docs = retrieve(query)
        with mlflow.start_span("format", span_type=SpanType.PARSER) as span:
            span.set_inputs({"docs": docs})
            text = f"{query}: {docs[0]}"
            span.set_outputs(text)
            span.set_attribute("chars", len(text))
        return text

    return answer(question)


def _flushed() -> None:
    """The client exports traces on a background queue; wait until it has sent what it holds."""
    mlflow.flush_trace_async_logging(terminate=False)


def test_a_traced_call_comes_back_with_its_span_tree(client: MlflowClient, experiment_id: str) -> None:
    assert _traced_call("tides") == "tides: doc about tides"
    _flushed()
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id is not None

    trace = mlflow.get_trace(trace_id)
    assert trace is not None
    assert trace.info.experiment_id == experiment_id
    assert trace.info.state.value == "OK"
    assert trace.info.tags["mlflow.traceName"] == "answer"
    assert trace.info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert trace.info.request_preview == '{"query": "tides"}'
    assert trace.info.response_preview == '"tides: doc about tides"'
    assert trace.info.execution_time_ms is not None

    spans = {span.name: span for span in trace.data.spans}
    assert set(spans) == {"answer", "retrieve", "format"}
    root, retrieve, fmt = spans["answer"], spans["retrieve"], spans["format"]
    assert root.parent_id is None
    assert retrieve.parent_id == root.span_id
    assert fmt.parent_id == root.span_id
    assert (root.span_type, retrieve.span_type, fmt.span_type) == ("CHAIN", "RETRIEVER", "PARSER")
    assert retrieve.inputs == {"query": "tides"}
    assert retrieve.outputs == ["doc about tides"]
    assert fmt.inputs == {"docs": ["doc about tides"]}
    assert fmt.get_attribute("chars") == len("tides: doc about tides")
    assert all(span.trace_id == trace_id for span in trace.data.spans)
    assert all(span.status.status_code == SpanStatusCode.OK for span in trace.data.spans)


def test_a_failing_span_is_an_error_with_its_exception(client: MlflowClient, experiment_id: str) -> None:
    @mlflow.trace
    def parse(text: str) -> int:
        return int(text)

    @mlflow.trace
    def pipeline(text: str) -> int:
        return parse(text) + 1

    with pytest.raises(ValueError, match="invalid literal"):
        pipeline("seven")
    _flushed()
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace is not None
    assert trace.info.state.value == "ERROR"
    failing = next(span for span in trace.data.spans if span.name == "parse")
    assert failing.status.status_code == SpanStatusCode.ERROR
    [event] = [event for event in failing.events if event.name == "exception"]
    assert event.attributes["exception.type"] == "ValueError"
    assert "invalid literal" in event.attributes["exception.message"]


def test_manual_spans_make_a_trace_too(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_span("session", span_type=SpanType.AGENT) as root:
        root.set_inputs({"user": "ada"})
        with mlflow.start_span("tool", span_type=SpanType.TOOL) as child:
            child.set_outputs({"ok": True})
        root.set_outputs("done")
    _flushed()
    trace = mlflow.get_trace(root.trace_id)
    assert trace is not None
    assert [span.name for span in trace.data.spans] == ["session", "tool"]
    assert trace.data.spans[1].outputs == {"ok": True}
    assert trace.info.request_preview == '{"user": "ada"}'


def test_search_filters_orders_and_pages(client: MlflowClient, experiment_id: str) -> None:
    ids = []
    for index in range(7):
        with mlflow.start_span(f"call-{index}") as span:
            span.set_inputs({"i": index})
        ids.append(span.trace_id)
    _flushed()
    for index, trace_id in enumerate(ids):
        client.set_trace_tag(trace_id, "parity", "even" if index % 2 == 0 else "odd")
    started = {trace_id: client.get_trace(trace_id).info.request_time for trace_id in ids}
    newest = sorted(ids, key=lambda trace_id: (-started[trace_id], trace_id))  # ties (same ms) by id, as MLflow
    oldest = sorted(ids, key=lambda trace_id: (started[trace_id], trace_id))

    found = mlflow.search_traces(locations=[experiment_id], return_type="list")
    assert [t.info.trace_id for t in found] == newest

    even = mlflow.search_traces(locations=[experiment_id], filter_string="tags.parity = 'even'", return_type="list")
    assert sorted(t.info.trace_id for t in even) == sorted(ids[0::2])

    named = mlflow.search_traces(locations=[experiment_id], filter_string="trace.name = 'call-3'", return_type="list")
    assert [t.info.trace_id for t in named] == [ids[3]]

    ascending = mlflow.search_traces(
        locations=[experiment_id],
        order_by=["timestamp_ms ASC"],
        filter_string="trace.status = 'OK'",
        return_type="list",
    )
    assert [t.info.trace_id for t in ascending] == oldest

    seen, token = [], None
    while True:
        page = client.search_traces(locations=[experiment_id], max_results=3, page_token=token)
        assert len(page) <= 3
        seen.extend(t.info.trace_id for t in page)
        token = page.token
        if not token:
            break
    assert seen == newest


def test_a_filter_the_grammar_refuses_is_a_400(client: MlflowClient, experiment_id: str) -> None:
    with pytest.raises(MlflowException) as refused:
        mlflow.search_traces(locations=[experiment_id], filter_string="trace.colour = 'red'")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Invalid attribute key 'colour' specified." in refused.value.message


def test_traces_inside_a_run_are_found_by_the_run(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        _traced_call("inside")
    _traced_call("outside")
    _flushed()
    found = mlflow.search_traces(locations=[experiment_id], run_id=run.info.run_id, return_type="list")
    assert len(found) == 1
    assert found[0].info.request_metadata["mlflow.sourceRun"] == run.info.run_id


def test_tags_are_set_and_deleted(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_span("tagged") as span:
        pass
    _flushed()
    client.set_trace_tag(span.trace_id, "reviewed", "yes")
    assert client.get_trace(span.trace_id).info.tags["reviewed"] == "yes"
    client.delete_trace_tag(span.trace_id, "reviewed")
    assert "reviewed" not in client.get_trace(span.trace_id).info.tags
    with pytest.raises(MlflowException) as missing:
        client.delete_trace_tag(span.trace_id, "reviewed")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert (
        missing.value.message
        == f"RESOURCE_DOES_NOT_EXIST: No trace tag with key 'reviewed' for trace with ID '{span.trace_id}'"
    )


def test_traces_are_deleted_by_id_and_by_age(client: MlflowClient, experiment_id: str) -> None:
    ids = []
    for index in range(5):
        with mlflow.start_span(f"old-{index}") as span:
            pass
        ids.append(span.trace_id)
    _flushed()
    assert client.delete_traces(experiment_id, trace_ids=[ids[0]]) == 1
    infos = {t.info.trace_id: t.info for t in mlflow.search_traces(locations=[experiment_id], return_type="list")}
    assert set(infos) == set(ids[1:])
    oldest = sorted(infos, key=lambda trace_id: (infos[trace_id].request_time, trace_id))
    cutoff = infos[oldest[1]].request_time  # at least the two oldest started at or before it
    at_or_before = [trace_id for trace_id in oldest if infos[trace_id].request_time <= cutoff]

    assert client.delete_traces(experiment_id, max_timestamp_millis=cutoff, max_traces=1) == 1
    assert mlflow.get_trace(oldest[0]) is None  # the oldest goes first
    assert client.delete_traces(experiment_id, max_timestamp_millis=cutoff) == len(at_or_before) - 1
    left = mlflow.search_traces(locations=[experiment_id], return_type="list")
    assert sorted(t.info.trace_id for t in left) == sorted(set(oldest) - set(at_or_before))
    assert mlflow.get_trace(ids[0]) is None


def test_an_unknown_trace_is_not_found(client: MlflowClient, experiment_id: str) -> None:
    with pytest.raises(MlflowException) as missing:
        client.get_trace("tr-" + "0" * 32)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert missing.value.message == f"RESOURCE_DOES_NOT_EXIST: Trace with ID 'tr-{'0' * 32}' not found."


def test_a_trace_of_two_thousand_spans(
    client: MlflowClient, experiment_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client sends each finished span as it ends; from its background queue, as by default, ten at a time.
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "true")
    with mlflow.start_span("fan-out") as root:
        for index in range(1999):
            with mlflow.start_span(f"step-{index}") as child:
                child.set_inputs({"index": index})
    _flushed()
    trace = mlflow.get_trace(root.trace_id)
    assert trace is not None
    assert len(trace.data.spans) == 2000
    assert trace.data.spans[0].name == "fan-out"
    assert {span.inputs["index"] for span in trace.data.spans[1:]} == set(range(1999))


def test_a_prompt_used_in_a_trace_is_linked_and_searchable(
    client: MlflowClient, experiment_id: str, unique_name: str
) -> None:
    prompt_name = f"greet-{unique_name}".replace("[", "-").replace("]", "")
    mlflow.genai.register_prompt(name=prompt_name, template="Hello {{name}}")

    @mlflow.trace
    def greet(name: str) -> str:
        return mlflow.genai.load_prompt(f"prompts:/{prompt_name}/1").format(name=name)

    assert greet("ada") == "Hello ada"
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id is not None
    _flushed()
    # The client links the prompts it loaded inside a trace on a thread of its own; linking again is a no-op.
    client.link_prompt_versions_to_trace([mlflow.genai.load_prompt(f"prompts:/{prompt_name}/1")], trace_id)
    found = mlflow.search_traces(
        locations=[experiment_id], filter_string=f'prompt = "{prompt_name}/1"', return_type="list"
    )
    assert [t.info.trace_id for t in found] == [trace_id]
    with pytest.raises(MlflowException) as refused:
        mlflow.search_traces(locations=[experiment_id], filter_string=f'prompt = "{prompt_name}"')
    assert refused.value.message == (
        f"INVALID_PARAMETER_VALUE: Invalid prompts filter value '{prompt_name}'. "
        'Expected format: prompt = "name/version"'
    )


def test_span_and_metadata_filters(client: MlflowClient, experiment_id: str) -> None:
    _traced_call("with a retriever")
    with_retriever = mlflow.get_last_active_trace_id()
    with mlflow.start_span("no-retriever", span_type=SpanType.TOOL):
        pass
    _flushed()

    def ids(filter_string: str) -> list[str]:
        found = mlflow.search_traces(locations=[experiment_id], filter_string=filter_string, return_type="list")
        return [t.info.trace_id for t in found]

    assert ids("span.type = 'RETRIEVER'") == [with_retriever]
    assert ids("span.name = 'format' AND trace.status = 'OK'") == [with_retriever]
    assert ids("span.name IN ('format', 'nothing')") == [with_retriever]
    assert len(ids("trace.execution_time_ms >= 0")) == 2
    assert ids("trace.timestamp_ms < 0") == []
    assert len(ids("metadata.mlflow.sourceRun IS NULL")) == 2
    assert ids("trace.name LIKE 'no-%'") != [with_retriever]
    with pytest.raises(MlflowException) as refused:
        ids("span.colour = 'red'")
    assert refused.value.message == (
        "INVALID_PARAMETER_VALUE: Invalid span attribute 'colour'. "
        "Supported attributes: name, status, type, attributes.<attribute_name>."
    )
