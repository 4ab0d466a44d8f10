"""Assessments as a user of MLflow 3 logs them, through the stock client, on SQLite and PostgreSQL: feedback from
judges and people (on a trace or one of its spans), expectations, reading, updating, overriding and deleting them,
MLflow's errors, and the assessments every trace info lists (get, search, batch get). Raw HTTP covers what the
client cannot send: update masks, replayed trace infos, and assessments of another trace named through this one."""

from __future__ import annotations

import re
from typing import Any

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource, AssessmentSourceType, Expectation, Feedback
from mlflow.exceptions import MlflowException

V3 = "/api/3.0/mlflow/traces"
MISSING_TRACE = "tr-" + "0" * 32


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return mlflow.set_experiment(unique_name).experiment_id


def _flushed() -> None:
    mlflow.flush_trace_async_logging(terminate=False)


def _trace() -> tuple[str, str]:
    """A finished trace with one child span: (trace id, child span id)."""
    with mlflow.start_span("answer") as root:
        with mlflow.start_span("retrieve") as child:
            child.set_inputs({"q": "tides"})
    _flushed()
    return root.trace_id, child.span_id


def _refused(call: Any) -> MlflowException:
    with pytest.raises(MlflowException) as refused:
        call()
    return refused.value


def _assessments(trace_id: str) -> dict[str, Any]:
    trace = mlflow.get_trace(trace_id)
    assert trace is not None
    return {a.assessment_id: a for a in trace.info.assessments}


def test_feedback_from_a_judge_and_from_people(client: MlflowClient, experiment_id: str) -> None:
    trace_id, span_id = _trace()
    judge = AssessmentSource(source_type=AssessmentSourceType.LLM_JUDGE, source_id="gpt-4o-mini")
    person = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="ada@example.com")

    scored = mlflow.log_feedback(
        trace_id=trace_id,
        name="relevance",
        value=0.75,
        source=judge,
        rationale="Mostly on topic.",
        metadata={"model": "gpt-4o-mini", "attempt": 2},
        span_id=span_id,
    )
    assert re.fullmatch(r"a-[0-9a-f]{32}", scored.assessment_id)
    liked = mlflow.log_feedback(trace_id=trace_id, name="thumbs_up", value=True, source=person)
    counted = mlflow.log_feedback(trace_id=trace_id, name="citations", value=3, source=person)
    labelled = mlflow.log_feedback(trace_id=trace_id, name="tone", value="friendly", source=person)
    graded = mlflow.log_feedback(
        trace_id=trace_id, name="rubric", value={"accuracy": 4, "style": "terse", "safe": True}, source=judge
    )

    got = mlflow.get_assessment(trace_id, scored.assessment_id)
    assert isinstance(got, Feedback)
    assert (got.name, got.value, got.rationale, got.span_id) == ("relevance", 0.75, "Mostly on topic.", span_id)
    assert got.source == judge
    assert got.metadata == {"model": "gpt-4o-mini", "attempt": "2"}  # metadata values are strings
    assert got.trace_id == trace_id
    assert got.valid is True
    assert got.overrides is None
    assert got.error is None
    assert got.create_time_ms == scored.create_time_ms  # the client's times are kept, as MLflow keeps them
    assert got.last_update_time_ms == scored.last_update_time_ms

    assert mlflow.get_assessment(trace_id, liked.assessment_id).value is True
    assert mlflow.get_assessment(trace_id, liked.assessment_id).source == person
    assert mlflow.get_assessment(trace_id, counted.assessment_id).value == 3
    assert mlflow.get_assessment(trace_id, labelled.assessment_id).value == "friendly"
    assert mlflow.get_assessment(trace_id, graded.assessment_id).value == {
        "accuracy": 4,
        "style": "terse",
        "safe": True,
    }
    assert mlflow.get_assessment(trace_id, liked.assessment_id).span_id is None
    assert mlflow.get_assessment(trace_id, liked.assessment_id).rationale is None


