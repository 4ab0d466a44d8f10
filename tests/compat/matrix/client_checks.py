"""One stock MLflow client, whatever its version, against a running Runyard: the workflow a team's scripts use.

Run by `tests/compat/test_client_matrix.py` with the python of a venv that holds only `mlflow-skinny==<version>`
and what a pyfunc model needs, never Runyard's own environment, so the client is exactly what a user installs:

    python client_checks.py <tracking URI> <name prefix>

Each check prints one JSON line, `{"check": ..., "outcome": "pass" | "skip" | "fail", "detail": ...}`. A check is
skipped only where this client version has no API for it, and the reason says which. The script keeps going after
a failure so that one run shows every check; it exits 1 if any failed.
"""

from __future__ import annotations

import inspect
import json
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import mlflow
import mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

URI, PREFIX = sys.argv[1], sys.argv[2]
RUNS_TO_PAGE = 5


class Skip(Exception):
    """This client version has no API for the check."""


class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A pyfunc that needs nothing but itself: each input's length, so a loaded model can be told apart."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return [len(str(value)) for value in list(model_input)]


client = MlflowClient(URI)
mlflow.set_tracking_uri(URI)
experiment_id = client.create_experiment(f"{PREFIX}-experiment")
state: dict[str, str] = {}
failed = False


def check(name: str) -> Callable[[Callable[[], str | None]], None]:
    """Runs the decorated check at once, where it is defined (so the checks run in file order), and reports it."""

    def run(body: Callable[[], str | None]) -> None:
        global failed
        try:
            outcome, detail = "pass", body() or ""
        except Skip as skip:
            outcome, detail = "skip", str(skip)
        except Exception:
            outcome, detail, failed = "fail", traceback.format_exc(limit=4), True
        print(json.dumps({"check": name, "outcome": outcome, "detail": detail}), flush=True)

    return run


@check("runs")
def _runs() -> None:
    run = client.create_run(experiment_id, tags={"mlflow.runName": "first"})
    state["run_id"] = run.info.run_id
    client.set_terminated(run.info.run_id, "FINISHED")
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED", got.info.status
    assert got.info.experiment_id == experiment_id


@check("params")
def _params() -> None:
    run_id = state["run_id"]
    client.log_param(run_id, "alpha", 0.5)
    client.log_batch(run_id, params=[mlflow.entities.Param("layers", "3")])
    assert client.get_run(run_id).data.params == {"alpha": "0.5", "layers": "3"}


@check("metrics with steps")
def _metrics() -> None:
    run_id = state["run_id"]
    for step in range(4):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(4)], history
    assert client.get_run(run_id).data.metrics["loss"] == 0.25


@check("tags")
def _tags() -> None:
    run_id = state["run_id"]
    client.set_tag(run_id, "team", "ranking")
    assert client.get_run(run_id).data.tags["team"] == "ranking"
    client.set_experiment_tag(experiment_id, "owner", "matrix")
    assert client.get_experiment(experiment_id).tags["owner"] == "matrix"


@check("artifacts")
def _artifacts() -> None:
    run_id = state["run_id"]
    folder = Path(tempfile.mkdtemp())
    (folder / "notes.txt").write_text("hello from the matrix\n")
    client.log_artifact(run_id, str(folder / "notes.txt"), "docs")
    assert [f.path for f in client.list_artifacts(run_id)] == ["docs"]
    assert [f.path for f in client.list_artifacts(run_id, "docs")] == ["docs/notes.txt"]
    local = client.download_artifacts(run_id, "docs/notes.txt", tempfile.mkdtemp())
    assert Path(local).read_text() == "hello from the matrix\n"


@check("pyfunc model")
def _pyfunc() -> None:
    # Explicit requirements: inferring them loads the model in a subprocess, seconds per client for nothing here.
    where = "name" if "name" in inspect.signature(mlflow.pyfunc.log_model).parameters else "artifact_path"
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow.pyfunc.log_model(**{where: "model"}, python_model=Echo(), pip_requirements=["mlflow"])
    state["model_run_id"] = run.info.run_id
    state["model_uri"] = f"runs:/{run.info.run_id}/model"
    assert list(mlflow.pyfunc.load_model(info.model_uri).predict(["ab", "abc"])) == [2, 3]
    assert list(mlflow.pyfunc.load_model(state["model_uri"]).predict(["abcd"])) == [4]


@check("search, order and paging")
def _search() -> None:
    for index in range(RUNS_TO_PAGE):
        run = client.create_run(experiment_id)
        client.log_metric(run.info.run_id, "rank", float(index))
        client.log_param(run.info.run_id, "paged", "yes")
    seen: list[float] = []
    token = None
    pages = 0
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string="params.paged = 'yes' and metrics.rank >= 1",
            order_by=["metrics.rank DESC"],
            max_results=2,
            page_token=token,
        )
        seen += [run.data.metrics["rank"] for run in page]
        pages += 1
        token = page.token
        if not token:
            break
    assert seen == [4.0, 3.0, 2.0, 1.0], seen
    assert pages in (2, 3), pages  # two full pages, and an empty third only if the server cannot tell it is done
    found = client.search_experiments(filter_string=f"name = '{PREFIX}-experiment'")
    assert [e.experiment_id for e in found] == [experiment_id]


@check("error: unknown run")
def _error() -> None:
    try:
        client.get_run("f" * 32)
    except MlflowException as error:
        assert error.error_code == "RESOURCE_DOES_NOT_EXIST", error.error_code
    else:
        raise AssertionError("get_run of an unknown run succeeded")


@check("registry round trip")
def _registry() -> str | None:
    if "model_uri" not in state:
        raise AssertionError("no model to register: the pyfunc check failed")
    name = f"{PREFIX}-model"
    version = mlflow.register_model(state["model_uri"], name)
    assert version.version in ("1", 1), version.version
    assert client.get_model_version(name, "1").run_id == state["model_run_id"]
    assert list(mlflow.pyfunc.load_model(f"models:/{name}/1").predict(["abcde"])) == [5]
    if not hasattr(client, "set_registered_model_alias"):
        return "no aliases in this client (MLflow 2.3+): registered and loaded by version only"
    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert list(mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(["a"])) == [1]
    return None


sys.exit(1 if failed else 0)
