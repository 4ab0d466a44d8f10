"""The web UI's housekeeping calls over plain HTTP, without auth: each answers in the shape MLflow's server gives
when the feature is not set up; the stock client keeps getting the 404 that tells it those features are not here."""

from __future__ import annotations

import httpx

AJAX3 = "/ajax-api/3.0/mlflow"


def test_the_assistant_is_not_configured(server_url: str) -> None:
    config = httpx.get(f"{server_url}{AJAX3}/assistant/config")
    assert config.status_code == 200
    assert config.json() == {"providers": {}, "projects": {}, "remote_access_allowed": False}
    providers = httpx.get(f"{server_url}{AJAX3}/assistant/providers")
    assert providers.json() == {"providers": [], "resolved": None, "gateway_vendor_options": {}}


def test_the_genai_pages_find_nothing_stored_and_the_client_still_learns_it_is_not_served(server_url: str) -> None:
    calls = [
        ("GET", "/gateway/endpoints/list", {}),
        ("GET", "/gateway/secrets/list", {}),
    ]
    for method, path, body in calls:
        query = {"params": body} if method == "GET" else {"json": body}
        answer = httpx.request(method, f"{server_url}{AJAX3}{path}", **query)  # type: ignore[arg-type]
        assert (answer.status_code, answer.json()) == (200, {}), path
        assert httpx.request(method, f"{server_url}/api/3.0/mlflow{path}", **query).status_code == 404, path  # type: ignore[arg-type]


def test_without_auth_nobody_is_signed_in(server_url: str) -> None:
    for path in ("/ajax-api/2.0/mlflow/users/current", "/api/3.0/mlflow/users/current/permissions"):
        answer = httpx.get(f"{server_url}{path}")
        assert answer.status_code == 404, path
        assert answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"
