"""Command line: start the servers, run every workload against each in turn, print the table, stop the servers."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import shlex
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench import fasttrackml, paired, report
from bench.config import FULL, QUICK, Sizes
from bench.context import Context
from bench.databases import databases
from bench.parallel import BudgetExceeded
from bench.servers import FASTTRACKML, MLFLOW, RUNYARD, RUNYARD_WORKSPACES, RunningServer, ServerError, launch
from bench.workloads import Workload, workloads


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark Runyard next to `mlflow server`.")
    parser.add_argument("--only", choices=("runyard", "mlflow"), help="measure one side only")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--big", action="store_true", help="add a search over 100,000 runs (slow to seed)")
    parser.add_argument(
        "--workspaces",
        action="store_true",
        help="compare Runyard with workspaces on (requests in a team's workspace) to Runyard without them, "
        "instead of to mlflow server",
    )
    parser.add_argument(
        "--peer",
        choices=("mlflow", "fasttrackml"),
        default="mlflow",
        help="the server Runyard is compared with: mlflow server (default) or FastTrackML "
        f"{fasttrackml.VERSION} (installed once into a benchmark venv of its own)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every workload this many times, the two servers interleaved (A B A B), and print each round's "
        "ratios and their median",
    )
    parser.add_argument("--search-runs", type=int, help="runs seeded for the search rows (default 2,000)")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the metadata store of both servers: a SQLite file each (default), or a database each in one "
        "throwaway PostgreSQL cluster started for the run (needs the PostgreSQL server binaries, as `make test`)",
    )
    parser.add_argument(
        "--paired",
        type=int,
        default=0,
        metavar="PAIRS",
        help="after the rounds, time each search row PAIRS times on both servers, call by call in alternation, "
        "for a ratio that machine-load drift between turns cannot move",
    )
    parser.add_argument(
        "--big-mlflow",
        action="store_true",
        help="with --big, seed mlflow server too even when that is estimated to take over 10 minutes",
    )
    return parser.parse_args(argv)


def _versions() -> str:
    try:
        import mlflow  # heavy, so imported only here

        mlflow_version = mlflow.__version__
    except ImportError:
        mlflow_version = "not installed"
    try:
        runyard_version = importlib.metadata.version("runyard")
    except importlib.metadata.PackageNotFoundError:
        runyard_version = "?"
    return (
        f"versions: mlflow {mlflow_version} (mlflow.__version__), runyard {runyard_version} (package), "
        f"client httpx {importlib.metadata.version('httpx')} (keep-alive, one connection per client thread)"
    )


def _big_allowed(ctx: Context, args: argparse.Namespace) -> str | None:
    """None if the big search should run on this server, else why it is skipped."""
    if ctx.server.spec is not MLFLOW or args.big_mlflow:
        return None
    rate = ctx.seed_runs_per_s
    if not rate:
        return "skipped: no seeding rate measured"
    estimate = ctx.sizes.big_runs / rate
    if estimate > ctx.sizes.big_mlflow_limit_s:
        return f"skipped: seeding {ctx.sizes.big_runs:,} runs estimated at {estimate / 60:.0f} min (--big-mlflow)"
    return None


def _run_one(ctx: Context, workload: Workload, results: dict[str, report.Cell], args: argparse.Namespace) -> None:
    name = ctx.server.spec.name
    if workload.name == "artifacts" and ctx.server.spec is FASTTRACKML:
        results.update(dict.fromkeys(workload.keys, "skipped"))
        print(f"  [{name}] {workload.name}: skipped (FastTrackML proxies no artifacts)", flush=True)
        return
    if workload.name == "big search" and (reason := _big_allowed(ctx, args)):
        results.update(dict.fromkeys(workload.keys, "skipped"))
        ctx.notes.append(reason)
        print(f"  [{name}] {workload.name}: {reason}", flush=True)
        return
    started = time.monotonic()
    try:
        values = workload.run(ctx)
    except BudgetExceeded as exc:
        outcome: report.Cell = "stopped" if ctx.stop.is_set() else "timeout"
        results.update(dict.fromkeys(workload.keys, outcome))
        ctx.notes.append(f"{workload.name}: {exc}")
    except Exception as exc:
        results.update(dict.fromkeys(workload.keys, "error"))
        ctx.notes.append(f"{workload.name}: {type(exc).__name__}: {exc}")
        if ctx.server.process.poll() is not None:
            ctx.notes.append(f"server exited with {ctx.server.process.returncode}; log tail:\n{ctx.server.log_tail()}")
        elif not ctx.log_shown:
            ctx.log_shown = True
            ctx.notes.append(f"server log tail ({ctx.server.log_path.name}):\n{ctx.server.log_tail(15)}")
    else:
        results.update(values)
    shown = ", ".join(f"{key}={report.cell(results.get(key))}" for key in workload.keys)
    print(f"  [{name}] {workload.name}: {shown} ({time.monotonic() - started:.1f} s)", flush=True)


def _start(servers: list[RunningServer], results: dict[str, dict[str, report.Cell]], keys: list[str]) -> list[str]:
    """Waits for each server's /health; a server that does not come up gets "not started" in every row."""
    failures = []
    for server in servers:
        try:
            server.wait_healthy()
        except ServerError as exc:
            server.stop()
            results[server.spec.name] = dict.fromkeys(keys, "not started")
            failures.append(str(exc))
            print(f"{server.spec.name}: did not start", flush=True)
            continue
        print(
            f"{server.spec.name}: {server.base_url} up in {server.startup_s:.1f} s, /version {server.version}, "
            f"serving pid {server.serving_pid}\n  $ {shlex.join(server.command)}",
            flush=True,
        )
    return failures


