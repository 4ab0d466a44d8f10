"""Guards for browsers: a page on an attacker's domain can neither reach the server through DNS rebinding (its
Host is refused) nor make a signed-in browser write to it (cross-site writes are refused), and the UI cannot be
framed. Scripts and the stock client, which send no Origin, are unaffected; so is a compose service name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import runyard_server

CREATE = "/api/2.0/mlflow/experiments/create"
SEARCH = "/api/2.0/mlflow/experiments/search"
GET_BY_NAME = "/api/2.0/mlflow/experiments/get-by-name"


@pytest.fixture
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client


@pytest.mark.parametrize(
    "host", ["evil.example.com", "evil.example.com:5000", "rebind.attacker.test.", "localhost.evil.com"]
)
def test_a_dotted_name_not_listed_is_refused_as_dns_rebinding(http: httpx.Client, host: str) -> None:
    response = http.get(SEARCH, params={"max_results": 1}, headers={"Host": host})
    assert response.status_code == 403
    assert response.json()["error_code"] == "PERMISSION_DENIED"
    assert "--allowed-hosts" in response.json()["message"]


@pytest.mark.parametrize("host", ["runyard:5000", "localhost", "10.0.4.2:5000", "[::1]:5000", "203.0.113.9"])
def test_service_names_and_addresses_are_answered(http: httpx.Client, host: str) -> None:
    response = http.get(SEARCH, params={"max_results": 1}, headers={"Host": host})
    assert response.status_code == 200


def test_probes_answer_whatever_the_host(http: httpx.Client) -> None:
    assert http.get("/health", headers={"Host": "lb.internal.example"}).status_code == 200


def test_a_cross_site_write_is_refused_and_nothing_is_written(http: httpx.Client, unique_name: str) -> None:
    refused = http.post(CREATE, json={"name": unique_name}, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert refused.json()["error_code"] == "PERMISSION_DENIED"
    assert http.get(GET_BY_NAME, params={"experiment_name": unique_name}).status_code == 404
    null_origin = http.post(CREATE, json={"name": unique_name}, headers={"Origin": "null"})  # sandboxed frames
    assert null_origin.status_code == 403


def test_the_uis_own_writes_and_originless_clients_pass(http: httpx.Client, unique_name: str) -> None:
    own_origin = f"http://{http.base_url.netloc.decode()}"
    assert http.post(CREATE, json={"name": unique_name}, headers={"Origin": own_origin}).status_code == 200
    assert http.post(CREATE, json={"name": unique_name + "-script"}).status_code == 200


def test_behind_a_proxy_the_public_origin_may_write(http: httpx.Client, unique_name: str) -> None:
    """A reverse proxy that passes the public name as X-Forwarded-Host (and its own Host) keeps the UI working."""
    public = {"Origin": "https://mlflow.example.com", "X-Forwarded-Host": "mlflow.example.com", "Host": "runyard:5000"}
    assert http.post(CREATE, json={"name": unique_name}, headers=public).status_code == 200
    spoofed = {**public, "X-Forwarded-Host": "other.example.com"}
    assert http.post(CREATE, json={"name": unique_name + "-x"}, headers=spoofed).status_code == 403


def test_other_sites_get_no_cors_headers_and_pages_cannot_be_framed(http: httpx.Client) -> None:
    response = http.get(SEARCH, params={"max_results": 1}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 200  # a read: the browser itself withholds the answer from the other site
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    base = tmp_path_factory.mktemp("security")
    flags = [
        "--allowed-hosts",
        "runyard.example.com,*.corp.example",
        "--cors-allowed-origins",
        "https://notebooks.example.com",
        "--x-frame-options",
        "DENY",
    ]
    with (
        runyard_server(f"sqlite:///{base / 'db.sqlite'}", base / "mlartifacts", *flags) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def test_listed_hosts_and_wildcards_are_answered(configured: httpx.Client) -> None:
    for host in ["runyard.example.com", "runyard.example.com:443", "mlflow.eu.corp.example", "runyard"]:
        assert configured.get("/version", headers={"Host": host}).status_code == 200
        assert configured.get(SEARCH, params={"max_results": 1}, headers={"Host": host}).status_code == 200
    assert configured.get(SEARCH, params={"max_results": 1}, headers={"Host": "x.example.org"}).status_code == 403


def test_a_listed_origin_may_call_the_api_with_credentials(configured: httpx.Client, tmp_path: Path) -> None:
    origin = "https://notebooks.example.com"
    preflight = configured.options(
        CREATE,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-credentials"] == "true"
    created = configured.post(CREATE, json={"name": tmp_path.name}, headers={"Origin": origin})
    assert created.status_code == 200
    assert created.headers["access-control-allow-origin"] == origin
    assert created.headers["x-frame-options"] == "DENY"
    other = configured.post(CREATE, json={"name": tmp_path.name + "-x"}, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
