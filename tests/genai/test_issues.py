"""GenAI issues as MLflow 3.17's client keeps them, on SQLite and PostgreSQL: created, read, updated and searched
through the client's REST store (MLflow exposes no public wrapper for these yet), and linked to traces with
`mlflow.log_issue`, whose links a search can count. Raw HTTP covers the wire shape and bad input."""

from __future__ import annotations

from typing import Any

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import IssueSeverity, IssueStatus
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.rest_store import RestStore

V3 = "/api/3.0/mlflow/issues"
HINT = "See the API docs for more information about request parameters."


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return mlflow.set_experiment(unique_name).experiment_id


@pytest.fixture
def store(client: MlflowClient) -> RestStore:
    rest_store = client._tracking_client.store
    assert isinstance(rest_store, RestStore)
    return rest_store


def _refused(call: Any) -> MlflowException:
    with pytest.raises(MlflowException) as refused:
        call()
    return refused.value


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def _trace() -> str:
    with mlflow.start_span("answer") as root:
        root.set_inputs({"q": "tides"})
    mlflow.flush_trace_async_logging(terminate=False)
    return root.trace_id


def test_create_read_and_update_an_issue(client: MlflowClient, experiment_id: str, store: RestStore) -> None:
    run = client.create_run(experiment_id)
    created = store.create_issue(
        experiment_id=experiment_id,
        name="Slow answers",
        description="Answers take over ten seconds",
        severity=IssueSeverity.HIGH,
        root_causes=["cold cache", "large prompts"],
        source_run_id=run.info.run_id,
        categories=["latency"],
        created_by="ada",
    )
    assert created.issue_id.startswith("iss-")
    assert len(created.issue_id) == 36
    assert (created.status, created.severity) == (IssueStatus.PENDING, IssueSeverity.HIGH)
    assert (created.root_causes, created.categories) == (["cold cache", "large prompts"], ["latency"])
    assert (created.source_run_id, created.created_by, created.experiment_id) == (run.info.run_id, "ada", experiment_id)
    assert created.created_timestamp == created.last_updated_timestamp

    assert store.get_issue(created.issue_id) == created

    updated = store.update_issue(created.issue_id, status=IssueStatus.RESOLVED, name="Slow answers (fixed)")
    assert (updated.status, updated.name, updated.description) == (
        IssueStatus.RESOLVED,
        "Slow answers (fixed)",
        "Answers take over ten seconds",
    )
    assert updated.severity == IssueSeverity.HIGH
    assert updated.last_updated_timestamp >= created.last_updated_timestamp
    assert store.get_issue(created.issue_id) == updated


def test_a_minimal_issue_on_the_wire(experiment_id: str, http: httpx.Client) -> None:
    response = http.post(V3, json={"experiment_id": experiment_id, "name": "n", "description": "d"})
    issue = response.json()["issue"]
    assert issue == {
        "issue_id": issue["issue_id"],
        "experiment_id": experiment_id,
        "name": "n",
        "description": "d",
        "status": "pending",
        "created_timestamp": issue["created_timestamp"],
        "last_updated_timestamp": issue["created_timestamp"],
    }
    for prefix in ("/api", "/ajax-api"):
        assert http.get(f"{prefix}/3.0/mlflow/issues/{issue['issue_id']}").json() == {"issue": issue}
    # An empty name or description leaves it as it is, as MLflow's handler reads them.
    patched = http.patch(f"{V3}/{issue['issue_id']}", json={"name": "", "severity": "low"}).json()["issue"]
    assert (patched["name"], patched["severity"]) == ("n", "low")


def test_searching_issues(client: MlflowClient, experiment_id: str, store: RestStore, unique_name: str) -> None:
    other = client.create_experiment(f"{unique_name}-other")
    low = store.create_issue(experiment_id, "low", "d", severity=IssueSeverity.LOW)
    unrated_old = store.create_issue(experiment_id, "unrated old", "d")
    unrated_new = store.create_issue(experiment_id, "unrated new", "d", status=IssueStatus.RESOLVED)
    high = store.create_issue(experiment_id, "high", "d", severity=IssueSeverity.HIGH)
    store.create_issue(other, "elsewhere", "d")

    found = store.search_issues(experiment_id=experiment_id)
    # Most severe first, issues without a severity last; then the newest first.
    assert [i.name for i in found] == ["high", "low", "unrated new", "unrated old"]
    assert found.token is None

    resolved = store.search_issues(experiment_id=experiment_id, filter_string="status = 'resolved'")
    assert [i.issue_id for i in resolved] == [unrated_new.issue_id]
    open_ones = store.search_issues(experiment_id=experiment_id, filter_string="status != 'resolved'")
    assert [i.issue_id for i in open_ones] == [high.issue_id, low.issue_id, unrated_old.issue_id]

    first = store.search_issues(experiment_id=experiment_id, max_results=3)
    assert len(first) == 3
    assert first.token is not None
    rest = store.search_issues(experiment_id=experiment_id, max_results=3, page_token=first.token)
    assert [i.name for i in [*first, *rest]] == [i.name for i in found]
    assert rest.token is None


