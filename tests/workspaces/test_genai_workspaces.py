"""MLflow 3's GenAI side inside workspaces, through the stock client: traces, evaluation datasets, registered
judges, label schemas and review queues made in one team's workspace are out of the other team's reach, by id or by
search."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.genai import datasets, label_schemas, review_queues
from mlflow.genai.label_schemas import InputPassFail
from mlflow.genai.scorers import Guidelines, list_scorers


def _missing(call: object) -> str:
    with pytest.raises(MlflowException) as raised:
        call()  # type: ignore[operator]
    return raised.value.error_code


def test_traces_datasets_and_judges_stay_in_their_workspace(client: MlflowClient, two_teams: tuple[str, str]) -> None:
    mine, theirs = two_teams
    mlflow.set_workspace(mine)
    experiment_id = mlflow.set_experiment("assistant").experiment_id
    with mlflow.start_span("answer") as span:
        span.set_inputs({"question": "capital of France?"})
        span.set_outputs("Paris")
    mlflow.flush_trace_async_logging()
    dataset = datasets.create_dataset(name="capitals", experiment_id=experiment_id)
    dataset.merge_records([{"inputs": {"country": "France"}, "expectations": {"expected_response": "Paris"}}])
    Guidelines(name="polite", guidelines="The answer is polite.").register(experiment_id=experiment_id)
    schema = label_schemas.create_label_schema(
        "correct",
        type="feedback",
        input=InputPassFail(positive_label="Yes", negative_label="No"),
        instruction="Right?",
        experiment_id=experiment_id,
    )
    queue = review_queues.create_review_queue("weekly", queue_type="custom", experiment_id=experiment_id)
    review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[span.trace_id])

    assert client.get_trace(span.trace_id).info.experiment_id == experiment_id
    assert [d.dataset_id for d in datasets.search_datasets(experiment_ids=[experiment_id])] == [dataset.dataset_id]
    assert [s.name for s in list_scorers(experiment_id=experiment_id)] == ["polite"]

    mlflow.set_workspace(theirs)
    mlflow.set_experiment("assistant")  # the same name, their own
    assert _missing(lambda: client.get_trace(span.trace_id)) == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_traces(locations=[experiment_id]) == []
    assert _missing(lambda: datasets.get_dataset(dataset_id=dataset.dataset_id)) == "RESOURCE_DOES_NOT_EXIST"
    assert datasets.search_datasets() == []
    assert _missing(lambda: list_scorers(experiment_id=experiment_id)) == "RESOURCE_DOES_NOT_EXIST"
    assert _missing(lambda: label_schemas.get_label_schema(schema_id=schema.schema_id)) == "RESOURCE_DOES_NOT_EXIST"
    assert _missing(lambda: review_queues.get_review_queue(queue.queue_id)) == "RESOURCE_DOES_NOT_EXIST"
    assert _missing(lambda: review_queues.list_review_queue_items(queue.queue_id)) == "RESOURCE_DOES_NOT_EXIST"
    datasets.delete_dataset(dataset_id=dataset.dataset_id)  # idempotent: deleting what one cannot see changes nothing

    mlflow.set_workspace(mine)
    assert datasets.get_dataset(dataset_id=dataset.dataset_id).to_df()["inputs"].tolist() == [{"country": "France"}]
    assert [item.item_id for item in review_queues.list_review_queue_items(queue.queue_id)] == [span.trace_id]
