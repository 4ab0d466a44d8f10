"""`python -m bench.webhook_faults`: Runyard's webhook outbox under load and through a receiver outage.

`burst`: `--events` model versions created by 8 clients through a server of `--workers` processes (PostgreSQL with
`--store-uri`, else a fresh SQLite file), one webhook subscribed. Printed: how long the writes took, when the last
delivery arrived, and whether every event came exactly once and in version order (versions are numbered in commit
order).

`outage`: the receiver's port refuses connections for `--outage-seconds` while one version is created a second;
then it listens again. Printed: when the last delivery arrived after the receiver came back, and whether every
event came exactly once and in order.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from bench.servers import HOST, environment, free_port
from bench.webhooks import ENV

API = "/api/2.0/mlflow"


class Counting:
    """A receiver on a fixed port that records each delivery's id and version; it can start after the webhook."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.deliveries: list[tuple[str, int]] = []
        self.last_at = 0.0
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def listen(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver._lock:
                    receiver.deliveries.append((self.headers["X-MLflow-Delivery-Id"], int(body["data"]["version"])))
                    receiver.last_at = time.perf_counter()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.deliveries) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def verdict(self, expected: int) -> str:
        ids = [delivery_id for delivery_id, _ in self.deliveries]
        versions = [version for _, version in self.deliveries]
        once = len(ids) == len(set(ids)) == expected
        ordered = versions == list(range(1, expected + 1))
        return f"{len(ids)} of {expected} delivered; each once: {once}; in commit order: {ordered}"


def _server(store_uri: str, workdir: Path, workers: int) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    command = [sys.executable, "-m", "server", "server", "--host", HOST, "--port", str(port), "--no-embedded-worker"]
    command += ["--backend-store-uri", store_uri, "--artifacts-destination", str(workdir / "artifacts")]
    command += ["--workers", str(workers)]
    env = {**environment(), **ENV, "RUNYARD_WEBHOOK_RETRY_MAX_SECONDS": "600"}
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return url, process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not start; see {workdir / 'server.log'}")


def _subscribe(url: str, receiver_port: int) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        http.post(f"{API}/registered-models/create", json={"name": "bench"}).raise_for_status()
        hook = {
            "name": "bench",
            "url": f"http://{HOST}:{receiver_port}/hook",
            "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
            "secret": "bench-secret",
        }
        http.post(f"{API}/webhooks", json=hook).raise_for_status()


def _create_versions(url: str, count: int) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(count):
            response = http.post(f"{API}/model-versions/create", json={"name": "bench", "source": "s3://b/m"})
            response.raise_for_status()


def burst(store_uri: str, workdir: Path, events: int, workers: int) -> None:
    receiver = Counting(free_port())
    receiver.listen()
    url, process = _server(store_uri, workdir, workers)
    try:
        _subscribe(url, receiver.port)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda share: _create_versions(url, share), [events // 8] * 8))
        written = time.perf_counter()
        receiver.wait_for(events, timeout_s=600)
        print(f"burst: {events} versions by 8 clients through {workers} server processes on {store_uri.split(':')[0]}")
        lag = receiver.last_at - written
        print(f"  writes took {written - started:.1f} s; the last delivery came {lag:.1f} s after the last write")
        print(f"  {receiver.verdict(events)}")
    finally:
        process.terminate()
        process.wait(timeout=30)


def outage(store_uri: str, workdir: Path, seconds: float, workers: int) -> None:
    receiver = Counting(free_port())  # nothing listens there yet: connections are refused
    url, process = _server(store_uri, workdir, workers)
    try:
        _subscribe(url, receiver.port)
        created = 0
        down_until = time.monotonic() + seconds
        while time.monotonic() < down_until:
            _create_versions(url, 1)
            created += 1
            time.sleep(1)
        receiver.listen()
        back = time.perf_counter()
        receiver.wait_for(created, timeout_s=900)
        print(f"outage: receiver refused connections for {seconds:.0f} s while {created} versions were created")
        print(f"  the last delivery came {receiver.last_at - back:.1f} s after the receiver was back")
        print(f"  {receiver.verdict(created)}")
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_faults", description=__doc__)
    parser.add_argument("scenario", choices=["burst", "outage"])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--outage-seconds", type=float, default=120)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--store-uri", default=os.environ.get("RUNYARD_BENCH_STORE_URI"), help="default: SQLite")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-webhook-faults-") as folder:
        workdir = Path(folder)
        store_uri = args.store_uri or f"sqlite:///{workdir / 'runyard.db'}"
        if args.scenario == "burst":
            burst(store_uri, workdir, args.events, args.workers)
        else:
            outage(store_uri, workdir, args.outage_seconds, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
