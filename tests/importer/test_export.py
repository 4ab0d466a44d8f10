"""`runyard export` as a user runs it: a Runyard server filled by the stock client (experiments, runs with long
histories, artifacts, a deleted run and experiment, a trace with assessments, a logged model, a registered model and
a prompt) written out as an `mlruns` folder, which the stock client reads as a file store and `runyard import` brings
back whole."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from tests.importer.test_import import (
    HISTORY,
    MODEL,
    MODELS_IMPORTED,
    PROMPT,
    Source,
    _fill,
    assert_same,
    assert_same_models,
    assert_same_traces,
    runyard_import,
)
from tests.support.processes import runyard_server, runyard_store_command


@dataclass(frozen=True)
class Filled:
    source: Source
    store: str
    artifacts: Path


@pytest.fixture(scope="module")
def runyard_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    """A Runyard store filled through its own server, which keeps serving it for the comparisons."""
    workdir = tmp_path_factory.mktemp("runyard-source")
    store, artifacts = f"sqlite:///{workdir / 'source.db'}", workdir / "mlartifacts"
    with runyard_server(store, artifacts) as url:
        yield Filled(_fill(MlflowClient(url), workdir), store, artifacts)


def runyard_export(store: str, artifacts: Path, dest: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return runyard_store_command("export", str(dest), store, artifacts, *args)


@pytest.fixture
def file_store() -> Iterator[None]:
    """MLflow 3 reads a file store only when asked to; the file registry finds a version's logged model through
    the tracking URI set, which each test sets to the tree it reads."""
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        os.environ.pop("MLFLOW_TRACKING_URI", None)


def test_an_export_reads_as_a_file_store_and_imports_back_whole(
    runyard_source: Filled, tmp_path: Path, file_store: None
) -> None:
    tree = tmp_path / "exported"
    exported = runyard_export(runyard_source.store, runyard_source.artifacts, tree)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert "Traceback" not in exported.stderr
    assert exported.stdout.startswith(
        f"Exported 4 experiments, {len(runyard_source.source.run_ids)} runs ({3 * (HISTORY + 1) + 2:,} metric "
        "points), 1 trace, 1 logged model and 2 registered models (4 versions) with 8 artifact files ("
    )

    # The stock client reads the tree as a file store, with every id kept and every file inside the tree.
    source = MlflowClient(runyard_source.source.uri.rstrip("/"))
    mlflow.set_tracking_uri(tree.as_uri())
    exported_client = MlflowClient(tree.as_uri(), registry_uri=tree.as_uri())
    assert_same(source, exported_client, runyard_source.source.run_ids, tmp_path / "tree")
    for run_id in runyard_source.source.run_ids:
        assert exported_client.get_run(run_id).info.artifact_uri.startswith(tree.as_uri() + "/")
    model = exported_client.get_logged_model(runyard_source.source.model_id)
    assert (model.name, model.params, model.artifact_location) == (
        "classifier",
        {"depth": "3"},
        f"{tree.as_uri()}/{model.experiment_id}/models/{model.model_id}/artifacts",
    )
    champion = exported_client.get_model_version_by_alias(MODEL, "champion")
    assert champion.source == f"{exported_client.get_run(champion.run_id).info.artifact_uri}/model"
    weights = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL}@champion", dst_path=str(tmp_path / "m")))
    assert sorted(p.name for p in weights.iterdir()) == ["weights.bin"]
    prompts = exported_client.search_registered_models(f"name = '{PROMPT}' AND tags.`mlflow.prompt.is_prompt` = 'true'")
    assert [p.aliases for p in prompts] == [{"production": "2"}]
    deleted = exported_client.get_experiment_by_name("abandoned")
    assert deleted is not None
    assert deleted.lifecycle_stage == "deleted"
    assert (tree / ".trash" / deleted.experiment_id / "meta.yaml").is_file()
    trace_id, traced_run = runyard_source.source.trace_id, runyard_source.source.run_ids[0]
    assert_same_traces(source, exported_client, trace_id, traced_run)
    trace = exported_client.get_trace(trace_id)
    assert trace.info.tags["mlflow.artifactLocation"] == (
        f"{tree.as_uri()}/{trace.info.experiment_id}/traces/{trace_id}/artifacts"
    )

    # `runyard import` brings the tree into an empty store, where a server shows what the original showed.
    store, artifacts = f"sqlite:///{tmp_path / 'copy.db'}", tmp_path / "copy-artifacts"
    imported = runyard_import(str(tree), store, artifacts)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert f"Imported {len(runyard_source.source.run_ids)} runs" in imported.stdout
    assert "DIFFERENT" not in imported.stdout
    assert MODELS_IMPORTED in imported.stdout
    assert ") and 1 trace from 4 experiments in " in imported.stdout
    mlflow.set_tracking_uri(None)
    with runyard_server(store, artifacts) as url:
        copy = MlflowClient(url)
        assert_same(source, copy, runyard_source.source.run_ids, tmp_path / "copy")
        assert_same_models(source, copy, runyard_source.source.model_id, tmp_path / "models")
        assert_same_traces(source, copy, trace_id, traced_run)
        assert {e.name for e in copy.search_experiments(view_type=ViewType.ALL)} == {
            "Default",
            "trainer",
            "tuner",
            "abandoned",
        }


def test_an_export_of_named_experiments_leaves_the_rest_out(runyard_source: Filled, tmp_path: Path) -> None:
    tree = tmp_path / "tuner-only"
    exported = runyard_export(runyard_source.store, runyard_source.artifacts, tree, "--experiments", "tuner")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert exported.stdout.startswith(
        "Exported 1 experiment, 2 runs (1,002 metric points), 0 traces, 0 logged models and 0 registered models "
        "(0 versions) "
    )
    assert not (tree / "models").exists()
    nowhere = tmp_path / "none"
    missing = runyard_export(runyard_source.store, runyard_source.artifacts, nowhere, "--experiments", "nowhere")
    assert missing.returncode == 1
    assert missing.stderr == "Error: No experiment named 'nowhere' in the store.\n"
    assert not nowhere.exists()


def test_a_folder_that_is_not_empty_is_refused(runyard_source: Filled, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    refused = runyard_export(runyard_source.store, runyard_source.artifacts, tmp_path)
    assert refused.returncode == 1
    assert refused.stderr == f"Error: {tmp_path} exists and is not empty: export into a new or empty folder.\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_artifacts_the_store_cannot_read_stop_the_export_and_say_so(tmp_path: Path) -> None:
    """A run whose artifacts live where this store does not reach (an S3 bucket it was never given): the export
    stops on it with one line, naming the run and the unfinished folder, rather than leave its files out."""
    store, artifacts = f"sqlite:///{tmp_path / 'elsewhere.db'}", tmp_path / "mlartifacts"
    with runyard_server(store, artifacts) as url:
        client = MlflowClient(url)
        experiment_id = client.create_experiment("elsewhere", artifact_location="s3://bucket/runs")
        run_id = client.create_run(experiment_id).info.run_id
    tree = tmp_path / "exported"
    failed = runyard_export(store, artifacts, tree)
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1] == (
        f"Error: Cannot copy the artifacts of run {run_id}: Artifacts at 's3://bucket/runs/{run_id}/artifacts' are "
        f"not served by this server. {tree} holds an incomplete export: remove it before exporting again."
    )
