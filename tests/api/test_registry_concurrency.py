"""Eight clients registering versions of one model at once get distinct, gap-free version numbers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import mlflow
from mlflow import MlflowClient

CLIENTS = 8


def test_concurrent_register_model_numbers_are_distinct_and_gap_free(client: MlflowClient, unique_name: str) -> None:
    """Each thread runs the stock `mlflow.register_model`, so all eight also race to create the registered model
    (seven get RESOURCE_ALREADY_EXISTS, which the client swallows) and to update the logged model's tag."""
    experiment_id = client.create_experiment(unique_name)
    run = client.create_run(experiment_id)
    logged = client.create_logged_model(experiment_id, name="model", source_run_id=run.info.run_id)
    start = threading.Barrier(CLIENTS)

    def register(_: int) -> str:
        start.wait()
        return mlflow.register_model(f"models:/{logged.model_id}", unique_name).version

    with ThreadPoolExecutor(CLIENTS) as pool:
        versions = list(pool.map(register, range(CLIENTS)))

    assert sorted(versions, key=int) == [str(n) for n in range(1, CLIENTS + 1)]
    stored = client.search_model_versions(f"name = '{unique_name}'")
    assert sorted(int(v.version) for v in stored) == list(range(1, CLIENTS + 1))
    assert {v.source for v in stored} == {f"models:/{logged.model_id}"}


def test_concurrent_create_model_version_on_an_existing_model(client: MlflowClient, unique_name: str) -> None:
    client.create_registered_model(unique_name)
    experiment_id = client.create_experiment(unique_name)
    artifact_uri = client.create_run(experiment_id).info.artifact_uri
    run_id = client.search_runs([experiment_id])[0].info.run_id
    start = threading.Barrier(CLIENTS)

    def create(i: int) -> str:
        start.wait()
        return MlflowClient().create_model_version(unique_name, f"{artifact_uri}/m{i}", run_id).version

    with ThreadPoolExecutor(CLIENTS) as pool:
        versions = list(pool.map(create, range(CLIENTS)))
    assert sorted(map(int, versions)) == list(range(1, CLIENTS + 1))
