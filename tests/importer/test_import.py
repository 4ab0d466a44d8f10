"""`runyard import` as a user runs it: from a real `mlflow server` and from an `mlruns` folder filled by the stock
client (experiments, runs, a trace with assessments, a logged model, a registered model and a prompt), into a fresh
Runyard store that a Runyard server then serves, read back with the stock client."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource, Dataset, DatasetInput, InputTag, Metric, Param, RunTag, ViewType
from sqlalchemy import text

from server.config import Settings
from server.services.store_setup import prepare_database
from server.store.engine import Database
from server.store.experiments import insert_experiment
from server.store.registered_models import insert_registered_model
from tests.support.processes import mlflow_server, runyard_import, runyard_server

HISTORY = 1000  # points of `loss` per run
BIG_FILE = 3 * (1 << 20) + 17  # more than one chunk of the artifact store's reads and writes
MODEL, PROMPT = "churn", "greeting"
MODELS_IMPORTED = "Imported 1 logged model and 2 registered models (4 versions); "


@dataclass(frozen=True)
class Source:
    uri: str
    run_ids: list[str]  # every run, the deleted one included
    deleted_run: str
    model_id: str  # the logged model
    trace_id: str  # the trace of the first run


def _fill_models(client: MlflowClient, workdir: Path, experiment_id: str, run_id: str) -> str:
    """A logged model of the run (params, tags, a metric, an artifact); `churn`, with a version from the run's
    `model` folder (tagged, described, in Production, aliased `champion`) and one from the logged model; a prompt
    with two versions and an alias. Returns the logged model's id."""
    logged = client.create_logged_model(
        experiment_id, name="classifier", source_run_id=run_id, params={"depth": "3"}, tags={"flavor": "custom"}
    )
    card = workdir / "card.json"
    card.write_text('{"classes": 2}')
    client.log_model_artifact(logged.model_id, str(card))
    client.log_metric(run_id, "auc", 0.91, step=1, model_id=logged.model_id)
    client.finalize_logged_model(logged.model_id, "READY")
    client.create_registered_model(MODEL, tags={"team": "risk"}, description="who leaves")
    folder = client.get_run(run_id).info.artifact_uri
    client.create_model_version(
        MODEL,
        f"{folder}/model",
        run_id=run_id,
        tags={"validated": "yes"},
        description="from the run",
        await_creation_for=0,  # READY at once; waiting polls for seconds
    )
    client.create_model_version(
        MODEL, f"models:/{logged.model_id}", run_id=run_id, model_id=logged.model_id, await_creation_for=0
    )
    client.transition_model_version_stage(MODEL, "1", "Production")
    client.set_registered_model_alias(MODEL, "champion", "1")
    client.register_prompt(PROMPT, "Hello {{name}}")
    client.register_prompt(PROMPT, "Hi {{name}}!", commit_message="shorter")
    client.set_prompt_alias(PROMPT, "production", 2)
    return logged.model_id


def _fill_trace(client: MlflowClient, experiment_id: str, run_id: str) -> str:
    """A trace of the run (a root span with a child, a tag), with a person's feedback and an expectation on it.
    Returns its id."""
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(client.tracking_uri)  # where the client's tracer exports and assessments go
    try:
        root = client.start_trace(
            "answer",
            span_type="CHAIN",
            inputs={"question": "why?"},
            tags={"topic": "churn"},
            experiment_id=experiment_id,
            run_id=run_id,
        )
        child = client.start_span(
            "retrieve",
            trace_id=root.trace_id,
            parent_id=root.span_id,
            span_type="RETRIEVER",
            inputs={"query": "why?"},
            attributes={"top_k": 3},
        )
        client.end_span(root.trace_id, child.span_id, outputs=["a document"])
        client.end_trace(root.trace_id, outputs={"answer": "because"})
        mlflow.flush_trace_async_logging()
        person = AssessmentSource("HUMAN", "ana")
        mlflow.log_feedback(
            trace_id=root.trace_id,
            name="helpful",
            value=True,
            rationale="to the point",
            source=person,
            metadata={"round": "1"},
        )
        mlflow.log_expectation(trace_id=root.trace_id, name="expected", value={"answer": "because"}, source=person)
    finally:
        mlflow.set_tracking_uri(None)
        if saved is None:  # setting it also sets this, which outlives the test
            os.environ.pop("MLFLOW_TRACKING_URI", None)
    return root.trace_id