def test_feedback_that_failed_carries_its_error(client: MlflowClient, experiment_id: str) -> None:
    trace_id, _ = _trace()
    failed = mlflow.log_feedback(trace_id=trace_id, name="faithfulness", error=TimeoutError("judge timed out"))
    got = mlflow.get_assessment(trace_id, failed.assessment_id)
    assert isinstance(got, Feedback)
    assert got.value is None
    assert got.error is not None
    assert (got.error.error_code, got.error.error_message) == ("TimeoutError", "judge timed out")
    assert got.source.source_type == "CODE"  # the client's default source for feedback


def test_expectations_keep_their_values(client: MlflowClient, experiment_id: str) -> None:
    trace_id, span_id = _trace()
    answer = mlflow.log_expectation(trace_id=trace_id, name="expected_answer", value="Paris")
    facts = mlflow.log_expectation(
        trace_id=trace_id,
        name="expected_facts",
        value={"capital": "Paris", "population_m": [2.1, 12.3], "eu": True},
        metadata={"reviewer": "ada"},
        span_id=span_id,
    )
    count = mlflow.log_assessment(trace_id=trace_id, assessment=Expectation(name="expected_count", value=42))
    steps = mlflow.log_assessment(trace_id=trace_id, assessment=Expectation(name="steps", value=["a", "b"]))

    got = mlflow.get_assessment(trace_id, facts.assessment_id)
    assert isinstance(got, Expectation)
    assert got.value == {"capital": "Paris", "population_m": [2.1, 12.3], "eu": True}
    assert got.source.source_type == "HUMAN"  # the client's default source for expectations
    assert got.metadata == {"reviewer": "ada"}
    assert got.span_id == span_id
    assert mlflow.get_assessment(trace_id, answer.assessment_id).value == "Paris"
    assert mlflow.get_assessment(trace_id, count.assessment_id).value == 42
    assert mlflow.get_assessment(trace_id, steps.assessment_id).value == ["a", "b"]


def test_an_update_changes_what_it_names_and_keeps_the_rest(client: MlflowClient, experiment_id: str) -> None:
    trace_id, span_id = _trace()
    judge = AssessmentSource(source_type="LLM_JUDGE", source_id="judge-v1")
    first = mlflow.log_feedback(
        trace_id=trace_id,
        name="relevance",
        value=0.2,
        source=judge,
        rationale="Off topic.",
        metadata={"round": "1", "kept": "yes"},
        span_id=span_id,
    )
    updated = mlflow.update_assessment(
        trace_id=trace_id,
        assessment_id=first.assessment_id,
        assessment=Feedback(name="relevance", value=0.9, rationale="On topic after all.", metadata={"round": "2"}),
    )
    for shown in (updated, mlflow.get_assessment(trace_id, first.assessment_id)):
        assert isinstance(shown, Feedback)
        assert shown.assessment_id == first.assessment_id
        assert (shown.name, shown.value, shown.rationale) == ("relevance", 0.9, "On topic after all.")
        assert shown.metadata == {"round": "2", "kept": "yes"}  # merged, the new value winning
        assert shown.source == judge  # source and span never change
        assert shown.span_id == span_id
        assert shown.create_time_ms == first.create_time_ms
        assert shown.last_update_time_ms >= first.create_time_ms

    renamed = mlflow.update_assessment(
        trace_id=trace_id, assessment_id=first.assessment_id, assessment=Feedback(name="on_topic", value=True)
    )
    assert (renamed.name, renamed.value, renamed.rationale) == ("on_topic", True, "On topic after all.")

    expected = mlflow.log_expectation(trace_id=trace_id, name="expected_answer", value="Lyon")
    fixed = mlflow.update_assessment(
        trace_id=trace_id,
        assessment_id=expected.assessment_id,
        assessment=Expectation(name="expected_answer", value={"city": "Paris"}),
    )
    assert isinstance(fixed, Expectation)
    assert fixed.value == {"city": "Paris"}
    assert mlflow.get_assessment(trace_id, expected.assessment_id).value == {"city": "Paris"}


