"""Start-up: exec to the first 200 on `/health`, for Runyard and `mlflow server` started the same way in one run.

`python -m bench.startup [--rounds 3]` alternates the two servers (so a load that comes and goes hits both alike),
each on a fresh SQLite file and artifact folder, and prints the median of each, their ratio, and how long
`runyard --help` takes. The targets: Runyard in at most a quarter of `mlflow server`'s time, `--help` under 0.5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.servers import MLFLOW, RUNYARD, ServerError, ServerSpec, environment, launch


def time_to_health(spec: ServerSpec, workdir: Path, env: dict[str, str]) -> float:
    """Seconds from exec to the first 200 on /health, polled every 20 ms (the servers' own probe waits 200 ms)."""
    started = time.monotonic()
    server = launch(spec, workdir, env=env)
    try:
        with httpx.Client(base_url=server.base_url, timeout=2.0, trust_env=False) as client:
            while time.monotonic() < started + spec.startup_timeout_s:
                if server.process.poll() is not None:
                    raise ServerError(f"{spec.name} exited with {server.process.returncode}:\n{server.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/health").status_code == 200:
                        return time.monotonic() - started
                time.sleep(0.02)
        raise ServerError(f"{spec.name} not healthy after {spec.startup_timeout_s:.0f} s:\n{server.log_tail()}")
    finally:
        server.stop()


def time_help(env: dict[str, str]) -> float:
    """Seconds for `runyard --help` (as `python -m server --help`, so the checkout under test is the one timed)."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "server", "--help"], check=True, stdout=subprocess.DEVNULL, env=env)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="starts of each server (the median is reported)")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="ignore compiled .pyc files (an install made without bytecode, e.g. by uv's default)",
    )
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {RUNYARD.name: [], MLFLOW.name: []}
    helps: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        env = dict(environment())
        if args.no_bytecode:  # an empty cache folder: every module compiles from source, and nothing is written
            env.update({"PYTHONPYCACHEPREFIX": str(Path(tmp) / "no-pyc"), "PYTHONDONTWRITEBYTECODE": "1"})
        for round_number in range(args.rounds):
            for spec in (RUNYARD, MLFLOW):
                workdir = Path(tmp) / f"{spec.tag}{round_number}"
                workdir.mkdir()
                times[spec.name].append(time_to_health(spec, workdir, env))
            helps.append(time_help(env))
    runyard, mlflow = (statistics.median(times[name]) for name in (RUNYARD.name, MLFLOW.name))
    for name, values in times.items():
        print(f"{name:<15} exec -> /health  median {statistics.median(values):5.2f} s  ({_list(values)})")
    print(f"{'ratio':<15} Runyard / mlflow server  {runyard / mlflow:.2f}  (target <= 0.25)")
    print(f"{'runyard --help':<15} median {statistics.median(helps):5.2f} s  ({_list(helps)})  (target < 0.5 s)")
    return 0


def _list(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    raise SystemExit(main())
