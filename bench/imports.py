"""Moving history: `runyard import` next to `mlflow-export-import`, the separate tool teams use today, on the same
data from one `mlflow server`.

`python -m bench.imports [--runs 1000 --points 10000]` fills a local `mlflow server` (SQLite, proxied artifacts)
with one experiment of N runs, each with an M-point metric history, a few params and tags, and two small artifacts.
Then, from that one source:
- `runyard import http://…` writes straight into a fresh Runyard store (its verification included in the time);
- `mlflow-export-import` (`export-experiments` to a folder, then `import-experiments` through the REST API of a
  Runyard server on another fresh store) does the same move the way it is documented, with its defaults.

Each copy is checked afterwards through the destination's REST API (run count and every run's history length), so
a tool that skips data cannot look fast. The table gives seconds, runs/s, points/s and artifact MB/s for each, and
the ratio of the two times. `mlflow-export-import` is installed once into a benchmark venv of its own; it never
reaches Runyard's environment.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.servers import MLFLOW, RUNYARD, RunningServer, environment, launch

EXPORT_IMPORT_VERSION = "1.2.0"
EXPERIMENT = "bench-import"
BATCH = 1000  # metric points per log-batch, MLflow's limit
SEED_THREADS = 4


@dataclass(frozen=True)
class Sizes:
    runs: int
    points: int
    artifact_bytes: int

    @property
    def total_points(self) -> int:
        return self.runs * self.points

    @property
    def total_artifact_bytes(self) -> int:
        return self.runs * 2 * self.artifact_bytes


@dataclass(frozen=True)
class Timing:
    tool: str
    seconds: float


def export_import_venv() -> Path:
    """The benchmark venv holding `mlflow-export-import`, made on first use. It pins the suite's MLflow, so both
    tools read the source with the same client, and adds `tabulate`, which the tool imports without declaring."""
    import mlflow

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    venv = cache / "runyard-bench" / f"mlflow-export-import-{EXPORT_IMPORT_VERSION}-mlflow-{mlflow.__version__}"
    if not (venv / "bin" / "import-experiments").exists():
        print(f"installing mlflow-export-import=={EXPORT_IMPORT_VERSION} into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run(
            [*pip, f"mlflow-export-import=={EXPORT_IMPORT_VERSION}", f"mlflow=={mlflow.__version__}", "tabulate"],
            check=True,
        )
    return venv


@contextmanager
def running(server: RunningServer) -> Iterator[RunningServer]:
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def _check(response: httpx.Response) -> dict[str, object]:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}"
        )
    body: dict[str, object] = response.json()
    return body


def _seed_run(client: httpx.Client, experiment_id: str, number: int, sizes: Sizes, blob: bytes) -> None:
    started = 1_700_000_000_000 + number * 1000
    run = _check(
        client.post(
            "/api/2.0/mlflow/runs/create",
            json={"experiment_id": experiment_id, "run_name": f"run-{number}", "start_time": started},
        )
    )["run"]
    assert isinstance(run, dict)
    run_id = run["info"]["run_id"]
    for first in range(0, sizes.points, BATCH):
        metrics = [
            {"key": "loss", "value": 1.0 / (step + 1), "timestamp": started + step, "step": step}
            for step in range(first, min(first + BATCH, sizes.points))
        ]
        _check(client.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics}))
    params = [{"key": "lr", "value": "0.01"}, {"key": "seed", "value": str(number)}]
    tags = [{"key": "team", "value": "bench"}]
    _check(client.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "params": params, "tags": tags}))
    for name in ("notes.txt", "config/settings.json"):
        path = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{name}"
        response = client.put(path, content=blob)
        if response.status_code != 200:
            raise RuntimeError(f"PUT {path} -> {response.status_code}: {response.text}")
    _check(
        client.post(
            "/api/2.0/mlflow/runs/update",
            json={"run_id": run_id, "status": "FINISHED", "end_time": started + sizes.points},
        )
    )


def seed(source: RunningServer, sizes: Sizes) -> float:
    """Fills the source over REST from a few threads; returns the seconds it took."""
    started = time.monotonic()
    with httpx.Client(base_url=source.base_url, timeout=120, trust_env=False) as client:
        experiment_id = str(
            _check(client.post("/api/2.0/mlflow/experiments/create", json={"name": EXPERIMENT}))["experiment_id"]
        )
    blob = os.urandom(sizes.artifact_bytes)

    def one(number: int) -> None:
        with httpx.Client(base_url=source.base_url, timeout=120, trust_env=False) as client:
            _seed_run(client, experiment_id, number, sizes, blob)

    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(one, range(sizes.runs)))
    return time.monotonic() - started


def verify(destination: RunningServer, sizes: Sizes) -> str:
    """How much of the source a destination holds, read over REST: runs, and metric points over every run."""
    with httpx.Client(base_url=destination.base_url, timeout=120, trust_env=False) as client:
        experiment = _check(
            client.get("/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": EXPERIMENT})
        )
        experiment_id = experiment["experiment"]["experiment_id"]  # type: ignore[index]
        run_ids: list[str] = []
        token = None
        while True:
            body = {"experiment_ids": [experiment_id], "max_results": 1000, **({"page_token": token} if token else {})}
            page = _check(client.post("/api/2.0/mlflow/runs/search", json=body))
            run_ids.extend(run["info"]["run_id"] for run in page.get("runs", []))  # type: ignore[attr-defined]
            token = page.get("next_page_token")
            if not token:
                break
        points = 0
        for run_id in run_ids:
            history = _check(
                client.get(
                    "/api/2.0/mlflow/metrics/get-history",
                    params={"run_id": run_id, "metric_key": "loss", "max_results": sizes.points + 1},
                )
            )
            points += len(history.get("metrics", []))  # type: ignore[arg-type]
    complete = len(run_ids) == sizes.runs and points == sizes.total_points
    return f"{len(run_ids):,} runs, {points:,} points{'' if complete else ' (INCOMPLETE)'}"


def time_runyard_import(source: RunningServer, workdir: Path) -> Timing:
    store = workdir / "runyard-import"
    store.mkdir()
    command = [
        sys.executable, "-m", "server", "import", source.base_url,
        "--backend-store-uri", f"sqlite:///{store / f'{RUNYARD.tag}.db'}",
        "--artifacts-destination", str(store / f"{RUNYARD.tag}-art"),
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(command, env=environment(), capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"runyard import exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return Timing("runyard import", seconds)


def _serve(store: Path) -> RunningServer:
    """A Runyard server on the store in the folder `store`: the SQLite file and artifact folder that
    `time_runyard_import` writes, by the names `launch` gives them."""
    return launch(RUNYARD, store)


def time_export_import(source: RunningServer, destination: RunningServer, workdir: Path) -> tuple[Timing, Timing]:
    venv = export_import_venv()
    folder = workdir / "exported"
    env = {key: value for key, value in environment().items() if key != "PYTHONPATH"}
    commands = [
        ([str(venv / "bin" / "export-experiments"), "--experiments", EXPERIMENT, "--output-dir", str(folder)],
         source.base_url),
        ([str(venv / "bin" / "import-experiments"), "--input-dir", str(folder)], destination.base_url),
    ]  # fmt: skip
    timings = []
    for command, uri in commands:
        started = time.monotonic()
        result = subprocess.run(
            command, env={**env, "MLFLOW_TRACKING_URI": uri}, cwd=workdir, capture_output=True, text=True, check=False
        )
        seconds = time.monotonic() - started
        if result.returncode != 0:
            raise RuntimeError(
                f"{command[0]} exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        timings.append(Timing(Path(command[0]).name, seconds))
    return timings[0], timings[1]


def _rates(sizes: Sizes, seconds: float) -> str:
    mb = sizes.total_artifact_bytes / 1e6
    return (
        f"{seconds:9.1f} s  {sizes.runs / seconds:9.1f} runs/s  {sizes.total_points / seconds:12,.0f} points/s  "
        f"{mb / seconds:7.2f} MB/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs in the source (default 1,000)")
    parser.add_argument("--points", type=int, default=10_000, help="metric points per run (default 10,000)")
    parser.add_argument("--artifact-bytes", type=int, default=4096, help="size of each of a run's 2 artifacts")
    args = parser.parse_args(argv)
    sizes = Sizes(args.runs, args.points, args.artifact_bytes)
    export_import_venv()  # installed before anything is timed
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        workdir = Path(tmp)
        (workdir / "source").mkdir()
        with running(launch(MLFLOW, workdir / "source")) as source:
            print(
                f"source: mlflow server {source.version} at {source.base_url}; seeding {sizes.runs:,} runs x "
                f"{sizes.points:,} points x 2 artifacts of {sizes.artifact_bytes:,} bytes",
                flush=True,
            )
            print(f"  seeded in {seed(source, sizes):.1f} s", flush=True)
            ours = time_runyard_import(source, workdir)
            print(f"  runyard import: {ours.seconds:.1f} s", flush=True)
            with running(_serve(workdir / "runyard-import")) as served:
                ours_check = verify(served, sizes)
            (workdir / "export-import").mkdir()
            with running(_serve(workdir / "export-import")) as destination:
                exported, imported = time_export_import(source, destination, workdir)
                print(f"  export-experiments: {exported.seconds:.1f} s, import-experiments: {imported.seconds:.1f} s")
                theirs_check = verify(destination, sizes)
    theirs = exported.seconds + imported.seconds
    print()
    print(f"{'tool':<34} {'time':>11}  {'runs/s':>16}  {'points/s':>21}  {'artifacts':>12}  destination holds")
    print(f"{'runyard import':<34} {_rates(sizes, ours.seconds)}  {ours_check}")
    peer = f"mlflow-export-import {EXPORT_IMPORT_VERSION} (both steps)"
    print(f"{peer:<34} {_rates(sizes, theirs)}  {theirs_check}")
    print(f"  of which export {exported.seconds:.1f} s, import {imported.seconds:.1f} s")
    print(f"ratio: runyard import is {theirs / ours.seconds:.1f}x faster than mlflow-export-import")
    return 0


if __name__ == "__main__":
    sys.exit(main())
