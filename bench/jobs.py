"""`python -m bench.jobs`: the job queue's throughput (no-op jobs through 4 `runyard worker` processes) and
submit-to-running latency with idle workers, on a fresh SQLite (or --store-uri) Runyard on loopback."""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.servers import free_port
from server.jobspec.projects import pack_directory
from server.jobspec.schemas import TERMINAL, JobSpec
from server.worker.client import JobClient

NOOP_PROJECT = "name: noop\nentry_points:\n  main:\n    command: 'true'\n"


@contextlib.contextmanager
def _process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "server", *args], stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _wait_all(client: JobClient, job_ids: list[str]) -> None:
    pending = set(job_ids)
    while pending:
        pending = {job_id for job_id in pending if client.get(job_id).status not in TERMINAL}
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__)
    parser.add_argument("--jobs", type=int, default=100, help="no-op jobs for the throughput run")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency-samples", type=int, default=10)
    parser.add_argument("--store-uri", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="runyard-bench-jobs-") as tmp:
        root = Path(tmp)
        (root / "noop").mkdir()
        (root / "noop" / "MLproject").write_text(NOOP_PROJECT)
        archive = root / "noop.tar.gz"
        pack_directory(root / "noop", archive)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        store = args.store_uri or f"sqlite:///{root / 'bench.db'}"
        server_args = ["server", "--port", str(port), "--backend-store-uri", store, "--no-embedded-worker"]
        with _process([*server_args, "--artifacts-destination", str(root / "art")], root / "server.log"):
            _wait_up(url)
            with contextlib.ExitStack() as workers, JobClient(url) as client:
                for i in range(args.workers):
                    workers.enter_context(
                        _process(["worker", "--server-url", url, "--poll-seconds", "5"], root / f"worker-{i}.log")
                    )
                spec = JobSpec()
                _wait_all(client, [client.submit_archive(spec, archive).job_id])  # warm-up: every import done
                time.sleep(1.0)
                latencies = []
                for _ in range(args.latency_samples):
                    job = client.submit_archive(spec, archive)
                    _wait_all(client, [job.job_id])
                    done = client.get(job.job_id)
                    latencies.append((done.started_at or 0) - done.created_at)
                started = time.monotonic()
                ids = [client.submit_archive(spec, archive).job_id for _ in range(args.jobs)]
                submitted = time.monotonic() - started
                _wait_all(client, ids)
                elapsed = time.monotonic() - started
        print(f"store {store.split(':')[0]}, {args.workers} workers, no-op entry point ('true')")
        print(
            f"throughput: {args.jobs} jobs in {elapsed:.1f}s = {args.jobs / elapsed:.1f} jobs/s "
            f"(submitting alone: {args.jobs / submitted:.1f} jobs/s)"
        )
        print(
            f"submit-to-running latency (idle workers, server clock): median {statistics.median(latencies):.0f} ms, "
            f"max {max(latencies)} ms over {len(latencies)} jobs"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
