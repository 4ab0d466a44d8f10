"""GenAI evaluation datasets as a user of MLflow 3 keeps them, through the stock client (`mlflow.genai.datasets`),
on SQLite and PostgreSQL: creating, finding and tagging datasets, merging records (re-merging the same inputs
updates the record), reading them back page by page, deleting records and datasets, and the experiments a dataset
belongs to. Raw HTTP covers what the client checks itself or cannot send: malformed tags and records, unknown
datasets and experiments, and the filter grammar's errors (also compared with MLflow's own parser)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.genai.datasets import (
    add_dataset_to_experiments,
    create_dataset,
    delete_dataset,
    delete_dataset_tag,
    get_dataset,
    remove_dataset_from_experiments,
    search_datasets,
    set_dataset_tags,
)
from mlflow.store.tracking import sqlalchemy_store as mlflow_store
from mlflow.utils.search_utils import SearchEvaluationDatasetsUtils

from server.errors import MlflowError
from server.store.dataset_grammar import parse_dataset_filter, parse_dataset_order_by
from server.store.search_grammar import Comparison, OrderKey

API = "/api/3.0/mlflow/datasets"
MISSING = "d-" + "0" * 32


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return mlflow.set_experiment(unique_name).experiment_id


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def _records(http: httpx.Client, dataset_id: str, **params: Any) -> tuple[list[dict[str, Any]], str | None]:
    response = http.get(f"{API}/{dataset_id}/records", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return json.loads(body["records"]), body.get("next_page_token")


def _stored(dataset_id: str) -> list[Any]:
    """The dataset's records as the stock client loads them (all pages)."""
    return list(MlflowClient().get_dataset(dataset_id).records)


def _upsert(http: httpx.Client, dataset_id: str, records: Any) -> httpx.Response:
    return http.post(f"{API}/{dataset_id}/records", json={"records": json.dumps(records)})


# --- datasets -------------------------------------------------------------------------------------------------------


def test_create_get_and_tag_a_dataset(client: MlflowClient, experiment_id: str, unique_name: str) -> None:
    dataset = create_dataset(name=unique_name, experiment_id=[experiment_id], tags={"team": "qa", "version": "1"})
    assert dataset.dataset_id.startswith("d-")
    assert len(dataset.dataset_id) == 34
    assert dataset.name == unique_name
    assert dataset.experiment_ids == [experiment_id]
    assert dataset.tags["team"] == "qa"
    assert dataset.created_by == dataset.last_updated_by == dataset.tags["mlflow.user"]  # the client names its user
    assert dataset.created_time == dataset.last_update_time > 0
    assert len(dataset.digest) == 8

    fetched = get_dataset(dataset_id=dataset.dataset_id)
    assert (fetched.name, fetched.tags, fetched.digest) == (unique_name, dataset.tags, dataset.digest)
    assert fetched.experiment_ids == [experiment_id]
    assert get_dataset(name=unique_name).dataset_id == dataset.dataset_id

    set_dataset_tags(dataset.dataset_id, {"team": "eval", "stage": "dev", "dropped": None})
    delete_dataset_tag(dataset.dataset_id, "version")
    delete_dataset_tag(dataset.dataset_id, "never-set")  # a no-op, as in MLflow
    tagged = get_dataset(dataset_id=dataset.dataset_id)
    assert {k: v for k, v in tagged.tags.items() if k != "mlflow.user"} == {"team": "eval", "stage": "dev"}
    assert tagged.last_update_time == dataset.last_update_time  # tags do not change the dataset's state
    assert tagged.digest == dataset.digest


def test_a_new_dataset_joins_the_current_experiment(client: MlflowClient, experiment_id: str, unique_name: str) -> None:
    assert create_dataset(name=unique_name).experiment_ids == [experiment_id]


def test_names_need_not_be_unique(client: MlflowClient, experiment_id: str, unique_name: str) -> None:
    """MLflow allows two datasets one name; fetching by that name then asks for the id."""
    first = create_dataset(name=unique_name, experiment_id=experiment_id)
    second = create_dataset(name=unique_name, experiment_id=experiment_id)
    assert first.dataset_id != second.dataset_id
    with pytest.raises(MlflowException, match=re.escape(f"Multiple datasets found with name '{unique_name}'")):
        get_dataset(name=unique_name)