def test_issues_are_linked_to_traces_and_counted(client: MlflowClient, experiment_id: str, store: RestStore) -> None:
    issue = store.create_issue(experiment_id, "Hallucination", "Made-up facts", severity=IssueSeverity.MEDIUM)
    quiet = store.create_issue(experiment_id, "Tone", "Too curt", severity=IssueSeverity.MEDIUM)
    traces = [_trace() for _ in range(3)]
    for trace_id in traces[:2]:
        reference = mlflow.log_issue(trace_id=trace_id, issue_id=issue.issue_id, rationale="cites no source")
        assert (reference.issue_id, reference.issue_name) == (issue.issue_id, "Hallucination")
    mlflow.log_issue(trace_id=traces[0], issue_id=issue.issue_id)  # the same trace again counts once

    counted = store.search_issues(experiment_id=experiment_id, include_trace_count=True)
    # Among equally severe issues, the one on more traces comes first.
    assert [(i.name, i.trace_count) for i in counted] == [("Hallucination", 2), ("Tone", 0)]
    assert all(i.trace_count is None for i in store.search_issues(experiment_id=experiment_id))

    trace = mlflow.get_trace(traces[1])
    assert trace is not None
    [linked] = [a for a in trace.info.assessments if a.name == issue.issue_id]
    assert (linked.issue.issue_name, linked.rationale) == ("Hallucination", "cites no source")  # type: ignore[attr-defined]
    found = mlflow.search_traces(
        locations=[experiment_id], filter_string=f"issue.id = '{issue.issue_id}'", return_type="list"
    )
    assert sorted(t.info.trace_id for t in found) == sorted(traces[:2])
    assert quiet.trace_count is None


def test_log_issue_names_must_match(client: MlflowClient, experiment_id: str, store: RestStore) -> None:
    issue = store.create_issue(experiment_id, "Hallucination", "d")
    refused = _refused(lambda: mlflow.log_issue(trace_id=_trace(), issue_id=issue.issue_id, issue_name="Other"))
    assert refused.message == (
        f"Provided issue name 'Other' does not match the issue name 'Hallucination' with issue ID {issue.issue_id}."
    )


def test_bad_issue_requests(client: MlflowClient, experiment_id: str, http: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], tuple[int, str, str]]] = [
        (
            {"experiment_id": experiment_id, "description": "d"},
            (400, "INVALID_PARAMETER_VALUE", f"Missing value for required parameter 'name'. {HINT}"),
        ),
        (
            {"experiment_id": experiment_id, "name": "n"},
            (400, "INVALID_PARAMETER_VALUE", f"Missing value for required parameter 'description'. {HINT}"),
        ),
        (
            {"name": "n", "description": "d"},
            (400, "INVALID_PARAMETER_VALUE", f"Missing value for required parameter 'experiment_id'. {HINT}"),
        ),
        (
            {"experiment_id": "999999", "name": "n", "description": "d"},
            (404, "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=999999 exists"),
        ),
        (
            {"experiment_id": experiment_id, "name": "n", "description": "d", "status": "open"},
            (
                400,
                "INVALID_PARAMETER_VALUE",
                "Invalid value 'open' for parameter 'status'. Valid values are: pending, rejected, resolved",
            ),
        ),
        (
            {"experiment_id": experiment_id, "name": "n", "description": "d", "severity": "critical"},
            (
                400,
                "INVALID_PARAMETER_VALUE",
                "Invalid value 'critical' for parameter 'severity'. Valid values are: not_an_issue, low, medium, high",
            ),
        ),
        (
            {"experiment_id": experiment_id, "name": "n", "description": "d", "source_run_id": "f" * 32},
            (400, "BAD_REQUEST", f"Run with id={'f' * 32} not found"),
        ),
        (
            {"experiment_id": experiment_id, "name": "n" * 251, "description": "d"},
            (400, "INVALID_PARAMETER_VALUE", "'name' exceeds the maximum length of 250 characters"),
        ),
    ]
    for body, expected in cases:
        assert _error(http.post(V3, json=body)) == expected, body

    missing = "iss-" + "0" * 32
    assert _error(http.get(f"{V3}/{missing}")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Issue with ID '{missing}' not found",
    )
    assert _error(http.patch(f"{V3}/{missing}", json={"status": "resolved"})) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Issue with ID '{missing}' not found",
    )

    def search(body: dict[str, Any]) -> tuple[int, str, str]:
        return _error(http.post(f"{V3}/search", json={"experiment_id": experiment_id, **body}))

    assert search({"filter_string": "name = 'x'"}) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid filter field 'name'. Supported fields: {'source_run_id', 'status'}",
    )
    assert search({"filter_string": "status LIKE 'p%'"}) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid comparator 'LIKE'. Supported comparators: {'!=', '='}",
    )
    assert search({"filter_string": "status = 'pending' OR status = 'resolved'"}) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid clause(s) in filter string: OR",
    )
    assert search({"max_results": 0}) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer",
    )
    assert search({"max_results": 50001}) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 50001 for parameter 'max_results' supplied. It must be at most 50000",
    )
    assert search({"page_token": "%%%"}) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid page token, could not base64-decode",
    )


def test_search_answers_an_empty_page_token(experiment_id: str, http: httpx.Client) -> None:
    """MLflow sets `next_page_token` explicitly, so its JSON carries "" on the last page; its own tests read it."""
    assert http.post(f"{V3}/search", json={"experiment_id": experiment_id}).json() == {"next_page_token": ""}


def test_a_deleted_experiment_keeps_its_issues(client: MlflowClient, experiment_id: str, store: RestStore) -> None:
    """As in MLflow: issues of a deleted experiment are read, searched and updated, but no new ones are made."""
    issue = store.create_issue(experiment_id, "n", "d")
    client.delete_experiment(experiment_id)
    assert store.get_issue(issue.issue_id).name == "n"
    assert [i.issue_id for i in store.search_issues(experiment_id=experiment_id)] == [issue.issue_id]
    refused = _refused(lambda: store.create_issue(experiment_id, "n2", "d"))
    assert refused.message == f"RESOURCE_DOES_NOT_EXIST: No Experiment with id={experiment_id} exists"
