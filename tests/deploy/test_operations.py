"""What an operator relies on: request ids, structured access logs, Prometheus metrics, readiness, and request
bodies bounded before they are read."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import orjson

API = "/api/2.0/mlflow"


def test_request_ids_are_echoed_and_logged(http: httpx.Client, server_log: Path) -> None:
    given = http.get(f"{API}/experiments/get", params={"experiment_id": "0"}, headers={"X-Request-Id": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    made_up = http.get(f"{API}/experiments/get", params={"experiment_id": "0"}, headers={"X-Request-Id": "bad id!"})
    assert made_up.headers["x-request-id"] != "bad id!"
    assert len(made_up.headers["x-request-id"]) == 32
    failed = http.get(f"{API}/runs/get", params={"run_id": "0" * 32})
    assert failed.status_code == 404
    assert failed.headers["x-request-id"]

    deadline = time.monotonic() + 120
    lines: list[dict[str, object]] = []
    while time.monotonic() < deadline and not any(line.get("request_id") == "trace-42" for line in lines):
        time.sleep(0.1)
        lines = [json.loads(raw) for raw in server_log.read_text().splitlines() if raw.startswith("{")]
    logged = next(line for line in lines if line.get("request_id") == "trace-42")
    assert logged["route"] == "/api/2.0/mlflow/experiments/get"
    assert logged["status"] == 200
    assert logged["method"] == "GET"
    assert isinstance(logged["duration_ms"], float)
    missing = next(line for line in lines if line.get("request_id") == failed.headers["x-request-id"])
    assert missing["status"] == 404


def test_prometheus_metrics_count_requests_by_route(http: httpx.Client) -> None:
    for _ in range(3):
        http.get(f"{API}/experiments/get", params={"experiment_id": "0"})
    http.get("/no/such/route")
    text = http.get("/metrics").text
    assert 'runyard_http_requests_total{method="GET",route="/api/2.0/mlflow/experiments/get",status="200"}' in text
    assert 'route="<unmatched>",status="404"' in text  # arbitrary paths never become their own series
    assert "runyard_http_request_duration_seconds_bucket" in text
    assert 'runyard_jobs{status="QUEUED"}' in text
    assert "runyard_job_queue_depth " in text


def test_readiness_checks_the_database_and_the_artifact_store(http: httpx.Client) -> None:
    ready = http.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "artifacts": "ok"}}


def test_oversized_bodies_are_refused_before_being_read(http: httpx.Client, server_url: str) -> None:
    too_big = 17 * 1024 * 1024
    host, port = server_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:  # declare a big body, send none of it
        sock.sendall(
            f"POST {API}/runs/log-batch HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {too_big}\r\n\r\n".encode()
        )
        head = ""
        while "}" not in head:  # the status line and headers, then the JSON body
            received = sock.recv(65536).decode(errors="replace")
            if not received:
                break
            head += received
    assert head.startswith("HTTP/1.1 413")
    assert '"error_code":"INVALID_PARAMETER_VALUE"' in head

    def chunked() -> object:
        for _ in range(17):
            yield b" " * (1024 * 1024)

    streamed = http.post(f"{API}/runs/log-batch", content=chunked(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert "larger than the server's limit" in streamed.json()["message"]


def test_the_biggest_legitimate_log_batch_passes(http: httpx.Client, unique_name: str) -> None:
    """1,000 entries (100 params and 100 tags at their longest, 800 metrics) of characters JSON escapes to six
    bytes each: about 10 MB on the wire, under the default limit."""
    experiment_id = http.post(f"{API}/experiments/create", json={"name": unique_name}).json()["experiment_id"]
    run_id = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]["run_id"]
    ugly = "\u0001"
    body = {
        "run_id": run_id,
        "params": [{"key": f"p{i}", "value": ugly * 6000} for i in range(100)],
        "tags": [{"key": f"t{i}", "value": ugly * 8000} for i in range(100)],
        "metrics": [{"key": f"m{i}", "value": 1.0, "timestamp": 1, "step": 0} for i in range(800)],
    }
    payload = orjson.dumps(body)
    assert len(payload) > 8_000_000
    response = http.post(f"{API}/runs/log-batch", content=payload, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text[:300]
