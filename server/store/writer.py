"""Group commit for SQLite: one thread performs every write, and write requests that arrive together share a
transaction.

SQLite takes one writer at a time, so concurrent writes wait in line whatever we do; what costs is each one
paying for its own transaction (session set-up, `BEGIN IMMEDIATE`, the WAL commit). Here the commit is paid once
for everything that queued up meanwhile, and a request is answered only after the commit that holds it.

A request that fails must still roll back alone and get its own error. Savepoints give that, but one per request
costs about a fifth of the writer's time, and almost every group has no failure. So a group first runs without
them; if a request fails, the whole transaction is undone and the group runs again with a savepoint per request.
Work functions therefore keep their side effects inside the session (callers notify and log after the write),
so running one twice, with the first run rolled back, is the same as running it once.

A request that fails because the database is busy (another process holds the write lock past the busy timeout) is
not its own fault: the whole group is refused with it at once, rather than each request waiting out the busy
timeout again in the savepoint run.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from server.errors import is_refused_write

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_GROUP = 64  # requests per shared transaction; bounds how long the first of them waits for its commit


@dataclass(slots=True)
class _Job:
    work: Callable[[Session], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    ok: bool = False
    outcome: Any = None


class GroupCommitWriter:
    def __init__(self, write_transaction: Callable[[], AbstractContextManager[Session]]) -> None:
        self._write_transaction = write_transaction
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
        self._thread.start()

    async def run(self, work: Callable[[Session], T]) -> T:
        loop = asyncio.get_running_loop()
        # The writer thread runs the work in the caller's context, so request-scoped state (the workspace, the
        # acting user) is what the caller set, as it is in a thread-pool write.
        context = contextvars.copy_context()
        job = _Job(lambda session: context.run(work, session), loop.create_future(), loop)
        self._jobs.put(job)
        return await job.future  # type: ignore[no-any-return]

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)

    def _serve(self) -> None:
        while (first := self._jobs.get()) is not None:
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._jobs.put(None)  # finish this group, then stop
                    break
                group.append(job)
            self._commit(group)
            for job in group:
                job.loop.call_soon_threadsafe(_settle, job)

    def _commit(self, group: list[_Job]) -> None:
        """Whole first; a group that had a failure runs again with a savepoint per request. A lone request needs no
        second run: its failure already rolled back only itself."""
        if not self._transaction(group, savepoints=False) and len(group) > 1:
            self._transaction(group, savepoints=True)

    def _transaction(self, group: list[_Job], *, savepoints: bool) -> bool:
        """Runs the group in one transaction. Without savepoints a failing request undoes the whole transaction and
        this returns False; with them each request stands or falls alone."""
        try:
            with self._write_transaction() as session:
                for job in group:
                    if savepoints:
                        with session.begin_nested() as savepoint:
                            _attempt(job, session)
                            if not job.ok:
                                savepoint.rollback()
                    else:
                        _attempt(job, session)
                        if not job.ok:
                            raise _RolledBack(job.outcome)
        except _RolledBack as rolled_back:
            if not is_refused_write(rolled_back.cause):
                return False
            for job in group:  # the database refused the transaction: nobody in the group was stored
                job.ok, job.outcome = False, rolled_back.cause
            return True
        except Exception as exc:  # the commit itself failed: nobody in the group was stored
            log.warning("group commit of %d writes failed: %s", len(group), exc)
            for job in group:
                job.ok, job.outcome = False, exc
        return True


class _RolledBack(Exception):
    """Unwinds a transaction after a failed request without counting as a commit failure."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__()
        self.cause = cause


def _attempt(job: _Job, session: Session) -> None:
    try:
        job.outcome, job.ok = job.work(session), True
    except Exception as exc:
        job.outcome, job.ok = exc, False


def _settle(job: _Job) -> None:
    if job.future.done():  # the request was cancelled (client went away); its write stands or fell as above
        return
    if job.ok:
        job.future.set_result(job.outcome)
    else:
        job.future.set_exception(job.outcome)
