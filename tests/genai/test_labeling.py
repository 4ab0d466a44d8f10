"""Labeling as a user of MLflow 3.17 does it, through the stock client (`mlflow.genai.label_schemas`,
`mlflow.genai.review_queues`), on SQLite and PostgreSQL: label schemas (the questions), review queues of traces,
reviewers answering by logging feedback and expectations on the traces, and closing the items; MLflow's errors in
its words. Raw HTTP covers what the client cannot send (bad enums, empty oneofs, the `item_id` filter the web UI
uses) and the `/ajax-api` twins."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource, AssessmentSourceType
from mlflow.exceptions import MlflowException
from mlflow.genai import label_schemas, review_queues
from mlflow.genai.label_schemas import InputCategorical, InputNumeric, InputPassFail, InputText

SCHEMAS = "/api/3.0/mlflow/label-schemas"
QUEUES = "/api/3.0/mlflow/review-queues"
HINT = "See the API docs for more information about request parameters."


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return mlflow.set_experiment(unique_name).experiment_id


def _trace(name: str = "answer") -> str:
    with mlflow.start_span(name) as span:
        span.set_inputs({"question": "When is high tide?"})
        span.set_outputs({"answer": "At 6:12."})
    return span.trace_id


def _refused(call: Any) -> tuple[str, str]:
    """(error_code, message) of a call the server refused."""
    with pytest.raises(MlflowException) as refused:
        call()
    body = getattr(refused.value, "json", None)
    assert body is not None, f"refused by the client, not the server: {refused.value}"
    return body["error_code"], body["message"]


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert "error_code" in body, f"{response.request.method} {response.request.url}: {response.text}"
    return response.status_code, body["error_code"], body["message"]


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- label schemas ----------------------------------------------------------------------------------------------


def test_label_schemas_round_trip_through_the_client(client: MlflowClient, experiment_id: str) -> None:
    correct = label_schemas.create_label_schema(
        "Is the answer correct?",
        type="feedback",
        input=InputPassFail(positive_label="Correct", negative_label="Incorrect"),
        instruction="Check it against the tide table.",
        enable_comment=True,
        experiment_id=experiment_id,
    )
    assert correct.schema_id is not None
    assert correct.schema_id.startswith("ls-")
    assert (correct.experiment_id, correct.type, correct.instruction, correct.enable_comment) == (
        experiment_id,
        "feedback",
        "Check it against the tide table.",
        True,
    )
    assert correct.input == InputPassFail(positive_label="Correct", negative_label="Incorrect")
    assert correct.created_at == correct.updated_at > 0
    assert correct.is_default is False
    assert correct.created_by is None  # nobody is signed in

    tone = label_schemas.create_label_schema(
        "tone",
        type="feedback",
        input=InputCategorical(options=["friendly", "curt", "rude"], multi_select=True),
        experiment_id=experiment_id,
    )
    score = label_schemas.create_label_schema(
        "score", type="feedback", input=InputNumeric(min_value=0, max_value=5), experiment_id=experiment_id
    )
    expected = label_schemas.create_label_schema(
        "expected_answer", type="expectation", input=InputText(max_length=500), experiment_id=experiment_id
    )
    assert tone.input == InputCategorical(options=["friendly", "curt", "rude"], multi_select=True)
    assert score.input == InputNumeric(min_value=0.0, max_value=5.0)
    assert (expected.type, expected.input, expected.instruction) == ("expectation", InputText(max_length=500), None)

    assert label_schemas.get_label_schema(schema_id=tone.schema_id) == tone
    assert label_schemas.get_label_schema("score", experiment_id=experiment_id) == score

    listed = label_schemas.list_label_schemas(experiment_id)
    default = listed[0]  # seeded by this first listing, so the newest
    assert (default.name, default.type, default.input, default.is_default) == (
        "Feedback",
        "feedback",
        InputText(max_length=None),
        True,
    )
    assert default.instruction == "Share any feedback on this trace."
    assert listed[1:] == [expected, score, tone, correct]  # newest first
    assert listed.token is None
    assert label_schemas.list_label_schemas(experiment_id)[0] == default  # seeded once

    renamed = label_schemas.update_label_schema(
        tone.schema_id,
        name="Tone of the answer",
        instruction="",
        input=InputCategorical(options=["friendly", "neutral"], multi_select=True),
    )
    assert (renamed.name, renamed.instruction, renamed.enable_comment) == ("Tone of the answer", "", False)
    assert renamed.input == InputCategorical(options=["friendly", "neutral"], multi_select=True)
    assert renamed.created_at == tone.created_at
    assert renamed.updated_at >= tone.updated_at
    assert label_schemas.update_label_schema(score.schema_id, enable_comment=True).enable_comment is True
    assert label_schemas.get_label_schema(schema_id=tone.schema_id) == renamed

    assert label_schemas.delete_label_schema(schema_id=score.schema_id) is None
    assert _refused(lambda: label_schemas.get_label_schema(schema_id=score.schema_id)) == (
        "RESOURCE_DOES_NOT_EXIST",
        f"Label schema with id '{score.schema_id}' not found.",
    )
    label_schemas.delete_label_schema(schema_id=score.schema_id)  # gone already: a no-op, as in MLflow
    assert [s.name for s in label_schemas.list_label_schemas(experiment_id)] == [
        "Feedback",
        "expected_answer",
        "Tone of the answer",
        "Is the answer correct?",
    ]


def test_the_default_question_is_protected(client: MlflowClient, experiment_id: str) -> None:
    default = label_schemas.list_label_schemas(experiment_id)[0]
    assert default.is_default
    assert _refused(lambda: label_schemas.update_label_schema(default.schema_id, instruction="x")) == (
        "INVALID_PARAMETER_VALUE",
        "The experiment's default question cannot be edited.",
    )
    assert _refused(lambda: label_schemas.delete_label_schema(schema_id=default.schema_id)) == (
        "INVALID_PARAMETER_VALUE",
        "The experiment's default question cannot be deleted.",
    )
    for reserved in ("feedback", " FEEDBACK "):
        refused = _refused(
            lambda reserved=reserved: label_schemas.create_label_schema(
                reserved, type="feedback", input=InputText(), experiment_id=experiment_id
            )
        )
        assert refused == (
            "INVALID_PARAMETER_VALUE",
            f"`{reserved}` is reserved for the experiment's default question and cannot be used for another "
            "label schema.",
        )
    assert label_schemas.get_label_schema(schema_id=default.schema_id) == default


def test_label_schema_names_are_unique_in_an_experiment(client: MlflowClient, experiment_id: str) -> None:
    first = label_schemas.create_label_schema(
        "helpful", type="feedback", input=InputText(), experiment_id=experiment_id
    )
    second = label_schemas.create_label_schema(
        "concise", type="feedback", input=InputText(), experiment_id=experiment_id
    )
    assert _refused(
        lambda: label_schemas.create_label_schema(
            "helpful", type="expectation", input=InputText(), experiment_id=experiment_id
        )
    ) == (
        "RESOURCE_ALREADY_EXISTS",
        f"Label schema with name 'helpful' already exists for experiment '{experiment_id}'.",
    )
    assert _refused(lambda: label_schemas.update_label_schema(second.schema_id, name="helpful")) == (
        "RESOURCE_ALREADY_EXISTS",
        f"Label schema with name 'helpful' already exists for experiment '{experiment_id}'.",
    )
    assert label_schemas.get_label_schema(schema_id=second.schema_id).name == "concise"
    # Names are case-sensitive, as in MLflow's store; another experiment has its own names.
    label_schemas.create_label_schema("Helpful", type="feedback", input=InputText(), experiment_id=experiment_id)
    other = mlflow.create_experiment(f"other-{experiment_id}")
    elsewhere = label_schemas.create_label_schema("helpful", type="feedback", input=InputText(), experiment_id=other)
    assert elsewhere.schema_id != first.schema_id


def test_a_schema_keeps_its_kind_of_input(client: MlflowClient, experiment_id: str) -> None:
    tone = label_schemas.create_label_schema(
        "tone", type="feedback", input=InputCategorical(options=["a", "b"]), experiment_id=experiment_id
    )
    assert _refused(lambda: label_schemas.update_label_schema(tone.schema_id, input=InputText())) == (
        "INVALID_PARAMETER_VALUE",
        "A label schema's input type cannot be changed after creation (existing: InputCategorical, got: InputText).",
    )
    multi = InputCategorical(options=["a", "b"], multi_select=True)
    assert _refused(lambda: label_schemas.update_label_schema(tone.schema_id, input=multi)) == (
        "INVALID_PARAMETER_VALUE",
        "`InputCategorical.multi_select` cannot be changed after creation.",
    )
    assert label_schemas.get_label_schema(schema_id=tone.schema_id) == tone


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"name": "q", "type": "FEEDBACK", "input": {"text": {}}},
            f"Missing value for required parameter 'experiment_id'. {HINT}",
        ),
        (
            {"experiment_id": "{e}", "type": "FEEDBACK", "input": {"text": {}}},
            f"Missing value for required parameter 'name'. {HINT}",
        ),
        (
            {"experiment_id": "{e}", "name": "q", "input": {"text": {}}},
            "Label schema `type` must be one of FEEDBACK or EXPECTATION; got proto enum value 0.",
        ),
        (
            {"experiment_id": "{e}", "name": "q", "type": "OPINION", "input": {"text": {}}},
            "Label schema `type` must be one of FEEDBACK or EXPECTATION; got proto enum value 0.",
        ),
        (
            {"experiment_id": "{e}", "name": "q", "type": "FEEDBACK"},
            "Label schema `input` must have exactly one of `pass_fail`, `categorical`, `numeric`, or `text` set; "
            "got an empty oneof.",
        ),
        (
            {"experiment_id": "{e}", "name": "q", "type": "FEEDBACK", "input": {}},
            "Label schema `input` must have exactly one of `pass_fail`, `categorical`, `numeric`, or `text` set; "
            "got an empty oneof.",
        ),
        (
            {"experiment_id": "{e}", "name": "q" * 251, "type": 1, "input": {"text": {}}},
            "Label schema `name` must be at most 250 characters; got 251.",
        ),
        (
            {"experiment_id": "{e}", "name": "q", "type": 2, "input": {"text": {}}, "instruction": "i" * 1001},
            "Label schema `instruction` must be at most 1000 characters; got 1001.",
        ),
        (
            {
                "experiment_id": "{e}",
                "name": "q",
                "type": "FEEDBACK",
                "input": {"pass_fail": {"positive_label": "Yes"}},
            },
            "`InputPassFail.negative_label` must be a non-empty string; got ''.",
        ),
        (
            {
                "experiment_id": "{e}",
                "name": "q",
                "type": "FEEDBACK",
                "input": {"pass_fail": {"positive_label": "Yes", "negative_label": "Yes"}},
            },
            "`InputPassFail.positive_label` and `negative_label` must be distinct; got 'Yes' for both.",
        ),
        (
            {"experiment_id": "{e}", "name": "q", "type": "FEEDBACK", "input": {"categorical": {"options": []}}},
            "`InputCategorical.options` must be a non-empty list; got [].",
        ),
        (
            {
                "experiment_id": "{e}",
                "name": "q",
                "type": "FEEDBACK",
                "input": {"categorical": {"options": ["a", "a"]}},
            },
            "`InputCategorical.options` must be deduplicated; 'a' appears twice.",
        ),
        (
            {
                "experiment_id": "{e}",
                "name": "q",
                "type": "FEEDBACK",
                "input": {"categorical": {"options": [str(i) for i in range(11)]}},
            },
            "`InputCategorical.options` must have at most 10 entries; got 11.",
        ),
        (
            {
                "experiment_id": "{e}",
                "name": "q",
                "type": "FEEDBACK",
                "input": {"numeric": {"min_value": 5, "max_value": 1}},
            },
            "`InputNumeric.min_value` must be strictly less than `max_value`; got min=5.0, max=1.0.",
        ),
        (
            {"experiment_id": "{e}", "name": "q", "type": "FEEDBACK", "input": {"text": {"max_length": "0"}}},
            "`InputText.max_length` must be at least 1; got 0.",
        ),
        (
            {"experiment_id": "abc", "name": "q", "type": "FEEDBACK", "input": {"text": {}}},
            "Invalid experiment ID 'abc'. Experiment ID must be a valid integer.",
        ),
    ],
)
def test_bad_label_schemas_are_refused_in_mlflows_words(
    http: httpx.Client, experiment_id: str, body: dict[str, Any], message: str
) -> None:
    body = {k: (experiment_id if v == "{e}" else v) for k, v in body.items()}
    assert _error(http.post(f"{SCHEMAS}/create", json=body)) == (400, "INVALID_PARAMETER_VALUE", message)
    listed = _ok(http.get(f"{SCHEMAS}/list", params={"experiment_id": experiment_id}))["label_schemas"]
    assert [schema["name"] for schema in listed] == ["Feedback"]  # nothing was written


def test_unknown_label_schemas_and_experiments(http: httpx.Client, experiment_id: str) -> None:
    missing = "ls-" + "0" * 32
    assert _error(http.get(f"{SCHEMAS}/get", params={"schema_id": missing})) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Label schema with id '{missing}' not found.",
    )
    assert _error(http.patch(f"{SCHEMAS}/update", json={"schema_id": missing, "name": "x"})) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Label schema with id '{missing}' not found.",
    )
    assert _ok(http.request("DELETE", f"{SCHEMAS}/delete", json={"schema_id": missing})) == {}
    assert _error(http.get(f"{SCHEMAS}/get-by-name", params={"experiment_id": experiment_id, "name": "nope"})) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Label schema with name 'nope' not found for experiment '{experiment_id}'.",
    )
    assert _error(http.get(f"{SCHEMAS}/list", params={"experiment_id": "987654321"})) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=987654321 exists",
    )
    assert _error(http.get(f"{SCHEMAS}/get", params={})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        f"Missing value for required parameter 'schema_id'. {HINT}",
    )
    for size in ("0", "50001"):
        assert _error(http.get(f"{SCHEMAS}/list", params={"experiment_id": experiment_id, "max_results": size})) == (
            400,
            "INVALID_PARAMETER_VALUE",
            f"max_results must be between 1 and 50000. {HINT}",
        )
    assert _error(http.patch(f"{SCHEMAS}/update", json={"schema_id": missing, "input": {}})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Label schema `input` must have exactly one of `pass_fail`, `categorical`, `numeric`, or `text` set; "
        "got an empty oneof.",
    )


def test_label_schemas_are_listed_a_page_at_a_time(client: MlflowClient, experiment_id: str) -> None:
    for i in range(5):
        label_schemas.create_label_schema(f"q{i}", type="feedback", input=InputText(), experiment_id=experiment_id)
    seen: list[str] = []
    token = None
    while True:
        page = label_schemas.list_label_schemas(experiment_id, max_results=2, page_token=token)
        assert len(page) <= 2
        seen += [schema.name for schema in page]
        token = page.token
        if token is None:
            break
    assert seen == ["Feedback", "q4", "q3", "q2", "q1", "q0"]


# --- review queues --------------------------------------------------------------------------------------------------


def test_a_review_from_queue_to_labels(client: MlflowClient, experiment_id: str) -> None:
    """Questions, a queue of traces for two reviewers, their answers logged on the traces, and the items closed."""
    correct = label_schemas.create_label_schema(
        "correct",
        type="feedback",
        input=InputPassFail(positive_label="Correct", negative_label="Incorrect"),
        experiment_id=experiment_id,
    )
    expected = label_schemas.create_label_schema(
        "expected_answer", type="expectation", input=InputText(), experiment_id=experiment_id
    )
    queue = review_queues.create_review_queue(
        "Tide answers",
        queue_type="custom",
        users=["Ada@Example.com", " bob "],
        schema_ids=[expected.schema_id, correct.schema_id],
        experiment_id=experiment_id,
    )
    assert queue.queue_id.startswith("rq-")
    assert (queue.experiment_id, queue.name, queue.queue_type, queue.created_by) == (
        experiment_id,
        "Tide answers",
        "custom",
        None,  # nobody is signed in to own it
    )
    assert queue.users == ["ada@example.com", "bob"]  # as assessment sources are matched: lower-cased
    assert queue.schema_ids == sorted([correct.schema_id, expected.schema_id])
    assert queue.creation_time_ms == queue.last_update_time_ms > 0

    traces = [_trace(f"answer-{i}") for i in range(3)]
    items = review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[traces[0], traces[1], traces[0]])
    assert [(i.item_id, i.status, i.item_type, i.completed_by) for i in items] == [
        (traces[0], "pending", "trace", None),
        (traces[1], "pending", "trace", None),
    ]
    assert items[0].creation_time_ms == items[0].last_update_time_ms > 0
    more = review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[traces[2], traces[1]])
    assert [i.item_id for i in more] == [traces[2], traces[1]]
    assert more[1].creation_time_ms == items[1].creation_time_ms  # attached already: kept as it was

    listed = review_queues.list_review_queue_items(queue.queue_id)
    assert {i.item_id for i in listed} == set(traces)
    assert listed[0].item_id == traces[2]  # newest attached first

    # Ada answers both questions on the first trace, as the review app does: assessments on the trace itself.
    ada = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="ada@example.com")
    mlflow.log_feedback(trace_id=traces[0], name="correct", value=True, source=ada, rationale="Matches the table.")
    mlflow.log_expectation(trace_id=traces[0], name="expected_answer", value="At 6:12.", source=ada)
    assert review_queues.list_review_queue_items(queue.queue_id, status="complete") == []  # answering closes nothing

    done = review_queues.set_review_queue_item_status(
        queue.queue_id, item_id=traces[0], status="complete", completed_by="Ada@Example.com"
    )
    assert (done.status, done.completed_by) == ("complete", "ada@example.com")
    assert done.completed_time_ms == done.last_update_time_ms >= done.creation_time_ms
    again = review_queues.set_review_queue_item_status(
        queue.queue_id, item_id=traces[0], status="complete", completed_by="bob"
    )
    assert again == done  # already complete: Ada keeps the credit
    declined = review_queues.set_review_queue_item_status(
        queue.queue_id, item_id=traces[1], status="declined", completed_by="bob"
    )
    assert (declined.status, declined.completed_by) == ("declined", "bob")

    assert [i.item_id for i in review_queues.list_review_queue_items(queue.queue_id, status="complete")] == [traces[0]]
    assert [i.item_id for i in review_queues.list_review_queue_items(queue.queue_id, status="declined")] == [traces[1]]
    assert [i.item_id for i in review_queues.list_review_queue_items(queue.queue_id, status="pending")] == [traces[2]]

    labels = {a.name: a for a in mlflow.get_trace(traces[0]).info.assessments}
    assert labels["correct"].value is True
    assert labels["correct"].source == ada
    assert labels["expected_answer"].value == "At 6:12."

    reopened = review_queues.set_review_queue_item_status(queue.queue_id, item_id=traces[1], status="pending")
    assert (reopened.status, reopened.completed_by, reopened.completed_time_ms) == ("pending", None, None)

    review_queues.remove_items_from_review_queue(queue.queue_id, item_ids=[traces[1], "tr-not-in-the-queue"])
    assert {i.item_id for i in review_queues.list_review_queue_items(queue.queue_id)} == {traces[0], traces[2]}

    review_queues.delete_review_queue(queue.queue_id)
    assert _refused(lambda: review_queues.get_review_queue(queue.queue_id)) == (
        "RESOURCE_DOES_NOT_EXIST",
        f"Review queue with id '{queue.queue_id}' not found.",
    )
    review_queues.delete_review_queue(queue.queue_id)  # a no-op now, as in MLflow
    assert {a.name for a in mlflow.get_trace(traces[0]).info.assessments} == {"correct", "expected_answer"}


def test_a_users_own_queue(client: MlflowClient, experiment_id: str) -> None:
    mine = review_queues.get_or_create_user_queue(" Ada@Example.com ", experiment_id=experiment_id)
    assert (mine.name, mine.queue_type, mine.users, mine.schema_ids, mine.created_by) == (
        "ada@example.com",
        "user",
        ["ada@example.com"],
        [],
        "ada@example.com",
    )
    assert review_queues.get_or_create_user_queue("ada@example.com", experiment_id=experiment_id) == mine
    assert review_queues.get_review_queue(name="ADA@example.com", experiment_id=experiment_id) == mine

    trace_id = _trace()
    review_queues.add_items_to_review_queue(mine.queue_id, item_ids=[trace_id])
    assert [
        q.queue_id for q in review_queues.list_review_queues(user="ada@example.com", experiment_id=experiment_id)
    ] == [mine.queue_id]
    assert _refused(lambda: review_queues.update_review_queue(mine.queue_id, name="mine")) == (
        "INVALID_PARAMETER_VALUE",
        "A user queue's name, assigned user, schemas, and owner are fixed and cannot be updated.",
    )
    assert _refused(
        lambda: review_queues.create_review_queue("Ada@example.com", queue_type="custom", experiment_id=experiment_id)
    ) == (
        "RESOURCE_ALREADY_EXISTS",
        "Review queue with name 'Ada@example.com' already exists (names are case-insensitive).",
    )

    review_queues.create_review_queue("carol", queue_type="custom", experiment_id=experiment_id)
    assert _refused(lambda: review_queues.get_or_create_user_queue("Carol", experiment_id=experiment_id)) == (
        "RESOURCE_ALREADY_EXISTS",
        "A non-user queue named 'carol' already exists; cannot get-or-create a user queue with that name.",
    )
    assert _refused(
        lambda: review_queues.create_review_queue("dan", queue_type="user", users=["erin"], experiment_id=experiment_id)
    ) == (
        "INVALID_PARAMETER_VALUE",
        "A user queue must have exactly one assigned user equal to its name; got name='dan' and users=['erin'].",
    )


def test_updating_a_custom_queue(client: MlflowClient, experiment_id: str) -> None:
    first = label_schemas.create_label_schema("first", type="feedback", input=InputText(), experiment_id=experiment_id)
    second = label_schemas.create_label_schema(
        "second", type="feedback", input=InputText(), experiment_id=experiment_id
    )
    queue = review_queues.create_review_queue(
        "Weekly", queue_type="custom", users=["ada"], schema_ids=[first.schema_id], experiment_id=experiment_id
    )
    review_queues.create_review_queue("Daily", queue_type="custom", experiment_id=experiment_id)
    assert review_queues.update_review_queue(queue.queue_id) == queue  # nothing asked, nothing changed

    updated = review_queues.update_review_queue(
        queue.queue_id, name=" WEEKLY ", new_owner=" Ada ", users=["bob", "carol", "BOB"], schema_ids=[second.schema_id]
    )
    assert (updated.name, updated.created_by, updated.users, updated.schema_ids) == (
        "WEEKLY",
        "Ada",
        ["bob", "carol"],
        [second.schema_id],
    )
    assert updated.last_update_time_ms >= queue.last_update_time_ms
    assert updated.creation_time_ms == queue.creation_time_ms
    assert review_queues.update_review_queue(queue.queue_id, users=[]).users == []

    assert _refused(lambda: review_queues.update_review_queue(queue.queue_id, name="daily")) == (
        "RESOURCE_ALREADY_EXISTS",
        "Review queue with name 'daily' already exists (names are case-insensitive).",
    )
    assert _refused(lambda: review_queues.update_review_queue(queue.queue_id, name="Default")) == (
        "INVALID_PARAMETER_VALUE",
        "`Default` is a reserved queue name and cannot be used for a custom queue.",
    )
    assert _refused(lambda: review_queues.update_review_queue(queue.queue_id, schema_ids=["ls-nope"])) == (
        "INVALID_PARAMETER_VALUE",
        f"Label schema id(s) ['ls-nope'] not found for experiment '{experiment_id}'.",
    )
    too_many = [f"user{i}" for i in range(11)]
    assert _refused(lambda: review_queues.update_review_queue(queue.queue_id, users=too_many)) == (
        "INVALID_PARAMETER_VALUE",
        "A review queue can have at most 10 assigned users; got 11.",
    )

    review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[_trace()])
    assert _refused(lambda: review_queues.update_review_queue(queue.queue_id, schema_ids=[first.schema_id])) == (
        "INVALID_PARAMETER_VALUE",
        "A review queue's questions are locked once items are assigned to it. "
        "Remove the items before changing its questions.",
    )
    # A refused update changes nothing, however much of it was fine.
    refused = _refused(
        lambda: review_queues.update_review_queue(
            queue.queue_id, name="Monthly", users=["dan"], schema_ids=[first.schema_id]
        )
    )
    assert refused[0] == "INVALID_PARAMETER_VALUE"
    kept = review_queues.get_review_queue(queue.queue_id)
    assert (kept.name, kept.users, kept.schema_ids) == ("WEEKLY", [], [second.schema_id])
    assert review_queues.update_review_queue(queue.queue_id, users=["erin"]).users == ["erin"]  # users stay editable


def test_queues_are_listed_newest_first_and_filtered(
    client: MlflowClient, http: httpx.Client, experiment_id: str
) -> None:
    queues = [
        review_queues.create_review_queue(f"q{i}", queue_type="custom", users=users, experiment_id=experiment_id)
        for i, users in enumerate([["ada"], ["bob"], ["ada", "bob"], []])
    ]
    listed = review_queues.list_review_queues(experiment_id=experiment_id)
    assert [q.name for q in listed] == ["q3", "q2", "q1", "q0"]
    assert [q.name for q in review_queues.list_review_queues(user=" ADA", experiment_id=experiment_id)] == ["q2", "q0"]

    pages: list[str] = []
    token = None
    while True:
        page = review_queues.list_review_queues(experiment_id=experiment_id, max_results=3, page_token=token)
        pages.append(",".join(q.name for q in page))
        if (token := page.token) is None:
            break
    assert pages == ["q3,q2,q1", "q0"]

    trace_id = _trace()
    review_queues.add_items_to_review_queue(queues[1].queue_id, item_ids=[trace_id])
    holding = _ok(http.get(f"{QUEUES}/list", params={"experiment_id": experiment_id, "item_id": trace_id}))
    assert [q["name"] for q in holding["review_queues"]] == ["q1"]
    assert holding["review_queues"][0] == {
        "queue_id": queues[1].queue_id,
        "experiment_id": experiment_id,
        "name": "q1",
        "queue_type": "CUSTOM",
        "creation_time_ms": queues[1].creation_time_ms,
        "last_update_time_ms": queues[1].last_update_time_ms,
        "users": ["bob"],
    }


def test_items_are_listed_a_page_at_a_time(client: MlflowClient, experiment_id: str) -> None:
    queue = review_queues.create_review_queue("paged", queue_type="custom", experiment_id=experiment_id)
    traces = [_trace() for _ in range(5)]
    for trace_id in traces:
        review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[trace_id])
    seen: list[str] = []
    token = None
    while True:
        page = review_queues.list_review_queue_items(queue.queue_id, max_results=2, page_token=token)
        seen += [item.item_id for item in page]
        if (token := page.token) is None:
            break
    assert sorted(seen) == sorted(traces)
    assert len(seen) == len(set(seen))


def test_traces_of_other_experiments_and_unknown_traces_are_refused(client: MlflowClient, experiment_id: str) -> None:
    queue = review_queues.create_review_queue("mine", queue_type="custom", experiment_id=experiment_id)
    here = _trace()
    mlflow.set_experiment(f"elsewhere-{experiment_id}")
    there = _trace()
    missing = "tr-" + "f" * 32
    assert _refused(
        lambda: review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[here, there, missing])
    ) == (
        "RESOURCE_DOES_NOT_EXIST",
        f"Cannot attach trace(s) {[there, missing]} to review queue '{queue.queue_id}': "
        f"they do not exist in experiment '{experiment_id}'.",
    )
    assert list(review_queues.list_review_queue_items(queue.queue_id)) == []  # all or nothing


def test_deleting_traces_and_experiments(client: MlflowClient, experiment_id: str) -> None:
    """As in MLflow: a deleted trace leaves every queue; a deleted experiment's schemas and queues stay, reachable by
    id but no longer through the experiment, until it is restored."""
    question = label_schemas.create_label_schema("q", type="feedback", input=InputText(), experiment_id=experiment_id)
    queue = review_queues.create_review_queue(
        "cleanup", queue_type="custom", schema_ids=[question.schema_id], experiment_id=experiment_id
    )
    kept, deleted = _trace(), _trace()
    review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[kept, deleted])
    client.delete_traces(experiment_id, trace_ids=[deleted])
    assert [i.item_id for i in review_queues.list_review_queue_items(queue.queue_id)] == [kept]

    client.delete_experiment(experiment_id)
    assert review_queues.get_review_queue(queue.queue_id).name == "cleanup"
    assert label_schemas.get_label_schema(schema_id=question.schema_id).name == "q"
    assert [i.item_id for i in review_queues.list_review_queue_items(queue.queue_id)] == [kept]
    gone = ("RESOURCE_DOES_NOT_EXIST", f"No Experiment with id={experiment_id} exists")
    assert _refused(lambda: review_queues.list_review_queues(experiment_id=experiment_id)) == gone
    assert _refused(lambda: label_schemas.list_label_schemas(experiment_id)) == gone
    assert _refused(lambda: review_queues.get_review_queue(name="cleanup", experiment_id=experiment_id)) == gone
    assert _refused(lambda: label_schemas.get_label_schema("q", experiment_id=experiment_id)) == gone
    assert (
        _refused(lambda: review_queues.create_review_queue("late", queue_type="custom", experiment_id=experiment_id))
        == gone
    )
    client.restore_experiment(experiment_id)
    assert [q.name for q in review_queues.list_review_queues(experiment_id=experiment_id)] == ["cleanup"]


def test_a_deleted_schema_is_no_longer_asked(client: MlflowClient, experiment_id: str) -> None:
    """Deleting a label schema takes it off the custom queues that asked it (MLflow leaves its id dangling in them);
    the answers already logged under its name stay on the traces."""
    question = label_schemas.create_label_schema("q", type="feedback", input=InputText(), experiment_id=experiment_id)
    queue = review_queues.create_review_queue(
        "asks q", queue_type="custom", schema_ids=[question.schema_id], experiment_id=experiment_id
    )
    trace_id = _trace()
    review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[trace_id])
    mlflow.log_feedback(trace_id=trace_id, name="q", value="fine")
    label_schemas.delete_label_schema(schema_id=question.schema_id)
    assert review_queues.get_review_queue(queue.queue_id).schema_ids == []
    assert [a.value for a in mlflow.get_trace(trace_id).info.assessments] == ["fine"]


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "message"),
    [
        (
            "create",
            {"experiment_id": "{e}", "name": "q"},
            400,
            "INVALID_PARAMETER_VALUE",
            "`queue_type` must be one of USER or CUSTOM; got proto enum value 0.",
        ),
        (
            "create",
            {"experiment_id": "{e}", "name": "q", "queue_type": "TEAM"},
            400,
            "INVALID_PARAMETER_VALUE",
            "`queue_type` must be one of USER or CUSTOM; got proto enum value 0.",
        ),
        (
            "create",
            {"experiment_id": "{e}", "queue_type": "CUSTOM"},
            400,
            "INVALID_PARAMETER_VALUE",
            f"Missing value for required parameter 'name'. {HINT}",
        ),
        (
            "create",
            {"experiment_id": "{e}", "name": "  ", "queue_type": "CUSTOM"},
            400,
            "INVALID_PARAMETER_VALUE",
            "`name` must be a non-empty string; got ''.",
        ),
        (
            "create",
            {"experiment_id": "{e}", "name": "default", "queue_type": "CUSTOM"},
            400,
            "INVALID_PARAMETER_VALUE",
            "`default` is a reserved queue name and cannot be used for a custom queue.",
        ),
        (
            "create",
            {"experiment_id": "{e}", "name": "q", "queue_type": "CUSTOM", "users": ["ada", " "]},
            400,
            "INVALID_PARAMETER_VALUE",
            "`user` must be a non-empty string; got ''.",
        ),
        (
            "create",
            {"experiment_id": "{e}", "name": "ada", "queue_type": "USER", "schema_ids": ["ls-x"]},
            400,
            "INVALID_PARAMETER_VALUE",
            "A user queue cannot have explicitly-attached schemas; it resolves to all of the experiment's label "
            "schemas.",
        ),
        (
            "create",
            {"experiment_id": "{e}", "name": "q", "queue_type": "CUSTOM", "schema_ids": ["ls-missing"]},
            400,
            "INVALID_PARAMETER_VALUE",
            "Label schema id(s) ['ls-missing'] not found for experiment '{e}'.",
        ),
        (
            "create",
            {"experiment_id": "987654321", "name": "q", "queue_type": "CUSTOM"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "No Experiment with id=987654321 exists",
        ),
        (
            "get-or-create-user",
            {"experiment_id": "{e}"},
            400,
            "INVALID_PARAMETER_VALUE",
            f"Missing value for required parameter 'user'. {HINT}",
        ),
        (
            "get-or-create-user",
            {"experiment_id": "{e}", "user": " "},
            400,
            "INVALID_PARAMETER_VALUE",
            "`name` must be a non-empty string; got ''.",
        ),
        (
            "update",
            {"queue_id": "rq-missing"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "Review queue with id 'rq-missing' not found.",
        ),
        ("delete", {}, 400, "INVALID_PARAMETER_VALUE", f"Missing value for required parameter 'queue_id'. {HINT}"),
        (
            "items/add",
            {"queue_id": "rq-missing"},
            400,
            "INVALID_PARAMETER_VALUE",
            "`item_ids` must be a non-empty list; got [].",
        ),
        (
            "items/add",
            {"queue_id": "rq-missing", "item_ids": ["tr-1"]},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "Review queue with id 'rq-missing' not found.",
        ),
        (
            "items/add",
            {"queue_id": "rq-missing", "item_ids": ["x" * 51]},
            400,
            "INVALID_PARAMETER_VALUE",
            "`item_id` must be at most 50 characters; got 51.",
        ),
        (
            "items/remove",
            {"queue_id": "rq-missing", "item_ids": [" "]},
            400,
            "INVALID_PARAMETER_VALUE",
            "`item_id` must be a non-empty string; got ''.",
        ),
        (
            "items/remove",
            {"queue_id": "rq-missing", "item_ids": ["tr-1"]},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "Review queue with id 'rq-missing' not found.",
        ),
        (
            "items/set-status",
            {"queue_id": "rq-missing", "item_id": "tr-1"},
            400,
            "INVALID_PARAMETER_VALUE",
            "`status` must be one of PENDING, COMPLETE, or DECLINED; got proto enum value 0.",
        ),
        (
            "items/set-status",
            {"queue_id": "rq-missing", "item_id": "tr-1", "status": "COMPLETE"},
            400,
            "INVALID_PARAMETER_VALUE",
            "`completed_by` is required when setting status to `complete`.",
        ),
        (
            "items/set-status",
            {"queue_id": "rq-missing", "item_id": "tr-1", "status": "PENDING", "completed_by": "ada"},
            400,
            "INVALID_PARAMETER_VALUE",
            "`completed_by` must not be set when reopening an item to `pending`.",
        ),
        (
            "items/set-status",
            {"queue_id": "rq-missing", "item_id": "tr-1", "status": "DECLINED", "completed_by": "ada"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "Review queue with id 'rq-missing' not found.",
        ),
    ],
)
def test_bad_queue_requests_are_refused_in_mlflows_words(
    http: httpx.Client, experiment_id: str, path: str, body: dict[str, Any], status: int, code: str, message: str
) -> None:
    body = {k: (experiment_id if v == "{e}" else v) for k, v in body.items()}
    response = http.post(f"{QUEUES}/{path}", json=body)
    assert _error(response) == (status, code, message.replace("{e}", experiment_id))
    assert "review_queues" not in _ok(http.get(f"{QUEUES}/list", params={"experiment_id": experiment_id}))


def test_unknown_queues_and_items(client: MlflowClient, http: httpx.Client, experiment_id: str) -> None:
    queue = review_queues.create_review_queue("known", queue_type="custom", experiment_id=experiment_id)
    for path, params in (("get", {"queue_id": "rq-missing"}), ("items/list", {"queue_id": "rq-missing"})):
        assert _error(http.get(f"{QUEUES}/{path}", params=params)) == (
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "Review queue with id 'rq-missing' not found.",
        )
    assert _error(http.get(f"{QUEUES}/get-by-name", params={"experiment_id": experiment_id, "name": "nope"})) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Review queue with name 'nope' not found for experiment '{experiment_id}'.",
    )
    assert _ok(http.post(f"{QUEUES}/delete", json={"queue_id": "rq-missing"})) == {}
    trace_id = _trace()
    assert _refused(
        lambda: review_queues.set_review_queue_item_status(
            queue.queue_id, item_id=f" {trace_id} ", status="complete", completed_by="ada"
        )
    ) == ("RESOURCE_DOES_NOT_EXIST", f"Item '{trace_id}' is not attached to review queue '{queue.queue_id}'.")
    assert _error(http.get(f"{QUEUES}/items/list", params={"queue_id": queue.queue_id, "max_results": "0"})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        f"max_results must be between 1 and 50000. {HINT}",
    )
    assert _error(http.get(f"{QUEUES}/list", params={"experiment_id": experiment_id, "page_token": "a"})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid page token, could not base64-decode",
    )


def test_the_web_uis_twins_answer_alike(http: httpx.Client, experiment_id: str) -> None:
    created = _ok(
        http.post(
            "/ajax-api/3.0/mlflow/review-queues/create",
            json={"experiment_id": experiment_id, "name": "from the UI", "queue_type": "CUSTOM", "users": ["ada"]},
        )
    )["review_queue"]
    for prefix in ("api", "ajax-api"):
        got = _ok(http.get(f"/{prefix}/3.0/mlflow/review-queues/get", params={"queue_id": created["queue_id"]}))
        assert got == {"review_queue": created}
        schemas = _ok(http.get(f"/{prefix}/3.0/mlflow/label-schemas/list", params={"experiment_id": experiment_id}))
        assert [s["name"] for s in schemas["label_schemas"]] == ["Feedback"]
    default = schemas["label_schemas"][0]
    assert default == {
        "schema_id": default["schema_id"],
        "experiment_id": experiment_id,
        "name": "Feedback",
        "type": "FEEDBACK",
        "instruction": "Share any feedback on this trace.",
        "enable_comment": False,
        "input": {"text": {}},
        "created_at": default["created_at"],
        "last_updated_at": default["created_at"],
        "is_default": True,
    }


def test_concurrent_callers_share_one_queue_one_default_question_and_one_row_per_trace(
    client: MlflowClient, server_url: str, experiment_id: str
) -> None:
    """Eight callers at once (the web UI of eight reviewers): one user queue for all, one default question, and each
    trace in a queue once; nobody gets an error."""
    traces = [_trace(), _trace()]

    def at_once(method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        def call(_: int) -> dict[str, Any]:
            return _ok(httpx.request(method, f"{server_url}{path}", timeout=60, **kwargs))

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(call, range(8)))

    body = {"experiment_id": experiment_id, "user": "ada"}
    queue_ids = {r["review_queue"]["queue_id"] for r in at_once("POST", f"{QUEUES}/get-or-create-user", json=body)}
    assert len(queue_ids) == 1
    queue_id = queue_ids.pop()

    listings = at_once("GET", f"{SCHEMAS}/list", params={"experiment_id": experiment_id})
    assert {tuple(s["schema_id"] for s in listing["label_schemas"]) for listing in listings} == {
        (listings[0]["label_schemas"][0]["schema_id"],)
    }

    added = at_once("POST", f"{QUEUES}/items/add", json={"queue_id": queue_id, "item_ids": traces})
    assert {tuple(item["item_id"] for item in response["items"]) for response in added} == {tuple(traces)}
    assert sorted(i.item_id for i in review_queues.list_review_queue_items(queue_id)) == sorted(traces)
