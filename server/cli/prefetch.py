"""Ordered, bounded read-ahead for `runyard import`: the source is read over the network a few runs ahead in threads,
while the caller writes each run into the store in order, one at a time (SQLite has a single writer, and the
destination's transaction per run stays where it was). Waiting on the network and writing overlap; the number of
runs fetched ahead, and so the disk their downloaded artifacts hold, stays bounded."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetched(
    items: Iterable[T], fetch: Callable[[T], R], *, ahead: int, discard: Callable[[R], None]
) -> Iterator[tuple[T, R]]:
    """`(item, fetch(item))` for every item, in the items' order, with up to `ahead` items being fetched at once.

    A fetch that raised re-raises here, at its item's turn. When the caller stops early (an error, Ctrl-C),
    fetches not started are cancelled, running ones are waited for, and `discard` releases every result that was
    fetched but never handed out (its downloaded files)."""
    source = iter(items)
    pending: deque[tuple[T, Future[R]]] = deque()
    pool = ThreadPoolExecutor(max_workers=max(1, ahead), thread_name_prefix="import-read")

    def submit_next() -> None:
        for item in source:
            pending.append((item, pool.submit(fetch, item)))
            return

    try:
        for _ in range(max(1, ahead)):
            submit_next()
        while pending:
            item, future = pending.popleft()
            result = future.result()
            submit_next()
            yield item, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for _, future in pending:
            if future.done() and not future.cancelled() and future.exception() is None:
                discard(future.result())