def _fill(client: MlflowClient, workdir: Path) -> Source:
    """Two experiments (one tagged), runs with 1,000-point histories, params, tags, a dataset input, artifacts
    (one bigger than a chunk), a trace of the first run, a deleted run, and a deleted experiment with a run of its
    own."""
    trainer = client.create_experiment("trainer", tags={"team": "vision", "mlflow.note.content": "the trainer"})
    tuner = client.create_experiment("tuner")
    run_ids = []
    for number, experiment_id in enumerate([trainer, trainer, tuner]):
        run = client.create_run(experiment_id, run_name=f"run-{number}", tags={"seed": str(number)})
        run_id = run.info.run_id
        start = run.info.start_time
        points = [Metric("loss", 1.0 / (step + 1), start + step, step) for step in range(HISTORY)]
        points.append(Metric("accuracy", math.nan, start, 0))
        for first in range(0, len(points), 1000):
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
        if number == 0:
            weights = workdir / "weights.bin"
            weights.write_bytes(os.urandom(BIG_FILE))
            client.log_artifact(run_id, str(weights), artifact_path="model")
        client.set_terminated(run_id, "FINISHED" if number else "FAILED")
        run_ids.append(run_id)
    deleted = client.create_run(tuner, run_name="mistake").info.run_id
    client.log_metric(deleted, "loss", 3.0)
    client.delete_run(deleted)
    gone = client.create_experiment("abandoned")
    gone_run = client.create_run(gone, run_name="old").info.run_id
    client.log_param(gone_run, "p", "1")
    client.delete_experiment(gone)
    model_id = _fill_models(client, workdir, trainer, run_ids[0])
    trace_id = _fill_trace(client, trainer, run_ids[0])
    return Source(client.tracking_uri, [*run_ids, deleted, gone_run], deleted, model_id, trace_id)


@pytest.fixture(scope="module")
def mlflow_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    workdir = tmp_path_factory.mktemp("mlflow-source")
    with mlflow_server(workdir) as url:
        yield _fill(MlflowClient(url), workdir)


@pytest.fixture(scope="module")
def mlruns_source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    workdir = tmp_path_factory.mktemp("mlruns-source")
    previous = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 writes a file store only when asked to
    uri = (workdir / "mlruns").as_uri()
    mlflow.set_tracking_uri(uri)  # the file registry looks a version's logged model up in the tracking store set
    try:
        source = _fill(MlflowClient(uri, registry_uri=uri), workdir)
    finally:
        mlflow.set_tracking_uri(None)
        if previous is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE")
    return Source(str(workdir / "mlruns"), source.run_ids, source.deleted_run, source.model_id, source.trace_id)


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, int, str]]:
    return sorted((m.step, m.timestamp, repr(m.value)) for m in client.get_metric_history(run_id, key))


def _artifacts(client: MlflowClient, run_id: str, into: Path) -> dict[str, bytes]:
    folder = Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(into), tracking_uri=client.tracking_uri)
    )
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_same(source: MlflowClient, copy: MlflowClient, run_ids: list[str], scratch: Path) -> None:
    """Everything a user sees of the experiments and runs, compared field by field."""
    experiments = {e.name: e for e in source.search_experiments(view_type=ViewType.ALL)}
    copied = {e.name: e for e in copy.search_experiments(view_type=ViewType.ALL)}
    assert set(copied) == set(experiments)
    for name, experiment in experiments.items():
        assert copied[name].lifecycle_stage == experiment.lifecycle_stage
        assert copied[name].tags == experiment.tags
    for run_id in run_ids:
        mine, theirs = source.get_run(run_id), copy.get_run(run_id)
        for field in ("run_name", "status", "start_time", "end_time", "lifecycle_stage", "user_id"):
            assert getattr(theirs.info, field) == getattr(mine.info, field), field
        assert (
            experiments[source.get_experiment(mine.info.experiment_id).name].name
            == copy.get_experiment(theirs.info.experiment_id).name
        )
        assert theirs.data.params == mine.data.params
        assert theirs.data.tags == mine.data.tags
        for key in mine.data.metrics:
            assert _history(copy, run_id, key) == _history(source, run_id, key)
        assert [(d.dataset.name, d.dataset.digest, d.dataset.source) for d in theirs.inputs.dataset_inputs] == [
            (d.dataset.name, d.dataset.digest, d.dataset.source) for d in mine.inputs.dataset_inputs
        ]
        if mine.info.lifecycle_stage == "active":
            original = _artifacts(source, run_id, scratch / "source" / run_id)
            assert _artifacts(copy, run_id, scratch / "copy" / run_id) == original


