"""`python -m bench.webhooks`: what one active webhook costs a registry write, Runyard next to `mlflow server`.

Each server gets a fresh SQLite store and the same sequence over REST: `--versions` model versions created with no
webhook, then as many with one active, signed webhook subscribed to `model_version.created`, pointing at a receiver
on loopback. Printed per server: the write's median and p95 without and with the webhook, and how many deliveries
the receiver got, how long after the last write the last one came. Runyard records each delivery in the write's own
transaction (its outbox) and sends it from its deliverer; `mlflow server` sends from a thread pool in memory.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from bench.servers import MLFLOW, RUNYARD, ServerSpec, launch

API = "/api/2.0/mlflow"
ENV = {
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http",
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    # `mlflow server` caches each event's webhook list for 60 s, an empty one too: with its default, the webhook
    # created between the phases would get nothing. Runyard has no such cache.
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
}


class Receiver:
    """Counts the deliveries it answers 200 to, and when the last one came."""

    def __init__(self) -> None:
        self.count = 0
        self.last_at = 0.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver._lock:
                    receiver.count += 1
                    receiver.last_at = time.perf_counter()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.01)


def _versions(http: httpx.Client, model: str, count: int) -> tuple[list[float], float]:
    """Latencies (ms) of `count` model-version creations, and when the last one returned."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = http.post(f"{API}/model-versions/create", json={"name": model, "source": "s3://bucket/model"})
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return latencies, time.perf_counter()


def _describe(latencies: list[float]) -> str:
    p95 = statistics.quantiles(latencies, n=20)[-1]
    return f"median {statistics.median(latencies):6.2f} ms, p95 {p95:6.2f} ms"


def measure(spec: ServerSpec, workdir: Path, count: int) -> dict[str, float]:
    receiver = Receiver()
    server = launch(spec, workdir, env=ENV)
    try:
        server.wait_healthy()
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            http.post(f"{API}/registered-models/create", json={"name": "bench"}).raise_for_status()
            _versions(http, "bench", 100)  # warm-up
            without, _ = _versions(http, "bench", count)
            http.post(
                f"{API}/webhooks",
                json={
                    "name": "bench",
                    "url": receiver.url,
                    "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
                    "secret": "bench-secret",
                },
            ).raise_for_status()
            time.sleep(2)  # past `mlflow server`'s cache of the empty list
            with_hook, last_write = _versions(http, "bench", count)
        receiver.wait_for(count, timeout_s=120)
        lag_ms = (receiver.last_at - last_write) * 1000 if receiver.count else float("nan")
        print(f"{spec.name}")
        print(f"  no webhook:   {_describe(without)}")
        print(f"  one webhook:  {_describe(with_hook)}")
        print(f"  delivered {receiver.count} of {count}; the last {lag_ms:.0f} ms after the last write returned")
        return {"without": statistics.median(without), "with": statistics.median(with_hook)}
    finally:
        server.stop()
        receiver.server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--versions", type=int, default=300, help="model versions created in each phase")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as folder:
        for spec in (RUNYARD, MLFLOW):
            workdir = Path(folder) / spec.tag
            workdir.mkdir()
            results[spec.key] = measure(spec, workdir, args.versions)
    runyard, mlflow = results["runyard"], results["mlflow"]
    print(f"Runyard: a webhook adds {runyard['with'] - runyard['without']:+.2f} ms to a version's median write")
    print(f"mlflow server: a webhook adds {mlflow['with'] - mlflow['without']:+.2f} ms to a version's median write")
    print(f"median write with one webhook, mlflow server / Runyard: {mlflow['with'] / runyard['with']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
