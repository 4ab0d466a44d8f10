"""Logs one metric to the run the worker created, prints to both streams, and exits as told."""

import argparse
import sys

import mlflow

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float)
parser.add_argument("--exit-code", type=int, default=0)
args = parser.parse_args()

with mlflow.start_run():
    mlflow.log_metric("score", args.alpha * 2)
print(f"trained with alpha={args.alpha} on {sys.executable}")
print("a warning on stderr", file=sys.stderr)
if args.exit_code:
    raise SystemExit(f"crashing on purpose with {args.exit_code}")