def _files(client: MlflowClient, uri: str, into: Path) -> dict[str, bytes]:
    """The files a `models:/` URI names, downloaded as `load_model` does, with the client's server set as the
    tracking and registry server (the client resolves a version's logged model through the one set)."""
    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(client.tracking_uri)
    mlflow.set_registry_uri(client.tracking_uri)
    try:
        path = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(into)))
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        for name, value in saved.items():  # setting them also sets these, which outlive the test
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def assert_same_models(source: MlflowClient, copy: MlflowClient, model_id: str, scratch: Path) -> None:
    """The registered model, the prompt and the logged model as a user sees them, files included."""
    for name in (MODEL, PROMPT):
        # Searched for: the client answers "not found" when a prompt is asked for by name as a model.
        query = f"name = '{name}'" + (" AND tags.`mlflow.prompt.is_prompt` = 'true'" if name == PROMPT else "")
        (mine,), (theirs,) = source.search_registered_models(query), copy.search_registered_models(query)
        assert (theirs.description or None, theirs.tags, theirs.aliases) == (
            mine.description or None,  # unset: "" over REST, None from a file store
            mine.tags,
            mine.aliases,
        )
        versions = {str(v.version): v for v in source.search_model_versions(query)}  # a file store's are ints
        copied = {str(v.version): v for v in copy.search_model_versions(query)}
        assert sorted(copied) == sorted(versions) == ["1", "2"]
        for number, version in versions.items():
            for field in ("run_id", "current_stage", "tags", "description", "status", "creation_timestamp"):
                # An unset description reads "" over REST and None from a file store: both mean none.
                assert (getattr(copied[number], field) or None) == (getattr(version, field) or None), field
    champion = copy.get_model_version_by_alias(MODEL, "champion")
    assert champion.version == "1"
    assert champion.source == f"{copy.get_run(champion.run_id).info.artifact_uri}/model"  # the destination's copy
    assert copy.get_model_version(MODEL, "2").source == f"models:/{model_id}"
    # The client does not read a version's logged model off the wire; the version made from it still names it.
    answer = httpx.get(f"{copy.tracking_uri}/api/2.0/mlflow/model-versions/get", params={"name": MODEL, "version": 2})
    assert answer.json()["model_version"]["model_id"] == model_id
    for uri in (f"models:/{MODEL}@champion", f"models:/{MODEL}/2", f"models:/{model_id}"):
        files = _files(copy, uri, scratch / "copy" / uri.replace(":", "").replace("/", "-"))
        assert files == _files(source, uri, scratch / "source" / uri.replace(":", "").replace("/", "-")), uri
        assert files
    mine_model, their_model = source.get_logged_model(model_id), copy.get_logged_model(model_id)
    for field in ("name", "params", "tags", "status", "source_run_id", "model_type", "creation_timestamp"):
        assert (getattr(their_model, field) or None) == (getattr(mine_model, field) or None), field
    assert [(m.key, m.value, m.step, m.run_id) for m in their_model.metrics] == [
        (m.key, m.value, m.step, m.run_id) for m in mine_model.metrics
    ]
    assert copy.get_experiment(their_model.experiment_id).name == "trainer"
    assert copy.load_prompt(f"prompts:/{PROMPT}@production").template == "Hi {{name}}!"


_PLACEMENT_TAGS = ("mlflow.artifactLocation", "mlflow.trace.spansLocation")  # each store's own


