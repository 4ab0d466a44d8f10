"""Registered scorers as a user of MLflow 3 keeps them, through the stock client, on SQLite and PostgreSQL: built-in
scorers and `make_judge` judges registered by name (each registration a new version), listed, read back by version
and deleted; custom `@scorer` code refused unless the server opts in; online scoring configs. Raw HTTP covers the
wire shapes and what the client cannot send."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.genai.judges import make_judge
from mlflow.genai.scorers import (
    Guidelines,
    RelevanceToQuery,
    Safety,
    ScorerSamplingConfig,
    delete_scorer,
    get_scorer,
    list_scorers,
    scorer,
)
from mlflow.genai.scorers.registry import list_scorer_versions

from tests.support.processes import runyard_server
from tests.support.stores import kind_of, new_store_uri

V3 = "/api/3.0/mlflow/scorers"
HINT = "See the API docs for more information about request parameters."
CUSTOM_REFUSED = (
    "Custom scorer registration (using @scorer decorator) is disabled by default "
    "outside of Databricks tracking environments due to security concerns. "
    "Custom scorers require arbitrary code execution during deserialization.\n\n"
    "To use custom scorers:\n"
    "1. Configure MLflow to use a Databricks tracking URI, or\n"
    "2. Manage your custom scorer code in a source code repository "
    "(e.g., GitHub) and import it directly, or\n"
    "3. On a self-managed MLflow server (or local environment) that you trust to run the "
    "scorer's code, set the MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS environment variable to true, or\n"
    "4. Use built-in scorers or make_judge() scorers instead."
)


@scorer
def short_answer(outputs: str) -> bool:
    return len(outputs) < 100


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return client.create_experiment(unique_name)


def _refused(call: Any) -> MlflowException:
    with pytest.raises(MlflowException) as refused:
        call()
    return refused.value


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def _register(http: httpx.Client, experiment_id: str, name: str, payload: Any) -> httpx.Response:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    body = {"experiment_id": experiment_id, "name": name, "serialized_scorer": text}
    return http.post(f"{V3}/register", json=body)


# --- registering, versions, reading back ---------------------------------------------------------------------------


def test_each_registration_is_a_new_version(client: MlflowClient, experiment_id: str) -> None:
    first = Safety().register(name="safety", experiment_id=experiment_id)
    second = Safety().register(name="safety", experiment_id=experiment_id)
    assert (first.scorer_version, second.scorer_version) == (1, 2)
    assert first.name == "safety"

    listed = list_scorers(experiment_id=experiment_id)
    assert [(s.name, s.scorer_version, type(s).__name__) for s in listed] == [("safety", 2, "Safety")]
    versions = list_scorer_versions(experiment_id=experiment_id, name="safety")
    assert [(type(s).__name__, version) for s, version in versions] == [("Safety", 1), ("Safety", 2)]

    assert get_scorer(name="safety", experiment_id=experiment_id).scorer_version == 2
    assert get_scorer(name="safety", experiment_id=experiment_id, version=1).scorer_version == 1


def test_builtin_scorers_keep_their_configuration(client: MlflowClient, experiment_id: str) -> None:
    Guidelines(name="polite", guidelines=["Be polite", "No jargon"]).register(experiment_id=experiment_id)
    RelevanceToQuery().register(experiment_id=experiment_id)

    polite = get_scorer(name="polite", experiment_id=experiment_id)
    assert isinstance(polite, Guidelines)
    assert polite.guidelines == ["Be polite", "No jargon"]
    listed = list_scorers(experiment_id=experiment_id)
    assert [s.name for s in listed] == ["polite", "relevance_to_query"]  # by name


def test_a_make_judge_scorer_registers(client: MlflowClient, experiment_id: str) -> None:
    judge = make_judge(
        name="tone",
        instructions="Is the answer in {{ outputs }} polite?",
        model="openai:/gpt-4o-mini",
        feedback_value_type=bool,
    )
    registered = judge.register(experiment_id=experiment_id)
    assert registered.scorer_version == 1

    loaded = get_scorer(name="tone", experiment_id=experiment_id)
    assert loaded.instructions == "Is the answer in {{ outputs }} polite?"  # type: ignore[attr-defined]
    assert loaded.model == "openai:/gpt-4o-mini"  # type: ignore[attr-defined]


def test_scorers_of_two_experiments_stay_apart(client: MlflowClient, experiment_id: str, unique_name: str) -> None:
    other = client.create_experiment(f"{unique_name}-other")
    Safety().register(name="shared-name", experiment_id=experiment_id)
    Safety().register(name="shared-name", experiment_id=other)
    Safety().register(name="shared-name", experiment_id=other)
    assert get_scorer(name="shared-name", experiment_id=experiment_id).scorer_version == 1
    assert get_scorer(name="shared-name", experiment_id=other).scorer_version == 2


def test_deleting_one_version_or_all(client: MlflowClient, experiment_id: str) -> None:
    for _ in range(3):
        Safety().register(name="safety", experiment_id=experiment_id)

    delete_scorer(name="safety", experiment_id=experiment_id, version=2)
    versions = list_scorer_versions(experiment_id=experiment_id, name="safety")
    assert [version for _, version in versions] == [1, 3]
    refused = _refused(lambda: get_scorer(name="safety", experiment_id=experiment_id, version=2))
    assert refused.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert refused.message == (
        f"RESOURCE_DOES_NOT_EXIST: Scorer with name 'safety' and version 2 not found for experiment {experiment_id}."
    )
    again = _refused(lambda: delete_scorer(name="safety", experiment_id=experiment_id, version=2))
    assert again.message == refused.message

    delete_scorer(name="safety", experiment_id=experiment_id, version="all")
    assert list_scorers(experiment_id=experiment_id) == []
    gone = _refused(lambda: get_scorer(name="safety", experiment_id=experiment_id))
    assert gone.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert gone.message == (
        f"RESOURCE_DOES_NOT_EXIST: Scorer with name 'safety' not found for experiment {experiment_id}."
    )
    # The name starts over, as in MLflow.
    assert Safety().register(name="safety", experiment_id=experiment_id).scorer_version == 1


def test_the_last_version_deleted_leaves_no_scorer_to_list(client: MlflowClient, experiment_id: str) -> None:
    Safety().register(name="safety", experiment_id=experiment_id)
    delete_scorer(name="safety", experiment_id=experiment_id, version=1)
    assert list_scorers(experiment_id=experiment_id) == []
    refused = _refused(lambda: list_scorer_versions(experiment_id=experiment_id, name="safety"))
    assert refused.message == (
        f"RESOURCE_DOES_NOT_EXIST: Scorer with name 'safety' not found for experiment {experiment_id}."
    )


def test_concurrent_registrations_get_distinct_versions(
    client: MlflowClient, experiment_id: str, http: httpx.Client
) -> None:
    payload = Safety().model_dump()
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: _register(http, experiment_id, "raced", payload), range(16)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    assert sorted(r.json()["version"] for r in responses) == list(range(1, 17))
    assert len({r.json()["scorer_id"] for r in responses}) == 1


# --- custom code -------------------------------------------------------------------------------------------------


def test_custom_scorer_code_is_refused_by_default(client: MlflowClient, experiment_id: str) -> None:
    refused = _refused(lambda: short_answer.register(experiment_id=experiment_id))
    assert refused.error_code == "INVALID_PARAMETER_VALUE"
    assert refused.message == f"INVALID_PARAMETER_VALUE: {CUSTOM_REFUSED}"
    assert list_scorers(experiment_id=experiment_id) == []


def test_custom_code_nested_in_an_ensemble_is_refused(experiment_id: str, http: httpx.Client) -> None:
    nested = {"name": "both", "ensemble_scorer_data": {"scorers": [Safety().model_dump(), short_answer.model_dump()]}}
    assert _error(_register(http, experiment_id, "both", nested)) == (400, "INVALID_PARAMETER_VALUE", CUSTOM_REFUSED)


@pytest.fixture(scope="module")
def custom_scorer_server(
    backend_store_uri: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A server started with MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS=true, on its own database of the same kind."""
    folder = tmp_path_factory.mktemp("custom-scorers")
    store_uri = new_store_uri(kind_of(backend_store_uri), folder, "custom", request)
    with runyard_server(store_uri, folder / "mlartifacts", env={"MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS": "true"}) as url:
        yield url


