"""A run of the web UI's prompt engineering page (MLflow's "prompt lab"): the prompt template, the parameters it was
filled with, the model route and its settings become the run's params and tags; the prompt's output is the run's
evaluation table (`eval_results_table.json`); and the prompt itself is logged as a pyfunc model (`model/`) that
MLflow's client loads with `mlflow.pyfunc.load_model`.

The run is created and its params logged in one transaction, the files are written after it (never inside a
transaction), and a last transaction finishes the run: FINISHED, or FAILED when the files could not be written, as
`mlflow server` ends it."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from server.artifacts.local_files import store_tree
from server.artifacts.registry import ArtifactRegistry
from server.clock import now_ms
from server.services import runs
from server.store.engine import Database
from server.store.models import Run
from server.store.runs import RunData

log = logging.getLogger(__name__)

LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
SOURCE_TYPE_TAG = "mlflow.runSourceType"
EVAL_RESULTS_FILE = "eval_results_table.json"
MODEL_FOLDER = "model"


@dataclass(frozen=True)
class PromptlabRun:
    """What the UI sends: MLflow's `CreatePromptlabRun` request, its parameter lists as `(key, value)` pairs."""

    experiment_id: int
    run_name: str | None
    tags: dict[str, str]
    prompt_template: str
    prompt_parameters: Sequence[tuple[str, str]]
    model_route: str
    model_parameters: Sequence[tuple[str, str]]
    model_input: str
    model_output: str | None
    model_output_parameters: Sequence[tuple[str, str]]
    mlflow_version: str
    user_id: str
    start_time: int | None


def eval_results_table(request: PromptlabRun) -> bytes:
    """One row: the prompt's parameters, the filled-in prompt, the output, then the output's own parameters."""
    columns = [key for key, _ in request.prompt_parameters] + ["prompt", "output"]
    row: list[str | None] = [value for _, value in request.prompt_parameters]
    row += [request.model_input, request.model_output]
    columns += [key for key, _ in request.model_output_parameters]
    row += [value for _, value in request.model_output_parameters]
    return orjson.dumps({"columns": columns, "data": [row]})


def _write_model(folder: Path, run_id: str, request: PromptlabRun) -> str:
    """The prompt as MLflow's prompt-lab pyfunc model, written by mlflow-skinny's own `save_model` (so its MLmodel,
    environment files and parameters are exactly what its loader reads); returns the model's JSON for the run's
    `log-model` history. Imported here: it costs a second and more, paid by the first prompt-lab run only."""
    from mlflow.entities import Param
    from mlflow.models import Model
    from mlflow.models.signature import ModelSignature
    from mlflow.prompt.promptlab_model import save_model
    from mlflow.types.schema import ColSpec, DataType, Schema
    from mlflow.version import VERSION

    model = Model(
        artifact_path=MODEL_FOLDER,
        run_id=run_id,
        utc_time_created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
    )
    prompt_parameters = [Param(key, value) for key, value in request.prompt_parameters]
    save_model(  # type: ignore[no-untyped-call]
        mlflow_model=model,
        path=str(folder / MODEL_FOLDER),
        signature=ModelSignature(
            inputs=Schema([ColSpec(DataType.string, key) for key, _ in request.prompt_parameters]),
            outputs=Schema([ColSpec(DataType.string, "output")]),
        ),
        input_example={"inputs": [value for _, value in request.prompt_parameters]},
        prompt_template=request.prompt_template,
        prompt_parameters=prompt_parameters,
        model_parameters=[Param(key, value) for key, value in request.model_parameters],
        model_route=request.model_route,
        pip_requirements=[f"mlflow[gateway]=={VERSION}"],
    )
    return str(model.to_json())


async def create(db: Database, artifacts: ArtifactRegistry, request: PromptlabRun) -> tuple[Run, RunData]:
    """The finished run with its data, as `runs/get` would return it."""

    def start(session: Session) -> Run:
        run, _ = runs.create_run(
            session,
            experiment_id=request.experiment_id,
            user_id=request.user_id,
            run_name=request.run_name,
            start_time=request.start_time,
            tags=request.tags,
            artifact_destination=artifacts.destination_uri,
        )
        runs.log_batch(
            session,
            run.run_uuid,
            metrics=[],
            params=[
                *request.model_parameters,
                ("model_route", request.model_route),
                ("prompt_template", request.prompt_template),
            ],
            tags={
                LOGGED_ARTIFACTS_TAG: json.dumps([{"path": EVAL_RESULTS_FILE, "type": "table"}]),  # MLflow's spacing
                SOURCE_TYPE_TAG: "PROMPT_ENGINEERING",
            },
        )
        return run

    run = await db.run_write(start)
    run_id, artifact_uri = run.run_uuid, run.artifact_uri
    status = "FINISHED"
    try:
        with tempfile.TemporaryDirectory(prefix="runyard-promptlab-") as work:
            folder = Path(work)
            model_json = await run_in_threadpool(_write_model, folder, run_id, request)
            (folder / EVAL_RESULTS_FILE).write_bytes(eval_results_table(request))
            store, base = await artifacts.locate_async(artifact_uri, None)
            await store_tree(store, base, folder)
        await db.run_write(lambda session: runs.log_model(session, run_id, model_json))
    except Exception:
        log.exception("prompt lab run %s: writing its model and evaluation table failed", run_id)
        status = "FAILED"

    def finish(session: Session) -> tuple[Run, RunData]:
        runs.update_run(session, run_id, status=status, end_time=now_ms(), run_name=None)
        return runs.get_run(session, run_id)

    return await db.run_write(finish)