def assert_same_traces(source: MlflowClient, copy: MlflowClient, trace_id: str, run_id: str) -> None:
    """The trace as a user finds it in the run's experiment, spans and assessments included."""
    locations = [source.get_experiment_by_name("trainer").experiment_id]
    (mine,) = source.search_traces(locations=locations)
    (theirs,) = copy.search_traces(locations=[copy.get_experiment_by_name("trainer").experiment_id])
    assert theirs.info.trace_id == mine.info.trace_id == trace_id
    for field in ("request_time", "execution_duration", "state", "request_preview", "response_preview"):
        assert getattr(theirs.info, field) == getattr(mine.info, field), field
    assert theirs.info.trace_metadata == mine.info.trace_metadata
    assert theirs.info.trace_metadata["mlflow.sourceRun"] == run_id
    tags = {k: v for k, v in mine.info.tags.items() if k not in _PLACEMENT_TAGS}
    assert {k: v for k, v in theirs.info.tags.items() if k not in _PLACEMENT_TAGS} == tags
    assert tags["topic"] == "churn"
    got = copy.get_trace(trace_id)
    spans = [(s.name, s.span_id, s.parent_id, s.attributes, s.start_time_ns, s.end_time_ns) for s in mine.data.spans]
    assert [
        (s.name, s.span_id, s.parent_id, s.attributes, s.start_time_ns, s.end_time_ns) for s in got.data.spans
    ] == spans
    assert [s.name for s in got.data.spans] == ["answer", "retrieve"]
    assert got.data.spans[1].parent_id == got.data.spans[0].span_id
    assert got.data.spans[1].attributes["top_k"] == 3

    def assessments(trace: mlflow.entities.Trace) -> list[tuple[object, ...]]:
        return sorted(
            (a.assessment_id, a.name, a.value, a.rationale, a.source, a.metadata, a.create_time_ms, a.valid)
            for a in trace.info.assessments
        )

    assert assessments(got) == assessments(mine)
    assert sorted((a.name, a.value) for a in got.info.assessments) == [
        ("expected", {"answer": "because"}),
        ("helpful", True),
    ]
    (linked,) = copy.search_traces(locations=[theirs.info.experiment_id], run_id=run_id)
    assert linked.info.trace_id == trace_id


def _delete_run_row(store: str, run_id: str) -> None:
    """What a destination looks like when an import was killed before this run's transaction committed."""
    database = Database(store)
    with database.write() as session:
        session.execute(text("DELETE FROM artifact_destinations WHERE owner_id = :r"), {"r": run_id})
        session.execute(text("DELETE FROM runs WHERE run_uuid = :r"), {"r": run_id})
    database.dispose()