def test_a_server_that_opts_in_accepts_custom_scorers(
    custom_scorer_server: str, monkeypatch: pytest.MonkeyPatch, unique_name: str
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(custom_scorer_server)
    experiment_id = MlflowClient(custom_scorer_server).create_experiment(unique_name)

    registered = short_answer.register(experiment_id=experiment_id)
    assert registered.scorer_version == 1
    with httpx.Client(base_url=custom_scorer_server, timeout=30) as http:
        response = http.get(f"{V3}/get", params={"experiment_id": experiment_id, "name": "short_answer"})
    stored = json.loads(response.json()["scorer"]["serialized_scorer"])
    assert stored["call_source"] == "return len(outputs) < 100"


# --- errors and wire shapes ----------------------------------------------------------------------------------------


def test_the_wire_shapes(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    text = json.dumps(Safety().model_dump())
    registered = _register(http, experiment_id, "safety", text).json()
    assert set(registered) == {"version", "scorer_id", "experiment_id", "name", "serialized_scorer", "creation_time"}
    assert registered["experiment_id"] == experiment_id  # a string here
    assert (registered["version"], registered["name"], registered["serialized_scorer"]) == (1, "safety", text)

    got = http.get(f"{V3}/get", params={"experiment_id": experiment_id, "name": "safety", "version": "1"}).json()
    assert got == {
        "scorer": {
            "experiment_id": int(experiment_id),  # an int32 in the Scorer message
            "scorer_name": "safety",
            "scorer_version": 1,
            "serialized_scorer": text,
            "creation_time": registered["creation_time"],
            "scorer_id": registered["scorer_id"],
        }
    }
    for prefix in ("/api", "/ajax-api"):
        listed = http.get(f"{prefix}/3.0/mlflow/scorers/list", params={"experiment_id": experiment_id}).json()
        assert listed == {"scorers": [got["scorer"]]}
    empty = client.create_experiment(f"empty-{experiment_id}")
    assert http.get(f"{V3}/list", params={"experiment_id": empty}).json() == {}
    # DELETE takes its fields from a JSON body, as the client sends them.
    deleted = http.request("DELETE", f"{V3}/delete", json={"experiment_id": experiment_id, "name": "safety"})
    assert (deleted.status_code, deleted.json()) == (200, {})


def test_listing_across_experiments(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    other = client.create_experiment(f"other-{experiment_id}")
    Safety().register(name="a", experiment_id=experiment_id)
    Safety().register(name="b", experiment_id=other)

    def names(params: Any) -> list[tuple[int, str]]:
        response = http.get(f"{V3}/list", params=params)
        assert response.status_code == 200, response.text
        return [(s["experiment_id"], s["scorer_name"]) for s in response.json().get("scorers", [])]

    both = [(int(experiment_id), "a"), (int(other), "b")]
    assert names([("experiment_ids", experiment_id), ("experiment_ids", other), ("experiment_ids", "99999")]) == both
    assert set(both) <= set(names({}))  # no experiment named: every active experiment
    client.delete_experiment(other)
    assert names([("experiment_ids", experiment_id), ("experiment_ids", other)]) == both[:1]
    assert (int(other), "b") not in names({})
    assert _error(http.get(f"{V3}/list", params={"experiment_id": experiment_id, "experiment_ids": other})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Cannot specify both 'experiment_id' and 'experiment_ids'. Use 'experiment_ids' to scope the query to "
        "multiple experiments, or 'experiment_id' to scope it to a single experiment.",
    )
    assert _error(http.get(f"{V3}/list", params={"experiment_ids": "../x"})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid experiment ID: '../x'",
    )


def test_bad_registrations_are_refused(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    safety = Safety().model_dump()
    cases: list[tuple[dict[str, Any], tuple[int, str, str]]] = [
        (
            {"name": "x", "serialized_scorer": "{}"},
            (400, "INVALID_PARAMETER_VALUE", f"Missing value for required parameter 'experiment_id'. {HINT}"),
        ),
        (
            {"experiment_id": experiment_id, "serialized_scorer": "{}"},
            (400, "INVALID_PARAMETER_VALUE", f"Missing value for required parameter 'name'. {HINT}"),
        ),
        (
            {"experiment_id": experiment_id, "name": "x"},
            (400, "INVALID_PARAMETER_VALUE", f"Missing value for required parameter 'serialized_scorer'. {HINT}"),
        ),
        (
            {"experiment_id": experiment_id, "name": "x", "serialized_scorer": "{not json"},
            (400, "INVALID_PARAMETER_VALUE", "serialized_scorer must be valid JSON"),
        ),
        (
            {"experiment_id": experiment_id, "name": "   ", "serialized_scorer": "{}"},
            (400, "INVALID_PARAMETER_VALUE", "Scorer name cannot be empty or contain only whitespace."),
        ),
        (
            {"experiment_id": "999999", "name": "x", "serialized_scorer": "{}"},
            (404, "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=999999 exists"),
        ),
        (
            {"experiment_id": "abc", "name": "x", "serialized_scorer": "{}"},
            (400, "INVALID_PARAMETER_VALUE", "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."),
        ),
    ]
    for body, expected in cases:
        assert _error(http.post(f"{V3}/register", json=body)) == expected, body

    judge = {"name": "j", "instructions_judge_pydantic_data": {"instructions": "{{ outputs }}", "model": "  "}}
    assert _error(_register(http, experiment_id, "j", judge)) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Scorer model cannot be empty or contain only whitespace.",
    )
    # This server keeps no AI gateway endpoints: a judge served by one names an endpoint that does not exist.
    served = {**safety["builtin_scorer_pydantic_data"], "model": "gateway:/chat"}
    gateway = {**safety, "builtin_scorer_pydantic_data": served}
    assert _error(_register(http, experiment_id, "g", gateway)) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "GatewayEndpoint not found (name='chat')",
    )
    steered = {"name": "t", "third_party_scorer_data": {"kwargs": {"completion_kwargs": {"api_base": "http://evil"}}}}
    assert _error(_register(http, experiment_id, "t", steered)) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "third_party_scorer_data.kwargs must not contain 'api_base': these options choose where the scorer's LLM "
        "client sends requests. Configure the judge endpoint on the server instead, for example through a gateway "
        "endpoint ('gateway:/<name>') or the provider's environment variables.",
    )
    assert _error(_register(http, experiment_id, "x" * 257, safety)) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "'name' exceeds the maximum length of 256 characters",
    )
    assert list_scorers(experiment_id=experiment_id) == []