def test_an_update_of_the_other_kind_is_refused(client: MlflowClient, experiment_id: str) -> None:
    trace_id, _ = _trace()
    feedback = mlflow.log_feedback(trace_id=trace_id, name="score", value=1)
    expectation = mlflow.log_expectation(trace_id=trace_id, name="expected", value="x")

    wrong = _refused(
        lambda: mlflow.update_assessment(
            trace_id=trace_id, assessment_id=feedback.assessment_id, assessment=Expectation(name="score", value=2)
        )
    )
    assert wrong.error_code == "INVALID_PARAMETER_VALUE"
    assert wrong.message == "INVALID_PARAMETER_VALUE: Cannot update expectation value on a Feedback assessment."
    wrong = _refused(
        lambda: mlflow.update_assessment(
            trace_id=trace_id, assessment_id=expectation.assessment_id, assessment=Feedback(name="expected", value=2)
        )
    )
    assert wrong.message == "INVALID_PARAMETER_VALUE: Cannot update feedback value on an Expectation assessment."
    assert mlflow.get_assessment(trace_id, feedback.assessment_id).value == 1


def test_an_override_replaces_feedback_and_its_deletion_restores_it(client: MlflowClient, experiment_id: str) -> None:
    trace_id, span_id = _trace()
    judged = mlflow.log_feedback(
        trace_id=trace_id,
        name="relevance",
        value=0.6,
        source=AssessmentSource(source_type="LLM_JUDGE", source_id="gpt-4"),
        span_id=span_id,
    )
    reviewer = AssessmentSource(source_type="HUMAN", source_id="reviewer@example.com")
    corrected = mlflow.override_feedback(
        trace_id=trace_id,
        assessment_id=judged.assessment_id,
        value=0.9,
        rationale="Fully answers the question.",
        source=reviewer,
        metadata={"reason": "judge too strict"},
    )
    assert corrected.assessment_id != judged.assessment_id
    assert corrected.overrides == judged.assessment_id
    assert corrected.valid is True
    assert (corrected.name, corrected.span_id, corrected.value) == ("relevance", span_id, 0.9)
    assert corrected.source == reviewer
    old = mlflow.get_assessment(trace_id, judged.assessment_id)
    assert old.valid is False
    assert old.value == 0.6  # otherwise unchanged

    listed = _assessments(trace_id)  # the trace lists both, valid or not, as MLflow does
    assert set(listed) == {judged.assessment_id, corrected.assessment_id}
    assert listed[judged.assessment_id].valid is False
    assert listed[corrected.assessment_id].overrides == judged.assessment_id

    mlflow.delete_assessment(trace_id=trace_id, assessment_id=corrected.assessment_id)
    assert mlflow.get_assessment(trace_id, judged.assessment_id).valid is True
    assert set(_assessments(trace_id)) == {judged.assessment_id}


def test_feedback_stays_overridden_while_one_override_remains(client: MlflowClient, experiment_id: str) -> None:
    trace_id, _ = _trace()
    judged = mlflow.log_feedback(trace_id=trace_id, name="relevance", value=0.1)
    first = mlflow.override_feedback(trace_id=trace_id, assessment_id=judged.assessment_id, value=0.5)
    second = mlflow.override_feedback(trace_id=trace_id, assessment_id=judged.assessment_id, value=0.8)
    mlflow.delete_assessment(trace_id=trace_id, assessment_id=first.assessment_id)
    assert mlflow.get_assessment(trace_id, judged.assessment_id).valid is False
    mlflow.delete_assessment(trace_id=trace_id, assessment_id=second.assessment_id)
    assert mlflow.get_assessment(trace_id, judged.assessment_id).valid is True