def test_import_from_mlflow_server(
    mlflow_source: Source, fresh_store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifacts = tmp_path / "mlartifacts"
    planned = runyard_import(mlflow_source.uri, fresh_store_uri, artifacts, "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert f"{len(mlflow_source.run_ids)} runs and 1 trace would be imported; nothing was written" in planned.stdout
    assert f"trace {mlflow_source.trace_id} of trainer: to import" in planned.stdout
    assert "registered models and prompts: 2 (4 versions) to import, 0 already there" in planned.stdout
    later = runyard_import(mlflow_source.uri, fresh_store_uri, artifacts, "--dry-run", "--since", "2999-01-01")
    assert later.returncode == 0, later.stderr
    assert "logged models: 0 to import, 0 already there" in later.stdout
    assert "0 runs and 0 traces would be imported; nothing was written" in later.stdout
    if fresh_store_uri.startswith("sqlite"):
        assert not Path(fresh_store_uri.removeprefix("sqlite:///")).exists()

    imported = runyard_import(mlflow_source.uri, fresh_store_uri, artifacts)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "Traceback" not in imported.stderr
    assert f"Imported {len(mlflow_source.run_ids)} runs" in imported.stdout
    assert ") and 1 trace from 4 experiments in " in imported.stdout
    assert "DIFFERENT" not in imported.stdout
    trainer = next(line for line in imported.stdout.splitlines() if line.startswith("trainer"))
    assert f"{2 * (HISTORY + 1) + 1:,}" in trainer  # its two runs' points, and the logged model's `auc`
    assert trainer.split()[-4:] == ["1", "2", "2", "identical"]  # a trace, its two spans, two assessments
    lines = [line.split() for line in imported.stdout.splitlines()]
    assert ["churn", "model", "2", "1", "identical"] in lines  # versions and aliases per registered model
    assert ["greeting", "prompt", "2", "1", "identical"] in lines
    assert MODELS_IMPORTED + "0 logged models and 0 registered models already there." in imported.stdout

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with runyard_server(fresh_store_uri, artifacts) as url:
        copy = MlflowClient(url)
        assert_same(MlflowClient(mlflow_source.uri), copy, mlflow_source.run_ids, tmp_path)
        assert_same_models(MlflowClient(mlflow_source.uri), copy, mlflow_source.model_id, tmp_path / "models")
        source, trace_id = MlflowClient(mlflow_source.uri), mlflow_source.trace_id
        assert_same_traces(source, copy, trace_id, mlflow_source.run_ids[0])

        again = runyard_import(mlflow_source.uri, fresh_store_uri, artifacts)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Imported 0 runs (0 metric points, 0 artifact bytes) and 0 traces from" in again.stdout
        assert f"{len(mlflow_source.run_ids)} runs and 1 trace already there." in again.stdout
        assert len(copy.search_traces(locations=[copy.get_experiment_by_name("trainer").experiment_id])) == 1
        assert (
            "Imported 0 logged models and 0 registered models (0 versions); "
            "1 logged model and 2 registered models already there."
        ) in again.stdout

        # An import killed before one run committed, and a run changed in the destination since: the conflict
        # is reported and nothing is written, not even the missing run.
        missing, changed = mlflow_source.run_ids[0], mlflow_source.run_ids[1]
        _delete_run_row(fresh_store_uri, missing)
        copy.set_tag(changed, "k", "changed here")
        copy.set_registered_model_tag(MODEL, "team", "changed here")
        copy.set_trace_tag(trace_id, "topic", "changed here")
        refused = runyard_import(mlflow_source.uri, fresh_store_uri, artifacts)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert f"run {changed}: the destination's run has another tags" in refused.stdout
        assert f"trace {trace_id}: the destination's trace has another tags" in refused.stdout
        assert "registered model 'churn': the destination's model has another tags" in refused.stdout
        assert "Nothing was written" in refused.stdout
        with pytest.raises(mlflow.exceptions.MlflowException, match="not found"):
            copy.get_run(missing)
        assert copy.get_registered_model(MODEL).tags["team"] == "changed here"  # never overwritten

        copy.set_tag(changed, "k", "v")  # as it was: the import resumes with the one missing run
        copy.set_registered_model_tag(MODEL, "team", "risk")
        copy.set_trace_tag(trace_id, "topic", "churn")
        copy.delete_traces(copy.get_trace(trace_id).info.experiment_id, trace_ids=[trace_id])  # as if never copied
        resumed = runyard_import(mlflow_source.uri, fresh_store_uri, artifacts)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "Imported 1 run (" in resumed.stdout
        assert " and 1 trace from " in resumed.stdout
        assert_same(MlflowClient(mlflow_source.uri), copy, [missing], tmp_path / "resumed")
        assert_same_traces(source, copy, trace_id, mlflow_source.run_ids[0])
        assert copy.create_experiment("made after the import")  # imported ids do not collide with new ones


def test_import_from_mlruns_folder(mlruns_source: Source, fresh_store_uri: str, tmp_path: Path) -> None:
    artifacts = tmp_path / "mlartifacts"
    only = runyard_import(mlruns_source.uri, fresh_store_uri, artifacts, "--experiments", "tuner")
    assert only.returncode == 0, only.stdout + only.stderr
    assert "Imported 2 runs" in only.stdout
    assert ") and 0 traces from 1 experiment in " in only.stdout  # the trace is the trainer's
    assert "Imported 0 logged models and 0 registered models" in only.stdout  # those come with all experiments
    imported = runyard_import(mlruns_source.uri, fresh_store_uri, artifacts)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert f"Imported {len(mlruns_source.run_ids) - 2} runs" in imported.stdout
    assert ") and 1 trace from 4 experiments in " in imported.stdout
    assert "2 runs and 0 traces already there." in imported.stdout
    assert "DIFFERENT" not in imported.stdout
    assert MODELS_IMPORTED in imported.stdout
    with runyard_server(fresh_store_uri, artifacts) as url:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        try:
            source = MlflowClient(Path(mlruns_source.uri).as_uri())
            assert_same(source, MlflowClient(url), mlruns_source.run_ids, tmp_path)
            assert_same_models(source, MlflowClient(url), mlruns_source.model_id, tmp_path / "models")
            assert_same_traces(source, MlflowClient(url), mlruns_source.trace_id, mlruns_source.run_ids[0])
        finally:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE")


def test_a_source_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'r.db'}"
    for source in ("http://127.0.0.1:9", str(tmp_path / "nothing-here"), "azureml://somewhere"):
        refused = runyard_import(source, store, tmp_path / "art")
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert refused.stderr.startswith("Error: ")
        assert refused.stdout == ""


def test_wrong_credentials_are_one_line(tmp_path: Path) -> None:
    admin = {"RUNYARD_ADMIN_USERNAME": "root", "RUNYARD_ADMIN_PASSWORD": "root-password"}
    with runyard_server(f"sqlite:///{tmp_path / 'src.db'}", tmp_path / "src-art", "--auth", env=admin) as url:
        refused = runyard_import(
            url,
            f"sqlite:///{tmp_path / 'r.db'}",
            tmp_path / "art",
            MLFLOW_TRACKING_USERNAME="root",
            MLFLOW_TRACKING_PASSWORD="not-the-password",
        )
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(f"Error: Cannot read {url}: ")


def test_an_experiment_name_taken_in_the_destination_is_a_conflict(mlruns_source: Source, tmp_path: Path) -> None:
    """The source's `trainer` cannot keep its name beside the destination's own `trainer` (another id), nor its
    `churn` beside the destination's own `churn`: reported, and nothing is written, not even the experiments and
    runs that would not clash, and the destination's model is left as it was."""
    store = f"sqlite:///{tmp_path / 'r.db'}"
    database = prepare_database(Settings(backend_store_uri=store))
    with database.write() as session:
        taken = insert_experiment(session, name="trainer", artifact_location=None, root="mlflow-artifacts:")
        insert_registered_model(session, name=MODEL, description="ours", tags={})
    refused = runyard_import(mlruns_source.uri, store, tmp_path / "art")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"the name belongs to experiment {taken.experiment_id} in the destination" in refused.stdout
    assert "registered model 'churn': the destination's model has another description, tags, aliases" in refused.stdout
    with database.read() as session:
        assert session.execute(text("SELECT COUNT(*) FROM runs")).scalar() == 0
        assert session.execute(text("SELECT COUNT(*) FROM model_versions")).scalar() == 0
        assert session.execute(text("SELECT description FROM registered_models")).scalar() == "ours"
        assert session.execute(text("SELECT COUNT(*) FROM experiments")).scalar() == 2  # Default and ours
    database.dispose()


def test_an_import_killed_midway_is_finished_by_the_next(mlruns_source: Source, tmp_path: Path) -> None:
    """SIGKILL as the import starts on its runs (its experiments made, a run perhaps half-copied); whatever point
    it hit, the next import brings the rest and the verification finds the destination identical to the source."""
    store, artifacts = f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "art"
    command = [sys.executable, "-m", "server", "import", mlruns_source.uri, "--backend-store-uri", store]
    process = subprocess.Popen(
        [*command, "--artifacts-destination", str(artifacts)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith(b"Importing runs"):
            process.kill()
            break
    process.wait()
    finished = runyard_import(mlruns_source.uri, store, artifacts)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "DIFFERENT" not in finished.stdout
    summary = finished.stdout.splitlines()[-1]
    imported, already = (int(summary.split()[1]), int(summary.split("; ")[1].split()[0]))
    assert imported + already == len(mlruns_source.run_ids)


def test_a_difference_found_after_the_copy_exits_4(mlruns_source: Source, tmp_path: Path) -> None:
    """The artifact folder already holds a file where the logged model's artifacts go (left by an earlier import
    into another database that wrote to the same folder): the copy is made, the verification finds one file more
    in the destination's copy of the model than in the source, marks it and exits 4. With the stray file gone, the
    next import finds the model identical and exits 0, having nothing left to copy."""
    store, artifacts = f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "art"
    (experiment,) = {p.parent.parent.name for p in Path(mlruns_source.uri).glob(f"*/models/{mlruns_source.model_id}")}
    stray = artifacts / experiment / "models" / mlruns_source.model_id / "artifacts" / "stale.json"
    stray.parent.mkdir(parents=True)
    stray.write_text("{}")

    differs = runyard_import(mlruns_source.uri, store, artifacts)
    assert differs.returncode == 4, differs.stdout + differs.stderr
    assert "Traceback" not in differs.stderr
    marked = [line.split() for line in differs.stdout.splitlines() if "DIFFERENT" in line]
    assert marked == [  # the logged models' row only: the runs and registered models are identical
        ["1", "1", "1", "1", "/", "2", "DIFFERENT", "14", "/", "16", "DIFFERENT", "identical"],
        "The destination differs from the source where marked DIFFERENT above.".split(),
    ]
    assert differs.stdout.splitlines()[-1] == "The destination differs from the source where marked DIFFERENT above."

    stray.unlink()
    finished = runyard_import(mlruns_source.uri, store, artifacts)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "DIFFERENT" not in finished.stdout
    assert ["1", "1", "1", "1", "14", "identical"] in [line.split() for line in finished.stdout.splitlines()]
    assert (
        "Imported 0 logged models and 0 registered models (0 versions); "
        "1 logged model and 2 registered models already there."
    ) in finished.stdout.splitlines()