def test_unknown_scorers_and_versions(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    Safety().register(name="safety", experiment_id=experiment_id)
    missing = f"Scorer with name 'nope' not found for experiment {experiment_id}."
    for path, params in (
        ("get", {"name": "nope"}),
        ("versions", {"name": "nope"}),
    ):
        response = http.get(f"{V3}/{path}", params={"experiment_id": experiment_id, **params})
        assert _error(response) == (404, "RESOURCE_DOES_NOT_EXIST", missing)
    response = http.request("DELETE", f"{V3}/delete", json={"experiment_id": experiment_id, "name": "nope"})
    assert _error(response) == (404, "RESOURCE_DOES_NOT_EXIST", missing)
    response = http.get(f"{V3}/get", params={"experiment_id": experiment_id, "name": "safety", "version": "7"})
    assert _error(response) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Scorer with name 'safety' and version 7 not found for experiment {experiment_id}.",
    )
    response = http.get(f"{V3}/get", params={"experiment_id": experiment_id, "name": "safety", "version": "x"})
    assert _error(response)[:2] == (400, "INVALID_PARAMETER_VALUE")
    assert _error(http.get(f"{V3}/versions", params={"experiment_id": experiment_id})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        f"Missing value for required parameter 'name'. {HINT}",
    )


def test_a_deleted_experiment_keeps_its_scorers_until_restored(
    client: MlflowClient, experiment_id: str, http: httpx.Client
) -> None:
    """As in MLflow: a deleted experiment's scorers are refused, not dropped, and come back with it."""
    Safety().register(name="safety", experiment_id=experiment_id)
    client.delete_experiment(experiment_id)
    state = f"The experiment {experiment_id} must be in the 'active' state. Current state is deleted."
    refused = _refused(lambda: get_scorer(name="safety", experiment_id=experiment_id))
    assert refused.message == f"INVALID_PARAMETER_VALUE: {state}"
    assert _refused(lambda: list_scorers(experiment_id=experiment_id)).message == refused.message
    assert _refused(lambda: Safety().register(name="s2", experiment_id=experiment_id)).message == refused.message
    client.restore_experiment(experiment_id)
    assert [s.name for s in list_scorers(experiment_id=experiment_id)] == ["safety"]


