"""The web UI's housekeeping calls over plain HTTP, without auth: each answers in the shape MLflow's server gives
when the feature is not set up, and the trace routes the stock client uses keep telling it traces are not stored."""

from __future__ import annotations

import httpx

AJAX3 = "/ajax-api/3.0/mlflow"


def test_the_assistant_is_not_configured(server_url: str) -> None:
    config = httpx.get(f"{server_url}{AJAX3}/assistant/config")
    assert config.status_code == 200
    assert config.json() == {"providers": {}, "projects": {}, "remote_access_allowed": False}
    providers = httpx.get(f"{server_url}{AJAX3}/assistant/providers")
    assert providers.json() == {"providers": [], "resolved": None, "gateway_vendor_options": {}}


def test_trace_metrics_have_no_data_points_for_the_ui_only(server_url: str) -> None:
    query = {"experiment_ids": ["0"], "view_type": "TRACES", "metric_name": "trace_count", "aggregations": []}
    answer = httpx.post(f"{server_url}{AJAX3}/traces/metrics", json=query)
    assert (answer.status_code, answer.json()) == (200, {})
    assert httpx.post(f"{server_url}/api/3.0/mlflow/traces/metrics", json=query).status_code == 404


def test_without_auth_nobody_is_signed_in(server_url: str) -> None:
    for path in ("/ajax-api/2.0/mlflow/users/current", "/api/3.0/mlflow/users/current/permissions"):
        answer = httpx.get(f"{server_url}{path}")
        assert answer.status_code == 404, path
        assert answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"