def test_only_feedback_is_overridden(client: MlflowClient, experiment_id: str) -> None:
    trace_id, _ = _trace()
    expected = mlflow.log_expectation(trace_id=trace_id, name="expected", value="x")
    refused = _refused(
        lambda: mlflow.override_feedback(trace_id=trace_id, assessment_id=expected.assessment_id, value=1)
    )
    assert refused.message == f"The assessment with ID {expected.assessment_id} is not a feedback assessment."


def test_deleting_is_idempotent(client: MlflowClient, experiment_id: str) -> None:
    trace_id, _ = _trace()
    feedback = mlflow.log_feedback(trace_id=trace_id, name="score", value=1)
    mlflow.delete_assessment(trace_id=trace_id, assessment_id=feedback.assessment_id)
    mlflow.delete_assessment(trace_id=trace_id, assessment_id=feedback.assessment_id)  # gone already: no error
    mlflow.delete_assessment(trace_id=MISSING_TRACE, assessment_id=feedback.assessment_id)
    gone = _refused(lambda: mlflow.get_assessment(trace_id, feedback.assessment_id))
    assert gone.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert gone.message == (
        f"RESOURCE_DOES_NOT_EXIST: Assessment with ID '{feedback.assessment_id}' not found for trace '{trace_id}'"
    )
    assert _assessments(trace_id) == {}


def test_unknown_traces_and_assessments_are_not_found(client: MlflowClient, experiment_id: str) -> None:
    trace_id, _ = _trace()
    unknown = "a-" + "f" * 32

    missing = _refused(lambda: mlflow.log_feedback(trace_id=MISSING_TRACE, name="score", value=1))
    assert missing.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert missing.message == f"RESOURCE_DOES_NOT_EXIST: Trace with ID '{MISSING_TRACE}' not found."
    missing = _refused(lambda: mlflow.get_assessment(MISSING_TRACE, unknown))
    assert missing.message == f"RESOURCE_DOES_NOT_EXIST: Trace with request_id '{MISSING_TRACE}' not found"
    missing = _refused(lambda: mlflow.get_assessment(trace_id, unknown))
    assert (
        missing.message == f"RESOURCE_DOES_NOT_EXIST: Assessment with ID '{unknown}' not found for trace '{trace_id}'"
    )
    missing = _refused(
        lambda: mlflow.update_assessment(
            trace_id=trace_id, assessment_id=unknown, assessment=Feedback(name="score", value=2)
        )
    )
    assert (
        missing.message == f"RESOURCE_DOES_NOT_EXIST: Assessment with ID '{unknown}' not found for trace '{trace_id}'"
    )
    missing = _refused(
        lambda: mlflow.log_assessment(trace_id=trace_id, assessment=Feedback(name="score", value=2, overrides=unknown))
    )
    assert (
        missing.message == f"RESOURCE_DOES_NOT_EXIST: Assessment with ID '{unknown}' not found for trace '{trace_id}'"
    )
    assert _assessments(trace_id) == {}  # the refused override left nothing behind


