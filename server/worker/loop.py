"""`runyard worker`: N slots, each long-polling the server for a job, running it through the dispatcher for its
backend, and reporting the outcome. A stopped worker stops its jobs' processes and reports nothing: the leases
run out and the server offers the jobs again, which is also what happens when a worker is killed outright.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Sequence

from server.jobspec.schemas import ClaimedJob, ClaimRequest
from server.worker.client import JobApiError, JobClient
from server.worker.dispatchers.base import Dispatcher
from server.worker.lease import Lease, Outcome

log = logging.getLogger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        client: JobClient,
        dispatchers: Sequence[Dispatcher],
        *,
        concurrency: int = 1,
        worker_id: str | None = None,
        poll_seconds: float = 10.0,
    ) -> None:
        self.client = client
        self.dispatchers = {d.backend: d for d in dispatchers}
        self.concurrency = concurrency
        self.worker_id = worker_id or default_worker_id()
        self.poll_seconds = poll_seconds
        self._leases: set[Lease] = set()
        self._lock = threading.Lock()

    def serve(self, stop: threading.Event) -> None:
        slots = [
            threading.Thread(target=self._slot, args=(stop,), name=f"slot-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for slot in slots:
            slot.start()
        stop.wait()
        with self._lock:
            held = list(self._leases)
            for lease in held:
                lease.lost.set()  # stop the processes, then hand the jobs back below
        deadline = time.monotonic() + 60
        while self._leases and time.monotonic() < deadline:  # idle slots may sit in a long poll: not waited for
            time.sleep(0.1)
        for lease in held:  # requeued now rather than when the leases run out; failing that, the lease expiry does it
            try:
                self.client.release(lease.job.job_id, lease.token)
            except JobApiError as exc:
                log.warning(
                    "could not hand job %s back (%s); it is requeued when its lease expires", lease.job.job_id, exc
                )

    def _slot(self, stop: threading.Event) -> None:
        backoff = 0.5
        request = ClaimRequest(
            worker_id=self.worker_id, backends=sorted(self.dispatchers), max_jobs=1, wait_seconds=self.poll_seconds
        )
        while not stop.is_set():
            try:
                claimed = self.client.claim(request)
            except JobApiError as exc:
                log.warning("claiming jobs failed (%s); retrying in %.1fs", exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            for job in claimed:
                self.run_one(job, stop)

    def run_one(self, claimed: ClaimedJob, stop: threading.Event | None = None) -> Outcome:
        job = claimed.job
        log.info("job %s (run %s): attempt %d started", job.job_id, job.run_id, job.attempt)
        with Lease(self.client, claimed) as lease:
            with self._lock:
                self._leases.add(lease)
            if stop is not None and stop.is_set():
                lease.lost.set()
            try:
                outcome = self.dispatchers[job.backend].execute(job, lease)
            except Exception as exc:  # the per-job boundary: a dispatcher bug fails this job, not the worker
                lease.log("stderr", traceback.format_exc())
                outcome = Outcome("failed", error=f"Worker error: {type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self._leases.discard(lease)
            if outcome.outcome != "lost":
                lease.finish(outcome)
        log.info("job %s: %s (exit code %s)", job.job_id, outcome.outcome, outcome.exit_code)
        return outcome
