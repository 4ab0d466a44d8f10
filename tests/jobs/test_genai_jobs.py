"""MLflow's server-side GenAI jobs on Runyard's queue, through MLflow's job API (`/ajax-api/3.0/jobs`) as the web
UI calls it: a scorer job submitted there is claimed by a real `runyard worker`, runs MLflow's own job function in a
process of its own, and writes its feedback onto the traces over REST; its result, log and status read back the way
MLflow shows them, and the job is on Runyard's job list beside MLflow Projects. What the allow-list and the
custom-scorer guard refuse never reaches the queue."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import mlflow
import pytest
from mlflow.entities import Feedback
from mlflow.genai.scorers import scorer

from server.services.genai_jobs import CUSTOM_SCORERS_DISABLED

JOBS = "/ajax-api/3.0/jobs"


@scorer
def mentions_paris(trace):  # a scorer run on traces gets each trace; no inputs or outputs
    return "Paris" in str(trace.data.response)


@pytest.fixture
def api(jobs_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=jobs_server, timeout=30) as client:
        yield client


@pytest.fixture
def experiment_id(tracking: str, request: pytest.FixtureRequest) -> str:
    return mlflow.set_experiment(f"genai-jobs-{request.node.name}-{time.monotonic_ns()}").experiment_id


def _trace(answer: str) -> str:
    with mlflow.start_span("answer") as span:
        span.set_inputs({"question": "What is the capital of France?"})
        span.set_outputs(answer)
    return span.trace_id


def _wait(api: httpx.Client, job_id: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"{JOBS}/{job_id}").json()
        if job["status"] in ("SUCCEEDED", "FAILED", "TIMEOUT", "CANCELED"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"GenAI job {job_id} still {job['status']} after {timeout}s")
        time.sleep(0.2)


def _scorer_job(experiment_id: str, trace_ids: list[str]) -> dict[str, Any]:
    return {
        "job_name": "invoke_scorer",
        "params": {
            "experiment_id": experiment_id,
            "serialized_scorer": json.dumps(mentions_paris.model_dump()),
            "trace_ids": trace_ids,
            "log_assessments": True,
        },
    }


def test_scorer_job_runs_on_a_worker_and_writes_feedback_onto_the_traces(
    api: httpx.Client, worker: int, experiment_id: str
) -> None:
    right, wrong = _trace("Paris"), _trace("Lyon")

    submitted = api.post(f"{JOBS}/", json=_scorer_job(experiment_id, [right, wrong]))

    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "PENDING"
    assert submitted.json()["job_name"] == "invoke_scorer"
    job = _wait(api, submitted.json()["job_id"])
    log = api.get(f"/runyard/api/jobs/{job['job_id']}/logs").text
    assert job["status"] == "SUCCEEDED", (job["error_message"], log[-3000:])
    assert set(job["result"]) == {right, wrong}
    assert all(not result["failures"] for result in job["result"].values())
    for trace_id, expected in ((right, True), (wrong, False)):
        trace = mlflow.get_trace(trace_id)
        assert trace is not None
        feedback = [a for a in trace.info.assessments if isinstance(a, Feedback) and a.name == "mentions_paris"]
        assert [f.value for f in feedback] == [expected]

    listed = api.get("/runyard/api/jobs", params={"experiment_id": experiment_id}).json()["jobs"]
    assert [(j["job_id"], j["kind"], j["entry_point"], j["run_id"]) for j in listed] == [
        (job["job_id"], "genai", "invoke_scorer", None)
    ]
    assert "=== Running GenAI job 'invoke_scorer' ===" in log

    found = api.post(f"{JOBS}/search", json={"job_name": "invoke_scorer", "params": {"experiment_id": experiment_id}})
    assert [j["job_id"] for j in found.json()["jobs"]] == [job["job_id"]]
    refused = api.patch(f"{JOBS}/cancel/{job['job_id']}")
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        f"The Job {job['job_id']} is already finalized with status: SUCCEEDED, it can't be updated."
    )


def test_a_job_name_off_the_allow_list_is_refused_and_never_queued(api: httpx.Client, experiment_id: str) -> None:
    refused = api.post(f"{JOBS}/", json={"job_name": "os.system", "params": {"command": "touch /tmp/owned"}})

    assert refused.status_code == 400
    assert (refused.json()["error_code"], refused.json()["message"]) == (
        "INVALID_PARAMETER_VALUE",
        "Invalid job name: os.system",
    )
    assert api.post(f"{JOBS}/search", json={"job_name": "os.system"}).json() == {"jobs": []}


def test_missing_arguments_are_refused_as_mlflow_refuses_them(api: httpx.Client, experiment_id: str) -> None:
    refused = api.post(f"{JOBS}/", json={"job_name": "invoke_scorer", "params": {"experiment_id": experiment_id}})

    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "Missing required parameters for function 'invoke_scorer_job': ['serialized_scorer', 'trace_ids']. "
        "Expected parameters: ['experiment_id', 'serialized_scorer', 'trace_ids', 'log_assessments', 'username', "
        "'scorer_version']"
    )


def test_unknown_job_is_not_found(api: httpx.Client) -> None:
    missing = api.get(f"{JOBS}/no-such-job")

    assert missing.status_code == 404
    assert (missing.json()["error_code"], missing.json()["message"]) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Job with ID no-such-job not found",
    )


def test_custom_scorer_code_is_refused_unless_the_operator_allows_it(server_url: str, client: Any) -> None:
    """The suite's shared server runs with MLflow's default: custom `@scorer` code is not accepted into the queue."""
    experiment_id = mlflow.set_experiment(f"genai-jobs-custom-{time.monotonic_ns()}").experiment_id
    with httpx.Client(base_url=server_url, timeout=30) as api:
        refused = api.post(f"{JOBS}/", json=_scorer_job(experiment_id, [_trace("Paris")]))

        assert refused.status_code == 400
        assert refused.json()["message"] == CUSTOM_SCORERS_DISABLED
        assert api.post(f"{JOBS}/search", json={"params": {"experiment_id": experiment_id}}).json() == {"jobs": []}


INVOKE_SCORER = "/ajax-api/3.0/mlflow/scorer/invoke"
INVOKE_EVALUATE = "/ajax-api/3.0/mlflow/genai/evaluate/invoke"
INVOKE_ISSUE_DETECTION = "/ajax-api/3.0/mlflow/issues/invoke"


def _feedback(trace_id: str) -> list[Any]:
    trace = mlflow.get_trace(trace_id)
    assert trace is not None
    return [a.value for a in trace.info.assessments if isinstance(a, Feedback) and a.name == "mentions_paris"]


def test_the_run_a_judge_button_scores_traces_with_a_registered_scorer(
    api: httpx.Client, worker: int, experiment_id: str
) -> None:
    registered = mentions_paris.register(name="mentions_paris", experiment_id=experiment_id)
    traces = [_trace("Paris"), _trace("Lyon")]

    answer = api.post(
        INVOKE_SCORER,
        json={
            "experiment_id": experiment_id,
            "serialized_scorer": json.dumps(registered.model_dump()),
            "scorer_name": "mentions_paris",
            "scorer_version": 1,
            "trace_ids": [*traces, traces[0]],  # named twice, scored once
            "log_assessments": True,
        },
    )

    assert answer.status_code == 200, answer.text
    [submitted] = answer.json()["jobs"]
    assert submitted["trace_ids"] == traces
    job = _wait(api, submitted["job_id"])
    assert job["status"] == "SUCCEEDED", job["error_message"]
    assert job["params"]["scorer_version"] == 1
    assert [_feedback(trace_id) for trace_id in traces] == [[True], [False]]


def test_a_trace_of_another_experiment_is_refused_and_nothing_is_queued(api: httpx.Client, experiment_id: str) -> None:
    mine = _trace("Paris")
    mlflow.set_experiment(f"genai-jobs-other-{time.monotonic_ns()}")
    theirs = _trace("Paris")
    body = {"experiment_id": experiment_id, "serialized_scorer": json.dumps(mentions_paris.model_dump())}

    refused = api.post(INVOKE_SCORER, json={**body, "trace_ids": [mine, theirs]})

    assert refused.status_code == 403
    assert (refused.json()["error_code"], refused.json()["message"]) == (
        "PERMISSION_DENIED",
        "Not all requested traces could be accessed.",
    )
    empty = api.post(INVOKE_SCORER, json={**body, "trace_ids": []})
    assert empty.json()["message"] == "Please select at least one trace to evaluate."
    assert api.post(f"{JOBS}/search", json={"params": {"experiment_id": experiment_id}}).json() == {"jobs": []}


def test_the_run_an_evaluation_button_evaluates_traces_into_a_new_run(
    api: httpx.Client, worker: int, experiment_id: str
) -> None:
    traces = [_trace("Paris"), _trace("Lyon")]

    answer = api.post(
        INVOKE_EVALUATE,
        json={
            "experiment_id": experiment_id,
            "trace_ids": traces,
            "serialized_scorers": [json.dumps(mentions_paris.model_dump())],
        },
    )

    assert answer.status_code == 200, answer.text
    job_id, run_id = answer.json()["job_id"], answer.json()["run_id"]
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)  # listed at once, before the job has run
    assert run.info.experiment_id == experiment_id
    assert run.data.tags["mlflow.runType"] == "genai_evaluate"
    assert run.data.tags["mlflow.genaiEvaluate.jobId"] == job_id
    job = _wait(api, job_id)
    assert job["status"] == "SUCCEEDED", job["error_message"]
    finished = client.get_run(run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.metrics["mentions_paris/mean"] == 0.5
    assert [_feedback(trace_id) for trace_id in traces] == [[True], [False]]


def test_the_detect_issues_button_makes_a_run_and_a_job_that_ends_with_the_providers_error(
    api: httpx.Client, worker: int, experiment_id: str
) -> None:
    traces = [_trace("Paris"), _trace("Lyon")]
    body = {"experiment_id": experiment_id, "trace_ids": [*traces, traces[0]], "categories": ["correctness"]}

    answer = api.post(INVOKE_ISSUE_DETECTION, json={**body, "provider": "OpenAI", "model": "gpt-4o-mini"})

    assert answer.status_code == 200, answer.text
    job_id, run_id = answer.json()["job_id"], answer.json()["run_id"]
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)  # listed at once, running, before the job has run
    assert run.info.status == "RUNNING"
    assert {key: run.data.tags[key] for key in ("mlflow.runType", "categories", "model", "total_traces")} == {
        "mlflow.runType": "issue_detection",
        "categories": "correctness",
        "model": "openai:/gpt-4o-mini",
        "total_traces": "2",
    }
    assert run.data.tags["mlflow.issueDetection.jobId"] == job_id
    submitted = api.get(f"{JOBS}/{job_id}").json()
    assert submitted["job_name"] == "invoke_issue_detection"
    assert submitted["params"]["trace_ids"] == traces  # the repeated trace is analysed once
    job = _wait(api, job_id)
    # No LLM provider is reachable from the tests: MLflow's job links the traces, then fails the run with the error.
    assert job["status"] == "FAILED"
    assert job["error_message"]
    assert client.get_run(run_id).info.status == "FAILED"
    linked = client.search_traces(locations=[experiment_id], run_id=run_id)
    assert sorted(trace.info.trace_id for trace in linked) == sorted(traces)


def test_issue_detection_needs_a_provider_key_the_server_holds_and_no_gateway_names(
    api: httpx.Client, experiment_id: str
) -> None:
    body = {"experiment_id": experiment_id, "trace_ids": [_trace("Paris")], "categories": []}

    def refused(**fields: Any) -> tuple[int, str, str]:
        answer = api.post(INVOKE_ISSUE_DETECTION, json={**body, **fields})
        return answer.status_code, answer.json()["error_code"], answer.json()["message"]

    assert refused(provider="anthropic", model="claude") == (
        400,
        "INVALID_PARAMETER_VALUE",
        "No API key available for provider 'anthropic'. Save an API key in AI Gateway, or set ANTHROPIC_API_KEY on "
        "the MLflow server.",
    )
    assert refused(provider="acme", model="m1") == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Unsupported provider 'acme'. Choose a supported provider or AI Gateway endpoint.",
    )
    assert refused(provider="openai") == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Either 'endpoint_name' or both 'provider' and 'model' must be provided",
    )
    assert refused(provider="openai", endpoint_name="chat") == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "GatewayEndpoint not found (name='chat')",
    )
    assert refused(provider="openai", model="m", secret_id="s-1") == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "GatewaySecret not found (secret_id='s-1')",
    )
    assert refused(provider="openai", model="m", trace_ids=[]) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Please select at least one trace to analyze.",
    )
    assert refused(model="m")[2].startswith("Missing value for required parameter 'provider'.")
    assert api.post(f"{JOBS}/search", json={"params": {"experiment_id": experiment_id}}).json() == {"jobs": []}
    assert mlflow.search_runs([experiment_id]).empty


OPTIMIZATION = "/api/3.0/mlflow/prompt-optimization/jobs"


def test_a_prompt_optimization_job_runs_on_the_queue_and_ends_with_its_error(
    api: httpx.Client, worker: int, experiment_id: str
) -> None:
    prompt = mlflow.genai.register_prompt(name=f"capitals-{time.monotonic_ns()}", template="Capital of {{country}}?")
    dataset = mlflow.genai.datasets.create_dataset(name="capitals", experiment_id=experiment_id)
    dataset.merge_records([{"inputs": {"country": "France"}, "expectations": {"expected_response": "Paris"}}])
    body = {
        "experiment_id": experiment_id,
        "source_prompt_uri": prompt.uri,
        "config": {
            "optimizer_type": "OPTIMIZER_TYPE_GEPA",
            "dataset_id": dataset.dataset_id,
            "scorers": ["Correctness"],
            "optimizer_config_json": '{"max_metric_calls": 10}',
        },
    }

    created = api.post(OPTIMIZATION, json=body)

    assert created.status_code == 200, created.text
    job = created.json()["job"]
    assert job["state"] == {"status": "JOB_STATUS_PENDING"}
    assert job["config"]["optimizer_type"] == "OPTIMIZER_TYPE_GEPA"
    run = mlflow.MlflowClient().get_run(job["run_id"])
    assert run.data.params["source_prompt_uri"] == prompt.uri
    assert run.data.params["optimizer_type"] == "gepa"
    ended = _wait(api, job["job_id"])
    assert ended["status"] == "FAILED"
    assert ended["retry_count"] == 0  # a job that fails is not tried again
    shown = api.get(f"{OPTIMIZATION}/{job['job_id']}").json()["job"]
    assert shown["state"]["status"] == "JOB_STATUS_FAILED"
    assert shown["state"]["error_message"] == ended["error_message"]
    found = api.get(f"{OPTIMIZATION}/search", params={"experiment_id": experiment_id}).json()["jobs"]
    assert [j["job_id"] for j in found] == [job["job_id"]]
    listed = api.get("/runyard/api/jobs", params={"experiment_id": experiment_id}).json()["jobs"]
    assert [(j["job_id"], j["kind"], j["entry_point"]) for j in listed] == [
        (job["job_id"], "genai", "optimize_prompts")
    ]

    assert api.delete(f"{OPTIMIZATION}/{job['job_id']}").status_code == 200
    gone = api.get(f"{OPTIMIZATION}/{job['job_id']}")
    assert (gone.status_code, gone.json()["message"]) == (404, f"Job with ID {job['job_id']} not found")
    assert mlflow.MlflowClient().get_run(job["run_id"]).info.lifecycle_stage == "deleted"


def test_prompt_optimization_needs_an_optimizer_and_a_known_dataset(api: httpx.Client, experiment_id: str) -> None:
    body = {"experiment_id": experiment_id, "source_prompt_uri": "prompts:/p/1", "config": {"dataset_id": "d-0"}}

    no_optimizer = api.post(OPTIMIZATION, json=body)
    unknown_dataset = api.post(OPTIMIZATION, json={**body, "config": {"optimizer_type": 2, "dataset_id": "d-0"}})

    assert (no_optimizer.status_code, no_optimizer.json()["message"]) == (
        400,
        "optimizer_type is required. Supported types: ['OPTIMIZER_TYPE_GEPA', 'OPTIMIZER_TYPE_METAPROMPT']",
    )
    assert (unknown_dataset.status_code, unknown_dataset.json()["message"]) == (
        404,
        "Evaluation dataset with id 'd-0' not found",
    )
    assert api.get(f"{OPTIMIZATION}/search", params={"experiment_id": experiment_id}).json() == {}


@scorer
def slow_judge(trace):  # takes far longer than the job is allowed
    import time

    time.sleep(600)
    return True


def test_a_job_past_its_timeout_is_stopped_and_shown_as_timed_out(
    api: httpx.Client, worker: int, experiment_id: str
) -> None:
    body = _scorer_job(experiment_id, [_trace("Paris")])
    body["params"]["serialized_scorer"] = json.dumps(slow_judge.model_dump())

    submitted = api.post(f"{JOBS}/", json={**body, "timeout": 5})

    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["timeout"] == 5
    job = _wait(api, submitted.json()["job_id"])
    assert (job["status"], job["error_message"]) == ("TIMEOUT", "Timed out after 5 seconds.")
    assert job["retry_count"] == 0
    found = api.post(f"{JOBS}/search", json={"statuses": ["TIMEOUT"], "params": {"experiment_id": experiment_id}})
    assert [j["job_id"] for j in found.json()["jobs"]] == [job["job_id"]]