def test_delete_dataset_removes_its_records(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    dataset = create_dataset(name="doomed", experiment_id=experiment_id)
    dataset.merge_records([{"inputs": {"q": "a"}}, {"inputs": {"q": "b"}}])
    delete_dataset(dataset_id=dataset.dataset_id)
    with pytest.raises(MlflowException, match=f"Evaluation dataset with id '{dataset.dataset_id}' not found"):
        get_dataset(dataset_id=dataset.dataset_id)
    assert _records(http, dataset.dataset_id) == ([], None)
    assert http.get(f"{API}/{dataset.dataset_id}/experiment-ids").json() == {}
    delete_dataset(dataset_id=dataset.dataset_id)  # again: a no-op, as in MLflow


# --- records ------------------------------------------------------------------------------------------------------


def test_merging_the_same_inputs_updates_the_record(client: MlflowClient, experiment_id: str) -> None:
    dataset = create_dataset(name="qa", experiment_id=experiment_id)
    dataset.merge_records(
        [
            {"inputs": {"question": "What is MLflow?"}, "expectations": {"answer": "A platform"}, "tags": {"t": "1"}},
            {"inputs": {"question": "What is Python?", "lang": "en"}, "expectations": {"answer": "A language"}},
        ]
    )
    first = {json.dumps(r.inputs, sort_keys=True): r for r in _stored(dataset.dataset_id)}
    dataset.merge_records(
        [
            # the same inputs, keys in another order: one record, its expectations and tags merged key by key
            {"inputs": {"lang": "en", "question": "What is Python?"}, "expectations": {"level": 1}},
            {"inputs": {"question": "What is MLflow?"}, "expectations": {"answer": "An ML platform"}},
            {"inputs": {"question": "What is Docker?"}, "expectations": {"answer": "Containers"}},
        ]
    )
    records = _stored(dataset.dataset_id)
    assert len(records) == 3
    by_inputs = {json.dumps(r.inputs, sort_keys=True): r for r in records}
    python = by_inputs['{"lang": "en", "question": "What is Python?"}']
    assert python.expectations == {"answer": "A language", "level": 1}
    mlflow_record = by_inputs['{"question": "What is MLflow?"}']
    assert mlflow_record.expectations == {"answer": "An ML platform"}
    assert mlflow_record.tags["t"] == "1"  # kept: the update sent no tag "t"
    for key, before in first.items():
        after = by_inputs[key]
        assert (after.dataset_record_id, after.created_time, after.created_by) == (
            before.dataset_record_id,
            before.created_time,
            before.created_by,
        )
        assert after.last_update_time >= before.last_update_time
    assert by_inputs['{"question": "What is Docker?"}'].expectations == {"answer": "Containers"}

    df = dataset.to_df()
    assert len(df) == 3
    assert {"inputs", "expectations", "outputs", "source", "tags"} <= set(df.columns)


def test_merge_from_a_dataframe(client: MlflowClient, experiment_id: str) -> None:
    dataset = create_dataset(name="frame", experiment_id=experiment_id)
    frame = pd.DataFrame(
        [
            {"inputs": {"q": "1+1"}, "expectations": {"answer": "2"}},
            {"inputs": {"q": "2+2"}, "expectations": {"answer": "4"}},
        ]
    )
    dataset.merge_records(frame)
    # A row without expectations holds NaN there, which the client sends as it is: no expectations.
    dataset.merge_records(
        pd.DataFrame([{"inputs": {"q": "3+3"}, "expectations": {"answer": "6"}}, {"inputs": {"q": "4+4"}}])
    )
    dataset.merge_records(pd.DataFrame([{"inputs": {"q": "1+1"}, "expectations": {"explained": True}}]))
    df = get_dataset(dataset_id=dataset.dataset_id).to_df()
    assert sorted(df["inputs"].map(lambda i: i["q"])) == ["1+1", "2+2", "3+3", "4+4"]
    by_question = {row["inputs"]["q"]: row["expectations"] for _, row in df.iterrows()}
    assert by_question["1+1"] == {"answer": "2", "explained": True}
    assert by_question["4+4"] is None


def test_merge_traces_with_their_expectations(client: MlflowClient, experiment_id: str) -> None:
    """The client turns each trace into a record (its root span's inputs and outputs, its expectations), sourced
    from the trace; merging the same trace again updates that record."""
    with mlflow.start_span("answer") as span:
        span.set_inputs({"question": "Why is the sky blue?"})
        span.set_outputs({"answer": "Rayleigh scattering"})
    mlflow.log_expectation(trace_id=span.trace_id, name="expected", value="scattering")
    trace = mlflow.get_trace(span.trace_id)
    assert trace is not None
    dataset = create_dataset(name="from-traces", experiment_id=experiment_id)
    dataset.merge_records([trace])
    dataset.merge_records([trace])
    (record,) = _stored(dataset.dataset_id)
    assert record.inputs == {"question": "Why is the sky blue?"}
    assert record.outputs == {"answer": "Rayleigh scattering"}
    assert record.expectations == {"expected": "scattering"}
    assert (record.source_type, record.source_id) == ("TRACE", span.trace_id)
    assert record.source.source_data["trace_id"] == span.trace_id


def test_an_upsert_answers_what_it_inserted_and_updated(
    client: MlflowClient, experiment_id: str, http: httpx.Client
) -> None:
    dataset = create_dataset(name="counts", experiment_id=experiment_id)
    first = [
        {"inputs": {"q": "a"}, "expectations": {"x": 1}, "tags": {"mlflow.user": "alice"}},
        {"inputs": {"q": "b"}, "outputs": "B", "source": {"source_type": "trace", "source_data": {"trace_id": "tr-1"}}},
    ]
    response = _upsert(http, dataset.dataset_id, first)
    assert response.json() == {"inserted_count": 2, "updated_count": 0}
    before = get_dataset(dataset_id=dataset.dataset_id)
    assert before.last_updated_by == "alice"  # the batch's last record that names a user
    assert json.loads(before.profile) == {"num_records": 2}
    assert json.loads(before.schema) == {
        "inputs": {"q": "string"},
        "outputs": "string",
        "expectations": {"x": "integer"},
        "version": "1.0",
    }

    again = [
        {"inputs": {"q": "a"}, "outputs": {"o": 1}, "tags": {"mlflow.user": "carol"}},
        {"inputs": {"q": "c"}},
        {"inputs": {"q": "c"}, "expectations": {"y": "z"}},  # the same inputs twice in a batch: one record
    ]
    assert _upsert(http, dataset.dataset_id, again).json() == {"inserted_count": 1, "updated_count": 2}
    after = get_dataset(dataset_id=dataset.dataset_id)
    assert after.last_updated_by == "carol"
    assert after.digest != before.digest
    assert after.last_update_time >= before.last_update_time
    assert json.loads(after.profile) == {"num_records": 3}
    _upsert(http, dataset.dataset_id, [])  # a batch naming no user clears the updater, as in MLflow
    assert get_dataset(dataset_id=dataset.dataset_id).last_updated_by is None

    records, token = _records(http, dataset.dataset_id)
    assert token is None
    a, b, c = records
    assert a["inputs"] == {"q": "a"}
    assert (a["outputs"], a["expectations"], a["tags"]) == ({"o": 1}, {"x": 1}, {"mlflow.user": "carol"})
    assert (a["created_by"], a["last_updated_by"]) == ("alice", "carol")
    assert b["outputs"] == "B"
    assert b["source"] == {"source_type": "TRACE", "source_data": {"trace_id": "tr-1"}}
    assert (b["source_id"], b["source_type"]) == ("tr-1", "TRACE")
    assert "created_by" not in b
    assert b["tags"] == {}
    assert c["outputs"] == {}
    assert c["expectations"] == {"y": "z"}
    assert c["created_time"] == c["last_update_time"]
    assert list(a) == [  # MLflow's DatasetRecord.to_dict() order
        "dataset_record_id",
        "dataset_id",
        "inputs",
        "expectations",
        "tags",
        "created_time",
        "last_update_time",
        "created_by",
        "last_updated_by",
        "outputs",
    ]


def test_records_come_back_page_by_page_in_a_stable_order(
    client: MlflowClient, experiment_id: str, http: httpx.Client
) -> None:
    dataset = create_dataset(name="big", experiment_id=experiment_id)
    for start in range(0, 2500, 1000):
        dataset.merge_records(
            [{"inputs": {"n": n}, "expectations": {"even": n % 2 == 0}} for n in range(start, min(start + 1000, 2500))]
        )
    assert len(get_dataset(dataset_id=dataset.dataset_id).to_df()) == 2500  # the client reads 1,000 at a time

    seen, token, pages = [], None, 0
    while True:
        page, token = _records(http, dataset.dataset_id, max_results=700, **({"page_token": token} if token else {}))
        seen += [record["inputs"]["n"] for record in page]
        pages += 1
        if token is None:
            break
        # a merge between pages updates a record in place and adds one at the end: nothing is skipped or repeated
        if pages == 1:
            dataset.merge_records([{"inputs": {"n": 0}, "expectations": {"seen": True}}, {"inputs": {"n": 2500}}])
    assert pages == 4
    assert seen == list(range(2501))


def test_delete_records(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    dataset = create_dataset(name="pruned", experiment_id=experiment_id)
    dataset.merge_records([{"inputs": {"q": q}} for q in "abc"])
    ids = [r.dataset_record_id for r in _stored(dataset.dataset_id)]
    assert dataset.delete_records([*ids[:2], "dr-" + "f" * 32]) == 2
    assert [r.inputs for r in _stored(dataset.dataset_id)] == [{"q": "c"}]
    assert get_dataset(dataset_id=dataset.dataset_id).profile == '{"num_records": 1}'
    response = http.request("DELETE", f"{API}/{dataset.dataset_id}/records", json={"dataset_record_ids": ids})
    assert response.json() == {"deleted_count": 1}
    assert get_dataset(dataset_id=dataset.dataset_id).profile == "null"  # as MLflow leaves it
    # Deleted inputs can come back as a new record.
    dataset.merge_records([{"inputs": {"q": "a"}}])
    assert [r.dataset_record_id in ids for r in _stored(dataset.dataset_id)] == [False]


def test_a_bad_record_leaves_the_batch_unwritten(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    dataset = create_dataset(name="atomic", experiment_id=experiment_id)
    dataset.merge_records([{"inputs": {"q": "kept"}}])
    before = get_dataset(dataset_id=dataset.dataset_id)
    batch = [{"inputs": {"q": "kept"}, "expectations": {"changed": True}}, {"inputs": {"q": "new"}}, {"inputs": "x"}]
    assert _error(_upsert(http, dataset.dataset_id, batch)) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Record 2: 'inputs' must be a JSON object, not string.",
    )
    records, _ = _records(http, dataset.dataset_id)
    assert [(r["inputs"], r.get("expectations")) for r in records] == [({"q": "kept"}, None)]
    after = get_dataset(dataset_id=dataset.dataset_id)
    assert (after.digest, after.last_update_time, after.profile) == (
        before.digest,
        before.last_update_time,
        before.profile,
    )


def test_special_numbers_survive_and_tell_inputs_apart(
    client: MlflowClient, experiment_id: str, http: httpx.Client
) -> None:
    """The client's `json.dumps` writes NaN, infinities and huge integers, which MLflow's server reads."""
    dataset = create_dataset(name="numbers", experiment_id=experiment_id)
    text = '[{"inputs": {"x": NaN}}, {"inputs": {"x": null}}, {"inputs": {"x": 123456789012345678901234567890}}]'
    response = http.post(f"{API}/{dataset.dataset_id}/records", json={"records": text})
    assert response.json() == {"inserted_count": 3, "updated_count": 0}
    again = http.post(f"{API}/{dataset.dataset_id}/records", json={"records": '[{"inputs": {"x": null}}]'})
    assert again.json() == {"inserted_count": 0, "updated_count": 1}
    records, _ = _records(http, dataset.dataset_id)
    values = [r["inputs"]["x"] for r in records]
    assert values[0] != values[0]
    assert values[1:] == [None, 123456789012345678901234567890]


# --- experiments --------------------------------------------------------------------------------------------------


def test_add_and_remove_experiments(client: MlflowClient, experiment_id: str, unique_name: str) -> None:
    other = client.create_experiment(f"{unique_name}-other")
    third = client.create_experiment(f"{unique_name}-third")
    dataset = create_dataset(name="shared", experiment_id=experiment_id)

    added = add_dataset_to_experiments(dataset.dataset_id, [other, third])
    assert sorted(added.experiment_ids) == sorted([experiment_id, other, third])
    assert added.last_update_time >= dataset.last_update_time
    assert add_dataset_to_experiments(dataset.dataset_id, [other]).experiment_ids == [experiment_id, other, third]

    removed = remove_dataset_from_experiments(dataset.dataset_id, [other, "424242"])  # not linked: ignored
    assert removed.experiment_ids == [experiment_id, third]
    assert remove_dataset_from_experiments(dataset.dataset_id, [other]).experiment_ids == [experiment_id, third]
    assert [d.dataset_id for d in search_datasets(experiment_ids=[other])] == []
    assert [d.dataset_id for d in search_datasets(experiment_ids=[third])] == [dataset.dataset_id]

    with pytest.raises(MlflowException, match="No Experiment with id=424242") as caught:
        add_dataset_to_experiments(dataset.dataset_id, ["424242"])
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    for call in (add_dataset_to_experiments, remove_dataset_from_experiments):
        with pytest.raises(MlflowException, match=f"Dataset '{MISSING}' not found"):
            call(MISSING, [experiment_id])


def test_a_deleted_experiment_keeps_its_datasets(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    """As in MLflow: the experiment is only marked deleted, so its links stay and come back with it."""
    dataset = create_dataset(name="kept", experiment_id=experiment_id)
    client.delete_experiment(experiment_id)
    assert get_dataset(dataset_id=dataset.dataset_id).experiment_ids == [experiment_id]
    assert [d.dataset_id for d in search_datasets(experiment_ids=[experiment_id])] == [dataset.dataset_id]
    client.restore_experiment(experiment_id)
    assert http.get(f"{API}/{dataset.dataset_id}/experiment-ids").json() == {"experiment_ids": [experiment_id]}


# --- search -------------------------------------------------------------------------------------------------------


def test_search_filters_orders_and_pages(client: MlflowClient, experiment_id: str, unique_name: str) -> None:
    other = client.create_experiment(f"{unique_name}-other")
    made = [
        create_dataset(name=f"{unique_name}-{i}", experiment_id=[experiment_id], tags={"team": team, "n": str(i)})
        for i, team in enumerate(["ml", "data", "ml", "web"])
    ]
    add_dataset_to_experiments(made[3].dataset_id, [other])
    ids = [d.dataset_id for d in made]

    def found(**kwargs: Any) -> list[str]:
        return [d.dataset_id for d in search_datasets(experiment_ids=[experiment_id], **kwargs)]

    def newest_first(*picked: int) -> list[str]:
        """Creation time descending, ties (datasets made in the same millisecond) by id descending, as MLflow."""
        chosen = sorted((made[i] for i in picked), key=lambda d: (d.created_time, d.dataset_id), reverse=True)
        return [d.dataset_id for d in chosen]

    assert found() == newest_first(0, 1, 2, 3)
    assert found(filter_string="tags.team = 'ml'") == newest_first(0, 2)
    assert found(filter_string=f"name LIKE '{unique_name}-%' AND tags.n != '1'") == newest_first(0, 2, 3)
    assert found(filter_string=f"name IN ('{unique_name}-1', '{unique_name}-3')") == newest_first(1, 3)
    later = [i for i in range(4) if made[i].created_time >= made[2].created_time]
    assert found(filter_string=f"created_time >= {made[2].created_time}") == newest_first(*later)
    assert found(filter_string="created_by = 'nobody'") == []
    assert found(order_by=["name DESC"]) == ids[::-1]
    oldest_first = sorted(made, key=lambda d: (d.created_time, "~" + "".join(chr(255 - ord(c)) for c in d.dataset_id)))
    assert found(order_by=["created_time ASC"]) == [d.dataset_id for d in oldest_first]
    assert [d.dataset_id for d in search_datasets(experiment_ids=[other])] == [ids[3]]

    page = client.search_datasets(experiment_ids=[experiment_id], max_results=3, order_by=["name"])
    assert [d.dataset_id for d in page] == ids[:3]
    rest = client.search_datasets(
        experiment_ids=[experiment_id], max_results=3, order_by=["name"], page_token=page.token
    )
    assert [d.dataset_id for d in rest] == ids[3:]
    assert not rest.token


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_search_over_get_and_post(
    client: MlflowClient, experiment_id: str, unique_name: str, http: httpx.Client, method: str
) -> None:
    dataset = create_dataset(name=unique_name, experiment_id=experiment_id)
    fields = {"experiment_ids": [experiment_id], "filter_string": f"name = '{unique_name}'"}
    response = http.get(f"{API}/search", params=fields) if method == "GET" else http.post(f"{API}/search", json=fields)
    assert [d["dataset_id"] for d in response.json()["datasets"]] == [dataset.dataset_id]
    assert list(response.json()["datasets"][0]) == [
        "dataset_id",
        "name",
        "tags",
        "digest",
        "created_time",
        "last_update_time",
        "created_by",
        "last_updated_by",
    ]


# --- errors over raw HTTP -----------------------------------------------------------------------------------------

BAD_REQUESTS: list[tuple[str, str, Callable[[str], dict[str, Any]], int, str, str]] = [
    ("POST", "/create", lambda e: {"experiment_ids": [e]}, 400, "INVALID_PARAMETER_VALUE",
     "Missing value for required parameter 'name'. See the API docs for more information about request parameters."),
    ("POST", "/create", lambda e: {"name": "x", "experiment_ids": ["424242"]}, 404, "RESOURCE_DOES_NOT_EXIST",
     "No Experiment with id=424242"),
    ("POST", "/create", lambda e: {"name": "x", "experiment_ids": [e], "tags": "{nope"}, 400, "INVALID_PARAMETER_VALUE",
     "Parameter 'tags' is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ("POST", "/create", lambda e: {"name": "x", "experiment_ids": [e], "tags": "[1]"}, 400, "INVALID_PARAMETER_VALUE",
     "Parameter 'tags' must be a JSON-encoded object of tag keys and values."),
    ("POST", "/search", lambda e: {"filter_string": "name = 'a' OR name = 'b'"}, 400, "INVALID_PARAMETER_VALUE",
     "Invalid clause(s) in filter string: OR"),
    ("POST", "/search", lambda e: {"max_results": 0}, 400, "INVALID_PARAMETER_VALUE",
     "Invalid value None for parameter 'max_results' supplied. It must be a positive integer"),
    ("POST", "/search", lambda e: {"max_results": 50001}, 400, "INVALID_PARAMETER_VALUE",
     "Invalid value 50001 for parameter 'max_results' supplied. It must be at most 50000"),
    ("POST", "/search", lambda e: {"page_token": "zzz"}, 400, "INVALID_PARAMETER_VALUE",
     "Invalid page token, could not base64-decode"),
    ("GET", f"/{MISSING}", lambda e: {}, 404, "RESOURCE_DOES_NOT_EXIST",
     f"Evaluation dataset with id '{MISSING}' not found"),
    ("PATCH", f"/{MISSING}/tags", lambda e: {"tags": "{}"}, 404, "RESOURCE_DOES_NOT_EXIST",
     f"Could not find evaluation dataset with ID {MISSING}"),
    ("POST", f"/{MISSING}/records", lambda e: {"records": "[]"}, 404, "RESOURCE_DOES_NOT_EXIST",
     f"Evaluation dataset with id '{MISSING}' not found"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "message"), BAD_REQUESTS)
def test_refused_dataset_requests(
    experiment_id: str,
    http: httpx.Client,
    method: str,
    path: str,
    body: Callable[[str], dict[str, Any]],
    status: int,
    code: str,
    message: str,
) -> None:
    fields = body(experiment_id)
    kwargs = {"params": fields} if method == "GET" else {"json": fields}
    assert _error(http.request(method, f"{API}{path}", **kwargs)) == (status, code, message)  # type: ignore[arg-type]


BAD_RECORDS: list[tuple[str, str]] = [
    ("not json", "Parameter 'records' is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    ('{"inputs": {}}', "Parameter 'records' must be a JSON-encoded list of records, not object."),
    ("[1]", "Each record must be a dictionary; record 0 is number."),
    ('[{"inputs": {}}, {"inputs": ["a"]}]', "Record 1: 'inputs' must be a JSON object, not array."),
    ('[{"inputs": null}]', "Record 0: 'inputs' must be a JSON object, not null."),
    ('[{"inputs": {}, "expectations": [1]}]', "Record 0: 'expectations' must be a JSON object, not array."),
    ('[{"inputs": {}, "tags": "t"}]', "Record 0: 'tags' must be a JSON object, not string."),
    (
        '[{"inputs": {}, "source": "s"}]',
        "Record 0: 'source' must be a JSON object with a 'source_type' string and optionally a 'source_data' object.",
    ),
    (
        '[{"inputs": {}, "source": {"source_type": "nope"}}]',
        "Invalid dataset record source type: NOPE. Valid source types: "
        "['UNSPECIFIED', 'TRACE', 'HUMAN', 'DOCUMENT', 'CODE']",
    ),
]


@pytest.mark.parametrize(("records", "message"), BAD_RECORDS)
def test_refused_records(
    client: MlflowClient, experiment_id: str, http: httpx.Client, records: str, message: str
) -> None:
    dataset = create_dataset(name="refusing", experiment_id=experiment_id)
    response = http.post(f"{API}/{dataset.dataset_id}/records", json={"records": records})
    assert _error(response) == (400, "INVALID_PARAMETER_VALUE", message)
    assert _records(http, dataset.dataset_id) == ([], None)


def test_unknown_datasets_where_mlflow_does_not_check(http: httpx.Client) -> None:
    """MLflow answers these for an unknown dataset as for an empty one; so do we."""
    assert http.delete(f"{API}/{MISSING}").json() == {}
    assert http.delete(f"{API}/{MISSING}/tags/k").json() == {}
    assert http.get(f"{API}/{MISSING}/experiment-ids").json() == {}
    assert http.get(f"{API}/{MISSING}/records").json() == {"records": "[]"}
    response = http.request("DELETE", f"{API}/{MISSING}/records", json={"dataset_record_ids": ["dr-1"]})
    assert response.json() == {"deleted_count": 0}


def test_record_pages_refuse_bad_cursors(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    dataset = create_dataset(name="cursor", experiment_id=experiment_id)
    for token in ("zzz", base64.b64encode(b"seq:x").decode()):
        response = http.get(f"{API}/{dataset.dataset_id}/records", params={"page_token": token})
        assert _error(response) == (400, "INVALID_PARAMETER_VALUE", f"Invalid page token: {token}")
    response = http.get(f"{API}/{dataset.dataset_id}/records", params={"max_results": -1})
    assert _error(response) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value -1 for parameter 'max_results' supplied. It must be a positive integer",
    )


# --- the filter grammar against MLflow's own parser and store checks ------------------------------------------------

Outcome = tuple[str, Any]


def _ours(parse: Callable[[Any], Any], argument: Any) -> Outcome:
    try:
        return "ok", parse(argument)
    except MlflowError as error:
        return "error", error.message


def _mlflow(step: Callable[[], Any]) -> Outcome:
    try:
        return "ok", step()
    except MlflowException as error:
        return "error", error.message


def _mlflow_filter(filter_string: str) -> Outcome:
    def step() -> list[Comparison]:
        parsed = SearchEvaluationDatasetsUtils.parse_search_filter(filter_string)
        mlflow_store._get_search_datasets_filter_clauses(parsed, "sqlite")
        return [Comparison(c["type"], c["key"], c["comparator"], c["value"]) for c in parsed]

    return _mlflow(step)


def _same(ours: Outcome, theirs: Outcome) -> None:
    assert ours[0] == theirs[0], f"ours {ours!r}, MLflow {theirs!r}"
    if "Valid keys are" in str(theirs[1]):  # MLflow prints its set in hash order; we sort it
        assert ours[1].split(": {")[0] == theirs[1].split(": {")[0]
    else:
        assert ours[1] == theirs[1]


FILTER_PARITY = [
    "name = 'x'",
    'name = "x"',
    "name != 'x'",
    "name LIKE 'x%'",
    "name ILIKE 'x%'",
    "name IN ('a', 'b')",
    "name NOT IN ('a')",
    "name = ('a')",
    "name = x",
    "name = 5",
    "name > 'a'",
    "name IS NULL",
    "created_by = 'ada'",
    "last_updated_by LIKE 'a%'",
    "created_by IN ('a')",
    "created_time > 5",
    "last_update_time <= -5",
    "created_time != 5",
    "created_time > '5'",
    "created_time > 1.5",
    "created_time > 1e3",
    "created_time LIKE 5",
    "created_time IN (1)",
    "tags.a = 'b'",
    "tags.a != 'b'",
    "tags.a LIKE 'b%'",
    "tags.a ILIKE 'b'",
    "tags.a > 'b'",
    "tags.a = 5",
    "tags.a IS NULL",
    "tags.a IS NOT NULL",
    "tags.a IN ('b')",
    "tag.a = 'b'",
    "attribute.name = 'x'",
    "foo = 'x'",
    "foo.bar = 'x'",
    "digest = 'x'",
    "NAME = 'x'",
    "name = 'a' AND tags.b = 'c'",
    "name = 'a' and created_time > 1",
    "name = 'a' AND",
    "name = 'a' OR name = 'b'",
    "NOT name = 'a'",
    "name = 'a'; name = 'b'",
    "name =",
    "'x' = name",
    "",
]


@pytest.mark.parametrize("filter_string", FILTER_PARITY)
def test_dataset_filter_matches_mlflow(filter_string: str) -> None:
    _same(_ours(parse_dataset_filter, filter_string), _mlflow_filter(filter_string))


@pytest.mark.parametrize(
    "order_by",
    [
        ["name"],
        ["name DESC", "created_time"],
        ["last_update_time asc"],
        ["name", "name DESC"],
        ["created_by"],
        ["tags.a"],
        ["attribute.name"],
        ["name sideways"],
        ["name ASC DESC"],
        [""],
    ],
)
def test_dataset_order_by_matches_mlflow(order_by: list[str]) -> None:
    def step() -> list[OrderKey]:
        mlflow_store._get_search_datasets_order_by_clauses(order_by)
        parsed = map(SearchEvaluationDatasetsUtils.parse_order_by_for_search_evaluation_datasets, order_by)
        return [OrderKey("attribute", key, ascending) for _, key, ascending in parsed]

    _same(_ours(parse_dataset_order_by, order_by), _mlflow(step))


# Where we deliberately differ: (text, MLflow's outcome, ours). Keywords are case-insensitive (MLflow fails with a
# 500 on `like`), quoted tag keys are unquoted (MLflow searches for the quotes), blank filters mean no filter.
DEVIATIONS = [
    ("name like 'x%'", "crash", [Comparison("attribute", "name", "LIKE", "x%")]),
    ("name in ('a')", "error", [Comparison("attribute", "name", "IN", ("a",))]),
    ("tags.`a b` = 'c'", "ok", [Comparison("tag", "a b", "=", "c")]),
    ("   ", "error", []),
]


@pytest.mark.parametrize(("text", "theirs", "ours"), DEVIATIONS)
def test_known_dataset_filter_deviations(text: str, theirs: str, ours: list[Comparison]) -> None:
    try:
        outcome = _mlflow_filter(text)[0]
    except KeyError:
        outcome = "crash"
    assert outcome == theirs
    assert parse_dataset_filter(text) == ours
