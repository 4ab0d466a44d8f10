"""A claimed job seen from the worker: heartbeats that keep the lease and ship log output, and the two signals a
dispatcher obeys, `cancel_requested` (the user asked) and `lost` (the lease is gone, or will be before we could
renew it: stop at once, someone else may get the job).

The worker counts its own deadline from the moment it *sent* the last successful heartbeat, so it always gives up
before the server (which counts from when it received it) can hand the job to another worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from server.jobspec.schemas import ClaimedJob, FinishRequest, Heartbeat, JobView, LogChunk, Stream
from server.worker.client import JobApiError, JobClient

log = logging.getLogger(__name__)
T = TypeVar("T")

CHUNK_BYTES = 256 * 1024  # one log row
BEAT_BYTES = 4 * 1024 * 1024  # one heartbeat request
FINISH_PATIENCE_SECONDS = 600.0  # how long to keep trying to report an outcome while the server is away
MAX_BEAT_INTERVAL = 2.0  # seconds: also how long a cancel can wait to be noticed


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: Literal["succeeded", "failed", "canceled", "lost"]
    exit_code: int | None = None
    error: str | None = None
    result: Any = None  # a GenAI job's return value


class LeaseLost(Exception):
    """The job is no longer ours to run."""


class Lease:
    def __init__(self, client: JobClient, claimed: ClaimedJob, *, flush_seconds: float = 0.5) -> None:
        self.client = client
        self.job: JobView = claimed.job
        self.token = claimed.lease_token
        self.tracking_token = claimed.tracking_token  # for the project process; None when auth is off
        self.lease_seconds = claimed.lease_seconds
        self.cancel_requested = threading.Event()
        if claimed.job.cancel_requested:  # claimed only to cancel what a lost worker left on remote compute
            self.cancel_requested.set()
        self.lost = threading.Event()
        self._flush_seconds = flush_seconds
        self._deadline = time.monotonic() + self.lease_seconds * 0.9
        self._lock = threading.Lock()
        self._buffer: list[tuple[Stream, str]] = []
        self._outbox: list[LogChunk] = []
        self._seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=f"lease-{self.job.job_id[:8]}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    # --- what a dispatcher calls ------------------------------------------------------------------------------

    def log(self, stream: Stream, text: str) -> None:
        if text:
            with self._lock:
                self._buffer.append((stream, text))

    def download_snapshot(self, dest: Path) -> None:
        self.client.download_snapshot(self.job.job_id, dest, self.job.workspace)

    def start(self) -> None:
        """The entry point is about to start: the job and its run become RUNNING."""
        state = self._with_retries(lambda: self.client.start(self.job.job_id, self.token))
        if state.cancel_requested:
            self.cancel_requested.set()

    def record_external_id(self, external_id: str) -> None:
        """Store the name the job has on remote compute before submitting it there, so whoever holds the job next
        can find it again instead of submitting it twice."""
        beat = Heartbeat(lease_token=self.token, external_id=external_id)
        self._with_retries(lambda: self.client.heartbeat(self.job.job_id, beat))

    def finish(self, outcome: Outcome) -> None:
        self._stop.set()
        self._thread.join()
        request = FinishRequest(
            lease_token=self.token,
            outcome=outcome.outcome,
            exit_code=outcome.exit_code,
            error=outcome.error,
            result=outcome.result,
        )
        give_up = time.monotonic() + FINISH_PATIENCE_SECONDS
        while True:
            try:
                self._beat()  # the last of the output first, and the lease kept while the server is away
                if not self._outbox and not self._buffer:
                    self.client.finish(self.job.job_id, request)
                    return
            except JobApiError as exc:
                if exc.lease_lost:
                    log.warning("job %s: lease lost before its outcome could be reported", self.job.job_id)
                    return
                if time.monotonic() > give_up:
                    log.error("job %s: could not report its outcome: %s", self.job.job_id, exc)
                    return
                time.sleep(1.0)

    # --- keeping the lease ------------------------------------------------------------------------------------

    def _with_retries(self, call: Callable[[], T]) -> T:
        while True:
            try:
                return call()
            except JobApiError as exc:
                if exc.lease_lost or not exc.transient or time.monotonic() > self._deadline:
                    self.lost.set()
                    raise LeaseLost(str(exc)) from exc
                time.sleep(0.5)

    def _keep(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(self._flush_seconds):
            due = time.monotonic() - last_beat >= min(self.lease_seconds / 3, MAX_BEAT_INTERVAL)
            if self._buffer or self._outbox or due:
                try:
                    self._beat()
                    last_beat = time.monotonic()
                except JobApiError as exc:
                    if exc.lease_lost:
                        self.lost.set()
                    else:
                        log.warning("job %s: heartbeat failed: %s", self.job.job_id, exc)
            if time.monotonic() > self._deadline:
                self.lost.set()

    def _fill_outbox(self) -> None:
        """Coalesce buffered output into numbered chunks; a chunk keeps its number until the server has it."""
        size = 0
        with self._lock:
            while self._buffer and size < BEAT_BYTES:
                stream, text = self._buffer.pop(0)
                if len(text) > CHUNK_BYTES:
                    self._buffer.insert(0, (stream, text[CHUNK_BYTES:]))
                    text = text[:CHUNK_BYTES]
                last = self._outbox[-1] if self._outbox else None
                if last is not None and last.stream == stream and len(last.text) + len(text) <= CHUNK_BYTES:
                    self._outbox[-1] = LogChunk(seq=last.seq, stream=stream, text=last.text + text)
                else:
                    self._outbox.append(LogChunk(seq=self._seq, stream=stream, text=text))
                    self._seq += 1
                size += len(text)

    def _beat(self) -> None:
        if not self._outbox:
            self._fill_outbox()
        sent_at = time.monotonic()
        state = self.client.heartbeat(self.job.job_id, Heartbeat(lease_token=self.token, chunks=self._outbox))
        self._outbox = []
        self._deadline = sent_at + state.lease_seconds * 0.9
        if state.cancel_requested:
            self.cancel_requested.set()