def _make_workspaces(servers: list[RunningServer]) -> None:
    for server in servers:
        if server.spec.workspace and server.serving_pid is not None:
            response = httpx.post(
                f"{server.base_url}/api/3.0/mlflow/workspaces", json={"name": server.spec.workspace}, trust_env=False
            )
            response.raise_for_status()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes: Sizes = QUICK if args.quick else FULL
    if args.search_runs:
        sizes = dataclasses.replace(sizes, search_runs=args.search_runs)
    peer = FASTTRACKML if args.peer == "fasttrackml" else MLFLOW
    pair = (RUNYARD_WORKSPACES, RUNYARD) if args.workspaces else (RUNYARD, peer)
    specs = [spec for spec in pair if args.only in (None, spec.key) or args.workspaces]
    spec_rows = report.rows(sizes, args.big)
    print(report.machine())
    print(report.load())
    print(_versions(), flush=True)
    store = "PostgreSQL, a database per server in one cluster" if args.database == "postgresql" else "SQLite files"
    print(f"metadata store: {store}", flush=True)
    stop = threading.Event()
    rounds: list[dict[str, dict[str, report.Cell]]] = []
    contexts: list[Context] = []
    failures: list[str] = []
    interrupted = False
    paired_table = ""
    with tempfile.TemporaryDirectory(prefix="runyard-bench-") as tmp, databases(args.database) as database_for:
        servers: list[RunningServer] = []
        try:
            servers = [launch(spec, Path(tmp), database_url=database_for(spec.tag)) for spec in specs]
            started: dict[str, dict[str, report.Cell]] = {spec.name: {} for spec in specs}
            failures = _start(servers, started, [row.key for row in spec_rows])
            _make_workspaces(servers)
            contexts = [Context(s, sizes, stop) for s in servers if s.serving_pid is not None]
            for ctx in contexts:
                waited = ctx.server.settle()
                state = f"idle after {waited:.0f} s" if waited is not None else "still busy after 60 s, going on"
                print(f"{ctx.server.spec.name}: process tree {state}", flush=True)
            for number in range(1, max(1, args.rounds) + 1):
                results = {name: dict(cells) for name, cells in started.items()}
                rounds.append(results)
                for workload in workloads(args.big):
                    print(f"{workload.name}{f' (round {number})' if args.rounds > 1 else ''}:", flush=True)
                    for ctx in contexts:  # the two servers take turns on every workload, round after round
                        _run_one(ctx, workload, results[ctx.server.spec.name], args)
            if args.paired > 0 and len(contexts) == 2:
                paired_table = paired.compare(contexts[0], contexts[1], args.paired)
        except KeyboardInterrupt:
            stop.set()
            interrupted = True
            print("\ninterrupted: stopping the servers", flush=True)
        finally:
            for server in servers:
                server.stop()
    print(f"\n{report.load()} (after the run)")
    names = (pair[0].name, pair[1].name)
    for number, results in enumerate(rounds, start=1):
        if len(rounds) > 1:
            print(f"\nround {number}:")
        print(report.table(spec_rows, results, names))
    if len(rounds) > 1:
        print("\nratio per round, and the median:")
        print(report.ratios_by_round(spec_rows, rounds, names))
    if paired_table:
        print(f"\n{paired_table}")
    for ctx in contexts:
        for note in ctx.notes:
            print(f"note [{ctx.server.spec.name}]: {note}")
    for failure in failures:
        print(f"error: {failure}")
    compared = "Runyard with workspaces is than without" if args.workspaces else f"Runyard is than {peer.name}"
    print(f"ratio: how many times faster {compared} (higher is better); MB = 10^6 bytes, MiB = 2^20 bytes")
    return 130 if interrupted else (1 if failures else 0)
