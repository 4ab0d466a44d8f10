"""Prints a numbered line every 0.2 s (a warning on stderr every fifth), then exits with the code it is given; no
mlflow import, so it starts at once."""

import sys
import time

ticks, exit_code = int(sys.argv[1]), int(sys.argv[2])
for tick in range(1, ticks + 1):
    print(f"tick {tick}", flush=True)
    if tick % 5 == 0:
        print(f"warning at tick {tick}", file=sys.stderr, flush=True)
    time.sleep(0.2)
if exit_code:
    raise SystemExit(f"ticker failing on purpose with {exit_code}")
