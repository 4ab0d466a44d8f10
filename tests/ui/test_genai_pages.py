"""MLflow's GenAI pages of an experiment in a real browser, on data the stock client put in Runyard: the Datasets
page listing an evaluation dataset and opening it to its records; the Evaluation runs page listing a
`mlflow.genai.evaluate` run and opening it to one row per record with each code scorer's value; the Judges page
listing a registered judge; and the Review page showing a review queue of a trace with its question, where a reviewer
answers it in the browser, which stores the answer as feedback on the trace and marks the item done."""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSourceType, Feedback
from mlflow.genai import label_schemas, review_queues
from mlflow.genai.label_schemas import InputPassFail
from mlflow.genai.review_queues import ReviewStatus
from mlflow.genai.scorers import Guidelines, scorer
from playwright.sync_api import Page, Response, expect

# Without --auth nobody is signed in, which the UI asks (MLflow's server answers the same).
EXPECTED_FAILURES = {"404 GET /ajax-api/2.0/mlflow/users/current"}

DATASET = "capitals"
QUESTIONS = {
    "What is the capital of France?": "Paris",
    "What is the capital of Japan?": "Tokyo",
    "What is the capital of Peru?": "Lima",
    "What is the capital of Kenya?": "Nairobi",
}
# The app under evaluation gets one answer wrong, so the page shows both verdicts.
ANSWERS = {**QUESTIONS, "What is the capital of Kenya?": "Mombasa"}
QUEUE = "Tide review"
QUESTION = "tide_correct"
JUDGE = "polite"


@scorer
def exact_match(outputs: str, expectations: dict[str, str]) -> bool:
    return outputs == expectations["expected_response"]


@scorer
def answer_length(outputs: str) -> int:
    return len(outputs)


def predict_fn(question: str) -> str:
    return ANSWERS[question]


@dataclass(frozen=True)
class GenAI:
    experiment_id: str
    dataset_id: str
    run_name: str
    queue_id: str
    trace_id: str  # the trace in the review queue


@pytest.fixture(scope="module")
def genai(server: str, monkeypatch_module: pytest.MonkeyPatch) -> GenAI:
    """A dataset, an evaluation of it with two code scorers, and a review queue of one trace with one question."""
    monkeypatch_module.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server)
    experiment_id = mlflow.set_experiment("ui-genai").experiment_id

    dataset = mlflow.genai.datasets.create_dataset(name=DATASET, experiment_id=experiment_id)
    dataset.merge_records(
        [
            {"inputs": {"question": question}, "expectations": {"expected_response": answer}}
            for question, answer in QUESTIONS.items()
        ]
    )
    result = mlflow.genai.evaluate(data=dataset, predict_fn=predict_fn, scorers=[exact_match, answer_length])
    run_name = MlflowClient(server).get_run(result.run_id).info.run_name

    with mlflow.start_span("answer") as span:
        span.set_inputs({"question": "When is high tide?"})
        span.set_outputs({"answer": "At 6:12."})
    schema = label_schemas.create_label_schema(
        QUESTION,
        type="feedback",
        input=InputPassFail(positive_label="Correct", negative_label="Incorrect"),
        instruction="Check it against the tide table.",
        experiment_id=experiment_id,
    )
    assert schema.schema_id is not None
    queue = review_queues.create_review_queue(
        QUEUE, queue_type="custom", schema_ids=[schema.schema_id], experiment_id=experiment_id
    )
    review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[span.trace_id])
    Guidelines(name=JUDGE, guidelines="The answer is polite.").register(experiment_id=experiment_id)
    return GenAI(experiment_id, dataset.dataset_id, run_name, queue.queue_id, span.trace_id)


@pytest.fixture
def no_unexpected_errors(page: Page) -> Iterator[None]:
    """Records every 4xx and 5xx the page gets; the test fails on any that MLflow's server would not answer too."""
    seen: set[str] = set()

    def record(response: Response) -> None:
        if response.status >= 400:
            seen.add(f"{response.status} {response.request.method} {urlsplit(response.url).path}")

    page.on("response", record)
    yield
    assert seen <= EXPECTED_FAILURES, f"the UI got errors: {sorted(seen - EXPECTED_FAILURES)}"


def open_page(page: Page, url: str) -> None:
    """Go to `url` and close the assistant's welcome panel, which a new browser gets over the right of the page."""
    page.goto(url)
    page.get_by_role("button", name="Close").click()


@pytest.mark.usefixtures("no_unexpected_errors")
def test_the_datasets_page_lists_the_dataset_and_opens_it_to_its_records(page: Page, server: str, genai: GenAI) -> None:
    open_page(page, f"{server}/#/experiments/{genai.experiment_id}/datasets")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=DATASET))
    expect(row).to_have_count(1)
    expect(row.get_by_text(getpass.getuser(), exact=True)).to_be_visible()  # the client's user made it

    row.get_by_role("link", name=DATASET).click()
    expect(page.get_by_text(f"Dataset ID: {genai.dataset_id}")).to_be_visible()
    expect(page.get_by_text(f"{len(QUESTIONS)} records")).to_be_visible()
    kenya = page.get_by_role("row").filter(has_text='{"question":"What is the capital of Kenya?"}')
    expect(kenya.get_by_text('{"expected_response":"Nairobi"}')).to_be_visible()
    expect(page.get_by_text('{"question":"What is the capital of France?"}')).to_be_visible()