def test_trace_infos_list_their_assessments(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    scored_trace, _ = _trace()
    bare_trace, _ = _trace()
    feedback = mlflow.log_feedback(trace_id=scored_trace, name="relevance", value=0.5)
    expectation = mlflow.log_expectation(trace_id=scored_trace, name="expected", value={"a": 1})

    listed = _assessments(scored_trace)
    assert set(listed) == {feedback.assessment_id, expectation.assessment_id}
    assert listed[feedback.assessment_id].value == 0.5
    assert listed[expectation.assessment_id].value == {"a": 1}
    assert _assessments(bare_trace) == {}

    for include_spans in (True, False):  # batchGet for full traces, the search's own infos without spans
        found = mlflow.search_traces(locations=[experiment_id], return_type="list", include_spans=include_spans)
        by_id = {trace.info.trace_id: trace.info for trace in found}
        assert set(by_id) == {scored_trace, bare_trace}
        assert {a.assessment_id for a in by_id[scored_trace].assessments} == set(listed)
        assert by_id[bare_trace].assessments == []
    infos = http.post(f"{V3}/batchGetInfos", json={"trace_ids": [scored_trace, bare_trace]}).json()["trace_infos"]
    assert [{a["assessment_id"] for a in info.get("assessments", [])} for info in infos] == [set(listed), set()]


def test_feedback_logged_while_the_trace_runs_arrives_with_it(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_span("answer") as span:
        mlflow.log_feedback(trace_id=span.trace_id, name="in_flight", value="ok")
        mlflow.log_expectation(trace_id=span.trace_id, name="expected", value=[1, 2])
    _flushed()
    listed = list(_assessments(span.trace_id).values())
    assert sorted((a.name, a.value) for a in listed) == [("expected", [1, 2]), ("in_flight", "ok")]
    assert all(a.assessment_id.startswith("a-") and a.trace_id == span.trace_id for a in listed)
    for assessment in listed:  # stored like any other: readable by id
        assert mlflow.get_assessment(span.trace_id, assessment.assessment_id).value == assessment.value


# --- raw HTTP -----------------------------------------------------------------------------------------------------


def _create(http: httpx.Client, trace_id: str, assessment: dict[str, Any], prefix: str = "/api") -> httpx.Response:
    return http.post(f"{prefix}/3.0/mlflow/traces/{trace_id}/assessments", json={"assessment": assessment})


def _feedback(http: httpx.Client, trace_id: str, **fields: Any) -> dict[str, Any]:
    response = _create(http, trace_id, {"assessment_name": "score", "feedback": {"value": 1}, **fields})
    assert response.status_code == 200, response.text
    return dict(response.json()["assessment"])


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def test_the_wire_shape_of_an_assessment(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    trace_id, span_id = _trace()
    response = _create(
        http,
        trace_id,
        {
            "assessment_id": "a-chosen-by-the-client",
            "assessment_name": "relevance",
            "trace_id": trace_id,
            "span_id": span_id,
            "source": {"source_type": 2, "source_id": "judge"},  # an enum by number
            "create_time": "2025-01-02T03:04:05.678Z",
            "last_update_time": "2025-01-02T03:04:06Z",
            "feedback": {"value": [1, "two", None], "error": {"error_message": "partial"}},
            "rationale": "why",
            "metadata": {"k": "v"},
            "valid": False,
        },
        prefix="/ajax-api",
    )
    assert response.status_code == 200, response.text
    created = response.json()["assessment"]
    assert re.fullmatch(r"a-[0-9a-f]{32}", created["assessment_id"])  # the server's own id
    assert created == {
        "assessment_id": created["assessment_id"],
        "assessment_name": "relevance",
        "trace_id": trace_id,
        "span_id": span_id,
        "source": {"source_type": "LLM_JUDGE", "source_id": "judge"},
        "create_time": "2025-01-02T03:04:05.678Z",
        "last_update_time": "2025-01-02T03:04:06Z",
        "feedback": {"value": [1, "two", None], "error": {"error_code": "", "error_message": "partial"}},
        "rationale": "why",
        "metadata": {"k": "v"},
        "valid": True,  # only an override makes an assessment invalid
    }
    got = http.get(f"{V3}/{trace_id}/assessments/{created['assessment_id']}")
    assert got.json() == {"assessment": created}

    expectation = _create(
        http,
        trace_id,
        {
            "assessment_name": "expected",
            "expectation": {"serialized_value": {"serialization_format": "JSON_FORMAT", "value": '{"a": [1, 2]}'}},
            "rationale": "dropped",  # an expectation has no rationale and overrides nothing, as in MLflow
            "overrides": created["assessment_id"],
        },
    ).json()["assessment"]
    assert expectation["expectation"] == {
        "serialized_value": {"serialization_format": "JSON_FORMAT", "value": '{"a": [1, 2]}'}
    }
    assert "rationale" not in expectation
    assert "overrides" not in expectation
    assert expectation["source"] == {"source_type": "SOURCE_TYPE_UNSPECIFIED"}
    scalar = _create(http, trace_id, {"assessment_name": "n", "expectation": {"value": 7}}).json()["assessment"]
    assert scalar["expectation"] == {"value": 7}


def test_malformed_assessments_are_refused(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    trace_id, _ = _trace()
    hint = "See the API docs for more information about request parameters."
    cases = [
        ({}, f"Missing value for required parameter 'assessment'. {hint}"),
        ({"assessment": {"assessment_name": "x"}}, "Unknown assessment type: None"),
        (
            {"assessment": {"assessment_name": "x", "feedback": {"value": 1}, "expectation": {"value": 1}}},
            "Exactly one of `expectation`, `feedback`, or `issue` should be specified.",
        ),
        ({"assessment": {"assessment_name": "x", "expectation": {}}}, "The `value` field must be specified."),
        (
            {"assessment": {"expectation": {"serialized_value": {"serialization_format": "YAML", "value": "a: 1"}}}},
            "Unknown serialization format: YAML. Only JSON_FORMAT is supported.",
        ),
        (
            {"assessment": {"source": {"source_type": "ROBOT"}, "feedback": {"value": 1}}},
            "Invalid assessment source type: ROBOT. Valid source types: "
            "['SOURCE_TYPE_UNSPECIFIED', 'LLM_JUDGE', 'HUMAN', 'CODE']",
        ),
        (
            {"assessment": {"assessment_name": "x" * 251, "feedback": {"value": 1}}},
            "'assessment_name' exceeds the maximum length of 250 characters",
        ),
        (
            {"assessment": {"metadata": {"n": 1}, "feedback": {"value": 1}}},
            "Invalid value {'n': 1} for field 'metadata' of the assessment.",
        ),
        (
            {"assessment": {"trace_id": MISSING_TRACE, "feedback": {"value": 1}}},
            f"The assessment names trace '{MISSING_TRACE}' but is sent to trace '{trace_id}'.",
        ),
    ]
    for body, message in cases:
        response = http.post(f"{V3}/{trace_id}/assessments", json=body)
        assert _error(response) == (400, "INVALID_PARAMETER_VALUE", message), body
    assert _assessments(trace_id) == {}


def test_update_masks(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    trace_id, _ = _trace()
    created = _feedback(http, trace_id, rationale="first", metadata={"a": "1"})
    one = f"{V3}/{trace_id}/assessments/{created['assessment_id']}"

    body = {"assessment": {"assessment_name": "renamed", "rationale": "ignored", "metadata": {"b": "2"}}}
    response = http.patch(one, json={**body, "update_mask": "assessmentName,metadata,colour"})  # FieldMask's camelCase
    assert response.status_code == 200, response.text
    updated = response.json()["assessment"]
    assert (updated["assessment_name"], updated["rationale"]) == ("renamed", "first")
    assert updated["metadata"] == {"a": "1", "b": "2"}

    cleared = http.patch(one, json={"assessment": {}, "update_mask": "rationale,feedback"}).json()["assessment"]
    assert "rationale" not in cleared
    assert cleared["feedback"] == {"value": None}  # a masked field the body leaves out reads as empty, as in MLflow

    invalid = http.patch(one, json={"assessment": {"valid": False}, "update_mask": "valid"})  # MLflow answers 500
    assert invalid.json()["assessment"]["valid"] is False

    hint = "See the API docs for more information about request parameters."
    assert _error(http.patch(one, json={"assessment": {}})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        f"Missing value for required parameter 'update_mask'. {hint}",
    )
    assert _error(http.patch(one, json={"update_mask": "rationale"})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        f"Missing value for required parameter 'assessment'. {hint}",
    )
    both = http.patch(
        one,
        json={
            "assessment": {"feedback": {"value": 1}, "expectation": {"value": 2}},
            "update_mask": "feedback,expectation",
        },
    )
    assert _error(both) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Cannot specify both `expectation` and `feedback` parameters.",
    )


def test_another_traces_assessments_are_out_of_reach(
    client: MlflowClient, experiment_id: str, http: httpx.Client
) -> None:
    """Access is checked on the trace a request names; an assessment of another trace is not found through it."""
    mine, _ = _trace()
    theirs, _ = _trace()
    their_feedback = _feedback(http, theirs)["assessment_id"]
    through_mine = f"{V3}/{mine}/assessments/{their_feedback}"
    not_found = (404, "RESOURCE_DOES_NOT_EXIST", f"Assessment with ID '{their_feedback}' not found for trace '{mine}'")

    assert _error(http.get(through_mine)) == not_found
    assert _error(http.patch(through_mine, json={"assessment": {"valid": False}, "update_mask": "valid"})) == not_found
    assert _error(_create(http, mine, {"overrides": their_feedback, "feedback": {"value": 0}})) == not_found
    assert http.delete(through_mine).status_code == 200  # nothing of this trace to delete
    their_view = mlflow.get_assessment(theirs, their_feedback)
    assert their_view.valid is True
    assert their_view.name == "score"


def test_a_replayed_trace_info_keeps_one_copy_of_its_assessments(
    client: MlflowClient, experiment_id: str, http: httpx.Client
) -> None:
    trace_id, _ = _trace()
    other_trace, _ = _trace()
    taken = _feedback(http, other_trace)["assessment_id"]
    info = http.get(f"{V3}/{trace_id}").json()["trace"]["trace_info"]
    info["assessments"] = [
        {
            "assessment_name": "in_flight",
            "source": {"source_type": "CODE", "source_id": "default"},
            "create_time": "2025-05-05T05:05:05.123Z",
            "last_update_time": "2025-05-05T05:05:05.123Z",
            "feedback": {"value": True},
        },
        {"assessment_id": "a-carried", "assessment_name": "kept_id", "expectation": {"value": "x"}},
        {"assessment_id": taken, "assessment_name": "copied", "feedback": {"value": 2}},  # another trace's id
    ]
    for _ in range(2):  # the client replays a StartTraceV3 it is unsure of
        response = http.post(V3, json={"trace": {"trace_info": info}})
        assert response.status_code == 200, response.text
    carried = response.json()["trace"]["trace_info"]["assessments"]
    assert sorted(a["assessment_name"] for a in carried) == ["copied", "in_flight", "kept_id"]
    by_name = {a["assessment_name"]: a for a in carried}
    assert by_name["kept_id"]["assessment_id"] == "a-carried"
    assert by_name["copied"]["assessment_id"] not in (taken, "a-carried")
    assert by_name["in_flight"]["create_time"] == "2025-05-05T05:05:05.123Z"
    assert {a.assessment_id for a in _assessments(trace_id).values()} == {a["assessment_id"] for a in carried}
    assert mlflow.get_assessment(other_trace, taken).name == "score"  # the other trace's assessment is untouched


def test_assessments_stamped_alike_are_listed_in_the_order_they_were_logged(
    client: MlflowClient, experiment_id: str
) -> None:
    """The client stamps feedback it builds together with one creation time; the trace lists it as it was logged."""
    trace_id, _ = _trace()
    judge = AssessmentSource(AssessmentSourceType.LLM_JUDGE, "judge")
    names = [f"{word}-{index}" for index, word in enumerate(["zeta", "alpha", "mu", "beta", "omega", "kappa"])]
    stamp = 1_700_000_000_000
    batch = [Feedback(name=n, value=i, source=judge, create_time_ms=stamp) for i, n in enumerate(names)]
    for feedback in batch:
        mlflow.log_assessment(trace_id=trace_id, assessment=feedback)
    assert [a.name for a in client.get_trace(trace_id).info.assessments] == names
