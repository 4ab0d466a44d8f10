"""How the job queue's waiters in this process learn that something happened: long-polling claims wake when a job
becomes claimable, live log tails when lines arrive, and both return at once when the server is stopping. Other
server processes are not woken; they fall back to their polling interval, so nothing here is needed for
correctness, only for latency."""

from __future__ import annotations

import asyncio

import anyio


class Wakeup:
    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, seconds: float) -> None:
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        with anyio.move_on_after(seconds):
            await event.wait()


class JobSignals:
    def __init__(self) -> None:
        self.jobs_changed = Wakeup()
        self.logs_arrived = Wakeup()
        self.stopping = False  # the server is shutting down: long polls and log tails return now

    def stop_waiting(self) -> None:
        self.stopping = True
        self.jobs_changed.notify()
        self.logs_arrived.notify()
