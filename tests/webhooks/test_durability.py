"""A delivery is a row committed with the registry change, not a task in a process's memory: a server killed with
SIGKILL while its receiver is down loses nothing, and the server started after it sends the delivery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from tests.support.processes import free_port, wait_until_up
from tests.support.stores import kind_of, new_store_uri
from tests.webhooks.conftest import WAIT_SECONDS, WEBHOOK_ENV, Receiver

# A request the kill interrupts holds its lease until the request timeout plus 30 s has passed; keep that short.
DURABLE_ENV = {**WEBHOOK_ENV, "MLFLOW_WEBHOOK_REQUEST_TIMEOUT": "5"}


@contextmanager
def _server(store_uri: str, folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [sys.executable, "-m", "server", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", store_uri, "--artifacts-destination", str(folder / "mlartifacts")]
    with (folder / f"server-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--no-embedded-worker"], stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **DURABLE_ENV}
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(url + "/health", process)
            yield url, process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=60)


def _until_recorded(url: str, webhook_id: str, status: int) -> list[dict[str, object]]:
    """The deliveries, once the server has stored an attempt answered `status`: the receiver has answered before the
    server records it (and, for an attempt in flight, before its lease ends)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        listed: list[dict[str, object]] = httpx.get(f"{url}/runyard/api/webhooks/{webhook_id}/deliveries").json()[
            "deliveries"
        ]
        if listed and listed[0]["last_status"] == status:
            return listed
        time.sleep(0.05)
    raise AssertionError(f"no attempt answered {status} was recorded")


def test_a_delivery_outlives_a_sigkilled_server(
    backend_store_uri: str, receiver: Receiver, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store_uri = new_store_uri(kind_of(backend_store_uri), tmp_path, "durable", request)
    path = f"/hook/durable-{kind_of(backend_store_uri)}"
    receiver.fail(path, 1_000_000)  # down until it recovers
    with _server(store_uri, tmp_path) as (url, process):
        client = MlflowClient(url)
        client.create_webhook(name="durable", url=receiver.base_url + path, events=["registered_model.created"])
        client.create_registered_model("survivor")
        refused = receiver.wait_for(path, lambda found: len(found) >= 1)  # committed, and tried once
        hook_id = client.list_webhooks()[0].webhook_id
        _until_recorded(url, hook_id, 503)  # killed between attempts, holding no lease (one would outlive it by 35 s)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    receiver.recover(path)
    tries = len(receiver.on(path))

    with _server(store_uri, tmp_path) as (url, _):
        delivered = receiver.wait_for(path, lambda found: any(r.answered == 200 for r in found))
        listed = _until_recorded(url, hook_id, 200)

    assert tries >= 1
    assert all(r.answered == 503 for r in delivered[:tries])
    assert [r.answered for r in delivered[tries:]] == [200]
    assert {r.headers["X-MLflow-Delivery-Id"] for r in delivered} == {refused[0].headers["X-MLflow-Delivery-Id"]}
    assert json.loads(delivered[-1].body)["data"]["name"] == "survivor"
    assert [(d["state"], d["last_status"]) for d in listed] == [("delivered", 200)]
