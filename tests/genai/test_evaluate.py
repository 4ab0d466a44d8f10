"""The loop a team runs with MLflow 3's GenAI evaluation, from the stock client against Runyard, on SQLite and
PostgreSQL: an evaluation dataset built with `merge_records`, `mlflow.genai.evaluate` over it with a `predict_fn`
and code scorers, and what the user then looks at: the evaluation run's metrics, one trace per row with the
scorers' feedback on it, and the dataset recorded as the run's input."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSourceType, Feedback
from mlflow.genai.scorers import scorer

QUESTIONS = {
    "What is the capital of France?": "Paris",
    "What is the capital of Japan?": "Tokyo",
    "What is the capital of Peru?": "Lima",
    "What is the capital of Kenya?": "Nairobi",
}
# The app under evaluation gets one answer wrong, so the metrics are not all perfect.
ANSWERS = {**QUESTIONS, "What is the capital of Kenya?": "Mombasa"}


@scorer
def exact_match(outputs: str, expectations: dict[str, str]) -> bool:
    return outputs == expectations["expected_response"]


@scorer
def answer_length(outputs: str) -> int:
    return len(outputs)


def predict_fn(question: str) -> str:
    return ANSWERS[question]


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return mlflow.set_experiment(unique_name).experiment_id


def test_evaluate_over_a_dataset_logs_metrics_traces_and_feedback(
    client: MlflowClient, experiment_id: str, unique_name: str
) -> None:
    dataset = mlflow.genai.datasets.create_dataset(name=unique_name, experiment_id=experiment_id)
    dataset.merge_records(
        [
            {"inputs": {"question": question}, "expectations": {"expected_response": answer}}
            for question, answer in QUESTIONS.items()
        ]
    )

    result = mlflow.genai.evaluate(data=dataset, predict_fn=predict_fn, scorers=[exact_match, answer_length])

    assert result.metrics["exact_match/mean"] == pytest.approx(0.75)
    expected_mean_length = sum(len(answer) for answer in ANSWERS.values()) / len(ANSWERS)
    assert result.metrics["answer_length/mean"] == pytest.approx(expected_mean_length)
    run = client.get_run(result.run_id)
    assert run.data.metrics["exact_match/mean"] == pytest.approx(0.75)
    assert run.info.experiment_id == experiment_id

    traces = mlflow.search_traces(locations=[experiment_id], run_id=result.run_id, return_type="list", max_results=100)
    assert len(traces) == len(QUESTIONS)
    verdicts = {}
    for trace in traces:
        question = trace.data.spans[0].inputs["question"]
        feedback = {a.name: a for a in trace.info.assessments if isinstance(a, Feedback)}
        assert set(feedback) == {"exact_match", "answer_length"}
        assert feedback["exact_match"].source.source_type == AssessmentSourceType.CODE
        assert feedback["answer_length"].value == len(ANSWERS[question])
        verdicts[question] = feedback["exact_match"].value
    assert verdicts == {question: ANSWERS[question] == answer for question, answer in QUESTIONS.items()}

    logged = [dataset_input.dataset for dataset_input in run.inputs.dataset_inputs]
    assert [(d.name, d.digest) for d in logged] == [(dataset.name, dataset.digest)]


def test_evaluate_again_after_records_change_scores_the_new_rows(
    client: MlflowClient, experiment_id: str, unique_name: str
) -> None:
    dataset = mlflow.genai.datasets.create_dataset(name=unique_name, experiment_id=experiment_id)
    dataset.merge_records(
        [{"inputs": {"question": "What is the capital of France?"}, "expectations": {"expected_response": "Paris"}}]
    )
    first = mlflow.genai.evaluate(data=dataset, predict_fn=predict_fn, scorers=[exact_match])
    assert first.metrics["exact_match/mean"] == 1.0

    dataset.merge_records(
        [{"inputs": {"question": "What is the capital of Kenya?"}, "expectations": {"expected_response": "Nairobi"}}]
    )
    reloaded = mlflow.genai.datasets.get_dataset(dataset_id=dataset.dataset_id)
    second = mlflow.genai.evaluate(data=reloaded, predict_fn=predict_fn, scorers=[exact_match])

    assert second.metrics["exact_match/mean"] == pytest.approx(0.5)
    assert len(mlflow.search_traces(locations=[experiment_id], run_id=second.run_id, return_type="list")) == 2