# --- online scoring -------------------------------------------------------------------------------------------------


def test_stopping_a_scorer_records_its_online_config(client: MlflowClient, experiment_id: str) -> None:
    registered = Safety().register(name="safety", experiment_id=experiment_id)
    stopped = registered.stop()
    assert stopped.sample_rate == 0.0
    loaded = get_scorer(name="safety", experiment_id=experiment_id)
    assert (loaded.sample_rate, loaded.filter_string) == (0.0, None)
    assert [s.sample_rate for s in list_scorers(experiment_id=experiment_id)] == [0.0]


def test_online_scoring_needs_a_gateway_model(client: MlflowClient, experiment_id: str) -> None:
    registered = Safety().register(name="safety", experiment_id=experiment_id)
    refused = _refused(lambda: registered.start(sampling_config=ScorerSamplingConfig(sample_rate=0.5)))
    assert refused.message == (
        "INVALID_PARAMETER_VALUE: Scorer 'safety' does not use a gateway model. Automatic evaluation is only "
        "supported for scorers that use gateway models."
    )


def test_online_config_wire_shape_and_errors(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    scorer_id = _register(http, experiment_id, "safety", Safety().model_dump()).json()["scorer_id"]

    def put(body: dict[str, Any]) -> httpx.Response:
        return http.put(f"{V3}/online-config", json={"experiment_id": experiment_id, "name": "safety", **body})

    first = put({"sample_rate": 0, "filter_string": "trace.status = 'OK'"})
    assert first.status_code == 200, first.text
    config = first.json()["config"]
    assert config == {
        "online_scoring_config_id": config["online_scoring_config_id"],
        "scorer_id": scorer_id,
        "sample_rate": 0.0,
        "experiment_id": experiment_id,
        "filter_string": "trace.status = 'OK'",
    }
    second = put({"sample_rate": "0"}).json()["config"]  # text that is a number, as MLflow's float() takes it
    assert "filter_string" not in second
    assert second["online_scoring_config_id"] != config["online_scoring_config_id"]
    configs = http.get(f"{V3}/online-configs", params=[("scorer_ids", scorer_id), ("scorer_ids", "nobody")]).json()
    assert configs == {"configs": [second]}  # one config per scorer: an upsert replaces it
    assert http.get(f"{V3}/online-configs", params={"scorer_ids": "nobody"}).json() == {"configs": []}

    assert _error(http.get(f"{V3}/online-configs")) == (
        400,
        "INVALID_PARAMETER_VALUE",
        f"Missing value for required parameter 'scorer_ids'. {HINT}",
    )
    cases: list[tuple[dict[str, Any], tuple[int, str, str]]] = [
        ({}, (400, "INVALID_PARAMETER_VALUE", f"Missing value for required parameter 'sample_rate'. {HINT}")),
        (
            {"sample_rate": 1.5},
            (400, "INVALID_PARAMETER_VALUE", "sample_rate must be between 0.0 and 1.0, got 1.5"),
        ),
        (
            {"sample_rate": 0.1, "filter_string": 5},
            (
                400,
                "INVALID_PARAMETER_VALUE",
                "Invalid value 5 for parameter 'filter_string' supplied: Value was of type 'int'. "
                "Expected type 'str' or None.",
            ),
        ),
        (
            {"sample_rate": 0, "name": "nope"},
            (404, "RESOURCE_DOES_NOT_EXIST", f"Scorer with name 'nope' not found for experiment {experiment_id}."),
        ),
    ]
    for body, expected in cases:
        assert _error(put(body)) == expected, body
    bad_filter = put({"sample_rate": 0, "filter_string": "trace.status OR x"})
    assert _error(bad_filter)[:2] == (400, "INVALID_PARAMETER_VALUE")
    # Deleting the scorer deletes its config.
    http.request("DELETE", f"{V3}/delete", json={"experiment_id": experiment_id, "name": "safety"})
    assert http.get(f"{V3}/online-configs", params={"scorer_ids": scorer_id}).json() == {"configs": []}
