"""A webhook's URL is looked up (DNS, up to 5 s) before its create or update opens the write transaction: while the
lookup hangs, every other write of the server goes through. On SQLite there is one writer for the whole server, so
a lookup inside the transaction held up every write until it ended.

The server runs in process, its resolver swapped for one that holds a chosen hostname until the test lets it go, so
nothing depends on how fast the machine is: a write that waited for the lookup would wait until released.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.config import Settings
from server.services import webhook_urls
from tests.support.stores import kind_of, new_store_uri
from tests.webhooks.conftest import WAIT_SECONDS

API = "/api/2.0/mlflow/webhooks"
EVENTS = [{"entity": "MODEL_VERSION", "action": "CREATED"}]
HELD = "slow-dns.example.com"  # its lookup waits until the test releases it
PRIVATE = "inside.example.com"  # resolves to a private address
PUBLIC_ADDRESS = "93.184.216.34"


class Resolver:
    """Stands in for `webhook_urls._getaddrinfo`: HELD answers only once released, PRIVATE resolves to 10.0.0.5,
    any other name to a public address at once. Records the names it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.entered = threading.Event()
        self.released = threading.Event()

    def __call__(self, hostname: str, port: int) -> list[Any]:
        self.asked.append(hostname)
        if hostname == HELD:
            self.entered.set()
            self.released.wait(WAIT_SECONDS)  # bounded only so that a broken test ends; the test releases it
        address = "10.0.0.5" if hostname == PRIVATE else PUBLIC_ADDRESS
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


@pytest.fixture(scope="module")
def http(
    backend_store_uri: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The app with MLflow's default webhook rules (https only, public addresses only), on a database of its own."""
    folder: Path = tmp_path_factory.mktemp("lookup")
    settings = Settings(
        backend_store_uri=new_store_uri(kind_of(backend_store_uri), folder, "lookup", request),
        artifacts_destination=str(folder / "mlartifacts"),
        webhook_allowed_schemes="https",
        webhook_allow_private_ips=False,
    )
    app = create_app(settings)
    try:
        yield TestClient(app)
    finally:
        app.state.context.db.dispose()


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Resolver]:
    fake = Resolver()
    monkeypatch.setattr(webhook_urls, "_getaddrinfo", fake)
    yield fake
    fake.released.set()  # whatever happened, nothing stays stuck in the lookup


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, f"{response.request.method} {response.request.url}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


def _writes_go_through_while_the_lookup_hangs(
    http: TestClient, resolver: Resolver, stuck: Future[httpx.Response], label: str
) -> None:
    assert resolver.entered.wait(WAIT_SECONDS), "the request never looked the hostname up"
    with ThreadPoolExecutor(1) as pool:
        try:
            other = pool.submit(http.post, "/api/2.0/mlflow/experiments/create", json={"name": f"meanwhile-{label}"})
            # The lookup is held until released below: a write that waits for it is not done in time.
            assert wait([other], WAIT_SECONDS).done, f"another write waited for the {label}'s DNS lookup"
            assert not stuck.done(), "the webhook request answered before its lookup did"
        finally:
            resolver.released.set()
    experiment_id = _ok(other.result())["experiment_id"]
    got = _ok(http.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": experiment_id}))
    assert got["experiment"]["name"] == f"meanwhile-{label}"


def test_a_hanging_lookup_on_create_holds_up_no_other_write(http: TestClient, resolver: Resolver) -> None:
    body = {"name": "held-on-create", "url": f"https://{HELD}/in", "events": EVENTS}
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(http.post, API, json=body)
        _writes_go_through_while_the_lookup_hangs(http, resolver, stuck, "create")
        created = _ok(stuck.result(WAIT_SECONDS))["webhook"]
    assert (created["name"], created["url"]) == ("held-on-create", f"https://{HELD}/in")
    assert _ok(http.get(f"{API}/{created['webhook_id']}"))["webhook"]["url"] == f"https://{HELD}/in"
    assert resolver.asked == [HELD]  # once, before the write; the write does not look it up again


def test_a_hanging_lookup_on_update_holds_up_no_other_write(http: TestClient, resolver: Resolver) -> None:
    body = {"name": "held-on-update", "url": "https://hooks.example.com/in", "events": EVENTS}
    webhook_id = _ok(http.post(API, json=body))["webhook"]["webhook_id"]
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(http.patch, f"{API}/{webhook_id}", json={"url": f"https://{HELD}/new"})
        _writes_go_through_while_the_lookup_hangs(http, resolver, stuck, "update")
        updated = _ok(stuck.result(WAIT_SECONDS))["webhook"]
    assert updated["url"] == f"https://{HELD}/new"
    assert _ok(http.get(f"{API}/{webhook_id}"))["webhook"]["url"] == f"https://{HELD}/new"
    assert resolver.asked == ["hooks.example.com", HELD]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        (  # the name is checked before the URL: no lookup
            "POST",
            API,
            {"name": "-bad", "url": f"https://{HELD}/in", "events": EVENTS},
            (
                400,
                "INVALID_PARAMETER_VALUE",
                "Webhook name '-bad' is invalid. It must start and end with a letter or digit, be less than 63 "
                "characters long, and contain only letters, digits, dots (.), underscores (_), and hyphens (-).",
            ),
        ),
        (
            "POST",
            API,
            {"name": "inside", "url": f"https://{PRIVATE}/in", "events": EVENTS},
            (
                400,
                "INVALID_PARAMETER_VALUE",
                f"Webhook URL must not resolve to a non-public IP address. '{PRIVATE}' resolves to 10.0.0.5.",
            ),
        ),
        (  # the URL is checked before the events
            "POST",
            API,
            {"name": "inside", "url": f"https://{PRIVATE}/in", "events": []},
            (
                400,
                "INVALID_PARAMETER_VALUE",
                f"Webhook URL must not resolve to a non-public IP address. '{PRIVATE}' resolves to 10.0.0.5.",
            ),
        ),
        (  # a webhook that does not exist is refused before its new URL is looked at
            "PATCH",
            f"{API}/00000000-0000-0000-0000-000000000000",
            {"url": f"https://{HELD}/in"},
            (404, "RESOURCE_DOES_NOT_EXIST", "Webhook with ID 00000000-0000-0000-0000-000000000000 not found."),
        ),
    ],
)
def test_refusals_keep_mlflow_order_and_words(
    http: TestClient, resolver: Resolver, method: str, path: str, body: dict[str, Any], expected: tuple[int, str, str]
) -> None:
    before = _ok(http.get(API))
    response = http.request(method, path, json=body)
    assert (response.status_code, response.json()["error_code"], response.json()["message"]) == expected
    assert HELD not in resolver.asked
    assert _ok(http.get(API)) == before  # nothing was stored
