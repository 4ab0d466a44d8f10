"""The workflow a user's training script runs, through the stock MLflow client, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n: int) -> None:
        self.n = n

    def predict(self, context, model_input, params=None):
        return model_input + self.n


def test_training_script_round_trip(client: MlflowClient, unique_name: str, tmp_path: Path) -> None:
    experiment = mlflow.set_experiment(unique_name)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello artifacts")
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "a.json").write_text('{"a": 1}')
    (tmp_path / "bundle" / "sub").mkdir()
    (tmp_path / "bundle" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 10)

    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"layers": 3, "optimizer": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8})
        mlflow.set_tags({"team": "vision", "stage": "dev"})
        mlflow.log_input(mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2]}), name="train-df"), context="training")
        mlflow.log_artifact(str(notes))
        mlflow.log_artifacts(str(tmp_path / "bundle"), artifact_path="bundle")
        info = mlflow.pyfunc.log_model(name="model", python_model=AddN(2))

    fetched = client.get_run(run.info.run_id)
    assert fetched.info.run_name == "first"
    assert fetched.info.status == "FINISHED"
    assert fetched.info.experiment_id == experiment.experiment_id
    assert fetched.data.params == {"alpha": "0.5", "layers": "3", "optimizer": "adam"}
    assert fetched.data.metrics == {"loss": pytest.approx(0.2), "acc": 0.9, "f1": 0.8}
    assert fetched.data.tags["team"] == "vision"
    assert fetched.inputs.dataset_inputs[0].dataset.name == "train-df"
    assert fetched.inputs.dataset_inputs[0].tags[0].value == "training"
    assert [m.model_id for m in fetched.outputs.model_outputs] == [info.model_id]
    (searched,) = client.search_runs([experiment.experiment_id], "attributes.run_name = 'first'")
    assert (searched.data.params, searched.data.metrics, searched.data.tags) == (
        fetched.data.params,
        fetched.data.metrics,
        fetched.data.tags,
    )
    assert [d.dataset.name for d in searched.inputs.dataset_inputs] == ["train-df"]
    assert [m.model_id for m in searched.outputs.model_outputs] == [info.model_id]
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [1.0, 0.5, 1 / 3, 0.25, 0.2]

    top = sorted(a.path for a in client.list_artifacts(run.info.run_id))
    assert top == ["bundle", "notes.txt"]
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id, "bundle")) == ["bundle/a.json", "bundle/sub"]
    local = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "dl")))
    assert (local / "notes.txt").read_text() == "hello artifacts"
    assert (local / "bundle" / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 10

    for uri in (f"models:/{info.model_id}", f"runs:/{run.info.run_id}/model"):
        model = mlflow.pyfunc.load_model(uri)
        assert model.predict(pd.DataFrame({"x": [1, 5]}))["x"].tolist() == [3, 7]
    logged = client.get_logged_model(info.model_id)
    assert logged.status == "READY"
    assert logged.source_run_id == run.info.run_id
    assert {m.key for m in logged.metrics} == {"loss", "acc", "f1"}


def test_search_runs_filters_orders_and_pages(client: MlflowClient, unique_name: str) -> None:
    experiment_id = client.create_experiment(unique_name)
    for i in range(7):
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"r{i}"):
            mlflow.log_metric("acc", i / 10)
            mlflow.log_param("lr", "0.1" if i % 2 else "0.01")
            mlflow.set_tag("parity", "odd" if i % 2 else "even")

    odd_good = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string="metrics.acc > 0.15 AND params.lr = '0.1' AND tags.parity LIKE 'od%'",
        order_by=["metrics.acc DESC"],
        output_format="list",
    )
    assert [r.info.run_name for r in odd_good] == ["r5", "r3"]

    by_name = client.search_runs([experiment_id], order_by=["attributes.run_name ASC"], max_results=3)
    assert [r.info.run_name for r in by_name] == ["r0", "r1", "r2"]
    assert by_name.token
    rest = client.search_runs([experiment_id], order_by=["attributes.run_name ASC"], page_token=by_name.token)
    assert [r.info.run_name for r in rest][:2] == ["r3", "r4"]

    with pytest.raises(MlflowException, match="INVALID_PARAMETER_VALUE"):
        client.search_runs([experiment_id], filter_string="metrics.acc > 1 OR params.lr = 'x'")


def test_delete_and_restore(client: MlflowClient, unique_name: str) -> None:
    experiment_id = client.create_experiment(unique_name)
    run = client.create_run(experiment_id)
    client.delete_run(run.info.run_id)
    assert client.search_runs([experiment_id]) == []
    deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [run.info.run_id]
    client.restore_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"

    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        client.log_param(run.info.run_id, "p", "1")
    client.restore_experiment(experiment_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"


def test_metric_semantics(client: MlflowClient, unique_name: str) -> None:
    run = client.create_run(client.create_experiment(unique_name))
    run_id = run.info.run_id
    client.log_metric(run_id, "m", 5.0, timestamp=100, step=10)
    client.log_metric(run_id, "m", 1.0, timestamp=999, step=2)  # later in time, smaller step: not the latest
    client.log_metric(run_id, "m", 5.0, timestamp=100, step=10)  # a replay is stored once
    client.log_metric(run_id, "nan", float("nan"), timestamp=1)
    client.log_metric(run_id, "inf", float("inf"), timestamp=1)
    metrics = client.get_run(run_id).data.metrics
    assert metrics["m"] == 5.0
    assert math.isnan(metrics["nan"])
    assert metrics["inf"] == pytest.approx(1.7976931348623157e308)
    assert [(p.step, p.value) for p in client.get_metric_history(run_id, "m")] == [(10, 5.0), (2, 1.0)]


def test_params_are_write_once(client: MlflowClient, unique_name: str) -> None:
    run_id = client.create_run(client.create_experiment(unique_name)).info.run_id
    client.log_param(run_id, "p", "1")
    client.log_param(run_id, "p", "1")
    with pytest.raises(MlflowException, match="Changing param values is not allowed"):
        client.log_param(run_id, "p", "2")
    assert client.get_run(run_id).data.params == {"p": "1"}
    long_value = "x" * 7000
    client.log_param(run_id, "long", long_value)
    assert client.get_run(run_id).data.params["long"] == long_value[:6000]


def test_numpy_metrics_and_set_terminated(client: MlflowClient, unique_name: str) -> None:
    run_id = client.create_run(client.create_experiment(unique_name)).info.run_id
    client.log_metric(run_id, "np", np.float32(0.25))
    client.set_terminated(run_id, status="KILLED")
    info = client.get_run(run_id).info
    assert info.status == "KILLED"
    assert info.end_time is not None
