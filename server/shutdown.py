"""Lets long-lived requests end as soon as the server is asked to stop.

uvicorn's graceful shutdown waits for every in-flight request, and two of ours are open-ended by design: a
worker's long-poll claim (up to 60 s) and a browser's live log tail (until the job ends). Left alone they hold a
stopping server for the whole grace period. uvicorn tells the application nothing until the requests are done, so
we chain onto the signal handlers its server installed and raise a flag those requests check; a log tail that ends
this way is resumed by the browser, against whichever server answers next, from its Last-Event-ID.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn

SIGNALS = (signal.SIGINT, signal.SIGTERM)


Handler = Callable[[int, FrameType | None], object]


def _chain(previous: Handler, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Handler:
    def chained(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        previous(signum, frame)

    return chained


def on_stop_signal(callback: Callable[[], None]) -> None:
    """Call `callback` on the event loop when uvicorn's server receives SIGINT or SIGTERM. A no-op outside a
    uvicorn server (tests calling the app in-process), which installs no handler of its own."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        previous = signal.getsignal(sig)
        if callable(previous) and isinstance(getattr(previous, "__self__", None), uvicorn.Server):
            signal.signal(sig, _chain(previous, loop, callback))
