"""The trace filters beyond tags and attributes, through the stock client on SQLite and PostgreSQL: full-text
search over spans (`trace.text`), one span attribute (`span.attributes.<name>`), regular expressions (RLIKE), and
feedback and expectations (`feedback.<name>`, `expectation.<name>`), session-wide ones included."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource, SpanType
from mlflow.exceptions import MlflowException


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return mlflow.set_experiment(unique_name).experiment_id


def _ids(experiment_id: str, filter_string: str) -> set[str]:
    found = mlflow.search_traces(locations=[experiment_id], filter_string=filter_string, return_type="list")
    return {trace.info.trace_id for trace in found}


def _refusal(experiment_id: str, filter_string: str) -> str:
    with pytest.raises(MlflowException) as refused:
        mlflow.search_traces(locations=[experiment_id], filter_string=filter_string)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    return refused.value.message


def _span(name: str, span_type: str, inputs: object, **attributes: object) -> str:
    with mlflow.start_span(name, span_type=span_type) as span:
        span.set_inputs(inputs)
        for key, value in attributes.items():
            span.set_attribute(key, value)
        span.set_outputs("done")
    return span.trace_id


def test_text_span_attribute_and_regex_filters(client: MlflowClient, experiment_id: str) -> None:
    llm = _span("chat", SpanType.CHAT_MODEL, {"question": "Où est la tour Eiffel?"}, model="gpt-4o-mini", tokens=42)
    tool = _span("lookup", SpanType.TOOL, {"city": "Lyon"}, model="local-geo")
    with pytest.raises(ZeroDivisionError), mlflow.start_span("divide", span_type=SpanType.TOOL):
        1 / 0  # noqa: B018
    failed = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging(terminate=False)
    client.set_trace_tag(llm, "env", "prod-eu")
    client.set_trace_tag(tool, "env", "staging")

    assert _ids(experiment_id, "trace.text LIKE '%tour Eiffel%'") == {llm}  # inputs, not only previews
    assert _ids(experiment_id, "trace.text ILIKE '%LYON%'") == {tool}
    assert _ids(experiment_id, "trace.text LIKE '%division by zero%'") == {failed}  # the exception event
    assert _ids(experiment_id, "span.attributes.model = 'gpt-4o-mini'") == {llm}
    assert _ids(experiment_id, "span.attributes.model LIKE 'local-%'") == {tool}
    assert _ids(experiment_id, "span.attributes.model IN ('gpt-4o-mini', 'local-geo')") == {llm, tool}
    assert _ids(experiment_id, "span.attributes.model != 'gpt-4o-mini'") == {tool}
    assert _ids(experiment_id, "span.attributes.tokens = '42'") == {llm}
    assert _ids(experiment_id, "span.attributes.`mlflow.spanType` = 'CHAT_MODEL'") == {llm}
    assert _ids(experiment_id, "span.attributes.model RLIKE '^gpt-4o?-'") == {llm}
    assert _ids(experiment_id, "span.attributes.model RLIKE 'gpt-5'") == set()
    assert _ids(experiment_id, "span.name RLIKE '^(chat|lookup)$'") == {llm, tool}
    assert _ids(experiment_id, "tags.env RLIKE '^prod-[a-z]{2}$'") == {llm}
    assert _ids(experiment_id, "trace.name RLIKE 'vid'") == {failed}
    assert _ids(experiment_id, "trace.status RLIKE '^ERR'") == {failed}

    assert _refusal(experiment_id, "trace.text = 'Lyon'") == (
        "INVALID_PARAMETER_VALUE: span.content comparator '=' not one of '{'ILIKE', 'LIKE'}'"
    )
    assert _refusal(experiment_id, "tags.env RLIKE '(prod'") == (
        "INVALID_PARAMETER_VALUE: Invalid regular expression '(prod' for RLIKE: "
        "missing ), unterminated subpattern at position 0"
    )
    assert _refusal(experiment_id, "span.attributes.model IS NULL") == (
        "INVALID_PARAMETER_VALUE: span.attributes.model comparator 'IS NULL' not one of "
        "'{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN', 'RLIKE'}'"
    )


def _trace(name: str, session: str | None = None) -> str:
    with mlflow.start_span(name) as span:
        if session:
            mlflow.update_current_trace(session_id=session)
        span.set_inputs({"name": name})
    return span.trace_id


def test_feedback_and_expectation_filters(client: MlflowClient, experiment_id: str) -> None:
    good, bad, labelled = _trace("good"), _trace("bad"), _trace("labelled")
    first, second, other = _trace("first", "s-1"), _trace("second", "s-1"), _trace("other", "s-2")
    mlflow.flush_trace_async_logging(terminate=False)
    judge = AssessmentSource(source_type="LLM_JUDGE", source_id="judge")
    mlflow.log_feedback(trace_id=good, name="correct", value=True, source=judge)
    wrong = mlflow.log_feedback(trace_id=bad, name="correct", value=False, source=judge)
    mlflow.log_feedback(trace_id=good, name="score", value=0.9, source=judge)
    mlflow.log_feedback(trace_id=bad, name="score", value=0.2, source=judge)
    mlflow.log_feedback(trace_id=labelled, name="verdict", value="yes", source=judge)
    mlflow.log_expectation(trace_id=labelled, name="answer", value="Paris")
    # Feedback on a whole conversation: its metadata names the session, and it speaks for every trace in it.
    mlflow.log_feedback(
        trace_id=first, name="resolved", value="yes", source=judge, metadata={"mlflow.trace.session": "s-1"}
    )

    assert _ids(experiment_id, "feedback.correct = 'true'") == {good}
    assert _ids(experiment_id, "feedback.correct != 'true'") == {bad}
    assert _ids(experiment_id, "feedback.score > 0.5") == {good}
    assert _ids(experiment_id, "feedback.score <= 0.5") == {bad}
    assert _ids(experiment_id, "feedback.correct >= 0") == set()  # booleans are not numbers
    assert _ids(experiment_id, "feedback.verdict = 'yes'") == {labelled}
    assert _ids(experiment_id, "feedback.verdict LIKE '%ye%'") == {labelled}
    assert _ids(experiment_id, "feedback.verdict RLIKE '^\"y'") == {labelled}  # LIKE and RLIKE read the JSON
    assert _ids(experiment_id, "expectation.answer = 'Paris'") == {labelled}
    assert _ids(experiment_id, "feedback.answer = 'Paris'") == set()
    assert _ids(experiment_id, "feedback.correct IS NOT NULL") == {good, bad}
    assert _ids(experiment_id, "feedback.correct IS NULL") == {labelled, first, second, other}
    assert _ids(experiment_id, "feedback.resolved = 'yes'") == {first, second}
    assert _ids(experiment_id, "feedback.resolved IS NULL") == {good, bad, labelled, other}
    assert _ids(experiment_id, "feedback.correct = 'true' AND feedback.score > 0.5") == {good}

    mlflow.override_feedback(trace_id=bad, assessment_id=wrong.assessment_id, value=True)
    assert _ids(experiment_id, "feedback.correct = 'false'") == set()  # the overridden one is no longer valid
    assert _ids(experiment_id, "feedback.correct = 'true'") == {good, bad}

    assert _refusal(experiment_id, "feedback.score > 'high'") == (
        "INVALID_PARAMETER_VALUE: Expected a numeric value for feedback when using comparator '>'. Got value 'high'"
    )
    assert _refusal(experiment_id, "expectation.answer = 3") == (
        "INVALID_PARAMETER_VALUE: Expected a quoted string value for expectation (e.g. 'my-value'). Got value 3"
    )
    assert _refusal(experiment_id, "issue.name = 'x'") == (
        "INVALID_PARAMETER_VALUE: Invalid issue attribute 'name'. Supported attributes: id"
    )
