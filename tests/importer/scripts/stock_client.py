"""The stock MLflow client of whichever venv runs this file, on a tracking server (imports only MLflow and the
standard library, so the venv of any MLflow 2 or 3 runs it as it is).

    python stock_client.py fill URL WORKDIR OUT.json      fill an empty server; write its run ids and snapshot
    python stock_client.py snapshot URL OUT.json          write what a user sees of the server to OUT.json

`fill` makes two experiments (one tagged) with runs holding 1,000-point histories, params, tags, a dataset input
and artifacts, a deleted run, a deleted experiment with a run, and a registered model `churn` with two versions
made from two runs' `model` folders, tagged and described, one in Production, the other in Staging, with the alias
`champion`: what a team's MLflow 2 server holds.

`snapshot` is what the same client reads back, as JSON: every experiment and run with every metric point, the
artifacts' sha256, and the registered models with their versions, aliases and the files `models:/` URIs download.
Two servers holding the same thing give the same snapshot, whichever client version reads each.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag, ViewType

HISTORY = 1000  # points of `loss` per run
BIG_FILE = 3 * (1 << 20) + 17  # more than one chunk of the artifact store's reads and writes
MODEL = "churn"


def fill(client: MlflowClient, workdir: Path) -> dict[str, Any]:
    trainer = client.create_experiment("trainer", tags={"team": "vision", "mlflow.note.content": "the trainer"})
    tuner = client.create_experiment("tuner")
    run_ids = []
    for number, experiment_id in enumerate([trainer, trainer, tuner]):
        run = client.create_run(experiment_id, run_name=f"run-{number}", tags={"seed": str(number)})
        run_id = run.info.run_id
        start = run.info.start_time
        points = [Metric("loss", 1.0 / (step + 1), start + step, step) for step in range(HISTORY)]
        points.append(Metric("accuracy", math.nan, start, 0))
        for first in range(0, len(points), 1000):  # the most one request may carry
            client.log_batch(run_id, metrics=points[first : first + 1000])
        client.log_batch(
            run_id, params=[Param("lr", f"0.0{number + 1}"), Param("layers", "4")], tags=[RunTag("k", "v")]
        )
        dataset = Dataset("digits", f"d{number}", "local", '{"uri": "/data/digits"}', '{"cols": ["a"]}', None)
        client.log_inputs(run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])])
        notes = workdir / f"notes-{number}.txt"
        notes.write_text(f"run {number}\n")
        client.log_artifact(run_id, str(notes))
        client.log_artifact(run_id, str(notes), artifact_path="nested/deeper")
        if number < 2:  # the registered model's two versions come from these runs' `model` folders
            model = workdir / f"model-{number}"
            model.mkdir()
            (model / "MLmodel").write_text(f"artifact_path: model\nrun_id: {run_id}\n")
            (model / "weights.bin").write_bytes(os.urandom(BIG_FILE if number == 0 else 1000))
            client.log_artifacts(run_id, str(model), artifact_path="model")
        client.set_terminated(run_id, "FINISHED" if number else "FAILED")
        run_ids.append(run_id)
    deleted = client.create_run(tuner, run_name="mistake").info.run_id
    client.log_metric(deleted, "loss", 3.0)
    client.delete_run(deleted)
    gone = client.create_experiment("abandoned")
    gone_run = client.create_run(gone, run_name="old").info.run_id
    client.log_param(gone_run, "p", "1")
    client.delete_experiment(gone)

    client.create_registered_model(MODEL, tags={"team": "risk"}, description="who leaves")
    for number, run_id in enumerate(run_ids[:2]):
        client.create_model_version(
            MODEL,
            f"{client.get_run(run_id).info.artifact_uri}/model",
            run_id=run_id,
            tags={"validated": "yes" if number == 0 else "no"},
            description=f"from run-{number}",
            await_creation_for=0,
        )
    client.transition_model_version_stage(MODEL, "1", "Production")
    client.transition_model_version_stage(MODEL, "2", "Staging")
    client.set_registered_model_alias(MODEL, "champion", "1")
    return {"run_ids": [*run_ids, deleted, gone_run], "deleted_run": deleted}


def _files(folder: str) -> dict[str, str]:
    root = Path(folder)
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _run(client: MlflowClient, run_id: str, scratch: Path) -> dict[str, Any]:
    run = client.get_run(run_id)
    info, data = run.info, run.data
    histories = {
        key: sorted([m.step, m.timestamp, repr(m.value)] for m in client.get_metric_history(run_id, key))
        for key in sorted(data.metrics)
    }
    datasets = sorted(
        [
            d.dataset.name,
            d.dataset.digest,
            d.dataset.source_type,
            d.dataset.source,
            d.dataset.schema,
            d.dataset.profile,
            sorted([t.key, t.value] for t in d.tags),
        ]
        for d in run.inputs.dataset_inputs
    )
    artifacts = None
    if info.lifecycle_stage == "active":
        artifacts = _files(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(scratch / run_id)))
    return {
        "experiment_id": info.experiment_id,
        "run_name": info.run_name,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "lifecycle_stage": info.lifecycle_stage,
        "user_id": info.user_id,
        "params": data.params,
        "tags": data.tags,
        "histories": histories,
        "datasets": datasets,
        "artifacts": artifacts,
    }


def _registered_models(client: MlflowClient, scratch: Path) -> dict[str, Any]:
    models = {}
    for model in client.search_registered_models():
        versions = {}
        for version in client.search_model_versions(f"name = '{model.name}'"):
            folder = client.get_run(version.run_id).info.artifact_uri
            versions[str(version.version)] = {
                "run_id": version.run_id,
                # Where the files are: in this server's copy of the run's folder, whatever that folder is called.
                "source": version.source.replace(folder, "<the run's artifact folder>"),
                "current_stage": version.current_stage,
                "tags": version.tags,
                "description": version.description or None,
                "status": version.status,
                "creation_timestamp": version.creation_timestamp,
                "last_updated_timestamp": version.last_updated_timestamp,
            }
        uris = [f"models:/{model.name}@{alias}" for alias in sorted(model.aliases)]
        uris += [f"models:/{model.name}/{number}" for number in sorted(versions)]
        uris += [f"models:/{model.name}/{stage}" for stage in ("Production", "Staging")]
        models[model.name] = {
            "description": model.description or None,
            "tags": model.tags,
            "aliases": {alias: str(number) for alias, number in model.aliases.items()},
            "creation_timestamp": model.creation_timestamp,
            "versions": versions,
            "downloads": {
                uri: _files(mlflow.artifacts.download_artifacts(uri, dst_path=str(scratch / uri.replace("/", "-"))))
                for uri in uris
            },
        }
    return models


def snapshot(client: MlflowClient, scratch: Path) -> dict[str, Any]:
    experiments = client.search_experiments(view_type=ViewType.ALL)
    runs = client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=1000)
    return {
        "experiments": {
            e.experiment_id: {"name": e.name, "lifecycle_stage": e.lifecycle_stage, "tags": e.tags} for e in experiments
        },
        "runs": {run.info.run_id: _run(client, run.info.run_id, scratch) for run in runs},
        "registered_models": _registered_models(client, scratch / "models"),
    }


def main() -> None:
    command, url, *rest = sys.argv[1:]
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    client = MlflowClient(url, registry_uri=url)
    with tempfile.TemporaryDirectory() as scratch:
        if command == "fill":
            result = {**fill(client, Path(rest[0])), "snapshot": snapshot(client, Path(scratch))}
        else:
            result = snapshot(client, Path(scratch))
    Path(rest[-1]).write_text(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
