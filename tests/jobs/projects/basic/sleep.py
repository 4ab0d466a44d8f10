"""Sleeps until killed, saying so, and records SIGTERM in a file the test reads (its path in the environment)."""

import os
import signal
import sys
import time

marker = os.environ.get("RUNYARD_TEST_MARKER")


def on_term(*_: object) -> None:
    if marker:
        with open(marker, "a") as out:
            out.write("terminated\n")
    sys.exit(143)


signal.signal(signal.SIGTERM, on_term)
if marker:
    with open(marker, "a") as out:
        out.write(f"started {os.getpid()}\n")
print("sleeping", flush=True)
time.sleep(float(sys.argv[1]))
print("woke up")
