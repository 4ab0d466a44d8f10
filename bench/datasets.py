"""`python -m bench.datasets`: evaluation datasets and `mlflow.genai.evaluate`, Runyard next to `mlflow server`.

Each server gets a fresh SQLite store. Three workloads, in the order a team meets them:
- upsert `--records` records into one dataset in batches of 1,000, over REST exactly as `merge_records` sends them;
- read them back page by page (1,000 a page, as the client's `to_df()` does);
- the stock client's `mlflow.genai.evaluate` over the first `--eval-rows` records of a dataset, with a `predict_fn`
  and two code scorers, in a client process of its own: timed from the call to its return, so that the client's
  own import time is left out.

Rounds alternate between the servers (A B A B), and each round's ratio is printed: the machine's load moves both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.servers import MLFLOW, RUNYARD, ServerSpec, environment, launch

DATASETS = "/api/3.0/mlflow/datasets"
BATCH = 1000


def _record(index: int) -> dict[str, object]:
    return {
        "inputs": {"question": f"What is the capital of country {index}?", "context": "geography " * 8},
        "expectations": {"expected_response": f"City {index}"},
        "tags": {"split": "train" if index % 5 else "test"},
    }


def _experiment(http: httpx.Client, name: str) -> str:
    response = http.post("/api/2.0/mlflow/experiments/create", json={"name": name})
    response.raise_for_status()
    return str(response.json()["experiment_id"])


def _dataset(http: httpx.Client, name: str, experiment_id: str) -> str:
    response = http.post(f"{DATASETS}/create", json={"name": name, "experiment_ids": [experiment_id]})
    response.raise_for_status()
    return str(response.json()["dataset"]["dataset_id"])


def upsert(http: httpx.Client, dataset_id: str, count: int) -> float:
    """Records per second for `count` new records, sent as the client sends them (a JSON string per batch)."""
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        batch = [_record(index) for index in range(first, min(first + BATCH, count))]
        response = http.post(f"{DATASETS}/{dataset_id}/records", json={"records": json.dumps(batch)})
        response.raise_for_status()
        assert response.json().get("inserted_count", 0) == len(batch), response.text[:300]
    return count / (time.perf_counter() - started)


def read_back(http: httpx.Client, dataset_id: str, count: int) -> float:
    """Records per second reading every page of 1,000; checks that each record came once."""
    started = time.perf_counter()
    seen: set[str] = set()
    token: str | None = None
    while True:
        params: dict[str, str | int] = {"max_results": BATCH}
        if token:
            params["page_token"] = token
        response = http.get(f"{DATASETS}/{dataset_id}/records", params=params)
        response.raise_for_status()
        body = response.json()
        seen.update(record["dataset_record_id"] for record in json.loads(body.get("records") or "[]"))
        token = body.get("next_page_token")
        if not token:
            break
    elapsed = time.perf_counter() - started
    assert len(seen) == count, f"read {len(seen)} distinct records of {count}"
    return count / elapsed


EVALUATE_CLIENT = """
import sys, time
import mlflow
from mlflow.genai.scorers import scorer

dataset_id, experiment_id, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
mlflow.set_experiment(experiment_id=experiment_id)
dataset = mlflow.genai.datasets.get_dataset(dataset_id=dataset_id)

@scorer
def exact_match(outputs, expectations):
    return outputs == expectations["expected_response"]

@scorer
def answer_length(outputs):
    return len(outputs)

def predict_fn(question, context):
    return "City " + question.split()[-1].rstrip("?")

data = dataset.to_df().head(rows)
started = time.perf_counter()
result = mlflow.genai.evaluate(data=data, predict_fn=predict_fn, scorers=[exact_match, answer_length])
elapsed = time.perf_counter() - started
assert result.metrics.get("exact_match/mean") == 1.0, result.metrics
print(f"EVALUATE {elapsed:.3f}")
"""


def evaluate(base_url: str, dataset_id: str, experiment_id: str, rows: int) -> float:
    """Seconds `mlflow.genai.evaluate` takes in a stock client process pointed at the server."""
    env = {**environment(), "MLFLOW_TRACKING_URI": base_url}
    completed = subprocess.run(
        [sys.executable, "-c", EVALUATE_CLIENT, dataset_id, experiment_id, str(rows)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("EVALUATE "):
            return float(line.split()[1])
    raise RuntimeError(f"evaluate failed against {base_url}:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}")


def one_round(spec: ServerSpec, workdir: Path, records: int, eval_rows: int) -> dict[str, float]:
    server = launch(spec, workdir)
    try:
        server.wait_healthy()
        with httpx.Client(base_url=server.base_url, timeout=600, trust_env=False) as http:
            experiment_id = _experiment(http, "bench-datasets")
            big = _dataset(http, "bench-big", experiment_id)
            upsert_rate = upsert(http, big, records)
            read_rate = read_back(http, big, records)
            small = _dataset(http, "bench-eval", experiment_id)
            upsert(http, small, eval_rows)
        seconds = evaluate(server.base_url, small, experiment_id, eval_rows) if eval_rows else float("nan")
        print(
            f"  {spec.name:14} upsert {upsert_rate:9.0f} records/s   read {read_rate:9.0f} records/s   "
            f"evaluate {eval_rows} rows {seconds:7.1f} s",
            flush=True,
        )
        return {"upsert": upsert_rate, "read": read_rate, "evaluate": seconds}
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.datasets", description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="records upserted into one dataset")
    parser.add_argument("--eval-rows", type=int, default=1000, help="rows `mlflow.genai.evaluate` scores (0: skip)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each running both servers")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    ratios: dict[str, list[float]] = {"upsert": [], "read": [], "evaluate": []}
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as folder:
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}", flush=True)
            results = {}
            for spec in (RUNYARD, MLFLOW) if round_number % 2 else (MLFLOW, RUNYARD):
                workdir = Path(folder) / f"{spec.tag}{round_number}"
                workdir.mkdir()
                results[spec.key] = one_round(spec, workdir, args.records, args.eval_rows)
            runyard, mlflow = results["runyard"], results["mlflow"]
            ratios["upsert"].append(runyard["upsert"] / mlflow["upsert"])
            ratios["read"].append(runyard["read"] / mlflow["read"])
            ratios["evaluate"].append(mlflow["evaluate"] / runyard["evaluate"])
            print(
                f"  Runyard / mlflow server: upsert {ratios['upsert'][-1]:.1f}x, read {ratios['read'][-1]:.1f}x, "
                f"evaluate {ratios['evaluate'][-1]:.2f}x faster",
                flush=True,
            )
    print(
        "median over rounds, Runyard / mlflow server: "
        + ", ".join(f"{name} {statistics.median(values):.2f}x" for name, values in ratios.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