@pytest.mark.usefixtures("no_unexpected_errors")
def test_the_evaluation_runs_page_lists_the_run_and_opens_it_to_each_rows_scores(
    page: Page, server: str, genai: GenAI
) -> None:
    open_page(page, f"{server}/#/experiments/{genai.experiment_id}/evaluation-runs")
    run_row = page.get_by_role("row").filter(has_text=genai.run_name)
    expect(run_row.get_by_text(DATASET, exact=True)).to_be_visible()
    expect(run_row.get_by_text("0.75", exact=True)).to_be_visible()  # exact_match/mean
    expect(page.get_by_role("columnheader", name="exact_match/mean")).to_be_visible()

    run_row.get_by_text(genai.run_name, exact=True).click()
    # Each scorer's column, headed by its summary over the rows: 3 of 4 answers right, 21 characters in 4 answers.
    expect(page.get_by_role("columnheader", name=re.compile(r"^exact_match TRUE 75%"))).to_be_visible()
    expect(page.get_by_role("columnheader", name=re.compile(r"^answer_length AVG 5\.25 "))).to_be_visible()
    for question, answer in ANSWERS.items():
        row = page.get_by_role("row").filter(has_text=question)
        expect(row.get_by_text(f'"{answer}"', exact=True)).to_be_visible()  # the response
        expect(row.get_by_text(QUESTIONS[question], exact=True)).to_be_visible()  # the expectation
        expect(row.get_by_text(str(len(answer)), exact=True)).to_be_visible()  # answer_length
        verdict = "True" if answer == QUESTIONS[question] else "False"
        expect(row.get_by_text(verdict, exact=True)).to_be_visible()  # exact_match
    expect(page.get_by_text(f"{len(QUESTIONS)} of {len(QUESTIONS)}")).to_be_visible()


@pytest.mark.usefixtures("no_unexpected_errors")
def test_a_reviewer_answers_the_queues_question_in_the_browser(page: Page, server: str, genai: GenAI) -> None:
    open_page(page, f"{server}/#/experiments/{genai.experiment_id}/review-queue")
    page.get_by_role("button", name=f"{QUEUE} 1", exact=True).click()  # the queue, with its one item to do
    expect(page.get_by_text("1 question", exact=True)).to_be_visible()
    item = page.get_by_role("row").filter(has_text='{"question": "When is high tide?"}')
    expect(item.get_by_text('{"answer": "At 6:12."}')).to_be_visible()
    expect(item.get_by_text("Needs review", exact=True)).to_be_visible()

    page.get_by_role("button", name="Start review").click()
    expect(page.get_by_text("0 of 1 reviewed (0%)")).to_be_visible()
    expect(page.get_by_text(QUESTION, exact=True)).to_be_visible()
    expect(page.get_by_text("Check it against the tide table.")).to_be_visible()
    page.get_by_role("radiogroup").get_by_text("Correct", exact=True).click()  # the label: the input is drawn hidden

    # Picking the answer saves the feedback and marks the item reviewed at once, unless the page was still busy
    # with the item when it was picked (seen on a loaded machine): the answer then stays picked and the reviewer
    # presses Submit, as a person would. Either way the outcome gets a minute: two round trips under load.
    done = page.get_by_text("All items in this queue have been reviewed!")
    submit = page.locator("button:enabled", has_text="Submit")
    expect(done.or_(submit)).to_be_visible(timeout=60_000)
    if not done.is_visible():
        submit.click()
    expect(done).to_be_visible(timeout=60_000)
    expect(item.get_by_text("Reviewed", exact=True)).to_be_visible()
    expect(page.get_by_text("Completed (1)")).to_be_visible()
    expect(page.get_by_role("button", name=QUEUE, exact=True)).to_be_visible()  # nothing left to do

    trace = MlflowClient(server).get_trace(genai.trace_id)
    [answer] = [a for a in trace.info.assessments if isinstance(a, Feedback) and a.name == QUESTION]
    assert answer.value is True
    assert answer.source.source_type == AssessmentSourceType.HUMAN
    mlflow.set_tracking_uri(server)  # reset after every test
    [reviewed] = review_queues.list_review_queue_items(genai.queue_id)
    assert (reviewed.item_id, reviewed.status) == (genai.trace_id, ReviewStatus.COMPLETE)
    assert reviewed.completed_by == answer.source.source_id


@pytest.mark.usefixtures("no_unexpected_errors")
def test_the_judges_page_lists_the_registered_judge(page: Page, server: str, genai: GenAI) -> None:
    open_page(page, f"{server}/#/experiments/{genai.experiment_id}/judges")
    expect(page.get_by_text(JUDGE, exact=True)).to_be_visible()
    expect(page.get_by_text("Version 1", exact=True)).to_be_visible()
    expect(page.get_by_text("Evaluating traces: OFF")).to_be_visible()  # registered, not scoring new traces
